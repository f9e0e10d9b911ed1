"Tests of the engine in toymodels.core: configs, data, model, loss, training and metrics."
import dataclasses
import math

import numpy as np

import pytest
import torch

from toymodels.core import (ModelConfig, TrainConfig, ToyModel, dimensionality, evaluate_loss, feature_norms,
                            loss_per_instance, n_represented, sample_features, superposition, train)


# ---------------------------------------------------------------- configs
def test_configs_round_trip_and_are_hashable():
    cfg = ModelConfig(n_feats=4, d_hidden=2, n_inst=3, density=[[0.1] * 4, [0.2] * 4, [1.0] * 4], importance=[1, 0.5, 0.25, 0.125])
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert hash(cfg) == hash(ModelConfig.from_dict(cfg.to_dict()))
    tcfg = TrainConfig(steps=10, batch_size=8, lr=0.01, schedule="cosine", optimizer="adam", seed=3)
    assert TrainConfig.from_dict(tcfg.to_dict()) == tcfg
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_feats = 3


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_feats=0), "n_feats must be an integer >= 1"),
    (dict(d_hidden=-1), "d_hidden must be an integer >= 1"),
    (dict(n_inst=2.5), "n_inst must be an integer >= 1"),
    (dict(density=0.0), "density must lie in (0.0, 1.0]"),
    (dict(density=1.5), "density must lie in (0.0, 1.0]"),
    (dict(density=float("nan")), "density must be finite"),
    (dict(importance=-0.1), "importance must lie in [0.0, inf)"),
    (dict(importance=float("inf")), "importance must be finite"),
    (dict(activation="tanh"), "activation must be one of"),
    (dict(n_feats=3, density=[0.5, 0.5]), "does not broadcast"),
    (dict(init_scale=0.0), "init_scale must be > 0"),
])
def test_model_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError) as e:
        ModelConfig(**kwargs)
    assert message in str(e.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be an integer >= 1"),
    (dict(batch_size=0), "batch_size must be an integer >= 1"),
    (dict(lr=0.0), "lr must be > 0"),
    (dict(lr=float("nan")), "lr must be a finite number"),
    (dict(weight_decay=-1.0), "weight_decay must be >= 0"),
    (dict(momentum=1.0), "momentum must lie in [0, 1)"),
    (dict(schedule="step"), "schedule must be one of"),
    (dict(optimizer="lion"), "optimizer must be one of"),
    (dict(engine="jax"), "engine must be one of"),
    (dict(device="tpu9"), "device must be a torch device"),
    (dict(seed=-1), "seed must be an integer in [0, 2**63)"),
])
def test_train_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError) as e:
        TrainConfig(**kwargs)
    assert message in str(e.value)


# ---------------------------------------------------------------- data
def test_sparsity_mask_is_drawn_per_sample_instance_and_feature():
    "Would catch the per-batch mask bug: within ONE batch each feature's non-zero fraction matches its density."
    density = torch.tensor([[0.1, 0.3, 0.9], [0.5, 0.5, 0.5]])
    x = sample_features(density, 4096, torch.Generator().manual_seed(0))
    frac = (x != 0).float().mean(dim=1)  # (inst, feats), within a single batch
    assert torch.allclose(frac, density, atol=0.03)
    mask = x != 0
    # masks differ across samples, across instances of equal density, and across features of equal density
    assert (mask[0, 1:, 1] != mask[0, :-1, 1]).any()
    assert (mask[1, :, 0] != mask[1, :, 1]).float().mean() > 0.4  # independent features: P(differ) = 0.5
    assert (mask[1, :, 0] != mask[0, :, 0]).any()
    # independence between two features of the same sample: P(both on) = p0 * p1
    both = (mask[1, :, 0] & mask[1, :, 2]).float().mean()
    assert abs(both - 0.25) < 0.03


def test_sample_values_are_uniform_when_active():
    x = sample_features(torch.tensor([[0.2]]), 200_000, torch.Generator().manual_seed(1))
    nz = x[x != 0]
    assert abs(nz.mean() - 0.5) < 0.005 and abs(nz.var() - 1 / 12) < 0.002
    assert nz.min() >= 0 and nz.max() < 1


