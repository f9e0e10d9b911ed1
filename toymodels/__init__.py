"""Toy Models of Superposition, replicated: train and study many toy models at once.

    import toymodels as tm
    cfg = tm.ModelConfig(n_feats=5, d_hidden=2, n_inst=10, density=0.1, importance=[0.9**i for i in range(5)])
    result = tm.train(cfg, tm.TrainConfig(steps=10_000))
    tm.feature_norms(result.W)          # (inst, feats)

The names in `__all__` are the researcher's vocabulary; each chapter's module (`tm.phase`, `tm.geometry`, …) is an
attribute too. Everything is imported on first use, so `import toymodels` is cheap (no torch, no numba compile).
"""
__version__ = "0.3.0"

import importlib

# name -> the module that defines it (this package's own file is written by hand; the modules by nbdev)
_API = {
    # models and training
    "ModelConfig": "core", "TrainConfig": "core", "ToyModel": "core", "train": "core", "TrainResult": "core",
    # data and loss
    "sample_features": "core", "loss_per_instance": "core", "evaluate_loss": "core", "expected_loss": "core",
    "relu_loss_L0": "core", "relu_loss_L1": "core", "relu_loss_stratified": "core",
    # measurements
    "feature_norms": "core", "superposition": "core", "dimensionality": "core", "cosines": "core", "gram": "core",
    "represented": "core", "n_represented": "core",
    # many models at once
    "sweep_config": "core", "train_sweep": "core", "best_seed": "core",
    # stored results
    "load_result": "results",
}
# the chapters' modules, plus the compiled engine and the results cache, as lazily imported attributes
_MODULES = ("core", "fast", "results", "intro", "demonstrating", "phase", "geometry", "robustness", "dynamics", "adversarial", "privileged", "computation")

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str):
    if name in _API: return getattr(importlib.import_module(f"toymodels.{_API[name]}"), name)
    if name in _MODULES: return importlib.import_module(f"toymodels.{name}")
    raise AttributeError(f"module 'toymodels' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API) | set(_MODULES))
