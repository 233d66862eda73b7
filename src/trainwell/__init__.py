"""trainwell: train deep-learning models the way the best-practice guides say to.

Example:
    >>> import trainwell
    >>> run = trainwell.fit("data.csv", target="label")  # doctest: +SKIP
    >>> run.metrics["test"], run.findings  # doctest: +SKIP
    >>> run.predict(new_df)  # doctest: +SKIP
    >>> trainwell.lr_find("data.csv", target="label").suggestion  # doctest: +SKIP
"""

from trainwell.config import FitConfig, build_config
from trainwell.errors import ConfigError, DataError, LeakageError, RunError, TrainwellError
from trainwell.findings import Finding
from trainwell.lr_find import lr_find
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
