"""``trainwell tune``: hyperparameter search on the validation split (Optuna), the test split
sealed until the best config's run (TW-H01-H03, D07).

The search space (:mod:`trainwell.tune.space`) loads alone: ``trainwell --help`` lists it
without importing torch. The tuner's names load on first use (PEP 562).
"""

import importlib
import typing

from trainwell.tune.space import SEARCH_SPACE, Param

if typing.TYPE_CHECKING:
    from trainwell.tune.tuner import SAMPLERS, parse_timeout, tune

__all__ = ["SAMPLERS", "SEARCH_SPACE", "Param", "parse_timeout", "tune"]
_LAZY = frozenset({"SAMPLERS", "parse_timeout", "tune"})


def __getattr__(name: str) -> typing.Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'trainwell.tune' has no attribute {name!r}")
    value = getattr(importlib.import_module("trainwell.tune.tuner"), name)
    globals()[name] = value
    return value
