"Tests of §8's computation in superposition (chapters/09_computation.ipynb): the clean |x| solution, the census, the motif detector."
import numpy as np
import pytest
import torch

from toymodels.core import ModelConfig, ToyModel, TrainConfig, evaluate_loss, train
from toymodels.computation import (abs_census, abs_config, asymmetric_motifs, clean_abs_check, exact_abs_weights,
                                   motif_counts, neuron_slopes, normalize_neurons, serves)


def test_exact_solution_computes_abs_with_zero_loss():
    W, W_out, b = exact_abs_weights(4)
    model = ToyModel.from_weights(abs_config(4, 8, [1.0], 1), W, b, W_out)
    x = model.sample(512, torch.Generator().manual_seed(0))
    assert torch.equal(model(x), x.abs())
    assert evaluate_loss(model, n_samples=2**12).item() == 0.0
    assert clean_abs_check(W, W_out, b)["ok"].tolist() == [True]


def test_clean_check_is_invariant_to_neuron_order_and_scale_but_not_to_damage():
    W, W_out, b = exact_abs_weights(3)
    perm, scale = torch.randperm(6, generator=torch.Generator().manual_seed(1)), torch.tensor([0.5, 2, 3, 0.7, 1.1, 4.0])
    W2, Wo2 = W[..., perm] * scale, W_out[..., perm] / scale
    assert clean_abs_check(W2, Wo2, b)["ok"].all()
    Wn, Won = normalize_neurons(W2, Wo2)
    torch.testing.assert_close(Wn.norm(dim=-2), torch.ones(1, 6))
    torch.testing.assert_close(neuron_slopes(Wn, Won), neuron_slopes(W2, Wo2))     # rescaling leaves the function alone
    mixed = W2.clone(); mixed[0, 1, perm.argsort()[0]] = 0.5 * W2[0, 0, perm.argsort()[0]]  # a neuron reading two features
    r = clean_abs_check(mixed, Wo2, b)
    assert not r["monosemantic"].any() and not r["ok"].any()
    half = Wo2.clone(); half[0, 0] *= 0.5                                             # feature 0's slope 1/2
    r = clean_abs_check(W2, half, b)
    assert r["paired"].all() and not r["slopes_one"].any()
    same = W.clone(); same[0, 0, 1] = 1.0                                             # both of feature 0's neurons read +x_0
    assert not clean_abs_check(same, W_out, b)["paired"].any()


def test_census_counts_features_and_neurons():
    W, W_out, _ = exact_abs_weights(3)
    c = {k: v.tolist() for k, v in abs_census(W, W_out).items()}
    assert c == {"halves": [6], "both": [3], "features": [3], "in_superposition": [0], "features_in_superposition": [0],
                 "polysemantic": [0], "monosemantic": [6], "unused": [0]}
    # one neuron serves feature 0's positive half and feature 1's negative half; feature 2 is dropped
    W, W_out = torch.zeros(1, 3, 4), torch.zeros(1, 3, 4)
    W[0, :, 0], W_out[0, :, 0] = torch.tensor([1.0, -1.0, 0.0]), torch.tensor([1.0, 1.0, 0.0])
    W[0, 0, 1], W_out[0, 0, 1] = -1.0, 1.0
    W[0, 1, 2], W_out[0, 1, 2] = 1.0, 1.0
    c = {k: v.tolist() for k, v in abs_census(W, W_out).items()}
    assert c == {"halves": [4], "both": [2], "features": [2], "in_superposition": [2], "features_in_superposition": [2],
                 "polysemantic": [1], "monosemantic": [2], "unused": [1]}
    W_out[0, 0, 1] = 0.0                                                          # feature 0 keeps only its positive half
    c = {k: v.tolist() for k, v in abs_census(W, W_out).items()}
    assert (c["halves"], c["both"], c["features"], c["monosemantic"], c["unused"]) == ([3], [1], [2], [1], [2])
    assert serves(W, W_out)[0, :, 0].tolist() == [True, True, False]


def _motif(inhibitor: bool, ratio: float = 4.0):
    "Features 0 (primary) and 1 (secondary) share neuron 0 with weights 2 and −2/ratio; neuron 1 inhibits output 1 when x_0 > 0."
    W, W_out = np.zeros((2, 5)), np.zeros((2, 5))
    W[:, 0], W_out[:, 0] = [2.0, -2.0 / ratio], [0.5, ratio / 2]           # y_0 += x_0 (x_0 > 0), y_1 += |x_1| (x_1 < 0)
    W[0, 2], W_out[0, 2] = -1.0, 1.0                                     # the other halves, monosemantic
    W[1, 3], W_out[1, 3] = 1.0, 1.0
    if inhibitor: W[0, 1], W_out[1, 1] = 1.0, -ratio                     # fires when x_0 > 0 and cancels y_1's interference
    return W, W_out


def test_motif_detector_finds_the_hand_built_motif():
    W, W_out = _motif(inhibitor=True)
    assert asymmetric_motifs(W, W_out) == [(0, 0, 1, 1)]
    c = motif_counts(W[None], W_out[None])
    assert (c["motifs"], c["motif_neurons"], c["asymmetric_pairs"]) == ([1], [1], [1])
    # and the motif computes |x|: x_0 alone gives y_1 = 0 (inhibited), x_1 alone gives y_0 ≤ |x_1|/4
    cfg = ModelConfig(n_feats=2, d_hidden=5, hidden_activation="relu", tied=False, task="abs", density=0.5)
    m = ToyModel.from_weights(cfg, torch.tensor(W[None], dtype=torch.float32), torch.zeros(1, 2), torch.tensor(W_out[None], dtype=torch.float32))
    y = m(torch.tensor([[[0.8, 0.0], [-0.8, 0.0], [0.0, 0.8], [0.0, -0.8]]]))[0]
    torch.testing.assert_close(y, torch.tensor([[0.8, 0.0], [0.8, 0.0], [0.0, 0.8], [0.2, 0.8]]))


@pytest.mark.parametrize("case", ["no inhibitor", "symmetric", "inhibitor on the wrong side", "weak inhibitor", "monosemantic"])
def test_motif_detector_rejects_near_misses(case):
    W, W_out = _motif(inhibitor=case != "no inhibitor", ratio=1.0 if case == "symmetric" else 4.0)
    if case == "inhibitor on the wrong side": W[0, 1] = -1.0                   # fires for x_0 < 0, where neuron 0 is silent
    if case == "weak inhibitor": W_out[1, 1] = -0.4 * W_out[1, 0] * abs(W[0, 0])
    if case == "monosemantic": W, W_out = (t.numpy()[0] for t in exact_abs_weights(2)[:2])
    assert asymmetric_motifs(W, W_out) == []
    if case == "no inhibitor": assert motif_counts(W[None], W_out[None])["asymmetric_pairs"].tolist() == [1]


def test_a_small_dense_model_learns_the_clean_solution():
    cfg = abs_config(2, 4, [1.0], n_seeds=8)
    res = train(cfg, TrainConfig(steps=1000, seed=5, lr=1e-2), progress=False)
    ok = clean_abs_check(res.W, res.W_out, res.b)["ok"]
    assert ok.sum() >= 6, ok                                                      # 8 of 8 today; local minima exist (see the chapter)
    assert (abs_census(res.W, res.W_out)["polysemantic"] == 0).all()
