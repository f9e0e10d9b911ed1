"""Tests of the robustness appendix (`toymodels.robustness`): the condition list, the restart arithmetic, the
stratified loss against independent estimates, divergence handling, and the experiment runners on tiny configs."""
import dataclasses
from itertools import combinations

import matplotlib
matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, ToyModel, TrainConfig, evaluate_loss, train
from toymodels.robustness import INTRO_IMPORTANCE
from toymodels.core import expected_loss, relu_loss_pairs, relu_loss_stratified, sweep_tables
from toymodels.results import load_experiments, load_result
from toymodels.robustness import (ROBUST_DEM, ROBUST_FACTORS, ROBUST_INTRO, ROBUST_PHASE, ROBUST_RECIPE, SEEDS, best_of_k,
                                  claim_scores, condition_columns, condition_configs, condition_label, conditions,
                                  failure_kind, plot_condition_map, restarts_needed,
                                  run_condition_sweep, run_phase_conditions, train_blocks)


# ---------------------------------------------------------------- conditions

def test_conditions_change_one_factor_each():
    conds = conditions()
    assert conds[0]["change"] == {} and len(conds) == 1 + sum(map(len, ROBUST_FACTORS.values()))
    base = TrainConfig()
    for c in conds[1:]:
        tcfg, init = condition_configs(c, base)
        diff = {f.name for f in dataclasses.fields(base) if getattr(tcfg, f.name) != getattr(base, f.name)}
        diff |= {"init_scale"} if init != 1.0 else set()
        expected = {"optimizer", "lr"} if c["change"].get("optimizer") == "sgd" else set(c["change"])
        assert diff == expected, (c["label"], diff)
    assert len({c["label"] for c in conds}) == len(conds)


def test_condition_labels():
    assert condition_label({}) == "paper recipe"
    assert condition_label({"lr": 3e-4}) == "lr 3e-4"
    assert condition_label({"steps": 30_000}) == "30k steps"
    assert condition_label({"optimizer": "sgd", "lr": 1.0}) == "SGD lr 1"
    assert condition_label({"init_scale": 0.1}) == "init ×0.1"


def test_issue_ranges_are_covered():
    "The sweep spans what issue 7 asks for: lr 3e-4..3e-2, batch 32..4096, steps 1k..30k, three optimisers, init scale, >= 10 seeds."
    ch = [c["change"] for c in ROBUST_INTRO["conditions"]]
    adam = [c for c in ch if c.get("optimizer") != "sgd"]
    assert {c.get("lr", 1e-3) for c in adam} >= {3e-4, 3e-2}
    assert {c.get("batch_size", 1024) for c in ch} >= {32, 4096}
    assert {c.get("steps", 10_000) for c in ch} >= {1_000, 30_000}
    assert {c.get("optimizer", "adamw") for c in ch} == {"adamw", "adam", "sgd"}
    assert len({c.get("init_scale", 1.0) for c in ch}) >= 3
    assert min(ROBUST_INTRO["n_seeds"], ROBUST_DEM["n_seeds"], ROBUST_PHASE["grid"]["per_point"]) >= 10
    for spec in ROBUST_RECIPE.values():  # the recipes are judged on seeds no other experiment uses
        assert spec["train"]["seed"] == SEEDS["robustness_recipe"]


