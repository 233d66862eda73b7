"""The report's 95% intervals (TW-E03): Wilson for accuracy, scipy's BCa bootstrap for the rest."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from trainwell.evaluate import task_metrics
from trainwell.report.intervals import (
    BCA_MAX_ROWS,
    SE_RESAMPLES,
    metric_intervals,
    statistics,
    wilson,
)

CLASSIFICATION = ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]


def probabilities(y: np.ndarray, k: int, correct: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, k) probabilities whose argmax is y where ``correct``, another class elsewhere."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), len(y)) * 0.4
    winner = np.where(correct, y, (y + 1) % k)
    proba[np.arange(len(y)), winner] += 0.6
    return proba / proba.sum(axis=1, keepdims=True)


def test_wilson_matches_the_known_interval() -> None:
    low, high = wilson(56, 57)
    assert (round(low, 3), round(high, 3)) == (0.907, 0.997)


def test_all_correct_is_not_a_degenerate_interval() -> None:
    y = np.array([0, 1] * 9)
    proba = probabilities(y, 2, np.ones(18, dtype=bool))
    found = metric_intervals("binary", y, proba, CLASSIFICATION, 999, seed=0)
    accuracy = found["accuracy"]
    assert accuracy.method == "Wilson score"
    assert accuracy.high == pytest.approx(1.0)
    assert accuracy.low is not None
    assert accuracy.low == pytest.approx(0.8241, abs=1e-4)  # not "1 to 1"
    # Every resample of a perfect classifier has balanced accuracy 1: no interval, and why.
    balanced = found["balanced_accuracy"]
    assert balanced.low is None
    assert "every resample scores the same" in balanced.note


def test_accuracy_interval_is_scipys_wilson_on_the_test_rows() -> None:
    y = np.arange(57) % 3
    correct = np.ones(57, dtype=bool)
    correct[5] = False
    found = metric_intervals("multiclass", y, probabilities(y, 3, correct), ["accuracy"], 0, 0)
    expected = stats.binomtest(56, 57).proportion_ci(0.95, method="wilson")
    assert (found["accuracy"].low, found["accuracy"].high) == (expected.low, expected.high)


@pytest.mark.parametrize(("task", "k"), [("binary", 2), ("multiclass", 3), ("regression", 0)])
def test_statistics_equal_sklearns_metrics(task: str, k: int) -> None:
    """Each vectorized statistic equals trainwell.evaluate's sklearn value on the full sample."""
    rng = np.random.default_rng(1)
    if task == "regression":
        y, out = rng.normal(size=80), rng.normal(size=80)
    else:
        y = rng.integers(0, k, 80)
        out = probabilities(y, k, rng.random(80) < 0.7, seed=2)
    expected = task_metrics(task, y, out)  # type: ignore[arg-type]
    rows = np.arange(80)
    for key, function in statistics(task, y, out).items():
        assert float(function(rows[None, :])[0]) == pytest.approx(expected[key], rel=1e-9), key
    # A resample with ties (repeated rows) too, for ROC-AUC's tie handling.
    if task == "binary":
        idx = rng.integers(0, 80, 80)
        auc = statistics(task, y, out)["roc_auc"](idx[None, :])[0]
        assert auc == pytest.approx(skm.roc_auc_score(y[idx], out[idx, 1]))


def test_other_metrics_match_scipys_bca_bootstrap() -> None:
    """Our log-loss interval is scipy.stats.bootstrap(method="BCa") of the per-row losses."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    proba = probabilities(y, 2, rng.random(60) < 0.8, seed=4)
    found = metric_intervals("binary", y, proba, ["log_loss", "roc_auc"], 999, seed=7)
    row_loss = -np.log(proba[np.arange(60), y])
    reference = stats.bootstrap(
        (row_loss,), np.mean, n_resamples=999, method="BCa", rng=np.random.default_rng(7)
    ).confidence_interval
    assert found["log_loss"].low == pytest.approx(reference.low, rel=1e-9)
    assert found["log_loss"].high == pytest.approx(reference.high, rel=1e-9)
    assert found["log_loss"].method == "BCa bootstrap, 999 resamples"
    auc = found["roc_auc"]
    assert auc.low is not None
    assert auc.high is not None
    assert auc.low < skm.roc_auc_score(y, proba[:, 1]) < auc.high


def test_regression_intervals_bracket_the_value() -> None:
    rng = np.random.default_rng(5)
    y = rng.normal(size=100)
    pred = y + rng.normal(scale=0.3, size=100)
    found = metric_intervals("regression", y, pred, ["rmse", "mae", "r2"], 999, seed=0)
    values = task_metrics("regression", y, pred)
    for key in ("rmse", "mae", "r2"):
        low, high = found[key].low, found[key].high
        assert low is not None
        assert high is not None
        assert low < values[key] < high, key  # type: ignore[operator]


def test_a_large_test_split_gets_a_normal_interval_from_the_bootstrap_standard_error() -> None:
    rng = np.random.default_rng(6)
    n = BCA_MAX_ROWS + 1
    y = rng.normal(size=n)
    pred = y + rng.normal(scale=0.5, size=n)
    found = metric_intervals("regression", y, pred, ["mae"], 1999, seed=0)["mae"]
    assert (
        found.method
        == f"normal interval from the bootstrap standard error, {SE_RESAMPLES} resamples"
    )
    mae = float(np.abs(y - pred).mean())
    standard_error = float(np.abs(y - pred).std(ddof=1) / np.sqrt(n))  # the CLT's, for a mean
    assert found.low is not None
    assert found.high is not None
    assert (found.high - found.low) / 2 == pytest.approx(1.96 * standard_error, rel=0.2)
    assert found.low < mae < found.high
