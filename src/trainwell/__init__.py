"""trainwell: train deep-learning models the way the best-practice guides say to.

Example:
    >>> import trainwell
    >>> run = trainwell.fit("data.csv", target="label")  # doctest: +SKIP
    >>> run.metrics["test"], run.findings  # doctest: +SKIP
    >>> run.predict(new_df)  # doctest: +SKIP
    >>> trainwell.lr_find("data.csv", target="label").suggestion  # doctest: +SKIP
"""

import importlib
import typing

from trainwell.errors import ConfigError, DataError, LeakageError, RunError, TrainwellError
from trainwell.findings import Finding

if typing.TYPE_CHECKING:
    from trainwell.config import FitConfig, build_config
    from trainwell.learning_rate import lr_find
    from trainwell.pipeline import fit
    from trainwell.run import Run, load

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "Finding",
    "FitConfig",
    "LeakageError",
    "Run",
    "RunError",
    "TrainwellError",
    "__version__",
    "build_config",
    "fit",
    "load",
    "lr_find",
]

# The pipeline's names load on first use (PEP 562): ``import trainwell`` stays light, which
# the zero-code doctor needs: it imports ``trainwell.doctor`` into every script it watches
# and every spawned DataLoader worker, where sklearn, pandas and LightGBM cost seconds.
_LAZY = {
    "FitConfig": "trainwell.config",
    "build_config": "trainwell.config",
    "fit": "trainwell.pipeline",
    "lr_find": "trainwell.learning_rate",
    "Run": "trainwell.run",
    "load": "trainwell.run",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainwell' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
