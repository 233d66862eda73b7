"""95% confidence intervals of the test metrics (TW-E03), from scipy.stats.

- **accuracy** is a proportion of independent rows: the Wilson score interval
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``). Unlike a bootstrap it
  is not degenerate at 100%: 18 of 18 correct gives 0.824 to 1, not "1 to 1".
- **every other metric** (balanced accuracy, macro F1, ROC-AUC, log loss, RMSE, MAE, R²)
  is not a plain proportion: the bias-corrected and accelerated bootstrap
  (``scipy.stats.bootstrap(method="BCa")``; Efron & Tibshirani 1993, ch. 14), resampling the
  test rows, with ``report.bootstrap`` resamples (default 1999).
- **large test splits** (more than :data:`BCA_MAX_ROWS` rows): BCa's jackknife (one statistic
  per left-out row) makes the cost quadratic in the rows, while its bias and skew corrections
  shrink as 1/sqrt(n). There the interval is the normal one, value +- 1.96 bootstrap standard
  errors, from :data:`SE_RESAMPLES` resamples: Efron & Tibshirani (1993, §6.4) find 25-200
  enough for a standard error, where percentile endpoints need thousands.

The method is recorded with each interval, and the report prints it.

Why the statistics are written here with numpy rather than calling sklearn per resample:
scipy evaluates the statistic on thousands of resamples at once (``vectorized=True``),
which is cheap for array formulas and ~5-15 ms per call for sklearn's scorers (10+ s per
report). Each formula equals sklearn's on the full sample (tests check it metric by metric).

Example:
    >>> round(wilson(56, 57)[0], 3), round(wilson(56, 57)[1], 3)
    (0.907, 0.997)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# BCa up to this many test rows; the percentile method above it (see the module docstring).
BCA_MAX_ROWS = 2000
SE_RESAMPLES = 200
# Elements per vectorized batch of resamples (resamples x rows x classes), to bound memory.
BATCH_ELEMENTS = 4_000_000
# Where each metric can lie, so that a normal interval does not leave it (e.g. AUC <= 1).
RANGES = {
    "balanced_accuracy": (0.0, 1.0),
    "f1_macro": (0.0, 1.0),
    "roc_auc": (0.0, 1.0),
    "log_loss": (0.0, np.inf),
    "rmse": (0.0, np.inf),
    "mae": (0.0, np.inf),
    "r2": (-np.inf, 1.0),
}


@dataclass(frozen=True)
class Interval:
    """One metric's interval: bounds (``None`` when there is none) and how it was made."""

    low: float | None
    high: float | None
    method: str  # e.g. "Wilson score", "BCa bootstrap, 1999 resamples"
    note: str = ""  # why there is no interval, when there is none


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy.stats.binomtest).

    Args:
        successes: correct rows. n: all rows (n >= 1).

    Returns:
        (low, high), both in [0, 1].
    """
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def _classification_statistics(
    y: np.ndarray, proba: np.ndarray
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Metric functions of row-index arrays ``idx`` (..., n) -> (...), as trainwell.evaluate."""
    k = proba.shape[1]
    pred = proba.argmax(axis=1)
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    row_loss = -np.log(clipped[np.arange(len(y)), y])
    onehot_true = y[:, None] == np.arange(k)  # (n, k)
    onehot_pred = pred[:, None] == np.arange(k)

    def counts(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        true, predicted = onehot_true[idx], onehot_pred[idx]  # (..., n, k)
        tp = (true & predicted).sum(axis=-2)
        return tp, true.sum(axis=-2), predicted.sum(axis=-2)  # (..., k) each

    def balanced_accuracy(idx: np.ndarray) -> np.ndarray:
        # sklearn: the mean recall over the classes present in y_true.
        tp, support, _ = counts(idx)
        with np.errstate(invalid="ignore", divide="ignore"):
            recall = np.where(support > 0, tp / support, np.nan)
        return np.asarray(np.nanmean(recall, axis=-1))

    def f1_macro(idx: np.ndarray) -> np.ndarray:
        # trainwell.evaluate.macro_scores: sklearn's f1_score(labels=np.unique(y_true),
        # average="macro", zero_division=0), i.e. over the classes present in each resample's
        # true labels, as balanced accuracy is.
        tp, support, predicted = counts(idx)
        denominator = support + predicted  # 2tp + fp + fn, > 0 wherever support > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(support > 0, 2 * tp / denominator, np.nan)
        return np.asarray(np.nanmean(f1, axis=-1))

    def auc(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
        # Mann-Whitney U / (n1 n0) equals the trapezoidal ROC-AUC (ties count one half).
        ranks = stats.rankdata(scores, axis=-1)
        n1 = positive.sum(axis=-1)
        n0 = positive.shape[-1] - n1
        u = (ranks * positive).sum(axis=-1) - n1 * (n1 + 1) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(np.where((n1 > 0) & (n0 > 0), u / (n1 * n0), np.nan))

    def roc_auc(idx: np.ndarray) -> np.ndarray:
        if k == 2:
            return auc(proba[:, 1][idx], onehot_true[:, 1][idx])
        # one-vs-rest, macro average; undefined (NaN) when a resample lacks a class.
        return np.asarray(
            np.mean([auc(clipped[:, j][idx], onehot_true[:, j][idx]) for j in range(k)], axis=0)
        )

    return {
        "balanced_accuracy": balanced_accuracy,
        "f1_macro": f1_macro,
        "roc_auc": roc_auc,
        "log_loss": lambda idx: np.asarray(row_loss[idx].mean(axis=-1)),
    }


def _regression_statistics(
    y: np.ndarray, pred: np.ndarray
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    error = y - pred

    def r2(idx: np.ndarray) -> np.ndarray:
        truth = y[idx]
        total = ((truth - truth.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(1.0 - (error[idx] ** 2).sum(axis=-1) / total)

    return {
        "mae": lambda idx: np.asarray(np.abs(error[idx]).mean(axis=-1)),
        "rmse": lambda idx: np.asarray(np.sqrt((error[idx] ** 2).mean(axis=-1))),
        "r2": r2,
    }


def statistics(
    task: str, y: np.ndarray, outputs: np.ndarray
) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """The bootstrapped metrics of a task as functions of row indices (for tests and scipy)."""
    if task == "regression":
        return _regression_statistics(y.astype(float), outputs.astype(float))
    return _classification_statistics(y.astype(int), outputs.astype(float))


def metric_intervals(
    task: str, y: np.ndarray, outputs: np.ndarray, keys: list[str], resamples: int, seed: int
) -> dict[str, Interval]:
    """95% intervals of the test metrics ``keys`` (see the module docstring for the methods).

    Args:
        task: "binary", "multiclass" or "regression".
        y: (n,) true class indices or values. outputs: (n, K) probabilities or (n,) values.
        keys: the metrics to bound. resamples: bootstrap resamples (0: bootstrap off; the
            Wilson interval needs none). seed: for the resampling.

    Returns:
        ``{metric: Interval}`` for every key.
    """
    n = len(y)
    found: dict[str, Interval] = {}
    if task != "regression" and "accuracy" in keys and n >= 1:
        correct = int((outputs.argmax(axis=1) == y).sum())
        found["accuracy"] = Interval(*wilson(correct, n), method="Wilson score")
    rest = [k for k in keys if k not in found]
    if not rest:
        return found
    if resamples == 0 or n < 3:
        why = "bootstrap off (report.bootstrap=0)" if resamples == 0 else "too few test rows"
        return found | {k: Interval(None, None, method="none", note=why) for k in rest}
    small = n <= BCA_MAX_ROWS
    resamples = resamples if small else min(resamples, SE_RESAMPLES)
    label = (
        f"BCa bootstrap, {resamples} resamples"
        if small
        else f"normal interval from the bootstrap standard error, {resamples} resamples"
    )
    width = outputs.shape[1] if outputs.ndim == 2 else 1
    batch = max(1, BATCH_ELEMENTS // (n * width))
    functions = statistics(task, y, outputs)
    rows = np.arange(n)
    for k in rest:
        function = functions[k]
        values = function(rows[None, :])
        if not np.isfinite(values).all():
            found[k] = Interval(None, None, method=label, note="undefined on the test split")
            continue
        with warnings.catch_warnings():
            # scipy warns when the resampled values are all equal (e.g. a perfect score) or
            # one is undefined (a resample without some class); we report that as no interval.
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                (rows,),
                lambda idx, axis=-1, f=function: f(idx),
                vectorized=True,
                n_resamples=resamples,
                batch=batch,
                confidence_level=CONFIDENCE,
                # percentile: its interval is unused, only the standard error (no jackknife)
                method="BCa" if small else "percentile",
                rng=np.random.default_rng(seed),
            )
        if small:
            low, high = (
                float(result.confidence_interval.low),
                float(result.confidence_interval.high),
            )
        else:
            half = float(stats.norm.ppf(0.5 + CONFIDENCE / 2) * result.standard_error)
            floor, ceiling = RANGES.get(k, (-np.inf, np.inf))
            low = max(floor, float(values[0]) - half)
            high = min(ceiling, float(values[0]) + half)
        if np.isfinite(low) and np.isfinite(high):
            found[k] = Interval(low, high, method=label)
        else:
            spread = result.bootstrap_distribution
            note = (
                "every resample scores the same, so the bootstrap cannot size the uncertainty"
                if np.nanstd(spread) == 0
                else "some resamples lack a class, where the metric is undefined"
            )
            found[k] = Interval(None, None, method=label, note=note)
    return found
