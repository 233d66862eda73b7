"""K-fold cross-validation on the training and validation rows, the test split held out
(``split.cv=K``, TW-D05).

One validation split of a small data set is a noisy estimate: a few rows more or less in it
move the score by points. With ``split.cv=K`` the rows of the training and validation splits
are dealt into K folds (stratified by class for classification; whole groups per fold when the
split is grouped, TW-D04), the network is trained K times through the same
:func:`~trainwell.pipeline.train_and_validate` as the run's own, each time validated on one
fold, and the mean and standard deviation of each validation metric over the folds are
recorded (``metrics.json`` ``cv``; the report). The test split is never in a fold (TW-D07),
and the shipped model is still the one trained on the run's own training split: CV estimates,
it does not change what ships. ``trainwell tune`` scores a trial by its CV mean when it is on.

The folds reuse the encoding the run learned on its training split (scaling, vocabularies), so
a fold validated on rows the encoder saw is very slightly optimistic; the network itself never
sees its validation fold. A time split is not cross-validated (folds would train on the
future).

Splitters are scikit-learn's (``StratifiedKFold``, ``StratifiedGroupKFold``, ``GroupKFold``,
``KFold``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from trainwell.data import Dataset
from trainwell.errors import ConfigError, DataError
from trainwell.report.intervals import RANGES as METRIC_RANGES
from trainwell.split import Splits

if TYPE_CHECKING:
    from trainwell.pipeline import Prepared


def cv_folds(
    dataset: Dataset, splits: Splits, k: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, validation rows) of each of ``k`` folds over the run's training and
    validation rows; the test rows are in none.

    Raises:
        ConfigError: a time split (folds would train on the future).
        DataError: fewer groups, or fewer examples of a class, than folds.
    """
    from sklearn.model_selection import (
        GroupKFold,
        KFold,
        StratifiedGroupKFold,
        StratifiedKFold,
    )

    if dataset.time is not None:
        raise ConfigError(
            f"split.cv={k} does not apply to a split by time (--time {dataset.time!r}): folds "
            "would train on the future; remove split.cv"
        )
    rows = np.sort(np.concatenate([splits.train, splits.validation]))
    y = dataset.y[rows]
    groups = None
    splitter: Any
    if dataset.group is not None:
        groups = dataset.frame[dataset.group].astype(str).fillna("<missing>").to_numpy()[rows]
        n_groups = len(np.unique(groups))
        if n_groups < k:
            raise DataError(
                f"split.cv={k}: the training and validation splits hold {n_groups} groups of "
                f"{dataset.group!r}; a grouped {k}-fold needs at least {k} (lower split.cv)"
            )
        splitter = (
            StratifiedGroupKFold(k, shuffle=True, random_state=seed)
            if dataset.is_classification
            else GroupKFold(k)
        )
    elif dataset.is_classification:
        present = np.bincount(y)
        smallest = int(present[present > 0].min()) if present.any() else 0
        if smallest < k:
            raise DataError(
                f"split.cv={k}: a class has only {smallest} examples in the training and "
                f"validation splits; stratified {k}-fold needs {k} (lower split.cv)"
            )
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
    else:
        splitter = KFold(k, shuffle=True, random_state=seed)
    return [(rows[a], rows[b]) for a, b in splitter.split(rows, y, groups)]


def folds_of(prepared: Prepared) -> Iterator[Prepared]:
    """``prepared`` once per fold, its training and validation splits those of the fold (the
    test split unchanged, still sealed)."""
    k = prepared.cfg.split.cv
    folds = cv_folds(prepared.dataset, prepared.splits, k, prepared.cfg.seed)
    for i, (train, validation) in enumerate(folds, 1):
        method = f"{prepared.splits.method}, cross-validation fold {i}/{k}"
        splits = Splits(np.sort(train), np.sort(validation), prepared.splits.test, method)
        yield replace(prepared, splits=splits)


def best_epoch(history: list[dict[str, float]]) -> dict[str, float]:
    """The validation metrics of the epoch with the lowest validation loss (the weights early
    stopping keeps)."""
    scored = [h for h in history if math.isfinite(h.get("val_loss", math.nan))]
    if not scored:
        return {}
    best = min(scored, key=lambda h: h["val_loss"])
    return {k: float(v) for k, v in best.items() if k.startswith("val_")}


