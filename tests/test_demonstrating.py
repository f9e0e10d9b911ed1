"""Checks of §2 "Demonstrating superposition" (`toymodels.demonstrating`): exact answers of the analytic formulas
(linear optimum, linear loss decomposition, the ReLU loss split by number of active features), and the paper's
claims on a fast training config (3 000 steps at lr 3e-3 instead of 10 000 at 1e-3; a few seeds)."""

import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, TrainConfig, ToyModel, evaluate_loss, n_represented
from toymodels.core import sweep_config, train_sweep, relu_loss_L0, relu_loss_L1
from toymodels.demonstrating import (DEM_20_5, DEM_DENSITIES, bias_is_mean, feature_moments, learns_top_features,
                                     linear_loss_terms, linear_optimal_loss, linear_optimum, loss_from_active,
                                     negative_bias_positive_interference,
                                     relu_loss_by_active, superposition_order)

IMP = [0.7**i for i in range(20)]


def _cfg(activation, dens=(1.0, 0.1, 0.01)):
    return ModelConfig(n_feats=20, d_hidden=5, n_inst=len(dens), activation=activation,
                       density=[[d] for d in dens], importance=IMP)


def test_moments():
    mean, var = feature_moments(torch.tensor([[1.0, 0.5]]))
    assert mean.tolist() == [[0.5, 0.25]]
    assert var[0].tolist() == pytest.approx([1 / 12, 0.5 / 3 - 0.25 / 4])


def test_linear_optimum_exact():
    cfg = _cfg("linear")
    W, b = linear_optimum(cfg)
    # closed form: the 15 unlearned features each cost I_i Var[x_i]; mean over 20 features
    for k, p in enumerate((1.0, 0.1, 0.01)):
        assert linear_optimal_loss(cfg)[k].item() == pytest.approx(sum(IMP[5:]) * (p / 3 - p * p / 4) / 20, rel=1e-6)  # tables are float32
    terms = linear_loss_terms(W, b, cfg.density_table(), cfg.importance_table())
    torch.testing.assert_close(terms["total"], linear_optimal_loss(cfg), rtol=1e-12, atol=0)
    assert terms["interference"].abs().max() == 0 and terms["bias"].abs().max() < 1e-20
    mc = evaluate_loss(ToyModel.from_weights(cfg, W.float(), b.float()), n_samples=2**19).double()
    torch.testing.assert_close(mc, linear_optimal_loss(cfg), rtol=0.01, atol=0)
    # perturbing the optimum only increases the exact loss
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        dW, db = 0.02 * torch.randn(W.shape, generator=g, dtype=W.dtype), 0.01 * torch.randn(b.shape, generator=g, dtype=b.dtype)
        assert (linear_loss_terms(W + dW, b + db, cfg.density_table(), cfg.importance_table())["total"] > linear_optimal_loss(cfg)).all()


def test_linear_decomposition_equals_monte_carlo():
    cfg = _cfg("linear")
    g = torch.Generator().manual_seed(3)
    W, b = torch.randn(3, 20, 5, generator=g) * 0.4, torch.randn(3, 20, generator=g) * 0.3
    exact = linear_loss_terms(W, b, cfg.density_table(), cfg.importance_table())["total"]
    mc = evaluate_loss(ToyModel.from_weights(cfg, W, b), n_samples=2**19).double()
    torch.testing.assert_close(mc, exact, rtol=5e-3, atol=0)


def test_relu_split_exact_and_monte_carlo():
    cfg = _cfg("relu", (0.3, 0.05, 0.01))
    g = torch.Generator().manual_seed(4)
    W, b = torch.randn(3, 20, 5, generator=g) * 0.4, torch.randn(3, 20, generator=g) * 0.2
    model = ToyModel.from_weights(cfg, W, b)
    Lk = relu_loss_by_active(model, n_samples=2**14)
    torch.testing.assert_close(Lk[:, 0], relu_loss_L0(b, cfg.importance_table()), rtol=1e-5, atol=1e-9)  # k = 0 is exact
    torch.testing.assert_close(Lk[:, 1], relu_loss_L1(W, b, cfg.importance_table()), rtol=0.03, atol=0)
    total = loss_from_active(Lk, torch.tensor([0.3, 0.05, 0.01])).sum(-1)
    torch.testing.assert_close(total, evaluate_loss(model, n_samples=2**18).double(), rtol=0.03, atol=0)


