"""Tests of the compiled CPU engine (toymodels.fast): gradient, determinism, statistics against the torch engines."""
import sys
from pathlib import Path

import numba
import numpy as np
import pytest
import torch

from toymodels.core import (ModelConfig, ToyModel, TrainConfig, evaluate_loss, loss_per_instance, _resolve_engine,
                            train)
from toymodels.fast import sample_batch, train_fast

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference import train_reference  # noqa: E402


# The gradient against autograd and the sampler's statistics are checked in the A1 chapter itself (it runs as a
# test); here: the strongest check of the compiled engine, an exact replay of whole trainings.

@pytest.mark.parametrize("shape", [(6, 2), (8, 3)], ids=["generated-kernel", "generic-tile-kernel"])
@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_kernel_replays_autograd_and_torch_optim_exactly(shape, optimizer, activation):
    """`train_fast` equals a step-by-step replay in plain PyTorch (autograd, `torch.optim`) on the same batches, for the
    shape-generated and the generic kernel, every optimiser, dense instances and sparse ones (the all-zero-skipping
    sampler: q = P(sample not all zero) below the threshold)."""
    import toymodels.fast as fast
    from toymodels.core import SCHEDULES, make_optimizer
    n, m = shape
    assert (fast._kernel_for(n, m, activation == "relu") is fast._train_kernel) == (n * (m + 1) > fast._FUSED_MAX)
    dens = [[1.0] * n, [0.5] * n, [0.01] * n, [0.03] * n, [0.1] * n]
    cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=len(dens), activation=activation, density=dens,
                      importance=[0.9**i for i in range(n)])
    sparse = fast._sparse_tables(cfg.density_table().numpy(), 100)[0][:, 0] >= 0
    assert sparse.any() and not sparse.all()                       # both samplers are exercised
    tcfg = TrainConfig(steps=30, batch_size=100, lr=1e-2, optimizer=optimizer, schedule="cosine", seed=6, log_every=7)
    res = train_fast(cfg, tcfg, progress=False)
    model = ToyModel(cfg, torch.Generator().manual_seed(tcfg.seed))
    opt = make_optimizer(list(model.parameters()), tcfg)
    replay = []
    for s in range(tcfg.steps):
        for group in opt.param_groups: group["lr"] = tcfg.lr * SCHEDULES[tcfg.schedule](s, tcfg.steps)
        x = sample_batch(cfg.density_table(), tcfg.batch_size, tcfg.seed, s)
        loss = loss_per_instance(model(x), x, model.importance)
        opt.zero_grad(); loss.sum().backward(); opt.step()
        if s % tcfg.log_every == 0 or s == tcfg.steps - 1: replay.append(loss.detach())
    torch.testing.assert_close(res.W, model.W.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(res.b, model.b.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(res.losses, torch.stack(replay), rtol=1e-4, atol=1e-7)


def test_sparse_sampler_distribution():
    """Instances with q = P(sample not all zero) < 0.5 draw the number of non-zero samples K ~ Binomial(B, q) and
    then only those samples, conditioned on not being all zero. The batch must still be i.i.d. per entry: every
    zero/non-zero pattern of the two features has its product probability, and K has the binomial mean and variance."""
    from toymodels.fast import _sparse_tables
    p = np.array([0.03, 0.15], np.float32)
    binom, _ = _sparse_tables(p[None], 1024)
    assert binom[0, 0] >= 0  # this density uses the sparse sampler
    x = sample_batch(np.tile(p, (400, 1)), 1024, seed=2, step=1)  # 400 instances = 400 batches
    nz = x != 0
    for pattern, prob in [((1, 0), p[0] * (1 - p[1])), ((0, 1), (1 - p[0]) * p[1]), ((1, 1), p[0] * p[1]), ((0, 0), (1 - p[0]) * (1 - p[1]))]:
        freq = ((nz[..., 0] == bool(pattern[0])) & (nz[..., 1] == bool(pattern[1]))).double().mean().item()
        assert abs(freq - prob) < 5 * (prob * (1 - prob) / nz[..., 0].numel()) ** 0.5 + 1e-6, (pattern, freq, prob)
    K = nz.any(-1).sum(-1).double()  # non-zero samples per batch
    q = 1 - (1 - p[0]) * (1 - p[1])
    assert abs(K.mean().item() - 1024 * q) < 5 * (1024 * q * (1 - q) / 400) ** 0.5
    assert 0.8 < K.var().item() / (1024 * q * (1 - q)) < 1.2
    torch.testing.assert_close(x[nz].mean(), torch.tensor(0.5, dtype=torch.float32), atol=1e-2, rtol=0)
    assert x.min() >= 0 and x.max() < 1


def test_deterministic_and_chunk_thread_independent():
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=9, density=0.1, importance=[0.9**i for i in range(5)])
    tcfg = TrainConfig(steps=60, batch_size=100, seed=3, log_every=7)
    a = _same_in_chunks_and_one_thread(cfg, tcfg, chunk=4)
    d = train_fast(cfg, TrainConfig(steps=60, batch_size=100, seed=4, log_every=7), progress=False)
    assert not torch.equal(a.W, d.W)
    # same initial weights as the torch engine
    t = train(cfg, TrainConfig(steps=1, lr=1e-12, seed=3, engine="torch"), progress=False)
    f = train(cfg, TrainConfig(steps=1, lr=1e-12, seed=3, engine="fast"), progress=False)
    torch.testing.assert_close(t.W, f.W)


@pytest.mark.parametrize("activation", ["relu", "linear"])
@pytest.mark.parametrize("density", [0.3, 0.05])  # q = 1 - (1-p)^3 = 0.66 (dense sampler), 0.14 (sparse sampler)
def test_generated_kernel_matches_generic(activation, density, monkeypatch):
    "The kernel generated for small shapes draws the same stream and computes the same training as the tile kernel."
    import toymodels.fast as fast
    cfg = ModelConfig(n_feats=3, d_hidden=2, n_inst=5, activation=activation, density=density, importance=[0.9**i for i in range(3)])
    tcfg = TrainConfig(steps=30, batch_size=100, seed=2, log_every=5)  # 100 = 6 rounds of 16 lanes + 4
    assert fast._kernel_for(3, 2, activation == "relu") is not fast._train_kernel
    a = train_fast(cfg, tcfg, progress=False)
    monkeypatch.setattr(fast, "_FUSED_MAX", 0)
    fast._kernel_for.cache_clear()
    try:
        b = train_fast(cfg, tcfg, progress=False)
    finally:
        fast._kernel_for.cache_clear()
    torch.testing.assert_close(a.W, b.W, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.losses, b.losses, rtol=1e-5, atol=1e-7)


def test_auto_picks_fast_on_cpu():
    cfg = ModelConfig(n_feats=3, d_hidden=2, n_inst=2)
    assert _resolve_engine(cfg, TrainConfig(engine="auto")) == "fast"
    assert _resolve_engine(cfg, TrainConfig(engine="auto", device="cuda")) == "torch"
    assert train_fast.supports(cfg, TrainConfig(optimizer="sgd", schedule="cosine"))


def _paired_t(a, b):
    d = (a - b).double()
    return (d.mean() / (d.std() / len(d) ** 0.5)).item()


def _final_losses(cfg: ModelConfig, tcfg: dict) -> tuple[dict, torch.Tensor]:
    "Each engine's final evaluation loss per instance (fast, torch, reference; same seed, so instances pair up), and the initial one."
    nt = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest and immune to oversubscription
    try:
        res = {"fast": train(cfg, TrainConfig(**tcfg, engine="fast"), progress=False).model,
               "torch": train(cfg, TrainConfig(**tcfg, engine="torch"), progress=False).model,
               "reference": train_reference(cfg, TrainConfig(**tcfg)).model}
        res = {k: evaluate_loss(m, n_samples=2**15) for k, m in res.items()}
        init = evaluate_loss(ToyModel(cfg, torch.Generator().manual_seed(tcfg["seed"])), n_samples=2**15)
    finally:
        torch.set_num_threads(nt)
    return res, init


def test_same_statistics_as_torch_and_reference():
    """Both engines start from the same W (same seed), so instances pair up: the paired differences of the final
    evaluation loss must be centred on zero (|t| < 4), and the means agree within 4% (the instance-to-instance
    spread of the final loss is ~10-20% of its mean, so the standard error of a 40-instance mean is ~3%)."""
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=40, density=0.1, importance=[0.9**i for i in range(5)])
    tcfg = dict(steps=800, batch_size=128, lr=1e-2, seed=11)
    res, init = _final_losses(cfg, tcfg)
    for other in ("torch", "reference"):
        t = _paired_t(res["fast"], res[other])
        assert abs(t) < 4, (other, t, res["fast"].mean().item(), res[other].mean().item())
        assert abs(res["fast"].mean() / res[other].mean() - 1) < 0.04
    assert (res["fast"] < 0.6 * init).all()  # training got far from the start: the comparison is not vacuous


