"""Choosing the shipped model from validation scores, honest about small validation sets.

The candidates (the baselines and the network) are compared on one number per task, the
selection metric of :mod:`trainwell.evaluate` (log loss for classification, RMSE for
regression), on the validation split only (TW-X12, H03). With few validation rows that number
is noisy: iris' 15 validation rows cannot tell a network from a linear model. So the best
candidate is compared with each simpler one by a paired interval on the per-row loss
difference; when the interval contains zero, validation cannot choose, and the simplest
candidate it cannot tell from the best is shipped (TW-A02: start simple; A08: baselines),
with a finding that says so. For classification the errors (0/1 loss) must differ too: on
15 rows two models usually make the same one or two mistakes, and the more confident one
then wins every row on log loss although nothing shows it will make fewer errors; a model
that does not make measurably fewer errors has not shown that the simpler one underfits.

The interval is the paired t-interval of the mean per-row difference (the same rows score
both models, so pairing removes the rows' shared difficulty; a percentile bootstrap gives
nearly the same bounds and needs a random generator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from trainwell.config import Task
from trainwell.findings import Finding

# Simplest first. The dummy is never preferred for being simple: shipping the prior because
# validation is small would be worse than shipping a model that learned something.
SIMPLICITY_ORDER = ("linear", "lightgbm", "network")
CONFIDENCE = 0.95


@dataclass
class Selection:
    """What :func:`choose_model` decided: the best score, the model to ship and why."""

    best: str
    chosen: str
    scores: dict[str, float]
    findings: list[Finding] = field(default_factory=list)


def per_row_loss(task: Task, y: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Loss of each validation row: log loss of the true class, or squared error.

    Args:
        task: the task.
        y: (n,) class indices or targets.
        outputs: (n, K) class probabilities, or (n,) predictions for regression.
    """
    if task == "regression":
        return np.asarray((np.asarray(outputs, dtype=float).ravel() - y) ** 2, dtype=float)
    proba = np.clip(np.asarray(outputs, dtype=float), 1e-15, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return np.asarray(-np.log(proba[np.arange(len(y)), y]), dtype=float)


def _score(task: Task, loss: np.ndarray, weights: np.ndarray) -> float:
    mean = float(np.average(loss, weights=weights))
    return float(np.sqrt(mean)) if task == "regression" else mean


def _difference_interval(
    loss_a: np.ndarray, loss_b: np.ndarray, weights: np.ndarray
) -> tuple[float, float]:
    """Paired t-interval of the weighted mean of ``loss_a - loss_b`` (CONFIDENCE level)."""
    diff = (loss_a - loss_b) * weights / weights.mean()
    n = len(diff)
    mean = float(diff.mean())
    if n < 2:
        return -np.inf, np.inf
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(diff.std(ddof=1)) / np.sqrt(n)
    return mean - half, mean + half


def choose_model(
    task: Task,
    y: np.ndarray,
    outputs: Mapping[str, np.ndarray],
    weights: np.ndarray | None = None,
    order: Sequence[str] = SIMPLICITY_ORDER,
    cv: int = 0,
) -> Selection:
    """The best candidate on validation, and the one to ship when validation cannot choose.

    Args:
        task: the task.
        y: (n,) validation targets (class indices for classification).
        outputs: each candidate's validation outputs: (n, K) probabilities or (n,) predictions.
        weights: (n,) per-row weights (class weights of each row's class), or None.
        order: candidate names from simplest to most complex; names not listed are never
            preferred for being simple.
        cv: the run's ``split.cv`` (0: off). Cross-validation estimates the network's score but
            does not choose what ships, so with it on the finding's advice omits it.

    Returns:
        A :class:`Selection`. ``chosen`` differs from ``best`` only when the paired 95%
        interval of the per-row loss difference between a simpler candidate and the best
        contains zero; a ``validation-too-small`` finding then gives the numbers.
    """
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    losses = {name: per_row_loss(task, y, out) for name, out in outputs.items()}
    errors = (
        {}
        if task == "regression"
        else {n: (np.asarray(o).argmax(axis=1) != y).astype(float) for n, o in outputs.items()}
    )
    scores = {name: _score(task, loss, w) for name, loss in losses.items()}
    best = min(scores, key=lambda name: scores[name])
    if best not in order:
        return Selection(best, best, scores)
    simpler = [name for name in order[: order.index(best)] if name in losses]
    for name in simpler:
        low, high = _difference_interval(losses[name], losses[best], w)
        error_low, error_high = (
            _difference_interval(errors[name], errors[best], w) if errors else (1.0, 1.0)
        )
        if low <= 0.0 or error_low <= 0.0:
            metric = "RMSE" if task == "regression" else "log loss"
            unit = "squared error" if task == "regression" else "log loss"
            finding = Finding(
                id="validation-too-small",
                practice="TW-A02",
                severity="warning",
                stage="evaluate",
                message=f"validation ({len(y)} rows) is too small to choose between {best} "
                f"({metric} {scores[best]:.4g}) and the simpler {name} ({scores[name]:.4g}): "
                + (
                    f"the 95% interval of their per-row {unit} difference, [{low:.3g}, "
                    f"{high:.3g}], contains 0."
                    if low <= 0.0
                    else f"{name} errs on {errors[name].mean():.1%} of the rows and {best} on "
                    f"{errors[best].mean():.1%}; the 95% interval of the difference, "
                    f"[{error_low:.3g}, {error_high:.3g}], contains 0."
                )
                + f" The simpler {name} is shipped (TW-A02, A08).",
                evidence={
                    "validation_rows": len(y),
                    "best": best,
                    "chosen": name,
                    "scores": {k: round(v, 6) for k, v in scores.items()},
                    "difference_interval": [round(low, 6), round(high, 6)],
                    **(
                        {"error_difference_interval": [round(error_low, 6), round(error_high, 6)]}
                        if errors
                        else {}
                    ),
                    "method": "paired t-interval of the mean per-row loss difference",
                },
                fix=_too_small_fix(best, cv),
            )
            return Selection(best, name, scores, [finding])
    return Selection(best, best, scores)


def _too_small_fix(best: str, cv: int) -> str:
    """The ``validation-too-small`` advice. With ``split.cv`` on, the folds only estimate the
    network's score (trainwell.cv): the shipped model is still chosen on this one validation
    split, so the advice is a larger split, not more folds."""
    if cv:
        return (
            f"Cross-validation is on (split.cv={cv}) but only estimates the network's score; "
            "the shipped model is chosen on this one validation split, so more folds will not "
            "change it: use more validation rows (split.validation=0.2) or collect more data; "
            f"to ship {best} anyway: baselines.ship={best}."
        )
    return (
        "Use more validation rows (split.validation=0.2) or cross-validation "
        f"(TW-D05); to ship {best} anyway: baselines.ship={best}."
    )
