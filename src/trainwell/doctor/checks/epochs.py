"""Checks on per-epoch losses: overfitting, leakage signs, and how training ended."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from trainwell.doctor.plan import SplitPlan
from trainwell.doctor.record import EpochRecord
from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

_DEFAULT = Thresholds()


def _val(history: Sequence[EpochRecord]) -> list[tuple[int, float, float | None]]:
    return [
        (r.epoch, r.val_loss, r.train_loss)
        for r in history
        if r.val_loss is not None and math.isfinite(r.val_loss)
    ]


def check_overfitting(
    history: Sequence[EpochRecord], step: int | None = None, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Validation loss has risen for several epochs past its minimum while training loss
    kept falling (TW-X07), for longer than an early-stopping patience would let it.

    A script that stops itself ``patience`` epochs after the best validation loss shows the
    same rise during its patience window; that is early stopping working, not overfitting,
    so the rise must outlast ``t.overfit_patience`` epochs past the best before it is
    reported.

    Fix: early stopping on validation loss with best-weight restore (TW-T04), more
    regularization (weight decay, dropout 0.2-0.5), more data or augmentation.
    """
    rows = _val(history)
    if len(rows) < t.overfit_epochs + 1:
        return None
    best_i = min(range(len(rows)), key=lambda i: rows[i][1])
    after = rows[best_i + 1 :]
    if len(after) <= max(t.overfit_epochs, t.overfit_patience):
        return None
    best_epoch, best_val, best_train = rows[best_i]
    epoch, val, train = rows[-1]
    # Every recent epoch clearly above the best, on the scale of what training achieved:
    # near-zero losses wobbling by a few thousandths are not overfitting.
    recent_min = min(v for _, v, _ in rows[-t.overfit_epochs :])
    margin = max(t.overfit_rise * best_val, t.overfit_range * (rows[0][1] - best_val))
    train_fell = best_train is not None and train is not None and train < best_train
    if recent_min <= best_val + margin or not train_fell:
        return None
    return Finding(
        id="overfitting",
        practice="TW-X07",
        severity="warning",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"Overfitting since epoch {best_epoch}: validation loss rose from {best_val:.3g} "
        f"to {val:.3g} while training loss fell from {best_train:.3g} to {train:.3g}.",
        evidence={
            "best_epoch": best_epoch,
            "best_val_loss": best_val,
            "val_loss": val,
            "train_loss": train,
        },
        fix="Use early stopping with best-weight restore (TW-T04), add weight decay or "
        "dropout, or get more data / augmentation.",
    )


