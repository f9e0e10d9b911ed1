"Tests of §7: the ReLU hidden layer model's dense solution, the neuron classifier and the sweep's configuration."
import itertools
import json

import matplotlib
matplotlib.use("Agg")
import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, TrainConfig, ToyModel, evaluate_loss, train
from toymodels.results import REGISTRY
from toymodels.privileged import (
    RESPONDS, SWEEP_PARAMS, basis_alignment, count_neurons, dedicated_loss, dedicated_weights, neuron_features,
    neuron_order, neurons_per_feature, plot_neuron_stacks, plot_sweep_counts, privileged_config, random_alignment,
    run_sweep, sweep_importance)

IMP = torch.tensor([0.75**i for i in range(10)])[None]


def binary_code() -> np.ndarray:
    "The paper's regime at 0.2 <= 1-S <= 0.5: features 0-2 on neurons of their own, features 3-5 a binary code on neurons 3-4."
    W = np.zeros((10, 5))
    W[0, 0] = W[1, 1] = W[2, 2] = 1.0
    W[3, 3:] = [0.85, 0.85]     # both neurons: orthogonal to the pair below
    W[4, 3:] = [0.85, -0.85]    # neuron 3 only
    W[5, 3:] = [-0.85, 0.85]    # neuron 4 only: antipodal to feature 4
    W[6:, 3:] = 0.05            # weak, unrepresented features
    return W


def pair_code() -> np.ndarray:
    "The paper's sparsest regime: each of the 10 features is one of the 10 pairs of the 5 neurons."
    W = np.full((10, 5), -0.3)
    for i, (a, b) in enumerate(itertools.combinations(range(5), 2)):
        W[i, [a, b]] = 0.7
    return W


def test_paper_settings():
    assert (SWEEP_PARAMS["n_feats"], SWEEP_PARAMS["d_hidden"], SWEEP_PARAMS["importance_decay"]) == (10, 5, 0.75)
    np.testing.assert_allclose(sweep_importance(SWEEP_PARAMS), 0.75 ** np.arange(10))
    assert "privileged_sweep" in REGISTRY and REGISTRY["privileged_sweep"].params == SWEEP_PARAMS
    json.dumps(SWEEP_PARAMS)
    dens = SWEEP_PARAMS["density"]
    assert dens[0] == 1.0 and min(dens) <= 0.04 and any(0.2 <= d <= 0.5 for d in dens)   # the paper's dense and sparsest regimes
    assert list(dens) == sorted(dens, reverse=True)


def test_config_is_the_relu_hidden_layer_model():
    cfg = privileged_config(SWEEP_PARAMS)
    k = SWEEP_PARAMS["n_models"]
    assert cfg.hidden_activation == "relu" and cfg.tied and cfg.task == "reconstruct" and cfg.activation == "relu"
    assert (cfg.n_inst, cfg.n_feats, cfg.d_hidden) == (len(SWEEP_PARAMS["density"]) * k, 10, 5)
    d = cfg.density_table()
    assert torch.equal(d[:k], torch.ones(k, 10)) and torch.allclose(d[-1], torch.full((10,), SWEEP_PARAMS["density"][-1]))
    assert torch.allclose(cfg.importance_table()[5], IMP[0])
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_dedicated_loss_closed_form():
    # dense: drop the five least important features, each costing I_i Var(U[0,1)) = I_i / 12, mean over n = 10
    exact = float((0.75 ** np.arange(5, 10)).sum() / (12 * 10))
    torch.testing.assert_close(dedicated_loss(IMP, torch.ones(1, 10), 5), torch.tensor([exact]))
    # no dropped feature, no loss; m = 0 keeps nothing
    assert dedicated_loss(IMP, torch.ones(1, 10), 10).item() == 0
    p = torch.tensor([[0.3] * 10])
    torch.testing.assert_close(dedicated_loss(IMP, p, 0), (IMP * (0.1 - 0.0225)).sum(-1) / 10)


@pytest.mark.parametrize("density", [1.0, 0.3])
def test_dedicated_loss_matches_the_model(density):
    "The closed form is the expected loss of the dedicated weights in the ReLU hidden layer model (Monte Carlo)."
    dens = torch.full((1, 10), density)
    W, b = dedicated_weights(IMP, dens, 5)
    cfg = ModelConfig(n_feats=10, d_hidden=5, density=dens.tolist(), importance=IMP.tolist(), hidden_activation="relu")
    mc = evaluate_loss(ToyModel.from_weights(cfg, W, b), n_samples=2**18, seed=1)
    torch.testing.assert_close(mc, dedicated_loss(IMP, dens, 5), rtol=0.01, atol=0)


def test_dedicated_weights_are_a_basis_aligned_permutation():
    imp = torch.tensor([[0.2, 1.0, 0.5, 0.9, 0.1]])
    W, b = dedicated_weights(imp, torch.full((1, 5), 0.4), 2)
    np.testing.assert_array_equal(W[0].numpy(), [[0, 0], [1, 0], [0, 0], [0, 1], [0, 0]])
    torch.testing.assert_close(b, torch.tensor([[0.2, 0.0, 0.2, 0.0, 0.2]]))
    c = count_neurons(W.numpy())
    assert (c["monosemantic"][0], c["polysemantic"][0], c["dead"][0]) == (2, 0, 0)


