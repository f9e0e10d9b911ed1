"""Tests of the phase-change chapter (toymodels.phase): closed forms, boundaries, classifier, and short training runs."""
import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, ToyModel, TrainConfig, evaluate_loss, train
from toymodels.phase import (PHASES, analytic_phase, boundary_density, boundary_distance, candidate_losses,
                             candidate_weights, classify, _candidates)
from toymodels.core import expected_loss


def test_triple_point():
    for per_feature_mean in (False, True):
        L = candidate_losses(1.0, 4 / 7, per_feature_mean=per_feature_mean)
        np.testing.assert_allclose(L, L[0], rtol=1e-12)
    np.testing.assert_allclose(boundary_density(1.0), 4 / 7)
    L3 = candidate_losses(1.0, 4 / 7, n_feats=3)
    np.testing.assert_allclose(L3, L3[0], rtol=1e-12)


@pytest.mark.parametrize("per_feature_mean", [False, True])
def test_boundaries_closed_form(per_feature_mean):
    lo, hi = np.geomspace(0.1, 1, 50), np.geomspace(1, 10, 50)
    # s = 4r/(2+5r) for r <= 1: ignored = antipodal
    L = candidate_losses(lo, 4 * lo / (2 + 5 * lo), per_feature_mean=per_feature_mean)
    np.testing.assert_allclose(L[:, 0], L[:, 2], rtol=1e-12)
    # s = 4/(5+2r) for r >= 1: dedicated = antipodal
    L = candidate_losses(hi, 4 / (5 + 2 * hi), per_feature_mean=per_feature_mean)
    np.testing.assert_allclose(L[:, 1], L[:, 2], rtol=1e-12)
    np.testing.assert_allclose(boundary_density(lo), 4 * lo / (2 + 5 * lo))
    np.testing.assert_allclose(boundary_density(hi), 4 / (5 + 2 * hi))
    # the two normalisations differ by the factor n_feats only
    np.testing.assert_allclose(candidate_losses(lo, 0.3, per_feature_mean=False) / 2, candidate_losses(lo, 0.3))


def test_phase_regions():
    # just inside / outside the boundary, both sides of r = 1
    for r in (0.2, 0.5, 2.0, 6.0):
        s_star = boundary_density(r)
        assert analytic_phase(r, s_star * 0.97) == PHASES.index("antipodal")
        assert analytic_phase(r, min(s_star * 1.03, 1)) == (0 if r < 1 else 1)
    # n = 3, m = 2: for r > 1 the line s = 4/7 separates 'others antipodal' from 'dedicated'
    assert analytic_phase(3.0, 0.55, n_feats=3) == PHASES.index("others antipodal")
    assert analytic_phase(3.0, 0.6, n_feats=3) == PHASES.index("dedicated")
    assert analytic_phase(0.5, 0.1, n_feats=3) == PHASES.index("antipodal")
    assert (analytic_phase([0.2, 5.0], 0.01, activation="linear") == [0, 1]).all()


@pytest.mark.parametrize("n_feats", [2, 3])
def test_analytic_losses_match_monte_carlo(n_feats):
    r = 2.0
    names = _candidates(n_feats)
    for s in (0.3, 0.9):
        Ws, bs = zip(*[candidate_weights(p, s, n_feats) for p in names])
        cfg = ModelConfig(n_feats=n_feats, d_hidden=n_feats - 1, n_inst=len(names), density=s,
                          importance=[1.0] * (n_feats - 1) + [r])
        model = ToyModel.from_weights(cfg, torch.stack(Ws), torch.stack(bs))
        exact = candidate_losses(r, s, n_feats)
        mc = evaluate_loss(model, n_samples=2**17).numpy()
        np.testing.assert_allclose(mc, exact, rtol=0.05)
        quad = expected_loss(model.W, model.b, model.density, model.importance).numpy()
        np.testing.assert_allclose(quad, exact, rtol=5e-3)


def test_optimal_bias_of_dropped_feature():
    "s/2 is the best bias for an unrepresented feature: moving it either way raises the loss."
    s = 0.4
    W, b = candidate_weights("ignored", s, 2)
    bs = torch.stack([b + torch.tensor([0., d]) for d in (-0.05, 0.0, 0.05)])
    L = expected_loss(W.expand(3, 2, 1), bs, torch.full((3, 2), s), torch.tensor([[1., 1.]] * 3))
    assert L[1] < L[0] and L[1] < L[2]


def test_classifier_hand_made():
    W = np.array([[[1.02], [0.03]], [[0.], [-0.97]], [[-1.], [1.]], [[0.7], [0.72]], [[0.75], [-0.8]], [[0.6], [0.]], [[0.], [0.]]])
    assert [PHASES[c] for c in classify(W)] == ["ignored", "dedicated", "antipodal", "shared", "antipodal", "other", "other"]
    rot = np.array([[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]])
    W3 = np.stack([candidate_weights(p, 0.5, 3)[0].numpy() @ rot.T for p in _candidates(3)])
    assert [PHASES[c] for c in classify(W3)] == ["ignored", "dedicated", "antipodal", "others antipodal"]
    swapped = W3[[2, 3]][:, [1, 0, 2]]  # features 0 and 1 exchange roles
    assert [PHASES[c] for c in classify(swapped)] == ["antipodal", "others antipodal"]


