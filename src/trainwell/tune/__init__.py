"""``trainwell tune``: hyperparameter search on the validation split (Optuna), the test split
sealed until the best config's run (TW-H01-H03, D07)."""

from trainwell.tune.space import SEARCH_SPACE, Param
from trainwell.tune.tuner import SAMPLERS, parse_timeout, tune

__all__ = ["SAMPLERS", "SEARCH_SPACE", "Param", "parse_timeout", "tune"]
