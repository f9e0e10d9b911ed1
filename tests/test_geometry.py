"""Tests of §4, the geometry of superposition (toymodels.geometry), on small fast configs."""
import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, TrainConfig, ToyModel, dimensionality, evaluate_loss, train
from toymodels.geometry import (FRACTIONS, crossing, digons_init, dimensions_per_feature, factor_census, grouped_sampler,
                                nearest_fraction, nonuniform_class, packing_stats, pair_cosines, pair_relation,
                                pentagon_init, tegum_factors)
from toymodels.core import expected_loss


def _regular_polygon(k: int) -> torch.Tensor:
    a = 2 * np.pi * np.arange(k) / k
    return torch.tensor(np.stack([np.cos(a), np.sin(a)], -1), dtype=torch.float32)


@pytest.mark.parametrize("k", [3, 5, 7])
def test_polygon_dimensionality_is_2_over_k(k):
    "k unit vectors evenly spread in a plane: sum_j cos^2 = k/2, so D_i = 2/k exactly, and D* = m/k = 2/k."
    W = _regular_polygon(k)[None]
    torch.testing.assert_close(dimensionality(W), torch.full((1, k), 2 / k), atol=1e-5, rtol=0)
    torch.testing.assert_close(dimensions_per_feature(W), torch.tensor([2 / k]), atol=1e-6, rtol=0)
    assert sum(len(g) for g, d in tegum_factors(W[0].numpy()) if d == 2) == k


def test_square_antiprism_is_3_over_8():
    "The 8 vertices of a square antiprism (two squares rotated by 45 degrees) in 3-d: D_i = 3/8 for the right height."
    a = np.pi / 2 * np.arange(4)
    h = 2 ** -0.5  # normalised, the vertices then have z^2 = 1/3: a tight frame, sum_i v_i v_i^T = (8/3) I
    top = np.stack([np.cos(a), np.sin(a), np.full(4, h)], -1)
    bot = np.stack([np.cos(a + np.pi / 4), np.sin(a + np.pi / 4), np.full(4, -h)], -1)
    V = np.concatenate([top, bot]); V /= np.linalg.norm(V, axis=-1, keepdims=True)
    # for a tight frame D_i = 1 / sum_j (v_i . v_j)^2 = 1 / (v_i^T (8/3) I v_i) = 3/8
    S = V.T @ V
    np.testing.assert_allclose(S, 8 / 3 * np.eye(3), atol=1e-6)
    D = dimensionality(torch.tensor(V[None], dtype=torch.float32))
    torch.testing.assert_close(D, torch.full((1, 8), 3 / 8), atol=1e-5, rtol=0)
    assert [(len(g), d) for g, d in tegum_factors(V)] == [(8, 3)]


def test_nearest_fraction_and_packing():
    assert nearest_fraction([1.0, 0.76, 0.665, 0.5, 0.41, 0.37, 0.6]).tolist()[:6] == [1.0, 0.75, 2 / 3, 0.5, 0.4, 0.375]
    assert np.isnan(nearest_fraction([0.6, 0.2])).all()
    assert set(FRACTIONS) == {1.0, 0.75, 2 / 3, 0.5, 0.4, 0.375, 0.0}
    # a tegum product: a pentagon in dims 0-1, an antipodal pair in dim 2, a dedicated feature in dim 3
    W = np.zeros((9, 4)); W[:5, :2] = _regular_polygon(5).numpy(); W[5, 2], W[6, 2], W[7, 3] = 1, -1, 1
    D = dimensionality(torch.tensor(W[None], dtype=torch.float32)).numpy()
    st = packing_stats(D, np.linalg.norm(W, axis=-1)[None], 4)
    np.testing.assert_allclose(st["sum_D_over_m"], [1.0], atol=1e-5)  # efficiently packed: sum D_i = m
    np.testing.assert_allclose(st["share_at_fraction"], [1.0])
    assert sorted((len(g), d) for g, d in tegum_factors(W)) == [(1, 1), (2, 1), (5, 2)]


def test_grouped_sampler_statistics_and_validation():
    smp = grouped_sampler(3, 6, [("correlated", [0, 1, 2]), ("anticorrelated", [3, 4])], 0.3)
    x = smp(100_000, torch.Generator().manual_seed(1)); nz = x != 0
    assert x.shape == (3, 100_000, 6)
    assert torch.equal(nz[..., 0], nz[..., 1]) and torch.equal(nz[..., 0], nz[..., 2])
    assert abs(nz[..., 0].float().mean().item() - 0.3) < 5e-3
    assert not (nz[..., 3] & nz[..., 4]).any()
    assert abs((nz[..., 3] | nz[..., 4]).float().mean().item() - 0.3) < 5e-3
    assert abs(nz[..., 5].float().mean().item() - 0.3) < 5e-3
    # independent sets: correlation of the correlated set's indicator with the free feature's is ~0
    a, b = nz[..., 0].float().flatten(), nz[..., 5].float().flatten()
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 1e-2
    with pytest.raises(ValueError, match="disjoint"):
        grouped_sampler(1, 4, [("correlated", [0, 1]), ("anticorrelated", [1, 2])], 0.1)
    with pytest.raises(ValueError, match="unknown kind"):
        grouped_sampler(1, 4, [("together", [0, 1])], 0.1)
    with pytest.raises(ValueError, match="density"):
        grouped_sampler(1, 4, [], 0.0)