# ---------------------------------------------------------------- model and loss
def test_forward_matches_the_equation():
    cfg = ModelConfig(n_feats=3, d_hidden=2, n_inst=2)
    m = ToyModel(cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        m.b.copy_(torch.tensor([[0.1, -0.2, 0.0], [0.0, 0.3, -0.5]]))
    x = m.sample(5, torch.Generator().manual_seed(1))
    for k in range(2):
        W = m.W[k].T  # paper layout (m x n)
        expected = torch.relu(x[k] @ W.T @ W + m.b[k])
        assert torch.allclose(m(x)[k], expected, atol=1e-6)


def test_loss_exact_value_and_instances_are_independent():
    x = torch.tensor([[[1.0, 0.0]], [[0.5, 0.5]]])  # (inst=2, batch=1, feats=2)
    x_hat = torch.zeros_like(x)
    imp = torch.tensor([[1.0, 2.0], [1.0, 0.0]])
    assert torch.allclose(loss_per_instance(x_hat, x, imp), torch.tensor([0.5, 0.125]))
    # gradient of the summed loss w.r.t. instance 0 does not depend on instance 1's weights
    cfg = ModelConfig(n_feats=4, d_hidden=2, n_inst=2, density=0.5)
    m = ToyModel(cfg, torch.Generator().manual_seed(0))
    xb = m.sample(64, torch.Generator().manual_seed(2))
    loss_per_instance(m(xb), xb, m.importance).sum().backward()
    g0 = m.W.grad[0].clone()
    with torch.no_grad():
        m.W[1] += 1.0
    m.W.grad = None
    loss_per_instance(m(xb), xb, m.importance).sum().backward()
    assert torch.equal(m.W.grad[0], g0)


def test_initialisation_does_not_depend_on_number_of_instances():
    std = lambda n_inst: ToyModel(ModelConfig(n_feats=20, d_hidden=5, n_inst=n_inst), torch.Generator().manual_seed(0)).W.std().item()
    expected = math.sqrt(2 / 25)
    assert abs(std(1) - expected) < 0.25 * expected
    assert abs(std(2000) - expected) < 0.01 * expected


def test_evaluate_loss_of_zero_model_is_exact():
    # W = 0, b = 0: x' = 0, loss = mean_i I_i E[x_i^2] = mean_i I_i p_i / 3
    cfg = ModelConfig(n_feats=2, d_hidden=1, density=[0.5, 1.0], importance=[1.0, 3.0])
    m = ToyModel.from_weights(cfg, torch.zeros(1, 2, 1), torch.zeros(1, 2))
    expected = (1.0 * 0.5 / 3 + 3.0 * 1.0 / 3) / 2
    assert abs(evaluate_loss(m, n_samples=2**18).item() - expected) < 0.005 * expected


# ---------------------------------------------------------------- training
def test_training_is_deterministic_and_seeded():
    cfg = ModelConfig(n_feats=5, d_hidden=2, n_inst=3, density=0.1)
    t = TrainConfig(steps=50, batch_size=64, engine="torch")
    a, b = train(cfg, t, progress=False), train(cfg, t, progress=False)
    assert torch.equal(a.W, b.W) and torch.equal(a.b, b.b)
    c = train(cfg, dataclasses.replace(t, seed=1), progress=False)
    assert not torch.equal(a.W, c.W)
    assert a.losses.shape == (2, 3) and a.log_steps.tolist() == [0, 49]


@pytest.mark.parametrize("engine", ["torch", "fast"])
def test_linear_model_reaches_the_analytic_optimum(engine):
    """Linear model, n=2, m=1, dense, I = (1, 0.1): the optimum embeds feature 0 and predicts the mean of feature 1.
    Its loss is I_1 Var[x_1] / n = 0.1 * (1/3 - 1/4) / 2."""
    cfg = ModelConfig(n_feats=2, d_hidden=1, n_inst=4, activation="linear", importance=[1.0, 0.1])
    tcfg = TrainConfig(steps=1500, batch_size=512, lr=1e-2, schedule="cosine", weight_decay=0.0, engine=engine)
    r = train(cfg, tcfg, progress=False)
    norms = feature_norms(r.W)
    assert torch.allclose(norms[:, 0], torch.ones(4), atol=0.03)
    assert (norms[:, 1] < 0.05).all()
    assert torch.allclose(r.b[:, 1], torch.full((4,), 0.5), atol=0.03)
    optimum = 0.1 * (1 / 3 - 1 / 4) / 2
    loss = evaluate_loss(r.model, n_samples=2**18)
    assert ((loss - optimum).abs() < 0.03 * optimum).all(), (loss, optimum)


def test_non_finite_loss_stops_training():
    cfg = ModelConfig(n_feats=5, d_hidden=2)
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        train(cfg, TrainConfig(steps=20, lr=1e6, optimizer="sgd", engine="torch"), progress=False)


def test_device_argument_overrides_config():
    cfg = ModelConfig(n_feats=3, d_hidden=2)
    r = train(cfg, TrainConfig(steps=2, batch_size=4, engine="torch", device="meta"), progress=False, device="cpu")
    assert r.W.device.type == "cpu"


# ---------------------------------------------------------------- metrics
def test_metrics_on_hand_made_weights():
    s = 1 / math.sqrt(2)
    W = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]],          # orthogonal, one unused
                      [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]],         # antipodal pair + dedicated
                      [[1.0, 0.0], [s, s], [0.0, 0.3]]])             # 45 degrees
    assert torch.allclose(feature_norms(W)[0], torch.tensor([1.0, 2.0, 0.0]))
    assert torch.allclose(superposition(W)[1], torch.tensor([1.0, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(dimensionality(W)[1], torch.tensor([0.5, 0.5, 1.0]), atol=1e-6)
    assert torch.allclose(dimensionality(W)[0], torch.tensor([1.0, 1.0, 0.0]), atol=1e-6)
    # feature 0 of instance 2: (W0_hat . W1)^2 + (W0_hat . W2)^2 = 0.5 + 0
    assert abs(superposition(W)[2, 0].item() - 0.5) < 1e-6
    assert n_represented(W).tolist() == [2, 3, 2]


# ---------------------------------------------------------------- validation details (numpy scalars, bools, JSON)

def test_numpy_scalars_are_accepted_and_stored_json_safe():
    import json
    cfg = ModelConfig(n_feats=np.int64(3), d_hidden=np.int32(2), n_inst=np.int64(2), init_scale=np.float32(0.5))
    tcfg = TrainConfig(steps=np.int64(10), batch_size=np.int32(8), lr=np.float32(1e-3), seed=np.uint32(5))
    for c in (cfg, tcfg):
        d = json.loads(json.dumps(c.to_dict()))          # no numpy type survives into the stored dict
        assert type(c).from_dict(d) == c
    assert type(cfg.n_feats) is int and type(cfg.init_scale) is float and type(tcfg.lr) is float


@pytest.mark.parametrize("kwargs, field", [
    (dict(n_feats=True), "n_feats"), (dict(init_scale=True), "init_scale"), (dict(activation=1), "activation"),
    (dict(init_scale=np.float64("nan")), "init_scale")])
def test_model_config_rejects_bools_and_non_numbers(kwargs, field):
    with pytest.raises(ValueError, match=field): ModelConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    (dict(lr=True), "lr"), (dict(seed=2**63), "seed"), (dict(seed=-1), "seed"), (dict(steps=np.float64(3)), "steps"),
    (dict(momentum=np.float32(1.0)), "momentum"), (dict(weight_decay=False), "weight_decay")])
def test_train_config_rejects_out_of_range(kwargs, field):
    with pytest.raises(ValueError, match=field) as e: TrainConfig(**kwargs)
    assert len(str(e.value)) < 120                          # a short message, not a dump of the config


def test_largest_seed_is_accepted():
    assert TrainConfig(seed=2**63 - 1).seed == 2**63 - 1


def test_from_weights_leaves_the_global_rng_alone():
    torch.manual_seed(0); expected = torch.rand(3)
    torch.manual_seed(0)
    m = ToyModel.from_weights(ModelConfig(n_inst=2), torch.ones(2, 5, 2), torch.zeros(2, 5))
    assert torch.equal(torch.rand(3), expected) and torch.equal(m.W.detach(), torch.ones(2, 5, 2))


# ---------------------------------------------------------------- model kinds: §7 ReLU hidden layer, §8 abs (untied)
ABS = dict(hidden_activation="relu", tied=False, task="abs")


def test_default_kind_leaves_to_dict_unchanged():
    "The new fields are left out of `to_dict` at their defaults, so the cache keys of stored results do not move."
    d = ModelConfig(n_feats=4, d_hidden=2, density=0.1).to_dict()
    assert set(d) == {"n_feats", "d_hidden", "n_inst", "activation", "density", "importance", "init_scale"}
    for kw in (dict(hidden_activation="relu"), dict(tied=False), ABS):
        cfg = ModelConfig(n_feats=4, d_hidden=2, **kw)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg and all(cfg.to_dict()[k] == v for k, v in kw.items())


@pytest.mark.parametrize("kwargs, field", [
    (dict(task="abs"), "tied must be False for task='abs'"),
    (dict(task="abs", tied=True, hidden_activation="relu"), "tied must be False for task='abs'"),
    (dict(tied=1), "tied must be True or False"),
    (dict(hidden_activation="gelu"), "hidden_activation must be one of"),
    (dict(task="square"), "task must be one of")])
def test_model_kinds_reject_bad_combinations(kwargs, field):
    with pytest.raises(ValueError) as e: ModelConfig(**kwargs)
    assert field in str(e.value) and len(str(e.value)) < 120


def test_untied_model_layout_and_init():
    "W_out has W's layout (inst, feats, hidden); W is drawn first, so it equals the tied model's W for the same seed."
    tied = ToyModel(ModelConfig(n_feats=3, d_hidden=6, n_inst=2, hidden_activation="relu"), torch.Generator().manual_seed(0))
    untied = ToyModel(ModelConfig(n_feats=3, d_hidden=6, n_inst=2, **ABS), torch.Generator().manual_seed(0))
    assert tied.W_out is tied.W and [n for n, _ in tied.named_parameters()] == ["W", "b"]
    assert [n for n, _ in untied.named_parameters()] == ["W", "W_out", "b"] and untied.W_out.shape == (2, 3, 6)
    assert torch.equal(tied.W, untied.W) and not torch.equal(untied.W, untied.W_out)
    with pytest.raises(ValueError, match="W_out must be given"):
        ToyModel.from_weights(untied.cfg, untied.W, untied.b)


def test_forward_of_each_kind_matches_the_paper():
    "§7: h = ReLU(W x), x' = ReLU(Wᵀ h + b); §8: h = ReLU(W₁ x), y' = ReLU(W₂ h + b) with W₁ = Wᵀ, W₂ = W_out (paper layouts)."
    g = torch.Generator().manual_seed(0)
    for kw in (dict(hidden_activation="relu"), ABS):
        m = ToyModel(ModelConfig(n_feats=4, d_hidden=3, n_inst=2, **kw), g)
        with torch.no_grad(): m.b.normal_(generator=g)
        x = m.sample(7, g)
        for k in range(2):
            W1, W2 = m.W[k].T, m.W_out[k]                       # (m, n) and (n, m), as the paper writes them
            expected = torch.relu(torch.relu(x[k] @ W1.T) @ W2.T + m.b[k])
            torch.testing.assert_close(m(x)[k], expected)
        torch.testing.assert_close(m.target(x), x.abs() if kw is ABS else x)


def test_signed_sampler():
    "The abs task's inputs: zero with probability S, else Uniform[-1, 1); the same draws as the unsigned sampler."
    dens = torch.tensor([[0.2, 1.0]])
    x = sample_features(dens, 200_000, torch.Generator().manual_seed(1), signed=True)
    u = sample_features(dens, 200_000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(x, torch.where(u != 0, 2 * u - 1, 0.0))
    assert abs((x[0, :, 0] != 0).float().mean() - 0.2) < 0.005
    nz = x[0, :, 1]
    assert abs(nz.mean()) < 0.005 and abs(nz.var() - 1 / 3) < 0.005 and nz.min() >= -1 and nz.max() < 1
    m = ToyModel(ModelConfig(n_feats=2, d_hidden=4, density=0.5, **ABS))
    assert (m.sample(1000, torch.Generator().manual_seed(0)) < 0).any()


def _abs_pairs(n_inst=1):
    "n=3, m=6: feature i gets neurons 2i, 2i+1 computing ReLU(x_i) and ReLU(-x_i); y'_i = their sum = |x_i|."
    W = torch.zeros(n_inst, 3, 6); W_out = torch.zeros(n_inst, 3, 6)
    for i in range(3):
        W[:, i, 2 * i], W[:, i, 2 * i + 1] = 1.0, -1.0
        W_out[:, i, 2 * i], W_out[:, i, 2 * i + 1] = 1.0, 1.0
    return W, torch.zeros(n_inst, 3), W_out


def test_hand_built_models_are_exact_in_the_torch_engine():
    "The clean §8 case (n=3, m=6, dense) computes |x| exactly; a §7 model with one neuron per feature reconstructs x exactly."
    abs_cfg = ModelConfig(n_feats=3, d_hidden=6, density=1.0, **ABS)
    W, b, W_out = _abs_pairs()
    m = ToyModel.from_weights(abs_cfg, W, b, W_out)
    x = m.sample(1000, torch.Generator().manual_seed(0))
    assert torch.equal(m(x), x.abs()) and evaluate_loss(m, n_samples=4096).item() == 0.0
    assert evaluate_loss(ToyModel.from_weights(abs_cfg, W, b, -W_out), n_samples=4096).item() > 0.1  # not vacuous
    priv = ModelConfig(n_feats=3, d_hidden=3, density=1.0, hidden_activation="relu")
    assert evaluate_loss(ToyModel.from_weights(priv, torch.eye(3)[None], torch.zeros(1, 3)), n_samples=4096).item() == 0.0


def test_privileged_basis_dense_features_align_with_neurons():
    """§7, n = m = 3, dense: zero loss needs h = ReLU(Wᵀx) to be linear on x ≥ 0, so W ≥ 0 and orthogonal, a
    permutation: each neuron carries one feature. Most seeds find it (the others lose a neuron to the ReLU)."""
    cfg = ModelConfig(n_feats=3, d_hidden=3, n_inst=16, density=1.0, hidden_activation="relu")
    r = train(cfg, TrainConfig(steps=3000, lr=1e-2), progress=False)
    ok = evaluate_loss(r.model, n_samples=2**14) < 1e-5   # the exact solution (one seed in 16 is still converging at 2e-4)
    assert ok.sum() >= 8, ok.sum()
    W = r.W[ok].abs()
    assert (W.max(-1).values > 0.95).all() and (W.max(-2).values > 0.95).all()  # one neuron per feature, one feature per neuron


def test_untied_init_and_snapshots_in_the_torch_engine():
    cfg = ModelConfig(n_feats=3, d_hidden=6, n_inst=2, density=0.5, **ABS)
    W, b, W_out = _abs_pairs(2)
    r = train(cfg, TrainConfig(steps=1, lr=1e-12, engine="torch"), progress=False, init=(W, b, W_out), record_every=1)
    torch.testing.assert_close(r.W_out, W_out) and torch.testing.assert_close(r.snapshot_W_out[0], W_out)
    assert r.losses[0].abs().max() == 0
    with pytest.raises(ValueError, match=r"\(W, b, W_out\)"):
        train(cfg, TrainConfig(steps=1, engine="torch"), progress=False, init=(W, b))


def test_stratified_loss_matches_exact_expected_loss():
    "relu_loss_stratified (exact K <= 1, quadrature K = 2, Monte Carlo K >= 3) agrees with the exact expected loss within a few standard errors."
    from toymodels.core import expected_loss, relu_loss_stratified
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(3, 4, 2, generator=g) * 0.8, -torch.rand(3, 4, generator=g) * 0.2
    I = torch.tensor([1.0, 0.7, 0.49, 0.343])
    p = torch.tensor([0.3, 0.1, 0.01])
    L, se = relu_loss_stratified(W, b, p, I, n_samples=2**14, return_se=True)
    exact = expected_loss(W, b, p[:, None].expand(3, 4), I.expand(3, 4), max_points=2**14).double()
    assert ((L - exact).abs() < 4 * se + 1e-3 * exact).all()
    assert se[2] / L[2] < se[0] / L[0]                      # sparser: more of the loss is exact