def test_phase_toy_optimum():
    "n=2, m=1, importance [1, 0.2], dense: only the important feature is represented, with norm 1."
    cfg = ModelConfig(n_feats=2, d_hidden=1, n_inst=16, density=1.0, importance=[1.0, 0.2])
    res = train(cfg, TrainConfig(steps=3000, lr=1e-2), progress=False)
    W = res.W[..., 0].abs()
    torch.testing.assert_close(W[:, 0], torch.ones(16), atol=0.05, rtol=0)
    torch.testing.assert_close(W[:, 1], torch.zeros(16), atol=0.05, rtol=0)


def test_nonfinite_raises():
    cfg = ModelConfig(n_feats=3, d_hidden=2, n_inst=2)
    with pytest.raises(FloatingPointError):
        train_fast(cfg, TrainConfig(steps=30, lr=1e30), progress=False)


def test_init_is_respected_by_both_engines():
    "train(..., init=(W, b)) starts both engines from the given weights."
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=3, density=0.1)
    W0 = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(0)); b0 = torch.full((3, 5), 0.1)
    for engine in ("fast", "torch"):
        r = train(cfg, TrainConfig(steps=1, lr=1e-12, engine=engine), progress=False, init=(W0, b0))
        torch.testing.assert_close(r.W, W0, atol=1e-6, rtol=0)
        torch.testing.assert_close(r.b, b0, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="shape"):
        train(cfg, TrainConfig(steps=1), progress=False, init=(torch.zeros(2, 5, 2), None))