def _train_seeds(params: dict) -> set[int]:
    "Every training seed in an experiment's specification (a phase sweep's chunks count from its seed)."
    out = set()
    if isinstance(params, dict):
        if "train" in params and isinstance(params["train"], dict) and "seed" in params["train"]:
            n_chunks = -(-params["grid"]["n_r"] * params["grid"]["n_s"] * params["grid"]["per_point"] // params["chunk"]) if "chunk" in params else 1
            out |= set(range(params["train"]["seed"], params["train"]["seed"] + n_chunks))
        for v in params.values(): out |= _train_seeds(v)
    return out


def test_each_experiment_has_its_own_seeds():
    exps = load_experiments()
    assert len(set(SEEDS.values())) == len(SEEDS)
    for name, seed in SEEDS.items():
        assert _train_seeds(exps[name].params) == {seed}, name
        others = set().union(*(_train_seeds(e.params) for n, e in exps.items() if n != name))
        assert seed not in others, name


def _model_hashes(W: np.ndarray) -> set[bytes]:
    "One key per model: the bytes of its (feats, hidden) weights."
    W = np.ascontiguousarray(W, dtype=np.float32)
    return {w.tobytes() for w in W.reshape(-1, *W.shape[-2:])}


def test_no_robustness_model_is_a_copy_of_another_chapters_model():
    "Shared seeds once made four dense robustness_intro models bit-identical to intro_5_in_2 models; none may be."
    others = set()
    for name, key in (("intro_5_in_2", "W"), ("demonstrating_20_5", "W_relu"), ("demonstrating_20_5_long", "W_relu"), ("phase_relu_2x1", "W")):
        others |= _model_hashes(load_result(name)[key])
    for name in SEEDS:
        r = load_result(name)
        for key in (k for k in r.arrays if k.endswith("W")):
            assert not (_model_hashes(r[key]) & others), (name, key)


def test_columns_repeat_the_default_in_order():
    conds = conditions()
    cols = condition_columns(conds)
    assert sum(i == 0 for i, _, _ in cols) == len(ROBUST_FACTORS)
    assert sorted({i for i, _, _ in cols}) == list(range(len(conds)))
    batches = [t for _, f, t in cols if f == "batch size"]
    assert batches == sorted(batches, key=int) and "1024" in batches
    fig = plot_condition_map(np.linspace(0, 1, 2 * len(conds)).reshape(2, -1), conds, ["a", "b"])
    assert len(fig.axes[0].texts) == 2 * len(cols) + len(ROBUST_FACTORS)  # a number per cell, a name per group


# ---------------------------------------------------------------- restarts and failures

def _brute_best_of_k(loss, ok, k):
    subsets = list(combinations(range(len(loss)), k))
    return np.mean([ok[min(s, key=lambda i: loss[i])] for s in subsets])


@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_best_of_k_matches_enumeration(k):
    rng = np.random.default_rng(k)
    loss, ok = rng.random(7), rng.random(7) < 0.5
    assert best_of_k(loss, ok, k) == pytest.approx(_brute_best_of_k(loss, ok, k))


def test_restarts_needed():
    loss = np.array([[1., 2., 3., 4.], [1., 2., 3., 4.]])
    ok = np.array([[True, False, False, False], [False, True, True, True]])
    # row 0: the best seed holds, P(best of k) = k/4; row 1: it fails, so more restarts only hurt
    assert restarts_needed(loss, ok, target=0.7).tolist() == [3.0, 1.0]
    assert restarts_needed(loss, ok, target=0.8).tolist() == [4.0, np.inf]


def test_failure_kinds_and_scores():
    ok = np.array([True, False, False, True])
    loss = np.array([1.0, 1.01, 1.5, np.nan])
    assert failure_kind(ok, loss / 1.0 - 1).tolist() == [0, 2, 1, 3]
    sc = claim_scores(loss[None], ok[None], np.array([1.0]), k=2)
    assert sc["frac"][0] == pytest.approx(0.25)  # the diverged run does not count as holding
    assert sc["best"][0] == 0.0                   # with a diverged seed there is no best-of-k


# ---------------------------------------------------------------- the stratified loss

def test_stratified_loss_agrees_with_independent_estimates():
    "Against plain Monte Carlo (evaluate_loss) and plain stratified sampling, within their standard errors."
    g = torch.Generator().manual_seed(3)
    for n, m, dens in [(5, 2, [1.0, 0.3, 0.02]), (12, 4, [0.2, 0.05, 0.01])]:
        W, b = torch.randn(3, n, m, generator=g) * 0.7, torch.randn(3, n, generator=g) * 0.2
        cfg = ModelConfig(n_feats=n, d_hidden=m, n_inst=3, density=[[d] for d in dens], importance=[0.9**i for i in range(n)])
        st, se = relu_loss_stratified(W, b, torch.tensor(dens), cfg.importance_table(), n_samples=2**14, return_se=True)
        pl, pse = relu_loss_stratified(W, b, torch.tensor(dens), cfg.importance_table(), n_samples=2**16, seed=5, control=False, return_se=True)
        assert (abs(st - pl) < 4 * (se**2 + pse**2).sqrt()).all()
        assert (se / st < 3e-3).all() and (se < pse).all()
        mc = evaluate_loss(ToyModel.from_weights(cfg, W, b), n_samples=2**19).double()
        torch.testing.assert_close(st, mc, rtol=0.02, atol=0)


def test_standard_error_is_calibrated():
    "Over independent sample sets the estimates scatter by about the standard error they report."
    g = torch.Generator().manual_seed(8)
    W, b = torch.randn(1, 8, 3, generator=g) * 0.7, torch.randn(1, 8, generator=g) * 0.1
    I, p = torch.ones(1, 8), torch.tensor([0.4])
    runs = [relu_loss_stratified(W, b, p, I, n_samples=2**10, seed=s, return_se=True) for s in range(30)]
    est, se = torch.stack([r[0][0] for r in runs]), torch.stack([r[1][0] for r in runs])
    assert 0.6 < (est.std() / se.mean()).item() < 1.5


def test_pair_term_against_a_fine_two_dimensional_grid():
    g = torch.Generator().manual_seed(6)
    n, m = 4, 2
    W, b, I = torch.randn(2, n, m, generator=g), torch.randn(2, n, generator=g) * 0.3, torch.rand(2, n, generator=g)
    u = (torch.arange(400, dtype=torch.float64) + 0.5) / 400
    U, V = torch.meshgrid(u, u, indexing="ij")
    G, ref = (W @ W.transpose(1, 2)).double(), torch.zeros(2, dtype=torch.float64)
    for i, c in combinations(range(n), 2):
        x = torch.zeros(U.numel(), n, dtype=torch.float64); x[:, i], x[:, c] = U.ravel(), V.ravel()
        ref += ((x - torch.relu(x @ G + b.double()[:, None])) ** 2 * I.double()[:, None]).sum(-1).mean(-1) / n
    torch.testing.assert_close(relu_loss_pairs(W, b, I), ref, rtol=2e-5, atol=0)


def test_two_features_are_exact():
    "n = 2 samples nothing: the stratified loss is deterministic and equals the fine-grid expected loss."
    g = torch.Generator().manual_seed(7)
    W, b = torch.randn(4, 2, 1, generator=g), torch.randn(4, 2, generator=g) * 0.3
    p, I = torch.tensor([1.0, 0.5, 0.1, 0.01]), torch.tensor([[1.0, r] for r in (0.3, 1.0, 3.0, 10.0)])
    st, se = relu_loss_stratified(W, b, p, I, n_quad=256, return_se=True)
    assert (se == 0).all()
    ex = expected_loss(W, b, p[:, None].expand(4, 2), I, max_points=2**16).double()
    torch.testing.assert_close(st, ex, rtol=1e-4, atol=0)


def test_stratified_loss_matches_the_exact_loss_when_very_sparse():
    "Where almost every sample has at most one active feature, the stratified estimate is the exact expected loss."
    g = torch.Generator().manual_seed(4)
    n, m = 6, 2
    W, b, I = torch.randn(2, n, m, generator=g) * 0.5, torch.randn(2, n, generator=g) * 0.1, torch.rand(2, n, generator=g)
    p = torch.tensor([1e-3, 1e-4], dtype=torch.float64)
    exact = expected_loss(W, b, p[:, None].expand(2, n).float(), I, max_points=2**16).double()
    torch.testing.assert_close(relu_loss_stratified(W, b, p, I), exact, rtol=2e-4, atol=0)


def test_stratified_loss_ranks_models_like_their_true_loss():
    "Shared samples: the stratified loss orders two close models the same way as the deterministic expected loss."
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=2, density=0.2, importance=INTRO_IMPORTANCE)
    ang = np.arange(5) * 2 * np.pi / 5
    pent = torch.tensor(np.stack([np.cos(ang), np.sin(ang)], -1), dtype=torch.float32)
    W = torch.stack([pent, pent * 1.05]); b = torch.full((2, 5), -0.05)
    st = relu_loss_stratified(W, b, torch.full((2,), 0.2), cfg.importance_table(), n_samples=2**14)
    ex = expected_loss(W, b, cfg.density_table(), cfg.importance_table(), max_points=2**15)   # biased, but alike for both
    assert (st[0] < st[1]) == (ex[0] < ex[1]) and abs(st[0] / st[1] - ex[0] / ex[1]) < 2e-3


