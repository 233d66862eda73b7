"""Macro metrics over the classes present in a split (TW-E01, E02), wherever they are computed,
and cross-validation intervals inside each metric's range (TW-D05)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from trainwell.analysis.groups import group_metrics
from trainwell.config import ReportConfig
from trainwell.cv import summarize
from trainwell.evaluate import classification_metrics
from trainwell.report.intervals import metric_intervals, statistics

# Three classes; class 1 never occurs in the true labels, but the model predicts it twice.
Y_MISSING = np.array([0, 0, 0, 0, 2, 2, 2, 2, 2, 2])
PRED_MISSING = np.array([0, 0, 1, 0, 2, 2, 2, 1, 0, 2])


def onehot(pred: np.ndarray, k: int = 3) -> np.ndarray:
    """(n, k) probabilities whose argmax is ``pred``."""
    proba = np.full((len(pred), k), 0.1)
    proba[np.arange(len(pred)), pred] = 0.8
    return proba / proba.sum(axis=1, keepdims=True)


def test_a_split_missing_a_class_gives_macro_recall_equal_to_balanced_accuracy() -> None:
    m = classification_metrics(Y_MISSING, onehot(PRED_MISSING))
    # Recall 3/4 for class 0 and 4/6 for class 2; class 1 (absent) is left out, not averaged as 0.
    assert m["recall_macro"] == pytest.approx((3 / 4 + 4 / 6) / 2)
    assert m["recall_macro"] == pytest.approx(m["balanced_accuracy"])
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        balanced = skm.balanced_accuracy_score(Y_MISSING, PRED_MISSING)
    assert m["recall_macro"] == pytest.approx(balanced)
    present = [0, 2]
    assert m["precision_macro"] == pytest.approx(
        skm.precision_score(Y_MISSING, PRED_MISSING, labels=present, average="macro")
    )
    assert m["f1_macro"] == pytest.approx(
        skm.f1_score(Y_MISSING, PRED_MISSING, labels=present, average="macro")
    )
    # The old figure (every class listed, the absent one counted as 0) is lower: the fault.
    old = skm.recall_score(Y_MISSING, PRED_MISSING, labels=[0, 1, 2], average="macro",
                           zero_division=0.0)  # fmt: skip
    assert old == pytest.approx(m["recall_macro"] * 2 / 3)


def test_a_perfect_model_on_a_split_missing_a_class_scores_1_everywhere() -> None:
    y = np.array([0, 0, 2, 2, 2])
    m = classification_metrics(y, onehot(y))
    assert m["accuracy"] == m["balanced_accuracy"] == 1.0
    assert m["precision_macro"] == m["recall_macro"] == m["f1_macro"] == 1.0  # was 0.667
    assert m["roc_auc"] is None  # undefined without every class


def test_a_split_with_every_class_gives_the_same_numbers_as_before() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 60)
    pred = np.where(rng.random(60) < 0.7, y, (y + 1) % 3)
    assert set(y) == {0, 1, 2}
    m = classification_metrics(y, onehot(pred))
    p, r, f, _ = skm.precision_recall_fscore_support(
        y, pred, labels=np.arange(3), average="macro", zero_division=0.0
    )  # the computation before the fix, with every class listed
    assert (m["precision_macro"], m["recall_macro"], m["f1_macro"]) == (p, r, f)
    assert m["recall_macro"] == pytest.approx(m["balanced_accuracy"])


def test_bootstrapped_f1_macro_is_over_the_classes_present() -> None:
    proba = onehot(PRED_MISSING)
    f1 = statistics("multiclass", Y_MISSING, proba)["f1_macro"]
    rows = np.arange(len(Y_MISSING))
    expected = classification_metrics(Y_MISSING, proba)["f1_macro"]
    assert float(f1(rows[None, :])[0]) == pytest.approx(expected, rel=1e-12)
    # A resample holding class 0 only is scored over class 0 alone, as evaluate would.
    only_zero = np.array([[0, 1, 2, 3, 0]])
    assert float(f1(only_zero)[0]) == pytest.approx(
        classification_metrics(Y_MISSING[only_zero[0]], proba[only_zero[0]])["f1_macro"]
    )
    found = metric_intervals("multiclass", Y_MISSING, proba, ["f1_macro"], 199, seed=0)
    interval = found["f1_macro"]
    assert interval.low is not None
    assert interval.high is not None
    assert 0.0 <= interval.low <= expected <= interval.high <= 1.0


def test_per_group_f1_macro_is_over_the_classes_present_in_the_group() -> None:
    y = np.array([0, 0, 2, 2, 0, 1, 2, 1])
    pred = np.array([0, 1, 2, 2, 0, 1, 2, 1])
    labels = pd.Series(["a", "a", "a", "a", "b", "b", "b", "b"])
    result = group_metrics("multiclass", "g", labels, y, pred, labels, ReportConfig())
    by_group = {g["group"]: g["metrics"] for g in result["groups"]}
    # Group a lacks class 1 yet one row is predicted 1: F1 over classes 0 and 2 only.
    assert by_group["a"]["f1_macro"] == pytest.approx(
        skm.f1_score(y[:4], pred[:4], labels=[0, 2], average="macro")
    )
    assert by_group["a"]["f1_macro"] == pytest.approx((2 / 3 + 1.0) / 2)
    assert by_group["b"]["f1_macro"] == 1.0
    assert result["overall"]["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))


def test_a_cv_interval_from_folds_near_1_stays_within_the_metrics_range() -> None:
    folds = [
        {"val_accuracy": a, "val_loss": loss}
        for a, loss in [(1.0, 0.01), (0.97, 0.12), (1.0, 0.004), (0.94, 0.2), (1.0, 0.003)]
    ]
    summary = summarize(folds)
    accuracy, loss = summary["val_accuracy"], summary["val_loss"]
    # The plain t-interval would reach past the bounds...
    for entry in (accuracy, loss):
        values = entry["folds"]
        half = stats.t.ppf(0.975, 4) * np.std(values, ddof=1) / math.sqrt(5)
        assert entry["mean"] + half > 1.0 or entry["mean"] - half < 0.0
    # ...the recorded one stops at them and says so.
    assert accuracy["interval"][1] == 1.0
    assert accuracy["interval"][0] == pytest.approx(accuracy["mean"] - half_width(accuracy))
    assert accuracy["clipped"] is True
    assert accuracy["range"] == [0.0, 1.0]
    assert loss["interval"][0] == 0.0
    assert loss["interval"][1] == pytest.approx(loss["mean"] + half_width(loss))
    assert loss["clipped"] is True
    assert loss["range"] == [0.0, None]


def half_width(entry: dict[str, object]) -> float:
    values = np.asarray(entry["folds"], dtype=float)
    return float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))


def test_a_cv_interval_inside_the_range_is_the_plain_t_interval() -> None:
    values = [0.80, 0.84, 0.78, 0.82, 0.81]
    entry = summarize([{"val_accuracy": v} for v in values])["val_accuracy"]
    half = half_width(entry)
    assert entry["interval"] == pytest.approx([np.mean(values) - half, np.mean(values) + half])
    assert entry["clipped"] is False
    same = summarize([{"val_accuracy": 1.0}] * 3)["val_accuracy"]
    assert (same["interval"], same["clipped"]) == ([1.0, 1.0], False)


def test_groups_too_small_lists_five_and_counts_the_rest() -> None:
    """The count covers every small group; the list shows five and says how many more (found
    by trying trainwell: "7 group(s)" above a list of 5)."""
    from trainwell.analysis.groups import small_groups_finding

    results = [
        {"column": "city", "groups": [
            {"group": f"c{i}", "count": 3, "judged": False} for i in range(7)
        ]},
    ]  # fmt: skip
    finding = small_groups_finding(results, ReportConfig())
    assert finding is not None
    assert finding.message.startswith("7 group(s) have fewer than 20 test rows")
    assert finding.message.endswith("city=c4 (n=3) and 2 more.")