def test_fast_engine_on_cuda_says_why_in_one_short_line():
    with pytest.raises(ValueError) as e:
        train(ModelConfig(), TrainConfig(engine="fast", device="cuda", steps=1), progress=False)
    msg = str(e.value)
    assert "CPU only" in msg and "engine='torch'" in msg and len(msg) < 120 and "ModelConfig(" not in msg


# ---------------------------------------------------------------- model kinds: §7 ReLU hidden layer, §8 abs (untied)
ABS = dict(hidden_activation="relu", tied=False, task="abs")
KINDS = {"hidden_relu": dict(hidden_activation="relu"), "abs": ABS, "untied": dict(tied=False),
         "abs_linear_out": dict(tied=False, task="abs", activation="linear"), "abs_linear_hidden": dict(tied=False, task="abs")}


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_kinds_kernel_replays_autograd_and_torch_optim_exactly(kind, optimizer):
    """`_train_kernel_kinds` (every kind other than the default) equals a step-by-step replay with autograd and
    `torch.optim` on the kernel's own batches (`sample_batch(..., signed=cfg.signed)`), dense and sparse instances."""
    import toymodels.fast as fast
    n, m = 6, 4
    dens = [[1.0] * n, [0.5] * n, [0.01] * n, [0.03] * n, [0.1] * n]
    cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=len(dens), density=dens, importance=[0.9**i for i in range(n)], **KINDS[kind])
    sparse = fast._sparse_tables(cfg.density_table().numpy(), 100)[0][:, 0] >= 0
    assert sparse.any() and not sparse.all()
    tcfg = TrainConfig(steps=30, batch_size=100, lr=1e-2, optimizer=optimizer, schedule="cosine", seed=6, log_every=7)
    res = train_fast(cfg, tcfg, progress=False)
    model, replay = _autograd_replay(cfg, tcfg)
    for got, want in [(res.W, model.W), (res.W_out, model.W_out), (res.b, model.b)]:
        torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(res.losses, torch.stack(replay), rtol=1e-4, atol=1e-7)


