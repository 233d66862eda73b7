"""The doctor's cheap steps: forward hooks only where layer outputs are read, the heap walk for
kept loss graphs only when marked graphs outlive their steps, and the fused tensor statistics
giving the numbers the element-wise ones gave."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, ids, mlp
from trainwell import doctor
from trainwell.doctor import signals, stats
from trainwell.doctor.checks import preflight


def test_forward_hooks_only_on_the_steps_that_read_layer_outputs() -> None:
    """With the loss probe attached (``watch``), a loss module's loss still reaches the curve
    on every step, while the module forward hooks run only on heavy steps (and the first
    steps, until the rows stop being new)."""
    x, y = blobs(n=128)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    watched: list[int] = []
    with doctor.watch(model, opt) as dr:
        for _ in range(40):
            watched.append(dr.forward_watched)
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x), y).backward()  # full batch: rows stop being new
            opt.step()
    assert len(dr.curve) == 40  # every step's loss, hooks on or off
    on = [step for step, w in enumerate(watched) if w]
    # the first steps, until three batches in a row bring no new row (the input layer is
    # known after step 0, rows come from step 1), then the heavy steps only
    assert on == [0, 1, 2, 3, 4, 16, 32]
    assert dr.findings == []


@pytest.mark.parametrize("keep", [False, True])
def test_heap_walk_only_when_marked_graphs_outlive_their_steps(
    keep: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    walks: list[int] = []
    original = signals.held_loss_graphs

    def counted() -> tuple[int, int]:
        walks.append(1)
        return original()

    monkeypatch.setattr(signals, "held_loss_graphs", counted)
    x, y = blobs(n=256)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    kept = []
    with doctor.watch(model, opt) as dr:
        for _ in range(3):
            for i in range(0, 256, 16):
                opt.zero_grad()
                loss = nn.CrossEntropyLoss()(model(x[i : i + 16]), y[i : i + 16])
                loss.backward()
                opt.step()
                kept.append(loss if keep else loss.item())
    assert ("loss-graph-kept" in ids(dr)) is keep
    assert (len(walks) > 0) is keep  # a loop that frees its losses is never walked


def test_fused_statistics_match_the_elementwise_definitions() -> None:
    g = torch.Generator().manual_seed(0)
    for shape in [(64, 32), (4, 6, 5, 5), (3, 7, 9)]:
        out = torch.relu(torch.randn(*shape, generator=g) - 1.0)
        out[:, 0] = 0  # one dead unit at least
        dim = 1 if out.dim() != 3 else 2
        alive = (out > 0).movedim(dim, 0).flatten(1).any(dim=1)
        assert stats.dead_unit_fraction(out) == pytest.approx(1 - alive.float().mean().item())
        grad = torch.randn(*shape, generator=g)
        grad[: shape[0] // 2] = 0
        zero = (grad.flatten(1).abs().amax(dim=1) == 0).float().mean().item()
        assert stats.zero_row_fraction(grad) == pytest.approx(zero)


def test_zero_rows_and_dead_units_edge_cases() -> None:
    """A row of tiny non-zero gradients is not a zero row (an L2 norm would underflow), a
    NaN row is not one either; an output that requires grad builds no graph."""
    grad = torch.zeros(4, 3)
    grad[1] = 1e-30
    grad[2, 0] = float("nan")
    assert stats.zero_row_fraction(grad) == pytest.approx(0.5)
    out = torch.randn(8, 5, requires_grad=True)
    with torch.enable_grad():
        assert 0.0 <= stats.dead_unit_fraction(torch.relu(out)) <= 1.0
        assert 0.0 <= stats.saturated_fraction(out * 10, 5.0) <= 1.0


def _label_order_by_batch(batches: list[np.ndarray]) -> float | None:
    """The definition, one batch at a time: mean within-batch entropy (variance for
    continuous labels) over that of the same batches cut from the shuffled labels."""

    def spread(v: np.ndarray) -> float:
        if v.dtype.kind == "f":
            return float(np.var(v.astype(np.float64))) if v.size > 1 else 0.0
        _, counts = np.unique(v, return_counts=True)
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())

    pooled = np.concatenate([b.ravel() for b in batches])
    if spread(pooled) <= 0:
        return None
    observed = np.mean([spread(b.ravel()) for b in batches])
    shuffled = np.random.default_rng(0).permutation(pooled)
    parts = np.split(shuffled, np.cumsum([b.size for b in batches])[:-1])
    reference = np.mean([spread(p) for p in parts])
    return float(observed / reference) if reference > 0 else None


def test_label_order_ratio_matches_the_batch_by_batch_definition() -> None:
    rng = np.random.default_rng(0)
    sizes = [int(s) for s in rng.integers(1, 40, 24)]
    cases = [
        [rng.integers(0, 10, s) for s in sizes],  # shuffled classes
        [np.full(s, i // 8) for i, s in enumerate(sizes)],  # sorted classes
        [rng.integers(-3, 10**9, s) for s in sizes],  # sparse class ids
        [rng.integers(0, 2, s).astype(bool) for s in sizes],
        [rng.normal(100, 1, (s, 1)).astype(np.float32) for s in sizes],  # regression
        [np.sort(rng.normal(0, 1, s)) + i for i, s in enumerate(sizes)],  # sorted targets
        [np.zeros(s, dtype=np.int64) for s in sizes],  # one class: no ratio
    ]
    for batches in cases:
        expected = _label_order_by_batch(batches)
        got = preflight.label_order_ratio(batches)
        assert (got is None) == (expected is None)
        if expected is not None:
            assert got == pytest.approx(expected, rel=1e-6)
    assert preflight.label_order_ratio(cases[1]) < 0.5 < preflight.label_order_ratio(cases[0])


def test_target_like_features_match_the_column_by_column_definition() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (64,), generator=g)
    x = torch.randn(64, 6, generator=g)
    x[:, 1] = y.float() * 3 - 1  # the label, recoded: a leak
    x[:, 2] = (y % 2).float()  # coarser than the labels: not one
    x[:, 3] = 0.0
    x[5, 4] = float("nan")
    x[:, 5] = y.float()
    x[0, 5] = float("nan")  # a NaN maps to no class
    assert signals.target_like_features(x, y) == [1]
    target = torch.randn(64, generator=g)
    xr = torch.randn(64, 4, generator=g)
    xr[:, 2] = target * -2.5 + 7  # exactly (anti-)correlated
    xr[:, 3] = 1.0  # constant: no correlation
    xr[:, 0] = target + 0.5 * torch.randn(64, generator=g)  # correlated, not exactly
    assert signals.target_like_features(xr, target) == [2]
    assert signals.target_like_features(xr, target.unsqueeze(1)) == [2]
