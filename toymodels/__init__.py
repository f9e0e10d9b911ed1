"Toy Models of Superposition, replicated: train and study many toy models at once."
__version__ = "0.1.0"

from .core import *  # noqa: F401,F403
