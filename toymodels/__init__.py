"Toy Models of Superposition, replicated: train and study many toy models at once."
__version__ = "0.3.0"

import importlib

# The engine (toymodels.core) is imported on first use, so light modules such as the
# Quarto notebook filter don't pay for importing torch.
def __getattr__(name):
    if name.startswith("__"): raise AttributeError(name)
    core = importlib.import_module("toymodels.core")
    if name in core.__all__: return getattr(core, name)
    raise AttributeError(f"module 'toymodels' has no attribute {name!r}")

def __dir__():
    return sorted(set(globals()) | set(importlib.import_module("toymodels.core").__all__))