def test_boundary_distance():
    assert boundary_distance(1.0, 4 / 7) < 1e-3
    np.testing.assert_allclose(boundary_distance(1.05, 0.9), np.log10(1.05), atol=1e-4)
    assert boundary_distance(0.2, 0.01) > 0.5


def test_short_training_lands_in_predicted_phase():
    "A few thousand steps at points far from every boundary reach the analytic phase (lowest loss of 3 restarts)."
    points = [(0.15, 0.9), (8.0, 0.9), (0.3, 0.02), (5.0, 0.02)]  # ignored, dedicated, antipodal, antipodal
    k = 3
    dens = np.repeat([[s, s] for _, s in points], k, 0)
    imp = np.repeat([[1.0, r] for r, _ in points], k, 0)
    cfg = ModelConfig(n_feats=2, d_hidden=1, n_inst=len(dens), density=dens, importance=imp)
    res = train(cfg, TrainConfig(steps=3000, lr=3e-3, seed=0), progress=False)
    loss = expected_loss(res.W, res.b, torch.tensor(dens).float(), torch.tensor(imp).float()).numpy().reshape(-1, k)
    cls = classify(res.W.numpy()).reshape(-1, k)
    got = cls[np.arange(len(points)), loss.argmin(1)]
    want = [analytic_phase(r, s) for r, s in points]
    assert got.tolist() == [int(w) for w in want]


# ---------------------------------------------------------------- figures: every element a reader needs is visible

def _fake_sweep(n_r=3, n_s=12, k=2):
    "A tiny stand-in for a loaded n = 2 sweep and its refinement (classes: antipodal and ignored)."
    r, s = np.geomspace(0.2, 5, n_r), np.geomspace(0.01, 1, n_s)
    W = np.zeros((n_r, n_s, k, 2, 1), np.float32); W[..., 0, 0] = 1.0; W[:, : n_s // 2, :, 1, 0] = -1.0
    loss = candidate_losses(r[:, None], s[None, :]).min(-1)[..., None].repeat(k, -1)
    refined = {"r": r.astype(np.float32), "s": s.astype(np.float32), "loss": np.stack([candidate_losses(r[:, None], s[None, :])[..., i]
               for i in (0, 1, 2, 0)], -1)}
    return {"r": r.astype(np.float32), "s": s.astype(np.float32), "W": W, "loss": loss}, refined


def test_loss_slice_closed_forms_are_never_hidden():
    import matplotlib.pyplot as plt
    from toymodels.phase import plot_loss_slice, slice_legend
    sweep, refined = _fake_sweep()
    fig, axs = plt.subplots(1, 2)
    plot_loss_slice(sweep, refined, 0, ax=axs[0], legend=False)
    plot_loss_slice(sweep, refined, 2, ax=axs[1], legend=False)
    ax = axs[0]
    closed = [l for l in ax.lines if "closed form" in l.get_label()]
    dots = ax.collections
    assert len(closed) == 3 and dots
    dot_diam = max(np.sqrt(c.get_sizes().max()) for c in dots)  # points
    for l in closed:  # a band under the dots, wider than them, so it shows on both sides
        assert l.get_zorder() < min(c.get_zorder() for c in dots) and l.get_linewidth() > dot_diam + 1
    for l in ax.lines:  # the refined curves are thin and drawn on top
        if "refined" in l.get_label(): assert l.get_zorder() > max(c.get_zorder() for c in dots) and l.get_linewidth() < 2
    leg = slice_legend(fig, axs)
    labels = [t.get_text() for t in leg.get_texts()]
    assert labels[:3] == [f"{p} (closed form)" for p in ("ignored", "dedicated", "antipodal")]
    assert {"trained: antipodal", "trained: ignored", "antipodal, refined"} <= set(labels)
    assert ax.get_legend() is None  # no legend over the curves
    plt.close(fig)


def test_class_map_markers_and_legend_outside():
    import matplotlib.pyplot as plt
    from matplotlib import colors as mcolors
    from toymodels.phase import plot_phase_classes
    r, s = np.geomspace(0.1, 10, 20), np.geomspace(0.01, 1, 20)
    classes = np.arange(400).reshape(20, 20) % len(PHASES)  # every class colour
    fig = plot_phase_classes(r, s, classes, mismatch=np.ones((20, 20), bool))
    ax = fig.axes[0]
    (mark,) = [l for l in ax.lines if l.get_label() == "≠ analytic"]
    assert mcolors.to_rgb(mark.get_markerfacecolor()) == (1, 1, 1) and mcolors.to_rgb(mark.get_markeredgecolor()) == (0, 0, 0)
    fig.canvas.draw()
    leg, box = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert leg.y1 <= box.y0  # below the map, hiding none of it
    plt.close(fig)


def test_fraction_map_scale_follows_vmax():
    import matplotlib.pyplot as plt
    from toymodels.phase import plot_fraction_map
    r, s = np.geomspace(0.1, 10, 10), np.geomspace(0.01, 1, 10)
    frac = np.zeros((10, 10)); frac[3, 4] = 0.3
    fig = plot_fraction_map(r, s, frac, vmax=frac.max(), cmap="Oranges")
    mesh = fig.axes[0].collections[0]
    assert mesh.norm.vmax == 0.3 and mesh.norm.vmin == 0
    dashed = [l for l in fig.axes[0].lines if l.get_linestyle() == "--"]
    assert dashed and all(l.get_color() == "k" for l in dashed)  # dark boundaries on a light empty map
    plt.close(fig)
