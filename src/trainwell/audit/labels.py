"""The labels of a classification task: class imbalance (TW-D11) and likely label errors (TW-D02).

Label errors are found by cleanlab's confident learning on out-of-fold predicted
probabilities of a small LightGBM model (the tabular baseline trainwell already depends on):
a row is suspect when a model that never saw it confidently predicts another class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainwell.audit._common import as_python, capped
from trainwell.findings import Finding

# A small, fast model is enough: cleanlab needs calibrated-enough probabilities, not the
# best possible accuracy. 30 rounds at learning rate 0.2 take well under a second on 10k rows.
LABEL_MODEL_ROUNDS = 30
LABEL_MODEL_LEARNING_RATE = 0.2
FOLDS = 5
# A flagged label is "confidently contradicted" when the out-of-fold model gives it less than
# this probability. Wrong labels (a flip, a typo) sit where the task is otherwise clear, so
# the model contradicts most of them confidently; on a task that is merely noisy (classes that
# overlap) cleanlab flags rows near the boundary, where the model is unsure. Measured with the
# 30-round model on 600-row tables: 10% planted flips on separable data gave 53-78% of flags
# under 0.1 (3 seeds, binary and 3 classes); overlapping classes flagged 13-38% of rows with
# only 14-34% of the flags under 0.1. Flips on an already noisy task fall in between and are
# reported as info: they cannot be told from the task's own noise.
CONTRADICTED_PROBABILITY = 0.1
# Share of the flagged rows that must be confidently contradicted for a warning.
CONTRADICTED_SHARE = 0.5


def check_class_imbalance(
    y: np.ndarray,
    classes: Sequence[Any],
    class_weights: str = "auto",
    imbalance_ratio: float = 3.0,
) -> Finding | None:
    """Classes whose sizes differ by ``imbalance_ratio`` or more, and how training handles it.

    With ``train.class_weights`` "auto" (or "on") training applies class weights (TW-D11), so
    this is information; with "off" it is a warning. Remedy: keep
    class weights on and judge the model by per-class recall and F1, not accuracy (TW-E01).

    Returns:
        A ``class-imbalance`` finding, or ``None`` when classes are within the ratio.
    """
    counts = np.bincount(y, minlength=len(classes))
    largest, smallest = int(np.argmax(counts)), int(np.argmin(counts))
    ratio = counts[largest] / max(counts[smallest], 1)
    if ratio < imbalance_ratio:
        return None
    handled = class_weights != "off"
    return Finding(
        id="class-imbalance",
        practice="TW-D11",
        severity="info" if handled else "warning",
        stage="audit",
        message=f"The largest class {as_python(classes[largest])!r} has {ratio:.1f}x the rows "
        f"of the smallest {as_python(classes[smallest])!r} ({int(counts[smallest])} rows); "
        + ("training applies class weights." if handled else "class weights are off."),
        evidence={
            "counts": {str(as_python(c)): int(n) for c, n in zip(classes, counts, strict=True)},
            "ratio": round(float(ratio), 3),
            "class_weights": class_weights,
            "imbalance_ratio": imbalance_ratio,
        },
        fix="Class weights are applied (train.class_weights=auto); judge the model by per-class "
        "recall and F1 rather than accuracy (TW-E01)."
        if handled
        else "Turn class weights on (train.class_weights=auto) or resample the training split.",
    )


def out_of_fold_probabilities(features: pd.DataFrame, y: np.ndarray, seed: int) -> np.ndarray:
    """Class probabilities for every row from a LightGBM model that did not train on that row.

    Args:
        features: floats and pandas categoricals (see ``model_matrix``).
        y: class indices 0..K-1, every class with at least two rows.
        seed: seeds the folds and the model.
    """
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n_folds = int(min(FOLDS, np.bincount(y).min()))
    model = LGBMClassifier(
        n_estimators=LABEL_MODEL_ROUNDS,
        learning_rate=LABEL_MODEL_LEARNING_RATE,
        # One thread: the model is small, and LightGBM's OpenMP threads spin-wait, so on a
        # busy 2-core machine 2 threads measured 10x slower (30 s against 2.5 s on 10k rows).
        num_threads=1,
        deterministic=True,
        random_state=seed,
        verbose=-1,
    )
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    # LightGBM rejects JSON punctuation in feature names ("Unnamed: 0"); positions do.
    renamed = features.set_axis([f"f{i}" for i in range(features.shape[1])], axis=1)
    probabilities: np.ndarray = cross_val_predict(
        model, renamed, y, cv=folds, method="predict_proba"
    )
    return probabilities


def check_label_errors(
    features: pd.DataFrame,
    y: np.ndarray,
    classes: Sequence[Any],
    *,
    max_rows: int = 10_000,
    warn_fraction: float = 0.03,
    limit: int = 20,
    seed: int = 0,
) -> Finding | None:
    """Rows whose label is likely wrong, ranked most suspect first (cleanlab, TW-D02).

    Above ``max_rows`` a random sample is checked and the finding says so. The finding is a
    warning only when the flags look like wrong labels rather than the task's own noise: more
    than ``warn_fraction`` of the rows are flagged AND at least half of the flagged rows are
    contradicted confidently (the model gives their label under 10%). When the classes merely
    overlap, cleanlab flags about as many rows as the model gets wrong out of fold, near the
    boundary; that is reported as info with the model's error rate. Remedy: look at the
    listed rows and correct wrong labels at the source.

    Args:
        features: one row per example, floats and pandas categoricals.
        y: class indices into ``classes``.
        classes: the class labels.
        max_rows: rows checked at most.
        warn_fraction: flagged share above which the finding is a warning.
        limit: rows listed in the evidence.
        seed: sampling, folds and model seed.

    Returns:
        A ``label-errors`` finding, or ``None`` when no row is flagged or too few rows per
        class allow out-of-fold predictions; ``label-errors-skipped`` (info, with the install
        command) when cleanlab is missing.
    """
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:  # cleanlab is the optional "audit" extra
        return Finding(
            id="label-errors-skipped",
            practice="TW-D02",
            severity="info",
            stage="audit",
            message="Label errors were not searched for: cleanlab is not installed.",
            fix='pip install "trainwell[audit]"',
        )

    rows = np.arange(len(y))
    sampled = len(rows) > max_rows
    if sampled:
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))
    # Classes too rare to appear in every training fold are left out of the search.
    counts = np.bincount(y[rows], minlength=len(classes))
    usable = counts >= 2
    rows = rows[usable[y[rows]]]
    if usable.sum() < 2:
        return None
    # Re-index the usable classes to 0..K'-1, the shape cleanlab expects.
    remap = np.cumsum(usable) - 1
    labels = remap[y[rows]]
    probabilities = out_of_fold_probabilities(features.iloc[rows], labels, seed)
    flagged = find_label_issues(
        labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1
    )
    if len(flagged) == 0:
        return None
    fraction = len(flagged) / len(rows)
    kept = np.flatnonzero(usable)
    listed = flagged[:limit]
    given_probability = probabilities[np.arange(len(labels)), labels]
    contradicted = float(np.mean(given_probability[flagged] < CONTRADICTED_PROBABILITY))
    error_rate = float(np.mean(probabilities.argmax(axis=1) != labels))
    wrong_labels = fraction > warn_fraction and contradicted >= CONTRADICTED_SHARE
    sample_note = " (a random sample was checked)" if sampled else ""
    if wrong_labels:
        message = (
            f"cleanlab flags {len(flagged)} of {len(rows)} checked rows ({fraction:.1%}) as "
            f"likely label errors{sample_note}: for {contradicted:.0%} of them a model that "
            f"never saw them gives their label under {CONTRADICTED_PROBABILITY:.0%}, although "
            f"it errs on only {error_rate:.1%} of rows out of fold."
        )
    else:
        message = (
            f"cleanlab flags {len(flagged)} of {len(rows)} checked rows ({fraction:.1%}) as "
            f"possible label errors{sample_note}; the model it used errs on {error_rate:.1%} "
            f"of rows out of fold and contradicts only {contradicted:.0%} of the flagged "
            "labels confidently, so the flags are mostly the task's own noise (classes that "
            "overlap), not wrong labels."
            if fraction > warn_fraction
            else f"cleanlab flags {len(flagged)} of {len(rows)} checked rows "
            f"({fraction:.1%}) as likely label errors{sample_note}."
        )
    return Finding(
        id="label-errors",
        practice="TW-D02",
        severity="warning" if wrong_labels else "info",
        stage="audit",
        message=message,
        evidence={
            "confidently_contradicted": round(contradicted, 4),
            "out_of_fold_error_rate": round(error_rate, 4),
            "rows": capped(rows[listed], limit),
            "given": [str(as_python(classes[kept[labels[i]]])) for i in listed],
            "suggested": [
                str(as_python(classes[kept[int(probabilities[i].argmax())]])) for i in listed
            ],
            "flagged": len(flagged),
            "rows_checked": len(rows),
            "fraction": round(fraction, 6),
            "sampled": sampled,
            "method": f"cleanlab find_label_issues on {FOLDS}-fold out-of-fold probabilities of "
            f"LightGBM ({LABEL_MODEL_ROUNDS} rounds)",
        },
        fix="Look at the listed rows (most suspect first) and correct wrong labels at the "
        "source; if most labels are right, the classes overlap and the task is noisy.",
    )
