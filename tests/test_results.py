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


def test_a_result_from_another_version_is_stale(tmp_path, registered):
    "A sidecar written by another package version (its key hashes that version) does not pass for current."
    params = {"x": 3, "seed": 0}
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    meta_path = tmp_path / "_t_square.json"
    meta = json.loads(meta_path.read_text())
    meta["key"] = R.cache_key(params, version="0.0.1")
    meta_path.write_text(json.dumps(meta))
    assert R.check_result("_t_square", params, tmp_path) == ("stale", "the specification or the package version changed")


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


# ---------------------------------------------------------------- canaries: a result knows the code that made it

def test_canary_catches_a_change_of_the_compiled_engines_gradient(tmp_path, monkeypatch, registered):
    "Scaling the compiled kernel's gradient (here through the importance it scales by) marks stored results stale."
    import toymodels.fast  # noqa: F401  (registers the compiled engine)
    from toymodels.core import _ENGINE_FUNCS
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    assert R.verify(["_t_square"], tmp_path) == [("_t_square", "ok", "")]
    # patch the engine that `train` dispatches to (a chapter executed in this process may have registered its own copy)
    engine_globals = _ENGINE_FUNCS["fast"].__globals__
    kernel_for = engine_globals["_kernel_for"]
    def doubled(nf, m, relu):
        k = kernel_for(nf, m, relu)
        def scaled(W, B, MW, VW, Mb, Vb, ST, density, importance, *rest): return k(W, B, MW, VW, Mb, Vb, ST, density, 2 * importance, *rest)
        return scaled
    monkeypatch.setitem(engine_globals, "_kernel_for", doubled)
    [(name, status, why)] = R.verify(["_t_square"], tmp_path)
    assert status == "stale" and "canary moved: engines" in why
    monkeypatch.undo()
    assert R.verify(["_t_square"], tmp_path)[0][1] == "ok"         # the code is back: current again


def test_canary_ignores_plotting_and_prose(tmp_path, monkeypatch, registered):
    "Canaries run no plotting code: restyling every figure leaves stored results current."
    import toymodels.core as core
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    monkeypatch.setattr(core, "_STYLE", {**core._STYLE, "figure.dpi": 10, "axes.grid": True})
    monkeypatch.setattr(core, "SUPERPOSITION_CMAP", core.plt.get_cmap("magma"))
    assert R.verify(["_t_square"], tmp_path)[0][1] == "ok"


def test_result_made_before_canaries_is_not_verified(tmp_path, registered):
    R.save_result("_t_square", {"y": np.array(9)}, R.REGISTRY["_t_square"].params, data_dir=tmp_path)  # no canary
    assert R.result_status("_t_square", R.REGISTRY["_t_square"].params, tmp_path) == "ok"
    assert R.verify(["_t_square"], tmp_path)[0][1:] == ("stale", "canary moved: engines, kinds (the code behaves differently)")


def test_sidecar_records_the_code_and_machine(tmp_path, registered):
    R.reproduce(["_t_square"], progress=False, data_dir=tmp_path)
    meta = json.loads((tmp_path / "_t_square.json").read_text())
    assert set(meta["versions"]) >= {"toymodels", "torch", "numpy", "numba", "python"}
    assert meta["machine"]["cpu"] and meta["code_fingerprint"] == R.code_fingerprint()
    assert set(meta["canary"]) == set(R.CANARIES)


_MAIN = "from toymodels.results import main; raise SystemExit(main())"

def _cli(*args, data_dir=None):
    extra = [] if data_dir is None else ["--data-dir", str(data_dir)]
    return subprocess.run([sys.executable, "-c", _MAIN, "reproduce", *args, *extra], capture_output=True, text=True)


@pytest.mark.parametrize("broken", ["json", "npz"])
def test_corrupt_results_are_stale_by_name_not_a_traceback(tmp_path, broken):
    "A truncated sidecar or arrays file is reported stale, with its name, by --list and --verify."
    R.load_experiments()
    name = "intro_5_in_2"
    for ext in ("json", "npz"):
        (tmp_path / f"{name}.{ext}").write_bytes((R.default_data_dir() / f"{name}.{ext}").read_bytes())
    f = tmp_path / f"{name}.{broken}"
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 2])
    out = _cli("--list", name, data_dir=tmp_path)
    assert out.returncode == 0 and "Traceback" not in out.stderr
    assert out.stdout.split()[:2] == [name, "stale"] and f.name in out.stdout
    out = _cli("--verify", name, data_dir=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr and f"{name}" in out.stdout and "stale" in out.stdout
    assert R.provenance_table(tmp_path)  # the compute table still renders


def test_list_of_an_unknown_name_fails():
    out = _cli("--list", "no_such_result")
    assert out.returncode != 0 and "no_such_result" in out.stderr


def test_the_books_data_is_current_with_todays_code():
    "Every committed result's canary matches what the code computes now (what `toymodels reproduce --verify` checks)."
    bad = [(n, why) for n, status, why in R.verify() if status != "ok"]
    assert bad == [], f"stale results (regenerate with `toymodels reproduce --force NAME`): {bad}"
