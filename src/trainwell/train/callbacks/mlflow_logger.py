"""Optional MLflow logging (TW-M02, TW-M05): the run's parameters and per-epoch metrics.

For users who already track experiments in MLflow: ``logging.mlflow=URI`` logs to a local
store, no server needed. ``URI`` is a tracking URI (``sqlite:///mlflow.db``, which needs
``sqlalchemy`` and ``alembic``) or a folder (``mlruns``: MLflow's file store). MLflow 3 keeps
the file store in maintenance mode and refuses it unless ``MLFLOW_ALLOW_FILE_STORE=true``; a
folder given here is the user's explicit choice, so we set that opt-out when it is unset.

The callback talks to the store through ``mlflow.MlflowClient`` only, never MLflow's global
active run, so it does not disturb a run the user's own code has open. Install with
``pip install "trainwell[mlflow]"``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainwell.errors import ConfigError
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

EXPERIMENT = "trainwell"
MAX_PARAM = 6000  # MLflow's limit on a parameter value's length, in characters


def tracking_uri(target: str) -> str:
    """A tracking URI for ``target``: a URI (``scheme://...``) as is, a folder as ``file://``.

    Example:
        >>> tracking_uri("sqlite:///mlflow.db")
        'sqlite:///mlflow.db'
    """
    if "://" in target:
        return target
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # see the module docstring
    return Path(target).expanduser().resolve().as_uri()


class MLflowLogger(Callback):
    """Log ``params`` once and every epoch's ``state.history`` entry as MLflow metrics.

    Args:
        target: the tracking URI or a local folder (see the module docstring).
        params: the parameters to log (e.g. the flattened config).
        run_name: the MLflow run's name (e.g. the run directory's name).
        experiment: the MLflow experiment, created when missing.

    Raises:
        ConfigError: MLflow is not installed (at fit start).
    """

    def __init__(
        self,
        target: str,
        params: Mapping[str, Any],
        run_name: str | None = None,
        experiment: str = EXPERIMENT,
    ) -> None:
        self.target = target
        self.params = dict(params)
        self.run_name = run_name
        self.experiment = experiment
        self.client: Any = None
        self.run_id: str | None = None

    def on_fit_start(self, state: TrainState) -> None:
        try:
            from mlflow import MlflowClient
            from mlflow.entities import Param
        except ImportError:
            raise ConfigError(
                'logging.mlflow needs MLflow: pip install "trainwell[mlflow]" '
                "(or turn it off: logging.mlflow=null)"
            ) from None
        self.client = MlflowClient(tracking_uri=tracking_uri(self.target))
        found = self.client.get_experiment_by_name(self.experiment)
        experiment_id = (
            found.experiment_id if found else self.client.create_experiment(self.experiment)
        )
        run = self.client.create_run(experiment_id, run_name=self.run_name)
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:MAX_PARAM]) for k, v in self.params.items() if v is not None]
        for start in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            self.client.log_batch(self.run_id, params=params[start : start + 100])

    def on_epoch_end(self, state: TrainState) -> None:
        if self.client is None or self.run_id is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, float(value), now, state.epoch + 1)
            for name, value in state.history[-1].items()
            if name != "epoch" and isinstance(value, int | float) and math.isfinite(value)
        ]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_fit_end(self, state: TrainState) -> None:
        self._terminate("FINISHED")

    def on_exception(self, state: TrainState) -> None:
        self._terminate("FAILED")

    def _terminate(self, status: str) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
            self.client = None
