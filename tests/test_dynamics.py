"""Tests of §5, superposition and learning dynamics (toymodels.dynamics), and of the engines' weight snapshots."""
import dataclasses

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from toymodels.core import ModelConfig, ToyModel, TrainConfig, loss_per_instance, sample_features, snapshot_steps, train
from toymodels.dynamics import (coincidence_stats, coincident, jump_times, loss_drop_times, plot_jumps, plot_transforms,
                                set_geometry, snapshot_losses, transform_stage)
from toymodels.fast import train_fast

@pytest.fixture(autouse=True)
def one_torch_thread():
    "Tiny tensors: one torch thread is fastest, and keeps clear of numba's worker threads."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CFG = ModelConfig(n_feats=5, d_hidden=2, n_inst=32, density=0.2, importance=[0.9**i for i in range(5)])
TCFG = TrainConfig(steps=200, batch_size=256, lr=3e-3, seed=5, log_every=20)


def test_snapshot_steps_semantics():
    assert snapshot_steps(100, 300).tolist() == [0, 100, 200, 300]
    assert snapshot_steps(7, 20).tolist() == [0, 7, 14, 20]
    assert snapshot_steps([5, 0, 5], 20).tolist() == [0, 5]
    assert snapshot_steps(None, 20) is None
    for bad in ([21], [-1], []):
        with pytest.raises(ValueError):
            snapshot_steps(bad, 20)
    with pytest.raises(ValueError):
        snapshot_steps(0, 20)


@pytest.mark.parametrize("record", [40, [0, 13, 199, 200]])
def test_engines_snapshot_alike(record):
    "Same config through both engines: same snapshot steps and shapes, one initialisation, last snapshot = trained weights exactly."
    runs = {e: train(CFG, dataclasses.replace(TCFG, engine=e), progress=False, record_every=record) for e in ("fast", "torch")}
    want = snapshot_steps(record, TCFG.steps).tolist()
    for r in runs.values():
        assert r.snapshot_steps.tolist() == want
        assert r.snapshots.shape == (len(want), 32, 5, 2) and r.snapshot_b.shape == (len(want), 32, 5)
        assert torch.equal(r.snapshots[-1], r.W) and torch.equal(r.snapshot_b[-1], r.b)
    assert torch.equal(runs["fast"].snapshots[0], runs["torch"].snapshots[0])
    assert torch.equal(runs["fast"].snapshot_b[0], torch.zeros(32, 5))


def test_engines_agree_statistically():
    "Different random streams, same distribution: mean loss and mean feature norm along the run agree."
    f, t = (train(CFG, dataclasses.replace(TCFG, engine=e), progress=False, record_every=20) for e in ("fast", "torch"))
    assert abs(f.losses.mean() / t.losses.mean() - 1) < 0.03
    nf, nt = f.snapshots.norm(dim=-1).mean((1, 2)), t.snapshots.norm(dim=-1).mean((1, 2))
    assert (nf - nt).abs().max() < 0.03


def test_recording_changes_no_bit_of_fast_training():
    plain = train_fast(CFG, TCFG, progress=False)
    for record in (40, [3, 150]):
        rec = train_fast(CFG, TCFG, progress=False, record_every=record)
        assert torch.equal(rec.W, plain.W) and torch.equal(rec.b, plain.b) and torch.equal(rec.losses, plain.losses)
    short = dataclasses.replace(TCFG, steps=60)
    every = train_fast(CFG, short, progress=False, record_every=1, chunk=7)
    assert torch.equal(every.W, train_fast(CFG, short, progress=False).W) and every.snapshots.shape[0] == 61


def test_torch_recording_changes_nothing():
    t = dataclasses.replace(TCFG, engine="torch", steps=100)
    a, b = train(CFG, t, progress=False), train(CFG, t, progress=False, record_every=10)
    assert torch.equal(a.W, b.W) and torch.equal(a.losses, b.losses)
    assert torch.equal(b.snapshots[0], ToyModel(CFG, torch.Generator().manual_seed(t.seed)).W.detach())