def test_uniform_dense_models_use_one_dimension_per_feature():
    "Dense, equally important features: the ReLU model learns m orthogonal features, D* = 1 and sum D_i = m."
    cfg = ModelConfig(n_feats=12, d_hidden=4, n_inst=3, density=1.0, importance=1.0)
    res = train(cfg, TrainConfig(steps=3000, lr=1e-2), progress=False)
    torch.testing.assert_close(dimensions_per_feature(res.W), torch.ones(3), atol=0.06, rtol=0)
    D = dimensionality(res.W)
    torch.testing.assert_close(D.sum(-1), torch.full((3,), 4.0), atol=0.2, rtol=0)


def _loss_on(W, sampler, n_inst):
    "Monte-Carlo expected loss of hand-made weights (biases zero) on a grouped sampler's data."
    cfg = ModelConfig(n_feats=W.shape[-2], d_hidden=2, n_inst=n_inst, density=0.1, importance=1.0)
    model = ToyModel.from_weights(cfg, torch.as_tensor(W, dtype=torch.float32), torch.zeros(n_inst, W.shape[-2]))
    return evaluate_loss(model, n_samples=2**16, sampler=sampler)


def test_correlated_prefer_orthogonal_anticorrelated_prefer_antipodal_exactly():
    """The optimum, without training: of the two ways to put 4 features in 2-d as two antipodal pairs, pairing
    each set's members antipodally costs nothing for anticorrelated sets (they are never on together) and is the
    worse choice for correlated sets (their members are on together, so they interfere)."""
    within = np.array([[1., 0.], [-1., 0.], [0., 1.], [0., -1.]])   # each set's members antipodal
    across = np.array([[1., 0.], [0., 1.], [-1., 0.], [0., -1.]])   # each set's members orthogonal
    W = torch.tensor(np.stack([within, across]), dtype=torch.float32)
    pairs = [[0, 1], [2, 3]]
    anti = _loss_on(W, grouped_sampler(2, 4, [("anticorrelated", p) for p in pairs], 0.1), 2)
    corr = _loss_on(W, grouped_sampler(2, 4, [("correlated", p) for p in pairs], 0.1), 2)
    assert anti[0] < 1e-9 < anti[1], anti          # antipodal anticorrelated pairs: no interference at all
    assert corr[1] < 0.5 * corr[0], corr           # correlated pairs are better orthogonal
    torch.testing.assert_close(pair_cosines(W.numpy(), pairs), np.array([[-1., -1.], [0., 0.]]), check_dtype=False)


def test_training_puts_sparse_correlated_pairs_orthogonally():
    "Trained on two correlated pairs at 1-S = 0.1, models put each pair's members on orthogonal directions."
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try:
        cfg = ModelConfig(n_feats=4, d_hidden=2, n_inst=4, density=0.1, importance=1.0)
        smp = grouped_sampler(4, 4, [("correlated", [0, 1]), ("correlated", [2, 3])], 0.1)
        res = train(cfg, TrainConfig(steps=1500, lr=1e-2, engine="torch", seed=3), progress=False, sampler=smp)
    finally: torch.set_num_threads(threads)
    rel = pair_relation(res.W.numpy(), [[0, 1], [2, 3]])
    assert (rel == "orthogonal").mean() >= 0.75, rel


def test_moderate_sparsity_gives_the_digon_plateau():
    "Equal importance, 1/(1-S) = 2.5: every represented feature is in an antipodal pair and D* = 1/2 (the sticky plateau)."
    cfg = ModelConfig(n_feats=20, d_hidden=4, n_inst=4, density=0.4, importance=1.0)
    res = train(cfg, TrainConfig(steps=2000, lr=3e-3, seed=1), progress=False)
    torch.testing.assert_close(dimensions_per_feature(res.W), torch.full((4,), 0.5), atol=0.02, rtol=0)
    assert factor_census(res.W.numpy()) == [{"digon": 4}] * 4
    D = dimensionality(res.W).numpy()
    st = packing_stats(D, np.linalg.norm(res.W.numpy(), axis=-1), 4)
    np.testing.assert_allclose(st["share_at_fraction"], 1.0)
    np.testing.assert_allclose(st["sum_D_over_m"], 1.0, atol=0.02)


