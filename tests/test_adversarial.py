"Tests of §6: the paper's analytic attack, the vulnerability measure, the numerical check and adversarial training."
import json

import matplotlib
matplotlib.use("Agg")
import numpy as np
import torch

from toymodels.core import ModelConfig, TrainConfig, dimensionality
from toymodels.results import REGISTRY
from toymodels.adversarial import (
    ATTACK_FRACTION, SWEEP_PARAMS, TRAINING_PARAMS, attack_directions, example_loss, features_per_dimension,
    mean_input_norm, paper_attack, pgd_attack, reference_vulnerability, reference_weights, relative_vulnerability,
    run_sweep, train_adversarial, plot_vulnerability_sweep, plot_vulnerability_scatter, plot_attack_check,
    plot_adversarial_training)


def _digons(k: int = 3):
    "A tegum product of k antipodal pairs in k dimensions, zero bias."
    return torch.cat([torch.eye(k), -torch.eye(k)])[None], torch.zeros(1, 2 * k)


def _one_active_per_pair(B: int, k: int, g):
    x = torch.zeros(1, B, 2 * k)
    x[0, torch.arange(B), torch.randint(0, 2 * k, (B,), generator=g)] = torch.rand(B, generator=g)
    return x


def test_paper_settings():
    assert ATTACK_FRACTION == 0.1  # "a max L2 attack norm of 0.1 of the average input norm"
    assert TRAINING_PARAMS["train_fraction"][-1] == 0.8  # the paper needed 80 % to eliminate superposition
    for name in ("adversarial_sweep", "adversarial_training"):
        assert name in REGISTRY
        json.dumps(REGISTRY[name].params)


def test_attack_directions_are_normalised_rows_of_gram():
    W = torch.randn(3, 7, 2, generator=torch.Generator().manual_seed(0))
    W[0, 4] = 0.0  # an unrepresented feature has no attack
    d = attack_directions(W)
    G = W @ W.transpose(1, 2)
    norms = d.norm(dim=-1)
    assert torch.allclose(norms[0, 4], torch.tensor(0.0))
    mask = torch.ones_like(norms, dtype=bool); mask[0, 4] = False
    assert torch.allclose(norms[mask], torch.ones(mask.sum()), atol=1e-6)
    assert torch.allclose(d[1, 2] * G[1, 2].norm(), G[1, 2], atol=1e-6)


def test_paper_attack_is_the_best_candidate_per_example():
    g = torch.Generator().manual_seed(1)
    W, b = torch.randn(2, 8, 3, generator=g), -0.1 * torch.rand(2, 8, generator=g)
    imp = torch.rand(2, 8, generator=g) + 0.5
    x = torch.rand(2, 50, 8, generator=g) * (torch.rand(2, 50, 8, generator=g) < 0.3)
    lam = torch.tensor([0.05, 0.2])
    delta, inc = paper_attack(W, b, x, lam, imp, chunk=7)
    assert torch.allclose(delta.norm(dim=-1), lam[:, None].expand(2, 50), atol=1e-6)
    brute = torch.stack([example_loss(W, b, x + lam[:, None, None] * attack_directions(W)[:, k][:, None], x, imp)
                         for k in range(8)], -1).max(-1).values - example_loss(W, b, x, x, imp)
    assert torch.allclose(inc, brute, atol=1e-7)
    assert torch.allclose(example_loss(W, b, x + delta, x, imp) - example_loss(W, b, x, x, imp), inc, atol=1e-7)


def test_reference_model_exact_optimum():
    "Without superposition the optimal attack costs exactly λ² max I / n on every input x ≥ 0, and the paper's attack finds it."
    g = torch.Generator().manual_seed(2)
    imp = torch.tensor([[0.3, 1.0, 0.7, 0.2, 0.9]])
    W, b = reference_weights(imp, 3)
    assert W[0].norm(dim=-1).tolist() == [0.0, 1.0, 1.0, 0.0, 1.0]
    assert torch.allclose(W[0].T @ W[0], torch.eye(3))
    x = torch.rand(1, 200, 5, generator=g) * (torch.rand(1, 200, 5, generator=g) < 0.5)
    lam = torch.tensor([0.07])
    exact = reference_vulnerability(imp, lam)
    assert torch.allclose(exact, torch.tensor([0.07**2 * 1.0 / 5]))
    _, inc = paper_attack(W, b, x, lam, imp)
    assert torch.allclose(inc, exact[:, None].expand_as(inc), atol=1e-8)
    _, best, _ = pgd_attack(W, b, x[:, :40], lam, imp, restarts=16, steps=80, generator=g)
    assert (best <= exact + 1e-7).all()                                   # nothing beats the exact optimum
    assert (best >= exact * (1 - 2e-3)).float().mean() >= 0.9             # and random starts usually find it
    assert (best >= exact * 0.85).all()                                   # (else a local maximum: a less important feature)