# ---------------------------------------------------------------- training

def test_train_blocks_isolates_divergence():
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=6, density=0.5, importance=[[1.0], [1.0], [1e4]] * 2)
    sgd, groups = TrainConfig(steps=100, optimizer="sgd", lr=0.1), np.array([0, 1, 2] * 2)
    W, b, div, _ = train_blocks(cfg, sgd, groups)
    assert div.tolist() == [False, False, True]
    bad = groups == 2
    assert np.isfinite(W[~bad]).all() and np.isnan(W[bad]).all() and np.isnan(b[bad]).all()
    # the groups that survive start from the weights the batched call drew (zero importance: no gradient, W stays put)
    still = dataclasses.replace(cfg, importance=[[0.0], [0.0], [1e4]] * 2)
    W0 = ToyModel(still, torch.Generator().manual_seed(sgd.seed)).W.detach().numpy()
    W1, _, div1, _ = train_blocks(still, sgd, groups)
    assert div1.tolist() == [False, False, True]
    np.testing.assert_array_equal(W1[~bad], W0[~bad])


def test_train_blocks_equals_train_without_divergence():
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=4, density=0.1, importance=INTRO_IMPORTANCE)
    tcfg = TrainConfig(steps=150)
    W, b, div, _ = train_blocks(cfg, tcfg, np.array([0, 0, 1, 1]))
    res = train(cfg, tcfg, progress=False)
    assert not div.any()
    np.testing.assert_array_equal(W, res.W.numpy()); np.testing.assert_array_equal(b, res.b.numpy())