def test_snapshot_losses_match_the_models():
    r = train(CFG, dataclasses.replace(TCFG, steps=50), progress=False, record_every=25)
    x = sample_features(CFG.density_table(), 300, torch.Generator().manual_seed(1))
    L = snapshot_losses(r.snapshots, r.snapshot_b, x, CFG.importance_table(), chunk=2)
    for k in range(3):
        m = ToyModel.from_weights(CFG, r.snapshots[k], r.snapshot_b[k])
        torch.testing.assert_close(L[k], loss_per_instance(m(x), x, m.importance), rtol=1e-5, atol=1e-7)


def _sig(steps, t0): return 1 / (1 + np.exp(-(steps - t0) / 40))


def test_jump_and_drop_detection_on_known_events():
    steps = np.arange(0, 3001, 10)
    D = np.zeros((len(steps), 4)); D[:, 0] = 0.5 * _sig(steps, 800); D[:, 1] = 0.4 * (1 - _sig(steps, 2000)); D[:, 2] = 0.02 * _sig(steps, 1500)
    assert jump_times(D, steps).tolist() == [800.0, 2000.0]          # a feature leaving a fraction is a jump too; 0.02 is not
    loss = 0.05 - 0.001 * _sig(steps, 800) - 0.0001 * _sig(steps, 2000)
    assert loss_drop_times(loss, steps).tolist() == [800.0]          # a 0.2 % change is too small to count
    assert jump_times(D, steps, start=1000).tolist() == [2000.0]
    assert coincident(np.array([800.0]), np.array([]), 100).tolist() == [False]


def test_coincidence_against_shuffled_baseline():
    steps = np.arange(0, 3001, 10)
    t0 = [600, 1200, 1800, 2400]
    D = np.stack([np.stack([0.5 * _sig(steps, t), np.zeros_like(steps, float)], -1) for t in t0], 1)  # (snap, seeds, feats)
    L = np.stack([0.05 - 0.002 * _sig(steps, t) for t in t0], -1)
    st = coincidence_stats(D, L, steps)
    assert st["n_drops"].tolist() == [1, 1, 1, 1] and st["n_jumps"].tolist() == [1, 1, 1, 1]
    assert st["observed"].tolist() == [1.0] * 4 and st["shuffled"].tolist() == [0.0] * 4


def test_set_geometry_exact():
    sets = [[0, 1, 2], [3, 4, 5]]
    octa = np.concatenate([np.eye(3), -np.eye(3)])
    g = set_geometry(octa, sets)
    assert np.isclose(g["within"], 0) and np.isclose(g["across"], -1 / 3) and np.isclose(g["partner"], -1)
    prism = np.concatenate([np.eye(3), -np.eye(3)[[1, 2, 0]]])           # same octahedron, relabelled: still antipodal partners
    assert str(transform_stage(set_geometry(prism, sets))) == "octahedron"
    line = np.array([[1.0, 0, 0]] * 3 + [[-1.0, 0, 0]] * 3)               # both sets on one line, antipodal
    g = set_geometry(line, sets)
    assert np.isclose(g["within"], 1) and np.isclose(g["across"], -1) and str(transform_stage(g)) == "collapsed"
    half = np.array([[1.0, 0, 0], [0.6, 0.8, 0], [0.6, 0, 0.8]] * 2)
    assert str(transform_stage(set_geometry(half, sets))) == "spreading"
    stages = transform_stage(set_geometry(np.stack([line, half, octa]), sets))   # snapshots at once
    assert stages.tolist() == ["collapsed", "spreading", "octahedron"]


def test_figures_fit_the_page():
    steps = np.arange(0, 1001, 10)
    D = np.random.default_rng(0).uniform(0, 0.5, (len(steps), 8))
    fig = plot_jumps(steps, D, np.linspace(0.1, 0.08, len(steps)), np.array([300.0]), np.array([310.0]))
    assert fig.get_size_inches()[0] <= 7.0
    W = np.random.default_rng(1).normal(size=(len(steps), 6, 3))
    fig = plot_transforms(steps, W, np.linspace(0.1, 0.01, len(steps)), [0, 50, 100], ["a", "b", "c"], [[0, 1, 2], [3, 4, 5]])
    assert fig.get_size_inches()[0] <= 7.0
