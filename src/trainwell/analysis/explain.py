"""Explanations of the shipped model (TW-E05), on the validation split only (TW-D07).

* Global: scikit-learn's permutation importance. Each raw column of the validation rows is
  shuffled ``report.importance_repeats`` times; its importance is how much the selection
  metric (log loss, or RMSE for regression) gets worse. Shuffling raw columns (not encoded
  ones) keeps a categorical or datetime column one feature, as the user knows it.
* Local: Shapley values from captum's ``ShapleyValueSampling`` for a few validation rows (the
  worst mistake, the most confident correct prediction, the least certain one). Features are
  switched between the row's value and a reference row (training medians and most frequent
  categories) through a 0/1 mask, so the same code explains the network, the linear model and
  LightGBM. The attributions of a row add up exactly to its output minus the reference's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.inspection import permutation_importance

from trainwell.config import ReportConfig, Task
from trainwell.lasting import preload
from trainwell.preprocess import FeatureEncoder

Outputs = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Candidate(Protocol):
    """A model seen through a table's encoded arrays (numeric values, category codes)."""

    name: str

    def outputs(self, num: np.ndarray, cat: np.ndarray) -> np.ndarray: ...


class _Prefit(BaseEstimator):
    """scikit-learn's estimator interface around a model the pipeline already fitted.

    ``permutation_importance`` accepts only objects with ``fit``; here it does nothing.
    """

    def __init__(self, outputs: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self.outputs = outputs

    def fit(self, X: Any, y: Any = None) -> _Prefit:
        return self


def _loss(task: Task, y: np.ndarray, out: np.ndarray) -> float:
    """The selection metric (lower is better): log loss or RMSE."""
    if task == "regression":
        return float(np.sqrt(np.mean((out - y) ** 2)))
    clipped = np.clip(out, 1e-15, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    # sklearn.metrics.log_loss computed as it does (probabilities clipped to the dtype's eps),
    # without its input validation: that cost ~5 ms a call, and permutation importance
    # scores every shuffle of every column (~150 calls on a 30-column table). A test holds
    # the two to the same value.
    eps = np.finfo(clipped.dtype).eps
    picked = np.clip(clipped[np.arange(len(y)), np.asarray(y, dtype=np.int64)], eps, 1 - eps)
    return float(-np.mean(np.log(picked)))


def permutation_importances(
    task: Task,
    outputs: Outputs,
    encoder: FeatureEncoder,
    frame: pd.DataFrame,
    y: np.ndarray,
    cfg: ReportConfig,
    seed: int,
) -> dict[str, Any]:
    """Mean and std of the metric's increase when each raw column of ``frame`` is shuffled.

    The rows are encoded once. scikit-learn shuffles a matrix of row positions, one column
    per raw feature, and the model gets each feature's encoded columns from the shuffled
    positions: the same as shuffling the raw column (the encoder works column by column),
    without encoding the table again for every shuffle.
    """
    num, cat = encoder.transform(frame.reset_index(drop=True))
    mask, names = _feature_mask(encoder)
    owner = mask[0].numpy()
    n_num = num.shape[1]

    def gather(positions: np.ndarray) -> np.ndarray:
        rows = positions[:, owner]  # (n, encoded columns): which row each value comes from
        cols = np.arange(len(owner))
        mixed_num = num[rows[:, :n_num], cols[:n_num]]
        mixed_cat = cat[rows[:, n_num:], cols[n_num:] - n_num]
        return outputs(mixed_num, mixed_cat)

    def score(estimator: _Prefit, X: np.ndarray, y_true: np.ndarray) -> float:
        assert estimator.outputs is not None
        return -_loss(task, y_true, estimator.outputs(np.asarray(X)))

    positions = np.repeat(np.arange(len(frame))[:, None], len(names), axis=1)
    max_samples = min(1.0, cfg.importance_max_rows / max(1, len(frame)))
    result = permutation_importance(
        _Prefit(gather),
        positions,
        y,
        scoring=score,
        n_repeats=cfg.importance_repeats,
        random_state=seed,
        max_samples=max_samples,
    )
    order = np.argsort(-result.importances_mean)
    return {
        "metric": "rmse" if task == "regression" else "log_loss",
        "baseline": _loss(task, y, outputs(num, cat)),
        "repeats": cfg.importance_repeats,
        "rows": round(max_samples * len(frame)),
        "features": [
            {
                "name": names[i],
                "mean": float(result.importances_mean[i]),
                "std": float(result.importances_std[i]),
            }
            for i in order
        ],
    }


def pick_examples(task: Task, y: np.ndarray, out: np.ndarray, n: int) -> list[tuple[int, str]]:
    """Positions of up to ``n`` telling validation rows, each with why it was picked."""
    if task == "regression":
        error = np.abs(out - y)
        ranked = [
            (int(np.argmax(error)), "largest error"),
            (int(np.argmin(error)), "smallest error"),
            (int(np.argsort(error)[len(error) // 2]), "typical (median) error"),
        ]
    else:
        pred = out.argmax(axis=1)
        confidence = out.max(axis=1)
        true_p = out[np.arange(len(y)), y]
        wrong = np.flatnonzero(pred != y)
        ranked = []
        if len(wrong):
            ranked.append((int(wrong[np.argmin(true_p[wrong])]), "the most confident mistake"))
        right = np.flatnonzero(pred == y)
        if len(right):
            ranked.append((int(right[np.argmax(confidence[right])]), "most confident correct"))
        ranked.append((int(np.argmin(confidence)), "least certain prediction"))
    picked: list[tuple[int, str]] = []
    for position, why in ranked:
        if position not in {p for p, _ in picked}:
            picked.append((position, why))
    return picked[:n]


def reference_row(
    encoder: FeatureEncoder, num: np.ndarray, cat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training medians (numbers) and most frequent codes (categories): the reference input."""
    with np.errstate(all="ignore"):
        median = np.nanmedian(np.where(np.isnan(num).all(axis=0), 0.0, num), axis=0)
    mode = np.array(
        [np.bincount(cat[:, j]).argmax() if len(cat) else 0 for j in range(cat.shape[1])],
        dtype=np.int64,
    )
    return median.astype(np.float32)[None, :], mode[None, :]


def _feature_mask(encoder: FeatureEncoder) -> tuple[torch.Tensor, list[str]]:
    """Which raw column each encoded column belongs to (numeric block, then categorical)."""
    names = [c.name for c in encoder.columns]
    index = {name: i for i, name in enumerate(names)}
    # Datetime columns expand into "<name>.<part>" numbers; they stay one feature.
    numeric = [
        index[n] if n in index else index[n.rsplit(".", 1)[0]] for n in encoder.numeric_names
    ]
    categorical = [index[n] for n in encoder.categorical_names]
    return torch.tensor([numeric + categorical], dtype=torch.long), names


def attributions(
    task: Task,
    candidate: Candidate,
    encoder: FeatureEncoder,
    frame: pd.DataFrame,
    y: np.ndarray,
    train_arrays: tuple[np.ndarray, np.ndarray],
    n: int,
    seed: int,
    classes: list[str] | None,
) -> dict[str, Any]:
    """Shapley-value attributions (captum) of up to ``n`` validation rows of ``frame``."""
    preload("captum.attr")
    from captum.attr import ShapleyValueSampling

    num, cat = encoder.transform(frame.reset_index(drop=True))
    out = candidate.outputs(num, cat)
    base_num, base_cat = reference_row(encoder, *train_arrays)
    mask, names = _feature_mask(encoder)
    n_num = num.shape[1]
    examples = []
    for position, why in pick_examples(task, y, out, n):
        x_num, x_cat = num[position : position + 1], cat[position : position + 1]
        target = None if task == "regression" else int(out[position].argmax())

        def forward(
            z: torch.Tensor,
            x_num: np.ndarray = x_num,
            x_cat: np.ndarray = x_cat,
            target: int | None = target,
        ) -> torch.Tensor:
            keep = z.detach().cpu().numpy() > 0.5
            mixed_num = np.where(keep[:, :n_num], x_num, base_num).astype(np.float32)
            mixed_cat = np.where(keep[:, n_num:], x_cat, base_cat).astype(np.int64)
            result = candidate.outputs(mixed_num, mixed_cat)
            return torch.from_numpy(np.asarray(result if target is None else result[:, target]))

        torch.manual_seed(seed + position)  # captum draws its permutations from torch
        ones = torch.ones(mask.shape, dtype=torch.float64)
        values = ShapleyValueSampling(forward).attribute(
            ones,
            baselines=torch.zeros_like(ones),
            feature_mask=mask,
            n_samples=25,
            perturbations_per_eval=64,
        )
        per_feature = {
            names[int(f)]: float(values[0, (mask[0] == f).nonzero()[0, 0]])
            for f in torch.unique(mask[0])
        }
        reference = float(forward(torch.zeros_like(ones))[0])
        output = float(forward(ones)[0])
        row = frame.iloc[position]
        examples.append(
            {
                "row": int(frame.index[position]),
                "why": why,
                "true": (classes[int(y[position])] if classes else float(y[position])),
                "predicted": (classes[target] if classes and target is not None else output),
                "explains": "regression output"
                if target is None
                else f"probability of {classes[target] if classes else target}",
                "output": output,
                "reference_output": reference,
                "values": {name: _plain(row[name]) for name in names},
                "attributions": dict(sorted(per_feature.items(), key=lambda kv: -abs(kv[1]))),
            }
        )
    return {
        "method": "captum ShapleyValueSampling (25 permutations), reference = training medians "
        "and most frequent categories",
        "examples": examples,
    }


def _plain(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    return value if isinstance(value, int | float | bool) else str(value)
