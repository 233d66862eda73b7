"""trainwell: train deep-learning models the way the best-practice guides say to.

Example:
    >>> import trainwell
    >>> run = trainwell.fit("data.csv", target="label")  # doctest: +SKIP
    >>> run.metrics["test"], run.findings  # doctest: +SKIP
    >>> run.predict(new_df)  # doctest: +SKIP
    >>> trainwell.lr_find("data.csv", target="label").suggestion  # doctest: +SKIP
"""

import importlib
from typing import TYPE_CHECKING, Any

from trainwell.errors import ConfigError, DataError, LeakageError, RunError, TrainwellError

if TYPE_CHECKING:
    from trainwell.config import FitConfig, build_config
    from trainwell.findings import Finding
    from trainwell.pipeline import fit
    from trainwell.range_test import lr_find
    from trainwell.run import Run, load

# Imported on first use (PEP 562): `trainwell --help` and `import trainwell.cli` must not pay
# for torch, sklearn and LightGBM (~4.5 CPU-seconds) before a command needs them.
_LAZY = {
    "FitConfig": "trainwell.config",
    "build_config": "trainwell.config",
    "Finding": "trainwell.findings",
    "fit": "trainwell.pipeline",
    "lr_find": "trainwell.range_test",
    "Run": "trainwell.run",
    "load": "trainwell.run",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'trainwell' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