def test_relu_L1_quadrature():
    "The closed-form L_1 against a fine midpoint rule."
    g = torch.Generator().manual_seed(5)
    W, b = torch.randn(2, 6, 3, generator=g, dtype=torch.float64), torch.randn(2, 6, generator=g, dtype=torch.float64) * 0.5
    I = torch.rand(2, 6, generator=g, dtype=torch.float64)
    u = (torch.arange(20000, dtype=torch.float64) + 0.5) / 20000
    M = torch.einsum("sjh,sih->sji", W, W)
    eye = torch.eye(6, dtype=torch.float64)
    out = torch.relu(M[..., None] * u + b[:, :, None, None])                 # (s, j, i, u)
    err = (eye[..., None] * u - out) ** 2
    ref = torch.einsum("sj,sjiu->s", I, err) / len(u) / 6
    torch.testing.assert_close(relu_loss_L1(W, b, I), ref, rtol=1e-6, atol=0)


def test_checks_exact():
    W = np.zeros((2, 20, 5)); W[0, :5] = np.eye(5); W[1, :5] = np.eye(5); W[1, 7, 0] = 0.3
    assert learns_top_features(W).tolist() == [True, False]
    b = np.zeros((1, 20)); b[0, 5:] = 0.05
    assert bias_is_mean(b, 0.1, 5).tolist() == [True] and bias_is_mean(b, 0.2, 5).tolist() == [False]
    # features 0-2 alone; 3 and 4 an antipodal pair: superposition among the less important, as an antipodal pair
    W = np.zeros((3, 20, 3)); W[:, 0, 0] = 1; W[:, 1, 1] = 1; W[:, 2, 2] = 1
    W[0, 3, 0] = -1                                                             # 0 pairs with 3: not the least important first
    W[1, 2] = 0; W[1, 3, 2], W[1, 4, 2] = 1, -1                                 # 3 and 4 pair up: the paper's order
    W[2, 3, 2] = 0.9                                                            # 2 and 3 share a direction, not antipodally
    strict, on_average, anti = superposition_order(W)
    assert strict.tolist() == [False, True, True] and on_average.tolist() == [False, True, True]
    assert anti.tolist() == [True, True, False]
    # three features at 120° in 2-D (negative interference only) vs. a pair at 60° with negative biases
    W = np.zeros((2, 20, 2)); ang = np.radians([0, 120, 240]); W[0, :3] = np.stack([np.cos(ang), np.sin(ang)], -1)
    W[1, 0] = [1, 0]; W[1, 1] = [0.5, 0.866]
    b = np.zeros((2, 20)); b[1, :2] = -0.2
    assert negative_bias_positive_interference(W, b).tolist() == [False, True]


@pytest.fixture(scope="module")
def trained():
    dens, n_seeds = [1.0, 0.3, 0.1, 0.01], 3
    tcfg = TrainConfig(steps=3000, lr=3e-3)
    relu = train_sweep(sweep_config(20, 5, dens, n_seeds, IMP), tcfg, n_seeds, False, 2**14)
    lin_cfg = sweep_config(20, 5, [1.0, 0.1], n_seeds, IMP, "linear")
    lin = train_sweep(lin_cfg, tcfg, n_seeds, False, 2**14)
    return dict(dens=dens, relu=relu, lin=lin, lin_cfg=lin_cfg, n_seeds=n_seeds)


def test_linear_model_learns_top_features(trained):
    lin, cfg, k = trained["lin"], trained["lin_cfg"], trained["n_seeds"]
    for j, d in enumerate([1.0, 0.1]):
        W, b = lin["W"][j], lin["b"][j]
        assert learns_top_features(W, tol=0.05).all()
        assert bias_is_mean(b, d, 5, rtol=0.1).all()
        inst = slice(j * k, (j + 1) * k)
        exact = linear_loss_terms(torch.as_tensor(W), torch.as_tensor(b), cfg.density_table()[inst], cfg.importance_table()[inst])["total"]
        ratio = exact / linear_optimal_loss(cfg)[inst]
        assert (ratio >= 1).all() and (ratio < 1.02).all(), ratio


