"""trainwell: train deep-learning models the way the best-practice guides say to."""

__version__ = "0.1.0"
