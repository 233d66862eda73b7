"""Distribution shift between the splits: the label mix and the features (TW-E02, TW-D04).

A time split (``--time``) tests on a later period on purpose; when that period differs from
training (another class mix, a class that never occurs, drifting inputs), the test metrics
measure the model on a different problem, and some metrics become undefined (ROC-AUC needs
every class present). Random and stratified splits differ only by chance, which the tests
below tell apart from a real shift.

Statistics come from scipy: the chi-square test of homogeneity for classes and categories
(``scipy.stats.chi2_contingency``) and the two-sample Kolmogorov-Smirnov test for numbers
(``scipy.stats.ks_2samp``). A shift is reported only when it is both significant (Bonferroni
over the columns tested) and large (total variation distance or KS statistic at least
``min_effect``), so big tables do not turn trivial differences into findings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainwell.audit._common import as_float, as_python
from trainwell.findings import Finding
from trainwell.split import Splits

HELD_OUT = ("validation", "test")
# A class absent from a held-out split is a finding only when chance alone would rarely empty
# it: its expected count there (train share x split size) is at least this.
MIN_EXPECTED_ROWS = 5.0


def _shares(values: np.ndarray, levels: Sequence[Any]) -> np.ndarray:
    counts = np.array([np.sum(values == level) for level in levels], dtype=float)
    return counts / max(counts.sum(), 1.0)


def _categorical_shift(train: np.ndarray, held: np.ndarray) -> tuple[float, float]:
    """(total variation distance, chi-square p-value) between two samples of categories."""
    from scipy.stats import chi2_contingency

    levels = np.unique(np.concatenate([train, held]))
    table = np.array([[np.sum(s == level) for level in levels] for s in (train, held)])
    table = table[:, table.sum(axis=0) > 0]
    distance = 0.5 * float(np.abs(table[0] / table[0].sum() - table[1] / table[1].sum()).sum())
    if table.shape[1] < 2:
        return distance, 1.0
    return distance, float(chi2_contingency(table).pvalue)


def _numeric_shift(train: np.ndarray, held: np.ndarray) -> tuple[float, float]:
    """(KS statistic, p-value) between two samples of numbers (missing values left out)."""
    from scipy.stats import ks_2samp

    train, held = train[~np.isnan(train)], held[~np.isnan(held)]
    if len(train) < 2 or len(held) < 2:
        return 0.0, 1.0
    result = ks_2samp(train, held)
    return float(result.statistic), float(result.pvalue)


def check_label_shift(
    y: np.ndarray,
    classes: Sequence[Any] | None,
    splits: Splits,
    *,
    alpha: float = 0.001,
    min_effect: float = 0.15,
) -> Finding | None:
    """The target's distribution in validation and test against training.

    Classification: the class shares per split, a class absent from a held-out split (and the
    metrics that are undefined because of it), chi-square test and total variation distance.
    Regression: the KS test on the target values. Remedy: a later period with another mix
    is the real future; judge the model per class, re-split over a period that covers every
    class, or weight recent data.

    Args:
        y: class indices into ``classes``, or floats for regression (``classes`` None).
        classes: the class labels, None for regression.
        splits: the run's splits.
        alpha: significance level of each test.
        min_effect: smallest total variation distance (or KS statistic) reported.

    Returns:
        A ``label-shift`` warning, or ``None`` when the splits hold the same mix.
    """
    train = y[splits.train]
    if classes is None:
        shifted = {}
        for name in HELD_OUT:
            statistic, p = _numeric_shift(
                train.astype(float), y[splits.indices(name)].astype(float)
            )
            if p < alpha and statistic >= min_effect:
                shifted[name] = {
                    "ks_statistic": round(statistic, 4),
                    "p_value": float(f"{p:.3g}"),
                    "mean": round(float(np.mean(y[splits.indices(name)])), 6),
                }
        if not shifted:
            return None
        first = next(iter(shifted))
        return Finding(
            id="label-shift",
            practice="TW-E02",
            severity="warning",
            stage="audit",
            message=f"the target differs between splits: its mean is "
            f"{shifted[first]['mean']:g} in {first} against {float(np.mean(train)):g} in train "
            f"(KS statistic {shifted[first]['ks_statistic']}, p={shifted[first]['p_value']}).",
            evidence={"train_mean": round(float(np.mean(train)), 6), "splits": shifted},
            fix="Test metrics then measure a different period; check per-period errors, or "
            "re-split over a period that resembles the data the model will meet.",
        )
    levels = list(range(len(classes)))
    shares = {name: _shares(y[splits.indices(name)], levels) for name in ("train", *HELD_OUT)}
    shifted_splits: dict[str, dict[str, Any]] = {}
    missing_metrics: dict[str, str] = {}
    for name in HELD_OUT:
        held = y[splits.indices(name)]
        distance, p = _categorical_shift(train, held)
        absent = [
            str(as_python(classes[k]))
            for k in levels
            if shares["train"][k] * len(held) >= MIN_EXPECTED_ROWS and not np.any(held == k)
        ]
        if absent or (p < alpha and distance >= min_effect):
            shifted_splits[name] = {
                "total_variation": round(distance, 4),
                "p_value": float(f"{p:.3g}"),
                "absent_classes": absent,
            }
        if len(np.unique(held)) < len(levels):
            missing = [str(as_python(classes[k])) for k in levels if not np.any(held == k)]
            present = len(levels) - len(missing)
            missing_metrics[name] = (
                f"ROC-AUC is not computed on {name}, and its balanced accuracy and macro "
                f"precision, recall and F1 average over the {present} classes present: "
                f"class(es) {', '.join(map(repr, missing))} do not occur there"
            )
    if not shifted_splits:
        return None
    split_shares = {
        name: {str(as_python(classes[k])): round(float(s[k]), 4) for k in levels}
        for name, s in shares.items()
    }
    first = "test" if "test" in shifted_splits else next(iter(shifted_splits))
    # The class whose share moved most, as the headline number.
    moved = int(np.argmax(np.abs(shares[first] - shares["train"])))
    label = str(as_python(classes[moved]))
    absent_note = (
        f"; {', '.join(map(repr, shifted_splits[first]['absent_classes']))} never occurs in {first}"
        if shifted_splits[first]["absent_classes"]
        else ""
    )
    metric_note = f" ({missing_metrics[first]})" if first in missing_metrics else ""
    return Finding(
        id="label-shift",
        practice="TW-E02",
        severity="warning",
        stage="audit",
        message=f"the class mix differs between splits ({splits.method}): {label!r} is "
        f"{shares[first][moved]:.0%} of {first} against {shares['train'][moved]:.0%} of train"
        f"{absent_note}{metric_note}; total variation distance "
        f"{shifted_splits[first]['total_variation']:.2f}.",
        evidence={
            "shares": split_shares,
            "splits": shifted_splits,
            "missing_metrics": missing_metrics,
        },
        fix="The test period is another problem than the training period: read per-class "
        "metrics, re-split over a period that holds every class, or collect data for the "
        "missing classes.",
    )


def check_feature_shift(
    frame: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    splits: Splits,
    *,
    alpha: float = 0.001,
    min_effect: float = 0.2,
    limit: int = 5,
) -> Finding | None:
    """Features whose distribution in validation or test differs from training.

    Numbers: two-sample KS test; categories: chi-square test of homogeneity with the total
    variation distance as effect size. Remedy: features that drift make the test metrics a
    forecast for the drifted data; check that the drift is real, consider removing features
    that will keep drifting (counters, absolute dates) or retraining regularly (TW-P06).

    Returns:
        A ``feature-shift`` warning naming the ``limit`` most shifted features, or ``None``.
    """
    tests = len(numeric) + len(categorical)
    if tests == 0:
        return None
    level = alpha / tests  # Bonferroni: many columns must not make chance differences findings
    found: dict[str, dict[str, Any]] = {}
    for name in HELD_OUT:
        rows = splits.indices(name)
        for column in numeric:
            values = as_float(frame[column])
            statistic, p = _numeric_shift(values[splits.train], values[rows])
            if p < level and statistic >= min_effect:
                key = f"{column} ({name})"
                found[key] = {"test": "ks", "statistic": round(statistic, 4), "p_value": p}
        for column in categorical:
            values = frame[column].astype("string").fillna("<missing>").to_numpy()
            distance, p = _categorical_shift(values[splits.train], values[rows])
            if p < level and distance >= min_effect:
                key = f"{column} ({name})"
                found[key] = {"test": "chi2", "statistic": round(distance, 4), "p_value": p}
    if not found:
        return None
    ranked = sorted(found, key=lambda k: -found[k]["statistic"])
    for key in ranked:
        found[key]["p_value"] = float(f"{found[key]['p_value']:.3g}")
    top = ranked[0]
    listed = ", ".join(f"{k} {found[k]['test']}={found[k]['statistic']:.2f}" for k in ranked[:3])
    return Finding(
        id="feature-shift",
        practice="TW-E02",
        severity="warning",
        stage="audit",
        message=f"{len(found)} feature/split pair(s) differ from training ({splits.method}); "
        f"most: {listed}"
        f" (p={found[top]['p_value']:.2g}).",
        evidence={"features": {k: found[k] for k in ranked[:limit]}, "n_shifted": len(found)},
        fix="Test metrics then describe the shifted data; confirm the drift is real, drop "
        "features that will keep drifting (counters, absolute dates) or plan to retrain "
        "(TW-P06).",
    )