def test_relu_models(trained):
    relu = trained["relu"]
    counts = n_represented(torch.as_tensor(relu["W"]).flatten(0, 1)).reshape(4, -1).numpy()
    assert (counts[0] == 5).all()                                              # dense ReLU = linear solution
    assert learns_top_features(relu["W"][0], tol=0.1).all()
    assert 6 <= counts[1].mean() <= 10 and 8 <= counts[2].mean() <= 12 and counts[3].mean() >= 10
    assert (np.diff(counts.mean(1)) > 0).all()                                  # more features as sparsity rises
    strict, on_average, anti = superposition_order(relu["W"][1])                # 1 - S = 0.3
    assert anti.all() and on_average.all()
    assert negative_bias_positive_interference(relu["W"][3], relu["b"][3]).sum() >= 2   # 1 - S = 0.01


def test_experiment_specs():
    assert DEM_20_5["densities"] == DEM_DENSITIES == [1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    cfg = ModelConfig.from_dict(DEM_20_5["relu"])
    assert (cfg.n_feats, cfg.d_hidden, cfg.n_inst) == (20, 5, 7 * DEM_20_5["n_seeds"])
    assert cfg.importance_table()[0].tolist() == pytest.approx(IMP)


def test_superposition_grid_figure():
    "The §2 figure fits an A4 page, colours bars on the package's SUPERPOSITION_CMAP and lets 80 bars fill their slots."
    import matplotlib.pyplot as plt
    from toymodels.core import SUPERPOSITION_CMAP
    from toymodels.demonstrating import plot_superposition_grid
    W = np.zeros((80, 20)); W[:20] = np.eye(20); W[20:22, 0] = [0.8, -0.8]    # 20 features alone, 2 sharing feature 0's direction
    b = np.zeros(80)
    fig = plot_superposition_grid([W] * 5, [b] * 5, [str(k) for k in range(5)])
    assert fig.get_size_inches()[0] <= 7.0
    bars = fig.axes[2].patches                                               # the first model's ‖W_i‖ bars
    assert len(bars) == 80 and all(p.get_height() == 1.0 and p.get_linewidth() == 0 for p in bars)
    np.testing.assert_allclose(bars[5].get_facecolor(), SUPERPOSITION_CMAP(0.0))       # alone: the map's low end
    np.testing.assert_allclose(bars[20].get_facecolor(), SUPERPOSITION_CMAP(1.0))      # ≥ 1: the high end
    small = plot_superposition_grid([W[:20, :5]] * 8, [b[:20]] * 8, [str(k) for k in range(8)])
    assert small.get_size_inches()[0] <= 7.0 and small.get_size_inches()[1] < fig.get_size_inches()[1]
    plt.close("all")



def test_fill_features_and_unit_starts():
    "Filling adds the most important unrepresented features at norm 1 until the target count; unit starts have every norm 1."
    from toymodels.demonstrating import fill_features, unit_starts
    W = np.zeros((2, 6, 3)); W[:, :3] = np.eye(3); b = -np.ones((2, 6))
    Wf, bf = fill_features(W, b, target=5)
    n = np.linalg.norm(Wf, axis=-1)
    np.testing.assert_allclose(n[:, :5], 1.0); np.testing.assert_allclose(n[:, 5], 0.0)
    np.testing.assert_allclose(bf[:, 3:5], 0.0); np.testing.assert_allclose(Wf[:, :3], W[:, :3])
    Wu, bu = unit_starts(4, 20, 5, seed=1)
    np.testing.assert_allclose(np.linalg.norm(Wu, axis=-1), 1.0); assert (bu == 0).all()


def test_min_norm_optimum_keeps_the_constraint_and_lowers_the_loss():
    "Every feature stays at norm >= the bound, and the k <= 1 loss does not rise from the start."
    from toymodels.core import relu_loss_L0, relu_loss_L1
    from toymodels.demonstrating import min_norm_optimum, unit_starts
    W0, b0 = unit_starts(2, 6, 2, seed=0)
    I = 0.8 ** np.arange(6)
    W, b, L = min_norm_optimum(W0, b0, np.array([0.01, 0.01]), I, np.array([1.0, 0.5]), steps=200)
    n = np.linalg.norm(W, axis=-1)
    assert (n[0] >= 1 - 1e-9).all() and (n[1] >= 0.5 - 1e-9).all()
    Ie = torch.tensor(I).expand(2, 6)
    L0 = (0.99**6 * relu_loss_L0(torch.tensor(b0), Ie) + 0.01 * 0.99**5 * relu_loss_L1(torch.tensor(W0), torch.tensor(b0), Ie)).numpy()
    assert (L < L0).all()