def test_runners_on_tiny_specs():
    conds = conditions({"learning rate": [{"lr": 3e-3}], "init scale": [{"init_scale": 0.5}]})
    spec = {"model": {"n_feats": 5, "d_hidden": 2, "importance": INTRO_IMPORTANCE}, "densities": [1.0, 0.1], "n_seeds": 2, "layout": "seed-major",
            "train": TrainConfig(steps=200).to_dict(), "conditions": conds, "eval_samples": 2**10, "n_quad": 32,
            "reference": {"samples": 2**12, "seeds": 1, "seed": 1}}
    out = run_condition_sweep(spec, progress=False)
    assert out["W"].shape == (3, 2, 2, 5, 2) and out["loss"].shape == (3, 2, 2) and out["seconds"].shape == (3,)
    assert np.isfinite(out["loss"]).all() and out["loss_se"].shape == out["loss"].shape
    assert out["ref_loss"].shape == (2, 1) and (abs(out["ref_loss"] - out["loss"][0, :, :1]) < 5 * np.hypot(out["ref_se"], out["loss_se"][0, :, :1])).all()
    assert not np.array_equal(out["W"][0], out["W"][1])
    # deterministic: the same specification gives the same arrays
    again = run_condition_sweep(spec, progress=False)
    np.testing.assert_array_equal(out["W"], again["W"])
    # the initial scale reaches the model: a short run with init x0.5 stays smaller
    short = run_condition_sweep({**spec, "train": TrainConfig(steps=1, lr=1e-9).to_dict()}, progress=False)
    np.testing.assert_allclose(short["W"][2], 0.5 * short["W"][0], rtol=1e-4, atol=1e-7)
    # layout: seed s at density j is instance s * n_densities + j of the batched config
    W0 = ToyModel(ModelConfig(n_feats=5, d_hidden=2, n_inst=4), torch.Generator().manual_seed(0)).W.detach().numpy()
    np.testing.assert_allclose(short["W"][0], W0.reshape(2, 2, 5, 2).transpose(1, 0, 2, 3), atol=1e-6)
    phase = {"grid": {"r_min": 0.5, "r_max": 2.0, "n_r": 2, "s_min": 0.05, "s_max": 0.5, "n_s": 2, "per_point": 2},
             "train": TrainConfig(steps=200).to_dict(), "conditions": conds[:1], "n_quad": 64}
    outp = run_phase_conditions(phase, progress=False)
    assert outp["W"].shape == (1, 2, 2, 2, 2, 1) and outp["diverged"].shape == (1, 2, 2)
    # the stored loss is the models' loss: an independent Monte-Carlo estimate agrees with it
    density, importance = sweep_tables(phase["grid"], 2)
    cfg = ModelConfig(n_feats=2, d_hidden=1, n_inst=len(density), density=density, importance=importance)
    model = ToyModel.from_weights(cfg, torch.from_numpy(outp["W"][0].reshape(-1, 2, 1)), torch.from_numpy(outp["b"][0].reshape(-1, 2)))
    np.testing.assert_allclose(outp["loss"][0].ravel(), evaluate_loss(model, n_samples=2**18).numpy(), rtol=0.03)


def test_stored_losses_agree_with_their_independent_estimate():
    for name in ("robustness_intro", "robustness_demonstrating"):
        r = load_result(name)
        k = r["ref_loss"].shape[1]
        z = (r["loss"][0, :, :k] - r["ref_loss"]) / np.hypot(r["loss_se"][0, :, :k], r["ref_se"])
        assert np.abs(z).max() < 5 and np.abs(r["loss"][0, :, :k] / r["ref_loss"] - 1).max() < 0.01, name