def test_kinds_kernel_matches_the_default_kernels_on_the_default_model(monkeypatch):
    "Forced onto the default model, the per-sample kernel reproduces the generated and the tile kernels' training."
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=4, density=[[1.0] * 5, [0.3] * 5, [0.05] * 5, [0.01] * 5])
    tcfg = TrainConfig(steps=40, batch_size=100, seed=2, log_every=5)
    a = train_fast(cfg, tcfg, progress=False)
    monkeypatch.setattr(type(cfg), "is_default_kind", property(lambda self: False))
    b = train_fast(cfg, tcfg, progress=False)
    torch.testing.assert_close(a.W, b.W, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.losses, b.losses, rtol=1e-5, atol=1e-7)


def test_signed_sample_batch_is_the_unsigned_stream_mapped_to_minus_one_one():
    dens = np.array([[0.02, 0.1, 1.0]] * 3, np.float32)                 # the sparse and the dense sampler
    for step in (0, 3):
        u, s = sample_batch(dens, 500, seed=4, step=step), sample_batch(dens, 500, seed=4, step=step, signed=True)
        torch.testing.assert_close(s, torch.where(u != 0, 2 * u - 1, 0.0), rtol=0, atol=1e-6)
    x = sample_batch(np.array([[1.0]], np.float32), 100_000, signed=True)
    assert abs(x.mean()) < 0.01 and abs(x.var() - 1 / 3) < 0.01 and x.min() >= -1 and x.max() < 1


def test_hand_built_models_are_exact_in_the_fast_engine():
    """The clean §8 case (n=3, m=6, dense: neurons ReLU(x_i), ReLU(-x_i), output their sum) and the §7 identity model
    have zero loss, so the kernel logs a loss of exactly 0 and its gradient leaves the weights where they are."""
    W = torch.zeros(2, 3, 6); W_out = torch.zeros(2, 3, 6)
    for i in range(3):
        W[:, i, 2 * i], W[:, i, 2 * i + 1] = 1.0, -1.0
        W_out[:, i, 2 * i], W_out[:, i, 2 * i + 1] = 1.0, 1.0
    tcfg = TrainConfig(steps=5, batch_size=256, lr=0.1, optimizer="sgd", engine="fast")
    r = train(ModelConfig(n_feats=3, d_hidden=6, n_inst=2, density=[[1.0] * 3, [0.3] * 3], **ABS), tcfg,
              progress=False, init=(W, torch.zeros(2, 3), W_out))
    assert r.losses.abs().max() == 0 and torch.equal(r.W, W) and torch.equal(r.W_out, W_out) and r.b.abs().max() == 0
    I = torch.eye(3).expand(2, 3, 3)
    r = train(ModelConfig(n_feats=3, d_hidden=3, n_inst=2, density=[[1.0] * 3, [0.3] * 3], hidden_activation="relu"), tcfg,
              progress=False, init=(I, None))
    assert r.losses.abs().max() == 0 and torch.equal(r.W, I)
    r = train(ModelConfig(n_feats=3, d_hidden=6, n_inst=1, density=1.0, **ABS), tcfg, progress=False, init=(W[:1], None, -W_out[:1]))
    assert r.losses[0].item() > 0.1                                      # the check is not vacuous


