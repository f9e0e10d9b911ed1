"""Benchmark the training engines against the naive Colab-style reference (benchmarks/reference.py).

    python benchmarks/bench.py                 # W1, W2, W3, W3s, W3d and W4, a few steps each (~5 minutes)
    python benchmarks/bench.py --sweep 1000    # also time 10^5 models x 1000 steps of the fast engine and
                                               # extrapolate to the paper's 10 000
Each engine runs in a fresh subprocess so peak RSS is per engine; numba compile time is excluded by a warm-up.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = {  # name: (n_feats, d_hidden, n_inst, batch, steps per engine[, density, model kind])
    "W1": (20, 5, 10, 1024, {"reference": 100, "torch": 100, "fast": 1000}),
    "W2": (2, 1, 100_000, 1024, {"reference": 2, "torch": 2, "fast": 20}),
    # §8's computation in superposition: |x| of 100 signed features with 40 ReLU neurons, untied, at 1 - S = 0.01
    # (about one active feature per sample) and at 1 - S = 0.001 (W3s: 90% of samples all zero)
    "W3": (100, 40, 10, 1024, {"reference": 20, "torch": 20, "fast": 200}, 0.01,
           dict(hidden_activation="relu", tied=False, task="abs")),
    "W3s": (100, 40, 10, 1024, {"reference": 20, "torch": 20, "fast": 1000}, 0.001,
            dict(hidden_activation="relu", tied=False, task="abs")),
    "W3d": (100, 40, 10, 1024, {"reference": 20, "torch": 20, "fast": 100}, 1.0,   # the same model on dense features
            dict(hidden_activation="relu", tied=False, task="abs")),
    # §4 at the paper's size: the default tied model, n = 400, m = 30, equal importance, one model at each of 40
    # sparsities 1/(1 - S) log-spaced from 1 to 100 (one seed of the uniform sweep)
    "W4": (400, 30, 40, 1024, {"reference": 3, "torch": 3, "fast": 20}, "sweep40", dict(importance=1.0)),
}


def _density(spec, n: int, k: int):
    "A workload's density: a number, or 'sweep40' (instance j at 1 - S = 1 / 100^(j / 39), all features alike)."
    if spec != "sweep40": return spec
    import numpy as np
    return np.repeat(1 / np.geomspace(1, 100, k)[:, None], n, 1).tolist()


def run_one(workload: str, engine: str, steps: int | None = None) -> dict:
    "Time one engine on one workload in this process."
    sys.path.insert(0, str(HERE))
    import torch
    from reference import train_reference
    from toymodels.core import ModelConfig, TrainConfig, train
    n, m, k, batch, st, density, kind = (*WORKLOADS[workload], 0.1, {})[:7]
    steps = steps or st[engine]
    cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=k, density=_density(density, n, k), **{"importance": [0.9**i for i in range(n)], **kind})
    tcfg = lambda s: TrainConfig(steps=s, batch_size=batch, log_every=max(1, s // 10), engine="torch" if engine == "reference" else engine)
    fn = (lambda c, t: train_reference(c, t)) if engine == "reference" else (lambda c, t: train(c, t, progress=False))
    fn(cfg, tcfg(2))  # warm-up: numba compile (or cache load), torch kernels
    t0 = time.perf_counter()
    fn(cfg, tcfg(steps))
    dt = time.perf_counter() - t0
    return dict(workload=workload, engine=engine, steps=steps, seconds=dt, steps_per_s=steps / dt,
                samples_per_s=steps * batch * k / dt, computed_per_s=steps * batch * k * computed_fraction(cfg, engine) / dt,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, threads=torch.get_num_threads())


def computed_fraction(cfg, engine: str) -> float:
    """The share of the batch's samples an engine actually computes. The fast engine skips the all-zero samples of
    instances whose q = P(a sample is not all zero) is below its threshold (their contribution is added in closed
    form); the other engines compute every sample."""
    if engine != "fast": return 1.0
    import numpy as np
    from toymodels import fast
    q = 1 - np.prod(1 - cfg.density_table().double().numpy(), axis=1)
    return float(np.where(q < fast._SPARSE_Q, q, 1.0).mean())


def sweep(steps: int) -> dict:
    "The §3 sweep's size: 10^5 models (n=2, m=1), batch 1024, full recipe except the number of steps."
    from toymodels.core import ModelConfig, TrainConfig, train
    import numpy as np
    s = np.geomspace(0.01, 1, 40); r = np.geomspace(0.1, 10, 40)  # 40 x 40 grid of (density, relative importance)
    dens = np.tile(np.stack([np.repeat(s, 40), np.repeat(s, 40)], -1), (63, 1))[:100_000]
    imp = np.tile(np.stack([np.ones(1600), np.tile(r, 40)], -1), (63, 1))[:100_000]
    cfg = ModelConfig(n_feats=2, d_hidden=1, n_inst=100_000, density=dens, importance=imp)
    train(cfg, TrainConfig(steps=2, engine="fast"), progress=False)
    t0 = time.perf_counter()
    train(cfg, TrainConfig(steps=steps, engine="fast"), progress=True)
    dt = time.perf_counter() - t0
    return dict(steps=steps, seconds=dt, extrapolated_10k_s=dt * 10_000 / steps,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=2, metavar=("WORKLOAD", "ENGINE"), help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--workloads", default="W1,W2,W3,W3s,W3d,W4")
    ap.add_argument("--sweep", type=int, default=0, help="also time the 10^5-model sweep for this many steps")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(*a.one, a.steps))); return
    if a.sweep and not a.workloads:
        print(json.dumps(sweep(a.sweep))); return
    rows = []
    for w in a.workloads.split(","):
        for e in ("reference", "torch", "fast"):
            out = subprocess.run([sys.executable, __file__, "--one", w, e], capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    # samples·models/s counts every sample of every model's batch; computed/s only the samples an engine actually
    # evaluates, so their ratio is the sparse-skip gain and computed/s the raw kernel speed.
    print(f"{'workload':8} {'engine':9} {'steps':>5} {'steps/s':>10} {'samples·models/s':>17} {'computed/s':>11} "
          f"{'sparse skip':>11} {'vs reference':>12} {'peak RSS MiB':>12}")
    for r in rows:
        ref = next(q for q in rows if q["workload"] == r["workload"] and q["engine"] == "reference")
        print(f"{r['workload']:8} {r['engine']:9} {r['steps']:5d} {r['steps_per_s']:10.2f} {r['samples_per_s']:17.3g} "
              f"{r['computed_per_s']:11.3g} {r['samples_per_s'] / r['computed_per_s']:10.1f}× "
              f"{r['steps_per_s'] / ref['steps_per_s']:11.1f}× {r['peak_rss_mib']:12.0f}")
    for r in rows:
        if r["workload"] == "W4" and r["engine"] == "fast":
            print(f"\nW4 (one seed of §4's uniform sweep, 40 models) x 10 000 steps ≈ {10_000 / r['steps_per_s'] / 60:.1f} min "
                  f"at {r['threads']} thread(s) (extrapolated from {r['steps']} steps from the initialisation)")
    if a.sweep:
        out = subprocess.run([sys.executable, __file__, "--workloads", "", "--sweep", str(a.sweep)], capture_output=True, text=True, check=True)
        s = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"\nsweep: 10^5 models (n=2, m=1) x {s['steps']} steps x batch 1024: {s['seconds']:.1f} s "
              f"-> 10 000 steps ≈ {s['extrapolated_10k_s'] / 60:.1f} min (extrapolated); peak RSS {s['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
