"""The optional MLflow logger (TW-M05): params and per-epoch metrics round-trip through
``mlflow.search_runs`` on a local store, no server."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from trainwell.train.callbacks.mlflow_logger import MLflowLogger, tracking_uri
from trainwell.train.loop import InMemoryData, train

mlflow = pytest.importorskip("mlflow", reason='MLflow is optional: pip install "trainwell[mlflow]"')


def test_params_and_epoch_metrics_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # restored after the test
    torch.manual_seed(0)
    x, y = torch.randn(32, 2), torch.randn(32, 1)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def validate(net: nn.Module) -> dict[str, float]:
        with torch.no_grad():
            return {"val_loss": float(nn.functional.mse_loss(net(x), y))}

    store = tmp_path / "mlruns"
    logger = MLflowLogger(
        str(store), params={"train.lr": 0.1, "model.depth": 2, "train.lr_find": None}, run_name="r1"
    )
    state = train(
        model,
        optimizer,
        nn.functional.mse_loss,
        InMemoryData((x,), y, 8),
        max_epochs=3,
        validate=validate,
        callbacks=[logger],
    )
    uri = tracking_uri(str(store))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # where search_runs looks (no global set)
    runs = mlflow.search_runs(experiment_names=["trainwell"])
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["tags.mlflow.runName"] == "r1"
    assert row["status"] == "FINISHED"
    assert row["params.train.lr"] == "0.1"
    assert row["params.model.depth"] == "2"
    assert "params.train.lr_find" not in runs.columns  # None is not a parameter
    assert row["metrics.val_loss"] == pytest.approx(state.history[-1]["val_loss"])
    history = mlflow.MlflowClient(tracking_uri=uri).get_metric_history(row["run_id"], "val_loss")
    assert [(m.step, m.value) for m in history] == [
        (i + 1, pytest.approx(h["val_loss"])) for i, h in enumerate(state.history)
    ]


def test_the_config_key_adds_the_logger(tmp_path: Path) -> None:
    from trainwell.config import build_config
    from trainwell.train.precision import Precision
    from trainwell.trainer import TrainPaths, loop_callbacks

    cfg = build_config(overrides=["logging.mlflow=mlruns", "logging.progress=false"])
    paths = TrainPaths.of(tmp_path / "run-7")
    made = loop_callbacks(cfg, Precision("fp32"), None, paths=paths)
    (logger,) = [c for c in made.all if isinstance(c, MLflowLogger)]
    assert logger.target == "mlruns"
    assert logger.run_name == "run-7"
    assert logger.params["train.lr_find_method"] == "valley"  # the resolved config
    off = loop_callbacks(build_config(), Precision("fp32"), None)
    assert not [c for c in off.all if isinstance(c, MLflowLogger)]


def test_a_fit_that_raises_ends_its_run_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As mlflow.start_run's own context manager does: not left RUNNING forever.
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    model = nn.Linear(2, 1)

    def broken(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise ValueError("planted failure")

    store = tmp_path / "mlruns"
    logger = MLflowLogger(str(store), params={}, run_name="r1")
    data = InMemoryData((torch.randn(8, 2),), torch.randn(8, 1), 4)
    opt = torch.optim.SGD(model.parameters(), 0.1)
    with pytest.raises(ValueError, match="planted failure"):
        train(model, opt, broken, data, max_epochs=1, callbacks=[logger])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri(str(store)))
    assert mlflow.search_runs(experiment_names=["trainwell"]).iloc[0]["status"] == "FAILED"