def test_kinds_same_statistics_as_torch_and_reference():
    """The §8 abs model (n=5, m=4, 1-S = 0.1), paired as in `test_same_statistics_as_torch_and_reference`: the final
    losses of the fast, torch and reference engines agree (|t| < 4, means within 6%: the instance-to-instance spread
    of the final loss is ~15% of its mean, so the standard error of a 40-instance mean is ~2.4%)."""
    cfg = ModelConfig(n_feats=5, d_hidden=4, n_inst=40, density=0.1, importance=[0.9**i for i in range(5)], **ABS)
    tcfg = dict(steps=800, batch_size=128, lr=1e-2, seed=11)
    res, init = _final_losses(cfg, tcfg)
    for other in ("torch", "reference"):
        t = _paired_t(res["fast"], res[other])
        assert abs(t) < 4, (other, t, res["fast"].mean().item(), res[other].mean().item())
        assert abs(res["fast"].mean() / res[other].mean() - 1) < 0.06
    assert res["fast"].mean() < 0.6 * init.mean()


def test_untied_snapshots_match_between_engines():
    "Snapshots of W_out mean the same in both engines: the weights after the same number of optimiser steps."
    cfg = ModelConfig(n_feats=3, d_hidden=6, n_inst=2, density=0.3, **ABS)
    tc = dict(steps=10, batch_size=64, lr=1e-12, seed=1)
    f = train(cfg, TrainConfig(**tc, engine="fast"), progress=False, record_every=5)
    t = train(cfg, TrainConfig(**tc, engine="torch"), progress=False, record_every=5)
    assert f.snapshot_W_out.shape == (3, 2, 3, 6)
    torch.testing.assert_close(f.snapshot_W_out, t.snapshot_W_out)
    torch.testing.assert_close(f.snapshots, t.snapshots)


# ---------------------------------------------------------------- large models (n_feats * d_hidden >= 1000): blocked tiles
BLOCKED_KINDS = {"default": {}, "default_linear": dict(activation="linear"), **KINDS}


@pytest.mark.parametrize("kind", list(BLOCKED_KINDS))
def test_blocked_kernel_replays_autograd_and_torch_optim_exactly(kind):
    """`_train_kernel_blocked` (every kind with n_feats * d_hidden >= 1000) equals a step-by-step replay with autograd
    and `torch.optim` on its own batches: dense instances, dense ones with all-zero samples dropped, sparse ones, the
    sparse-entries first layer (1 - S = 0.01) and full tiles carried over (batch 600 > T = 256). SGD: Adam's first
    steps move a weight by ±lr whatever its gradient's size, so a gradient of ~1e-9 summed in another order can flip
    a step; Adam is compared with the per-sample kernels in the next test."""
    import toymodels.fast as fast
    n, m = 50, 20
    assert n * m >= fast._BLOCKED_MIN and fast._blocked_tile(n) < 600
    dens = [[1.0] * n, [0.03] * n, [0.01] * n, [0.002] * n, [0.1] * n]  # q = 1, .78, .39 (sparse), .10 (sparse), .99
    cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=len(dens), density=dens, importance=[0.97**i for i in range(n)],
                      **BLOCKED_KINDS[kind])
    sparse = fast._sparse_tables(cfg.density_table().numpy(), 600)[0][:, 0] >= 0
    assert sparse.any() and not sparse.all()
    tcfg = TrainConfig(steps=25, batch_size=600, lr=0.5, optimizer="sgd", schedule="cosine", seed=6, log_every=6)
    res = train_fast(cfg, tcfg, progress=False)
    model, replay = _autograd_replay(cfg, tcfg)
    for got, want in [(res.W, model.W), (res.W_out, model.W_out), (res.b, model.b)]:
        if want is not None:
            torch.testing.assert_close(got, want.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(res.losses, torch.stack(replay), rtol=1e-4, atol=1e-7)
    assert (res.W - ToyModel(cfg, torch.Generator().manual_seed(tcfg.seed)).W).abs().max() > 1e-2  # it moved


@pytest.mark.parametrize("kind", ["default", "abs", "abs_linear_hidden"])
def test_blocked_kernel_matches_the_per_sample_kernels_with_adamw(kind, monkeypatch):
    "With AdamW, the blocked kernel trains as the tile kernel (default kind) or `_train_kernel_kinds` do on the same stream."
    import toymodels.fast as fast
    n, m = 50, 20
    dens = [[1.0] * n, [0.03] * n, [0.01] * n, [0.002] * n, [0.1] * n]
    cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=len(dens), density=dens, importance=[0.97**i for i in range(n)],
                      **BLOCKED_KINDS[kind])
    tcfg = TrainConfig(steps=25, batch_size=600, lr=1e-2, schedule="cosine", seed=6, log_every=6)
    a = train_fast(cfg, tcfg, progress=False)
    monkeypatch.setattr(fast, "_BLOCKED_MIN", 10**9)
    b = train_fast(cfg, tcfg, progress=False)
    for got, want in [(a.W, b.W), (a.W_out, b.W_out), (a.b, b.b)]:
        if want is not None: torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    torch.testing.assert_close(a.losses, b.losses, rtol=1e-5, atol=1e-7)


