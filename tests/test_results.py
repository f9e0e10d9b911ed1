"Tests of the results cache (toymodels.results) and the `toymodels` command."
import json
import subprocess
import sys

import numpy as np
import pytest

import toymodels.results as R


@pytest.fixture
def registered():
    calls = []

    @R.experiment("_t_square", {"x": 3, "seed": 0}, "squares x")
    def run(params, progress):
        calls.append(params["x"])
        return {"y": np.array(params["x"] ** 2), "W": np.ones((2, 3), np.float32)}

    yield calls
    R.REGISTRY.pop("_t_square", None)


def test_key_depends_on_params_seed_and_version():
    p = {"model": {"n_feats": 5}, "seed": 0}
    assert R.cache_key(p) == R.cache_key(json.loads(json.dumps(p)))
    assert R.cache_key(p) != R.cache_key({**p, "seed": 1})
    assert R.cache_key(p) != R.cache_key(p, version="999")


def test_provenance_is_recorded(tmp_path, registered):
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    meta = json.loads((tmp_path / "_t_square.json").read_text())
    assert meta["params"] == {"x": 3, "seed": 0}
    assert meta["key"] == R.cache_key(meta["params"])
    assert {"toymodels", "torch", "numpy", "python"} <= set(meta["versions"])
    assert meta["arrays"]["W"] == {"shape": [2, 3], "dtype": "float32"}
    assert meta["wall_seconds"] >= 0 and meta["created"]


def test_current_results_are_reused_stale_ones_recomputed(tmp_path, registered):
    assert R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)[0][1] == "computed (missing)"
    assert R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)[0][1] == "up to date"
    assert registered == [3]
    assert R.reproduce(["_t_square"], force=True, progress=False, data_dir=tmp_path)[0][1] == "computed (ok)"
    # a new specification makes the stored result stale: loading refuses, reproduce recomputes
    R.REGISTRY["_t_square"] = R.Experiment("_t_square", {"x": 4, "seed": 0}, R.REGISTRY["_t_square"].run)
    with pytest.raises(R.StaleResultError, match="toymodels reproduce _t_square"):
        R.load_result("_t_square", tmp_path)
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    assert R.load_result("_t_square", tmp_path)["y"] == 16


def test_a_tampered_arrays_file_is_stale(tmp_path, registered):
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    np.savez(tmp_path / "_t_square.npz", y=np.array(0))
    assert R.result_status("_t_square", {"x": 3, "seed": 0}, tmp_path) == "stale"


def test_a_version_bump_makes_results_stale(tmp_path, registered, monkeypatch):
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    monkeypatch.setattr(R, "__version__", "999.0")
    monkeypatch.setattr(R.cache_key, "__defaults__", ("999.0",))
    assert R.result_status("_t_square", {"x": 3, "seed": 0}, tmp_path) == "stale"


def test_failed_write_leaves_the_old_file_and_no_temporaries(tmp_path):
    p = {"seed": 0}
    R.save_result("r", {"a": np.arange(3)}, p, data_dir=tmp_path)
    before = (tmp_path / "r.npz").read_bytes()

    class Boom(dict):
        def items(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        R._atomic_write(tmp_path / "r.npz", lambda f: (f.write(b"partial"), Boom().items()))
    assert (tmp_path / "r.npz").read_bytes() == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ["r.json", "r.npz"]


def test_no_pickle_in_or_out(tmp_path):
    with pytest.raises(TypeError, match="no pickle"):
        R.save_result("o", {"o": np.array([None, {}], dtype=object)}, {}, data_dir=tmp_path)
    # a file holding an object array cannot be loaded
    np.savez(tmp_path / "evil.npz", o=np.array([{}], dtype=object))
    (tmp_path / "evil.json").write_text("{}")
    with pytest.raises(ValueError):
        R.read_result("evil", tmp_path)


def test_unknown_experiment_is_an_error(tmp_path):
    with pytest.raises(KeyError, match="unknown experiment"):
        R.reproduce(["no_such_thing"], data_dir=tmp_path)
    assert R.main(["reproduce", "no_such_thing", "--data-dir", str(tmp_path)]) == 2


def test_command_line_lists_experiments(tmp_path):
    out = subprocess.run([sys.executable, "-c", "from toymodels.results import main; raise SystemExit(main())",
                          "reproduce", "--list", "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in R.load_experiments():
        assert name in out.stdout


def test_committed_data_is_current():
    "Every registered experiment has a current result in data/ (regenerate with `toymodels reproduce`)."
    exps = R.load_experiments()
    stale = {n: R.result_status(n, e.params) for n, e in exps.items() if not n.startswith("_")}
    assert all(s == "ok" for s in stale.values()), stale


def test_provenance_table_lists_the_books_results():
    "The appendix's compute table reads the package registry, which the chapter modules fill (it once came out empty)."
    from toymodels.results import provenance_table
    table = provenance_table()
    for name in ("intro_5_in_2", "demonstrating_20_5", "phase_relu_2x1"):
        assert f"| `{name}` |" in table, table
    assert "**0.0 min**" not in table