def test_nonuniform_first_order_transition():
    """Five features of density 0.05 in 2-d: at equal sparsity the pentagon beats two digons; with feature 4
    eight times sparser the digons win. Training from either solution keeps it (both are local minima)."""
    f = np.array([1.0, 8.0])
    dens = np.full((4, 5), 0.05); dens[:, 4] /= np.repeat(f, 2)
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=4, density=dens.tolist(), importance=1.0)
    W0 = torch.cat([pentagon_init(1), digons_init(1), pentagon_init(1), digons_init(1)])
    res = train(cfg, TrainConfig(steps=1000), progress=False, init=(W0, None))
    assert nonuniform_class(res.W.numpy()).tolist()[:2] == ["pentagon", "digons"]
    assert nonuniform_class(res.W.numpy())[3] == "digons"
    L = expected_loss(res.W, res.b, cfg.density_table(), cfg.importance_table(), max_points=2**14)
    assert L[0] < L[1] and L[3] < L[2], L
    assert 2 < crossing(f, np.array([L[1] - L[0], L[3] - L[2]])) < 8


def test_crossing_and_census():
    assert np.isnan(crossing(np.array([1., 2.]), np.array([1., 2.])))
    np.testing.assert_allclose(crossing(np.array([1., 4.]), np.array([1., -1.])), 2.0)   # halfway in log x
    assert factor_census(np.stack([digons_init(1)[0].numpy(), pentagon_init(1)[0].numpy()])) == [{"digon": 2}, {"pentagon": 1}]


def test_figures_distinguish_collapsed_features_and_draw_large_factors_as_gram_matrices():
    "Collapsed set members stay visible (dot inside a ring), sets get a legend; a large factor is drawn as W Wᵀ."
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from toymodels.geometry import plot_factors, plot_feature_sets
    W = np.array([[0.7, 0.7], [0.7, 0.7], [-0.7, 0.7], [-0.7, 0.7]])  # two pairs, each collapsed onto one direction
    fig = plot_feature_sets([W], [[[0, 1], [2, 3]]], ["t"])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:2] == ["set 1: features 0, 1", "set 2: features 2, 3"] and "second feature of a set" in labels
    tips = [l for l in fig.axes[0].lines if len(l.get_xdata()) == 1]
    assert {l.get_markerfacecolor() == "none" for l in tips} == {True, False}  # filled dots and rings
    assert fig.get_size_inches()[0] <= 7.0
    plt.close(fig)
    Wg = np.linalg.qr(np.random.default_rng(0).normal(size=(10, 10)))[0][:, :6]
    fig = plot_factors([(np.eye(2), "digon")], gram=(Wg, "6 in 10-d"))
    assert len(fig.axes) == 2 and fig.axes[1].images[0].get_array().shape == (10, 10)
    plt.close(fig)


def test_reading_density_and_branch_crossing():
    "'density' makes the feature f times rarer, 'log' raises the density to the power f; the crossing ignores factors where a branch left its solution."
    from toymodels.geometry import branch_crossing, reading_density
    np.testing.assert_allclose(reading_density(0.05, np.array([1.0, 2.0, 4.0]), "density"), [0.05, 0.025, 0.0125])
    np.testing.assert_allclose(reading_density(0.05, np.array([1.0, 2.0]), "log"), [0.05, 0.0025])
    f = np.array([0.5, 1.0, 2.0, 4.0, 8.0])
    loss = np.stack([np.ones(5), np.array([0.5, 1.5, 1.2, 0.8, 0.5])], -1)       # digons: below the pentagon at 0.5 (invalid there) and past ~3
    cls = np.array([["pentagon", "pentagon"]] + [["pentagon", "digons"]] * 3 + [["digons", "digons"]])
    x = branch_crossing(f, loss, cls)
    assert 2 < x < 4
    np.testing.assert_allclose(x, crossing(f[1:4], loss[1:4, 1] - loss[1:4, 0]))


def test_uniform_edges_trains_every_sparsity_once_per_seed():
    "Arrays lead (sparsity, seed); the seeds of one sparsity are different models."
    from toymodels.geometry import UNIFORM_EDGE_PARAMS, run_uniform_edges
    small = {**UNIFORM_EDGE_PARAMS, "n_feats": 12, "d_hidden": 3, "inv_density": [1.5, 4.0], "n_seeds": 2,
             "train": {**UNIFORM_EDGE_PARAMS["train"], "steps": 50}}
    out = run_uniform_edges(small, progress=False)
    assert out["W"].shape == (2, 2, 12, 3) and out["b"].shape == (2, 2, 12)
    assert not np.allclose(out["W"][0, 0], out["W"][0, 1])
    assert all(1.8 <= v <= 2.4 or 3.3 <= v <= 4.4 for v in UNIFORM_EDGE_PARAMS["inv_density"]) and len(UNIFORM_EDGE_PARAMS["inv_density"]) == 8