def test_blocked_kernel_deterministic_and_chunk_thread_independent():
    cfg = ModelConfig(n_feats=40, d_hidden=25, n_inst=5, density=[[1.0] * 40, [0.05] * 40, [0.01] * 40, [0.003] * 40, [0.2] * 40],
                      hidden_activation="relu", tied=False, task="abs")
    tcfg = TrainConfig(steps=20, batch_size=300, seed=3, log_every=4)
    _same_in_chunks_and_one_thread(cfg, tcfg, chunk=2)


@pytest.mark.parametrize("case", ["abs_sparse", "default_dense"])
def test_blocked_same_statistics_as_torch_and_reference(case):
    """Paired as in `test_same_statistics_as_torch_and_reference`, for models large enough for the blocked kernel
    (n = 50, m = 20): a §8-like abs model at 1 - S = 0.02 and the default model on dense features."""
    kind, density = {"abs_sparse": (ABS, 0.02), "default_dense": ({}, 1.0)}[case]
    cfg = ModelConfig(n_feats=50, d_hidden=20, n_inst=40, density=density, importance=[0.97**i for i in range(50)], **kind)
    tcfg = dict(steps=600, batch_size=128, lr=1e-2, seed=11)
    res, init = _final_losses(cfg, tcfg)
    for other in ("torch", "reference"):
        t = _paired_t(res["fast"], res[other])
        assert abs(t) < 4, (other, t, res["fast"].mean().item(), res[other].mean().item())
        assert abs(res["fast"].mean() / res[other].mean() - 1) < 0.06
    assert res["fast"].mean() < 0.8 * init.mean()


def _autograd_replay(cfg, tcfg):
    "Train `cfg` with autograd and torch.optim on the compiled engine's own batches (`sample_batch`): the model and its logged losses."
    from toymodels.core import SCHEDULES, make_optimizer
    model = ToyModel(cfg, torch.Generator().manual_seed(tcfg.seed))
    opt = make_optimizer(list(model.parameters()), tcfg)
    replay = []
    for s in range(tcfg.steps):
        for group in opt.param_groups: group["lr"] = tcfg.lr * SCHEDULES[tcfg.schedule](s, tcfg.steps)
        x = sample_batch(cfg.density_table(), tcfg.batch_size, tcfg.seed, s, signed=cfg.signed)
        loss = loss_per_instance(model(x), model.target(x), model.importance)
        opt.zero_grad(); loss.sum().backward(); opt.step()
        if s % tcfg.log_every == 0 or s == tcfg.steps - 1: replay.append(loss.detach())
    return model, replay


def _same_in_chunks_and_one_thread(cfg, tcfg, chunk):
    "Train with the compiled engine as is, in chunks of `chunk` instances, and on one thread: bit-identical; returns the first."
    a = train_fast(cfg, tcfg, progress=False)
    b = train_fast(cfg, tcfg, progress=False, chunk=chunk)
    nt = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        c = train_fast(cfg, tcfg, progress=False)
    finally:
        numba.set_num_threads(nt)
    for r in (b, c):
        assert torch.equal(a.W, r.W) and torch.equal(a.W_out, r.W_out) and torch.equal(a.b, r.b) and torch.equal(a.losses, r.losses)
    return a