def test_antipodal_pairs_are_exactly_twice_as_vulnerable():
    "A tegum product of digons with b = 0: 1/D* = 2, every D_i = 1/2, and the optimal attack costs 2 λ²/n."
    g = torch.Generator().manual_seed(3)
    W, b = _digons(3)
    imp = torch.ones(1, 6)
    assert torch.allclose(features_per_dimension(W), torch.tensor([2.0]))
    assert torch.allclose(dimensionality(W), torch.full((1, 6), 0.5), atol=1e-6)
    x = _one_active_per_pair(100, 3, g)
    lam = torch.tensor([0.03])
    _, inc = paper_attack(W, b, x, lam, imp)
    assert torch.allclose(inc / reference_vulnerability(imp, lam), torch.full((1, 100), 2.0), atol=1e-4)
    _, best, _ = pgd_attack(W, b, x[:, :40], lam, imp, restarts=8, steps=80, generator=g)
    assert (best <= inc[:, :40] * (1 + 1e-4) + 1e-9).all()  # the analytic attack is optimal here
    assert (best >= inc[:, :40] * (1 - 2e-3)).all()          # and the optimiser finds it


def test_relative_vulnerability_of_reference_is_one():
    imp = torch.ones(2, 6)
    W, b = reference_weights(imp, 2)
    out = relative_vulnerability(W, b, torch.full((2, 6), 0.3), imp, n_samples=512, norm_samples=4096, seed=0)
    assert torch.allclose(out["relative"], torch.ones(2), atol=1e-5)
    assert torch.allclose(out["radius"], ATTACK_FRACTION * mean_input_norm(torch.full((2, 6), 0.3), 4096, torch.Generator().manual_seed(0)))


def test_pgd_from_the_paper_start_is_at_least_as_strong():
    g = torch.Generator().manual_seed(4)
    W, b = torch.randn(3, 10, 3, generator=g) * 0.6, -0.2 * torch.rand(3, 10, generator=g)
    imp = torch.ones(3, 10)
    x = torch.rand(3, 30, 10, generator=g) * (torch.rand(3, 30, 10, generator=g) < 0.2)
    lam = torch.full((3,), 0.05)
    delta, paper = paper_attack(W, b, x, lam, imp)
    d_best, best, per_start = pgd_attack(W, b, x, lam, imp, restarts=4, steps=30, generator=g, start=delta)
    assert per_start.shape == (3, 30, 5)
    assert (best >= paper - 1e-7).all()
    assert (d_best.norm(dim=-1) <= lam[:, None] * (1 + 1e-5)).all()


def test_sweep_runs_small():
    demo = {**SWEEP_PARAMS, "inv_density": [1.0, 20.0], "replicates": 1, "train": {**SWEEP_PARAMS["train"], "steps": 50},
            "eval": {"n_samples": 256, "norm_samples": 1024, "seed": 1}, "pgd": {"n_examples": 8, "restarts": 2, "steps": 3, "seed": 2}}
    out = run_sweep(demo, progress=False)
    assert out["W"].shape == (2, 20, 5) and out["relative"].shape == (2,)
    assert np.isfinite(out["relative"]).all()
    assert (out["check_pgd_best"] >= out["check_paper"] - 1e-7).all()


def test_adversarial_training_deterministic_and_shrinks_superposition():
    cfg = ModelConfig(n_feats=6, d_hidden=2, n_inst=2, density=0.1)
    tc = TrainConfig(steps=600, seed=5, lr=1e-2, batch_size=256, engine="torch")
    threads = torch.get_num_threads()
    r1 = train_adversarial(cfg, tc, [0.0, 1.5], progress=False)
    assert torch.get_num_threads() == threads  # restored
    r2 = train_adversarial(cfg, tc, [0.0, 1.5], progress=False)
    assert torch.equal(r1.W, r2.W)
    fpd = features_per_dimension(r1.W)
    assert fpd[1] < fpd[0]  # a large attack leaves less superposition


def test_figures_fit_the_page():
    rng = np.random.default_rng(0)
    inv = np.repeat([1.0, 3.0, 10.0], 2)
    figs = [plot_vulnerability_sweep(inv, rng.uniform(1, 5, 6), rng.uniform(1, 4, 6), rng.uniform(1, 6, 6), n_over_m=4),
            plot_vulnerability_scatter(rng.uniform(1, 4, 6), rng.uniform(1, 5, 6), inv, extra=(np.ones(2), np.ones(2), "x")),
            plot_attack_check(inv, {"a": rng.uniform(1, 2, 6)}),
            plot_adversarial_training(np.repeat([0.0, 0.4, 0.8], 2), rng.uniform(1, 4, 6), rng.uniform(1, 5, 6), rng.uniform(0, 1, 6))]
    for f in figs:
        assert f.get_size_inches()[0] <= 7.0
        matplotlib.pyplot.close(f)
