"""Tensor readings for the checks on labels, shapes, data overlap and held graphs.

Like :mod:`.stats`: read-only, under ``torch.no_grad()``, plain numbers out; no global random
numbers are drawn (row fingerprints use a private generator).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from trainwell.doctor.checks.shapes import AxesSummary

_PROJECTION: dict[tuple[int, str], torch.Tensor] = {}


@torch.no_grad()
def summarize_axes(out: torch.Tensor, target: torch.Tensor) -> AxesSummary:
    """Shapes of what a loss received, and over which axis its output sums to one."""
    o = out.detach().float()
    rows = cols = log_rows = log_cols = False
    if o.dim() == 2 and o.shape[0] > 1 and o.shape[1] > 1:
        one = torch.ones((), device=o.device)
        rows = bool(torch.allclose(o.sum(dim=1), one, atol=1e-3))
        cols = bool(torch.allclose(o.sum(dim=0), one, atol=1e-3))
        if float(o.max()) <= 0:
            e = o.exp()
            log_rows = bool(torch.allclose(e.sum(dim=1), one, atol=1e-3))
            log_cols = bool(torch.allclose(e.sum(dim=0), one, atol=1e-3))
    return AxesSummary(
        out_shape=tuple(o.shape),
        target_shape=tuple(target.shape),
        target_is_float=target.is_floating_point(),
        rows_sum_to_one=rows or log_rows,
        cols_sum_to_one=cols or log_cols,
        out_min=float(o.min()) if o.numel() else 0.0,
        out_max=float(o.max()) if o.numel() else 0.0,
    )


@torch.no_grad()
def row_fingerprints(x: torch.Tensor) -> list[float]:
    """One number per row (a fixed random projection): equal rows give equal numbers.

    Cheaper than hashing bytes (one matrix-vector product); a collision between different
    rows of real data is vanishingly unlikely.
    """
    flat = x.detach().flatten(1)
    key = (flat.shape[1], str(flat.device))
    w = _PROJECTION.get(key)
    if w is None:
        g = torch.Generator().manual_seed(12345)
        w = _PROJECTION[key] = torch.randn(flat.shape[1], generator=g, dtype=torch.float64).to(
            flat.device
        )
    # Rounded in one tensor op (not per row in Python): equal rows project to equal numbers up
    # to the last bits a batch's shape can change in the product.
    return torch.round(flat.double() @ w, decimals=6).tolist()


def chance_overlap(counts: Mapping[float, int], n: int) -> float:
    """The share of new rows from the training rows' own distribution expected to equal a
    training row: Good-Turing's estimate, 1 - (rows seen exactly once) / (rows seen).

    Continuous features never repeat (0.0); one scalar per time step of a sine sampled on an
    integer grid repeats almost always. Source: I. J. Good, "The population frequencies of
    species and the estimation of population parameters", Biometrika 40 (1953): the
    probability that the next draw is a value not seen yet is estimated by n1 / n.

    Example:
        >>> chance_overlap({0.5: 3, 0.25: 1}, 4)
        0.75
    """
    if n <= 0:
        return 0.0
    once = sum(1 for c in counts.values() if c == 1)
    return max(0.0, 1.0 - once / n)


@torch.no_grad()
def target_like_features(x: torch.Tensor, target: torch.Tensor) -> list[int]:
    """Input columns that determine the target exactly.

    Classification (integer target): the column's values and the labels map one-to-one.
    Regression (float target): absolute correlation of at least 0.999.
    """
    if x.dim() != 2 or x.shape[0] < 16 or target.shape[0] != x.shape[0]:
        return []
    xs = x.detach().double().cpu().numpy()
    ys = target.detach().reshape(x.shape[0], -1)
    if ys.shape[1] != 1:
        return []
    y = ys[:, 0].double().cpu().numpy()
    # Every column at once (one sort), not a np.unique / np.corrcoef per column: this runs
    # inside the first training step, and a 256-feature batch took ~0.1-0.3 s column by column.
    if not target.is_floating_point():
        n_classes = len(np.unique(y))
        if n_classes < 2:
            return []
        labels = np.broadcast_to(y[:, None], xs.shape)
        order = np.lexsort((labels, xs), axis=0)  # by column value, then label
        col = np.take_along_axis(xs, order, axis=0)
        lab = np.take_along_axis(labels, order, axis=0)
        new_value = np.diff(col, axis=0) != 0
        values = 1 + new_value.sum(axis=0)
        pairs = 1 + (new_value | (np.diff(lab, axis=0) != 0)).sum(axis=0)
        # a column holding NaN maps no row to a class
        keep = (pairs == n_classes) & (values == n_classes) & ~np.isnan(xs).any(axis=0)
        return [int(j) for j in np.flatnonzero(keep)]
    if y.std() == 0:
        return []
    xc = xs - xs.mean(axis=0)
    yc = y - y.mean()
    scale = np.sqrt((xc * xc).sum(axis=0) * (yc @ yc))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(yc @ xc) / scale
    keep = (xs.std(axis=0) > 0) & (r >= 0.999)
    return [int(j) for j in np.flatnonzero(keep)]


def held_loss_graphs() -> tuple[int, int]:
    """Scalars with autograd history alive now: (how many, longest chain of additions).

    A running total built with ``total += loss`` is a chain of ``AddBackward`` nodes as long
    as the steps it summed; a list of losses keeps one graph per step. Both keep memory that
    should have been freed. Walks ``gc.get_objects()``: run it rarely (epoch ends).
    """
    count, longest = 0, 0
    for obj in gc.get_objects():
        if type(obj) is not torch.Tensor or obj.dim() != 0 or obj.grad_fn is None:
            continue
        count += 1
        node: Any = obj.grad_fn
        depth = 0
        while node is not None and type(node).__name__.startswith("AddBackward") and depth < 1e5:
            depth += 1
            nxt = [f for f, _ in node.next_functions if f is not None]
            node = next((f for f in nxt if type(f).__name__.startswith("AddBackward")), None)
        longest = max(longest, depth)
    return count, longest


def label_baseline(labels: list[np.ndarray], classification: bool) -> tuple[float, float]:
    """The loss of predicting the label frequencies (cross-entropy) or the mean (MSE), and
    the share of the most frequent class (0 for regression). Negative labels (ignore_index)
    are left out."""
    flat = np.concatenate([np.asarray(a).reshape(-1) for a in labels])
    if classification:
        flat = flat[flat >= 0].astype(np.int64)
        if flat.size == 0:
            return math.nan, 0.0
        p = np.bincount(flat) / flat.size
        p = p[p > 0]
        return float(-(p * np.log(p)).sum()), float(p.max())
    return float(flat.astype(np.float64).var()), 0.0