def test_classifier_on_the_binary_code():
    W = binary_code()
    act = neuron_features(W)
    assert act.shape == (5, 10)
    assert [np.flatnonzero(a).tolist() for a in act] == [[0], [1], [2], [3, 4], [3, 5]]
    c = count_neurons(W)
    assert (int(c["monosemantic"]), int(c["polysemantic"]), int(c["dead"])) == (3, 2, 0)
    np.testing.assert_array_equal(neurons_per_feature(W), [1, 1, 1, 2, 1, 1, 0, 0, 0, 0])
    # negative weights only inhibit: flipping feature 4's sign on neuron 3 makes that neuron monosemantic
    W2 = W.copy(); W2[4, 3] = -0.85
    assert int(count_neurons(W2)["polysemantic"]) == 1
    # a lower threshold counts the weak features too
    assert int(count_neurons(W, threshold=0.01)["polysemantic"]) == 2 and neuron_features(W, 0.01)[3].sum() == 6
    # reading order: monosemantic neurons by their feature's importance, then polysemantic ones
    assert neuron_order(W[:, ::-1], 0.75 ** np.arange(10)).tolist() == [4, 3, 2, 0, 1]


def test_classifier_on_the_pair_code():
    W = pair_code()
    c = count_neurons(W)
    assert (int(c["monosemantic"]), int(c["polysemantic"])) == (0, 5)
    assert (neuron_features(W).sum(-1) == 4).all() and (neurons_per_feature(W) == 2).all()
    # each feature is half in each of its two neurons (the negative weights carry the rest)
    np.testing.assert_allclose(basis_alignment(W), 0.49 / (2 * 0.49 + 3 * 0.09))


def test_counts_batch_over_models():
    W = np.stack([binary_code(), pair_code(), np.eye(10, 5)])
    c = count_neurons(W)
    np.testing.assert_array_equal(c["polysemantic"], [2, 5, 0])
    np.testing.assert_array_equal(c["monosemantic"] + c["polysemantic"] + c["dead"], [5, 5, 5])
    assert neurons_per_feature(W).shape == (3, 10)


def test_basis_alignment():
    W = np.array([[[1.0, 0, 0], [0.6, 0.8, 0], [1, 1, 1], [0, 0, 0]]])
    np.testing.assert_allclose(basis_alignment(W)[0, :3], [1.0, 0.64, 1 / 3])
    assert basis_alignment(W)[0, 3] == 0                               # an unrepresented feature
    r = random_alignment(5, n=20_000)
    assert r.shape == (20_000,) and (r >= 1 / 5 - 1e-12).all() and (r <= 1).all()
    assert 0.4 < np.median(r) < 0.6                                   # a random direction is far from any neuron
    assert (random_alignment(1, n=100) == 1).all()


def test_short_dense_training_dedicates_neurons():
    "Dense features, 4 in 2 neurons: the lowest-loss of 8 models puts the two most important features on neurons of their own."
    imp = [0.75**i for i in range(4)]
    cfg = ModelConfig(n_feats=4, d_hidden=2, n_inst=8, density=1.0, importance=imp, hidden_activation="relu")
    res = train(cfg, TrainConfig(steps=3000, seed=11), progress=False)
    loss = evaluate_loss(res.model, n_samples=2**16)
    W = res.W[loss.argmin()].numpy()
    exact = dedicated_loss(torch.tensor([imp]), torch.ones(1, 4), 2).item()
    assert abs(loss.min().item() / exact - 1) < 0.03
    assert (np.linalg.norm(W[2:], axis=-1) < 0.1).all() and np.allclose(np.linalg.norm(W[:2], axis=-1), 1, atol=0.05)
    assert (basis_alignment(W[:2]) > 0.95).all() and W[:2].argmax(-1).tolist() in ([0, 1], [1, 0])


def test_small_sweep_runs():
    demo = {**SWEEP_PARAMS, "density": [1.0, 0.1], "n_models": 2, "train": {**SWEEP_PARAMS["train"], "steps": 50},
            "eval_samples": 2**10}
    out = run_sweep(demo, progress=False)
    assert out["W"].shape == (2, 2, 10, 5) and out["loss"].shape == (2, 2) and out["b"].shape == (2, 2, 10)
    np.testing.assert_array_equal(out["density"], [1.0, 0.1])
    assert np.isfinite(out["loss"]).all()


def test_figures():
    import matplotlib.pyplot as plt
    W = np.stack([np.eye(10, 5), binary_code(), pair_code()])
    fig = plot_neuron_stacks(W, 0.75 ** np.arange(10), ["a", "b", "c"])
    fig.canvas.draw(); assert isinstance(fig, plt.Figure); plt.close(fig)
    rng = np.random.default_rng(0)
    fig = plot_sweep_counts(np.array([1.0, 0.1]), rng.integers(0, 6, (2, 4)), rng.integers(4, 11, (2, 4)),
                            [rng.uniform(0.3, 1, 7), np.array([])], np.array([0, 1]), null=random_alignment(5, 1000))
    fig.canvas.draw(); assert isinstance(fig, plt.Figure); plt.close(fig)
    assert RESPONDS == 0.3
