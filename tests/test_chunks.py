"Chunked experiments: checkpoints survive SIGKILL and resume bit-identically; chunks run unchanged on any Executor."
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import toymodels.results as R
from toymodels.phase import run_phase_sweep, sweep_params

# A chunked experiment run by `toymodels reproduce` in a subprocess: six chunks, each a short training run of its own
# seed; every chunk computation is logged, and each takes long enough that a kill lands part-way through.
SCRIPT = textwrap.dedent('''
    import sys, time
    import numpy as np
    from toymodels import results as R
    from toymodels.core import ModelConfig, TrainConfig, train
    data_dir, log, pause = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def chunk(task):
        with open(log, "a") as f: f.write(f"{task['i']}\\n")
        time.sleep(pause)
        cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=4, density=[0.05, 0.1, 0.3, 1.0][task["i"] % 4])
        r = train(cfg, TrainConfig(steps=300, seed=task["i"]), progress=False)
        return {"W": r.W.numpy(), "b": r.b.numpy()}

    @R.experiment("_t_chunked", {"n": 6, "steps": 300})
    def run(params, progress, chunks=None):
        outs = R.map_chunks(chunks, chunk, [{"i": i} for i in range(params["n"])])
        return {k: np.stack([o[k] for o in outs]) for k in ("W", "b")}

    R.reproduce(["_t_chunked"], progress=False, data_dir=data_dir)
''')


def _start(tmp_path: Path, data_dir: Path, log: Path, pause: float) -> subprocess.Popen:
    script = tmp_path / "run_chunked.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(data_dir), str(log), str(pause)])


def _logged(log: Path) -> list[int]:
    return [int(l) for l in log.read_text().split()] if log.exists() else []


def test_sigkill_mid_run_resumes_without_recomputing_and_bit_identically(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    log1, log2 = tmp_path / "log1", tmp_path / "log2"
    proc = _start(tmp_path, killed, log1, pause=0.4)
    ckpt = killed / ".chunks"
    deadline = time.time() + 120
    while len(list(ckpt.glob("*/chunk-*.npz"))) < 2:               # wait until two chunks are checkpointed …
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL); proc.wait()                  # … then kill it, with no chance to clean up
    finished = sorted(int(p.stem.split("-")[1]) for p in ckpt.glob("*/chunk-*.npz"))
    assert 2 <= len(finished) < 6 and not (killed / "_t_chunked.npz").exists()
    assert not list(ckpt.glob("*/*.tmp")), "a checkpoint is written atomically: no partial files are visible"

    assert _start(tmp_path, killed, log2, pause=0.0).wait() == 0  # the rerun resumes …
    assert sorted(_logged(log2)) == sorted(set(range(6)) - set(finished)), "finished chunks must not be recomputed"
    assert not ckpt.exists(), "checkpoints are removed once the result is stored"

    assert _start(tmp_path, clean, tmp_path / "log3", pause=0.0).wait() == 0  # … and matches an uninterrupted run
    with np.load(killed / "_t_chunked.npz") as a, np.load(clean / "_t_chunked.npz") as b:
        for k in ("W", "b"): assert np.array_equal(a[k], b[k]), k
    meta = json.loads((killed / "_t_chunked.json").read_text())
    assert meta["npz_sha256"] == json.loads((clean / "_t_chunked.json").read_text())["npz_sha256"]


def _tiny_sweep() -> dict:
    p = sweep_params(2, 1, "relu", 4, 4, 3)
    p["chunk"], p["train"]["steps"] = 10, 400                      # 48 models in 5 chunks of their own seeds
    return p


def _same(a: dict, b: dict):
    for k in ("W", "b", "loss", "train_loss"): assert np.array_equal(a[k], b[k]), k


def test_phase_sweep_on_an_executor_is_bit_identical(tmp_path):
    p = _tiny_sweep()
    serial = run_phase_sweep(p, progress=False)
    with ThreadPoolExecutor(2) as pool:
        _same(serial, run_phase_sweep(p, progress=False, chunks=R.Chunks("_t_sweep", p, tmp_path, pool)))


def test_phase_sweep_on_a_dask_cluster_is_bit_identical(tmp_path):
    "Chunks dispatched to a dask.distributed LocalCluster (two worker processes) give the serial run's arrays."
    distributed = pytest.importorskip("distributed")
    p = _tiny_sweep()
    serial = run_phase_sweep(p, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
         distributed.Client(cluster) as client:
        on_dask = run_phase_sweep(p, progress=False, chunks=R.Chunks("_t_sweep", p, tmp_path, client.get_executor()))
    _same(serial, on_dask)