def check_val_better_than_train(
    history: Sequence[EpochRecord],
    step: int | None = None,
    *,
    first_loss: float | None = None,
    split: SplitPlan | None = None,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Validation loss far below training loss for two epochs running: a sign that validation
    data overlaps training data or is easier (TW-D06).

    Fix: check the split for duplicates and shared groups across splits and that validation
    comes from the same distribution; heavy dropout or augmentation explain only a small gap.

    When ``split`` says the trainer split by group or time and the audit verified that no
    group (period) is shared, overlap is ruled out: the gap is reported as a shift between
    the groups (periods), a note with the audit's evidence (``validation-shift``, TW-E02).
    """
    rows = [r for r in history if r.val_loss is not None and r.train_loss is not None]
    if len(rows) < 2 or rows[-1].epoch < t.val_better_min_epoch:
        return None
    ratios = [r.val_loss / r.train_loss for r in rows[-2:] if r.train_loss]  # type: ignore[operator]
    if len(ratios) < 2 or max(ratios) >= t.val_better_ratio:
        return None
    # Near zero loss, ratios say nothing: training loss must still matter on the run's scale
    # (the run's first loss when known: epoch 0 may already end near zero).
    scale = first_loss if first_loss is not None else rows[0].train_loss
    floor = t.val_better_floor * (scale or 0.0)
    if min(r.train_loss or 0.0 for r in rows[-2:]) <= floor:
        return None
    last = rows[-1]
    if split is not None and split.disjoint_groups_or_periods:
        return _validation_shift(last, ratios, split, step)
    return Finding(
        id="val-better-than-train",
        practice="TW-D06",
        severity="warning",
        stage="train",
        step=step,
        epoch=last.epoch,
        message=f"Validation loss ({last.val_loss:.3g}) is {1 / ratios[-1]:.1f}x lower than "
        f"training loss ({last.train_loss:.3g}): validation may overlap training or be easier.",
        evidence={"val_loss": last.val_loss, "train_loss": last.train_loss, "ratios": ratios},
        fix="Check for duplicate or shared-group rows across splits and split before any "
        "preprocessing (trainwell audit DATA --target COL finds them).",
    )


def _validation_shift(
    last: EpochRecord, ratios: list[float], split: SplitPlan, step: int | None
) -> Finding:
    what = "groups" if split.method == "group" else "periods"
    if split.method == "group":
        groups = split.evidence.get("groups", {})
        proof = (
            f"the audit verified the split by {split.column!r} disjoint "
            f"({groups.get('train', '?')} training and {groups.get('validation', '?')} "
            f"validation groups, {split.evidence.get('shared_groups', 0)} shared)"
        )
        whose = f"the validation {split.column} values differ from the training ones"
    else:
        proof = (
            f"the split by {split.column!r} is in time order, as the audit verified "
            f"(training until {split.evidence.get('train_until')}, validation from "
            f"{split.evidence.get('validation_from')})"
        )
        whose = "the validation period differs from the training period"
    return Finding(
        id="validation-shift",
        practice="TW-E02",
        severity="info",
        stage="train",
        step=step,
        epoch=last.epoch,
        message=f"Validation loss ({last.val_loss:.3g}) is {1 / ratios[-1]:.1f}x lower than "
        f"training loss ({last.train_loss:.3g}); {proof}, so this is not overlap: "
        f"{whose} (a shift between {what}). Validation scores measure those {what}.",
        evidence={
            "val_loss": last.val_loss,
            "train_loss": last.train_loss,
            "ratios": ratios,
            "split": split.method,
            "column": split.column,
            **split.evidence,
        },
        fix=f"Nothing is wrong with the split. Expect scores to vary between {what}; "
        "compare the per-group metrics in the report, and get more "
        f"{what} if the test {what} matter most.",
    )


def check_still_improving(
    history: Sequence[EpochRecord], step: int | None = None, *, t: Thresholds = _DEFAULT
) -> Finding | None:
    """Training stopped while the validation loss was still clearly improving (TW-T04).

    Fix: train for more epochs and let early stopping decide when to stop.
    """
    rows = _val(history)
    if len(rows) < 3:
        return None
    (_, prev, _), (epoch, last, _) = rows[-2], rows[-1]
    if last > min(v for _, v, _ in rows) or prev <= 0 or (prev - last) / prev <= t.still_improving:
        return None
    return Finding(
        id="still-improving",
        practice="TW-T04",
        severity="info",
        stage="evaluate",
        step=step,
        epoch=epoch,
        message=f"Validation loss was still improving when training stopped "
        f"({prev:.3g} -> {last:.3g} in the last epoch).",
        evidence={"previous": prev, "last": last, "epochs": len(rows)},
        fix="Train for more epochs and let early stopping on validation loss end the run.",
    )


def _overfitting_onset(rows: list[tuple[int, float, float | None]], t: Thresholds) -> bool:
    """From the best epoch on, validation loss rose and training loss fell every epoch, for two
    epochs or more, and validation ended within ``early_stop_overfit_rise`` times its best."""
    if len(rows) < 3:
        return False
    for (_, val0, train0), (_, val1, train1) in itertools.pairwise(rows):
        if train0 is None or train1 is None or not (val1 > val0 and train1 < train0):
            return False
    return rows[-1][1] <= rows[0][1] * t.early_stop_overfit_rise


def check_stopped_early(
    history: Sequence[EpochRecord],
    max_epochs: int | None = None,
    stopped: bool | None = None,
    step: int | None = None,
    *,
    t: Thresholds = _DEFAULT,
) -> Finding | None:
    """Early stopping ended training in its first epochs (TW-T04).

    When ``stopped`` is unknown (a script run under ``trainwell doctor``), a run of at most
    ``early_stop_epochs`` epochs whose best validation loss came at epoch 0 and that ended on
    a worse one counts as stopped. Fix: raise the patience, or lower the learning rate if
    validation loss got worse right away. A stop after validation loss rose gently for two
    epochs or more while training loss fell every epoch is early stopping catching the onset
    of overfitting (its job, e.g. a small noisy training set), and is not reported.
    """
    rows = _val(history)
    if not rows or len(rows) > t.early_stop_epochs:
        return None
    if max_epochs is not None and len(rows) >= max_epochs:
        return None
    best_i = min(range(len(rows)), key=lambda i: rows[i][1])
    if stopped is None:
        stopped = len(rows) >= 2 and best_i == 0
    if not stopped or _overfitting_onset(rows[best_i:], t):
        return None
    return Finding(
        id="stopped-early",
        practice="TW-T04",
        severity="warning",
        stage="evaluate",
        step=step,
        epoch=rows[-1][0],
        message=f"Training stopped after {len(rows)} epochs"
        + (f" of {max_epochs}" if max_epochs else "")
        + f"; the best validation loss came at epoch {rows[best_i][0]}.",
        evidence={"epochs": len(rows), "best_epoch": rows[best_i][0], "max_epochs": max_epochs},
        fix="Raise early-stopping patience (5-10 epochs); if validation loss got worse from "
        "the first epoch, lower the learning rate.",
    )
