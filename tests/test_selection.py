"""Model selection that says when validation is too small to choose (TW-A02, A08, D05)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from trainwell.config import DataConfig, SplitConfig
from trainwell.data import build_dataset
from trainwell.selection import choose_model
from trainwell.split import make_splits


def test_iris_validation_cannot_choose_so_the_simpler_model_ships() -> None:
    frame = load_iris(as_frame=True).frame  # type: ignore[attr-defined]
    data = build_dataset(frame, DataConfig(target="target"), "iris", "-")
    splits = make_splits(data, SplitConfig(), seed=0)
    x = frame.drop(columns="target").to_numpy()
    train, val = splits.train, splits.validation
    assert len(val) == 15
    linear = LogisticRegression(max_iter=500).fit(x[train], data.y[train])
    network = KNeighborsClassifier(5).fit(x[train], data.y[train])  # stands in for a network
    outputs = {
        "linear": linear.predict_proba(x[val]),
        "network": np.clip(network.predict_proba(x[val]), 0.02, 1.0),
    }
    selection = choose_model("multiclass", data.y[val], outputs)
    assert selection.best == "network"
    assert selection.scores["network"] < selection.scores["linear"]
    assert selection.chosen == "linear"
    [finding] = selection.findings
    assert (finding.id, finding.severity, finding.practice) == (
        "validation-too-small",
        "warning",
        "TW-A02",
    )
    low, high = finding.evidence["error_difference_interval"]
    assert low <= 0 <= high
    assert "validation (15 rows) is too small to choose between network" in finding.message
    assert "baselines.ship=network" in finding.fix


def test_a_clearly_better_model_on_enough_validation_is_chosen() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    y = (x[:, 0] ** 2 + x[:, 1] ** 2 > 1.4).astype(int)  # a circle: a linear model cannot
    linear = LogisticRegression().fit(x[:1000], y[:1000]).predict_proba(x[1000:])
    knn = KNeighborsClassifier(15).fit(x[:1000], y[:1000]).predict_proba(x[1000:])
    selection = choose_model("binary", y[1000:], {"linear": linear, "network": knn})
    assert selection.chosen == selection.best == "network"
    assert selection.findings == []


def test_regression_on_a_few_rows_prefers_the_simpler_model() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 1.0, 60)
    linear = LinearRegression().fit(x[:50], y[:50]).predict(x[50:])
    tweaked = linear + rng.normal(0, 0.3, 10)  # a slightly different fit
    outputs = {"lightgbm": tweaked, "linear": linear}
    best = min(outputs, key=lambda n: float(np.mean((outputs[n] - y[50:]) ** 2)))
    selection = choose_model("regression", y[50:], outputs)
    assert selection.chosen == "linear"
    assert bool(selection.findings) == (best != "linear")
    assert selection.scores["linear"] == pytest.approx(np.sqrt(np.mean((linear - y[50:]) ** 2)))


def test_the_advice_fits_a_run_with_cross_validation_on() -> None:
    """CV estimates but does not choose what ships: with it on, the advice is a larger split."""
    y = np.array([0, 1] * 10)
    best = np.where(np.eye(2)[y] == 1, 0.9, 0.1)  # right on every row
    simpler = best.copy()
    simpler[0] = [0.4, 0.6]  # wrong on one row: too few rows to tell the two apart
    outputs = {"linear": simpler, "network": best}
    [off] = choose_model("binary", y, outputs).findings
    [on] = choose_model("binary", y, outputs, cv=5).findings
    assert off.id == on.id == "validation-too-small"
    assert "or cross-validation (TW-D05)" in off.fix
    assert "cross-validation (TW-D05)" not in on.fix
    assert "Cross-validation is on (split.cv=5)" in on.fix
    assert "split.validation=0.2" in on.fix
    assert "baselines.ship=network" in on.fix