# Where each fold metric can lie (``val_`` stripped), so that its interval does not leave it:
# the report's ranges, plus the training objective (cross-entropy, squared error: >= 0) and
# accuracy, which the report bounds by a Wilson interval instead.
RANGES: dict[str, tuple[float, float]] = {
    **METRIC_RANGES,
    "loss": (0.0, math.inf),
    "accuracy": (0.0, 1.0),
}


def metric_range(key: str) -> tuple[float, float]:
    """Where the fold metric ``key`` (e.g. ``val_accuracy``) can lie; unbounded if unknown."""
    return RANGES.get(key.removeprefix("val_"), (-math.inf, math.inf))


def summarize(folds: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Mean and standard deviation (ddof=1, the spread between folds) of each metric, and a
    95% Student-t interval of the mean, ``mean ± t(0.975, K-1) · std / sqrt(K)``
    (``scipy.stats.t.interval``), clipped to the metric's range (:func:`metric_range`).

    The interval is approximate and, if anything, too narrow: the K folds share training rows,
    so their scores are not independent, and no unbiased estimator of the variance of K-fold
    CV exists (Bengio & Grandvalet 2004). It says how far the mean could move, not more.

    The t-interval is symmetric, so near a bound (fold accuracies of 0.97 to 1.0) it would
    reach past it (accuracy 1.009, a negative loss). Values past a bound are impossible, so
    the bound replaces them and ``clipped`` says so; the coverage is unchanged (the clipped part
    held no possible value). A transformed interval (logit) was not used: a fold at exactly 1.0
    or 0 loss has no logit, and five folds are too few for a bootstrap.

    Returns:
        ``{metric: {"mean", "std", "interval" ([low, high] or None for one fold), "clipped"
        (True when a bound of the metric's range replaced an end), "range", "folds"}}``.
    """
    from scipy import stats

    keys = sorted({k for f in folds for k in f})
    out: dict[str, dict[str, Any]] = {}
    for key in keys:
        values = [f[key] for f in folds if key in f]
        mean = float(np.mean(values))
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        floor, ceiling = metric_range(key)
        interval: list[float] | None = None
        clipped = False
        if len(values) > 1:
            if std > 0:
                low, high = stats.t.interval(
                    0.95, len(values) - 1, loc=mean, scale=std / math.sqrt(len(values))
                )
            else:  # every fold scored the same (scipy would return NaN for scale 0)
                low = high = mean
            interval = [max(floor, float(low)), min(ceiling, float(high))]
            clipped = interval != [float(low), float(high)]
        out[key] = {
            "mean": mean,
            "std": std,
            "interval": interval,
            "clipped": clipped,
            "range": [_json_bound(floor), _json_bound(ceiling)],
            "folds": values,
        }
    return out


def _json_bound(value: float) -> float | None:
    """A range bound for metrics.json: None for an open end (JSON has no infinity)."""
    return value if math.isfinite(value) else None


def cross_validate(prepared: Prepared, lr: float | None = None) -> dict[str, Any]:
    """Train once per fold and return what ``metrics.json`` keeps under ``cv``: each fold's
    rows and best-epoch validation metrics, and their mean and standard deviation.

    ``lr``: the learning rate the run's own range test chose (TW-T02); the folds start from it
    instead of sweeping again, and skip the overfit-one-batch check the run already made
    (each would cost more than a small fold's training).
    """
    from trainwell.config import build_config
    from trainwell.pipeline import train_and_validate

    if lr is not None:
        cfg = build_config(
            base=prepared.cfg.model_dump(mode="json"),
            overrides=[f"train.lr={lr}", "doctor.overfit_batch=false"],
        )
        prepared = replace(prepared, cfg=cfg)
    folds = []
    for fold in folds_of(prepared):
        result = train_and_validate(fold)
        folds.append(
            {
                "train_rows": len(fold.splits.train),
                "validation_rows": len(fold.splits.validation),
                "epochs": len(result.state.history),
                **best_epoch(result.state.history),
            }
        )
    metrics = [{k: v for k, v in f.items() if k.startswith("val_")} for f in folds]
    return {
        "k": prepared.cfg.split.cv,
        "method": prepared.splits.method,
        "lr": prepared.cfg.train.lr,
        "folds": folds,
        "summary": summarize(metrics),
    }
