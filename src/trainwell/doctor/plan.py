"""What the trainer planned, told to the doctor so it judges the run against the plan.

Inside ``trainwell fit`` the doctor is not a stranger to the run: fit froze the pre-trained
backbone on purpose (linear probe, then gradual unfreezing; TW-A04) and split the data by
group or time after the audit verified that no group or period is shared (TW-D04, TW-D06).
Without the plan the doctor would call the first "frozen parameters" and a gap between
validation and training losses "overlap". A user script has no plan (``None``): the doctor
then judges from what it sees alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:  # the doctor does not import the pipeline's modules at run time
    from trainwell.data.schema import Dataset
    from trainwell.findings import Finding
    from trainwell.split import Splits


@dataclass(frozen=True)
class FrozenGroup:
    """Parameters the trainer froze on purpose, and the epoch (0-based) they unfreeze.

    ``parameters`` are names as ``model.named_parameters()`` gives them; ``unfreeze_epoch``
    is None when the plan keeps them frozen for the whole run.
    """

    parameters: tuple[str, ...]
    unfreeze_epoch: int | None = None


@dataclass(frozen=True)
class SplitPlan:
    """How validation rows were set apart, and what the audit verified about it.

    Args:
        method: ``group``, ``time``, ``stratified`` or ``random``.
        column: the group or time column, if any.
        verified_disjoint: the audit checked that no group (or no period) of the training
            split appears in validation or test, and found none.
        evidence: the numbers behind it (groups or periods per split, shared ones).
    """

    method: str
    column: str | None = None
    verified_disjoint: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def disjoint_groups_or_periods(self) -> bool:
        """Validation holds other groups (or later periods) than training, verified."""
        return self.verified_disjoint and self.method in ("group", "time")


@dataclass(frozen=True)
class TrainingPlan:
    """The trainer's plan: planned freezing and the split (see the module docstring).

    Example:
        >>> plan = TrainingPlan(frozen=(FrozenGroup(("backbone.weight",), 1),))
        >>> plan.planned_frozen("backbone.weight"), plan.planned_frozen("head.weight")
        (True, False)
    """

    frozen: tuple[FrozenGroup, ...] = ()
    split: SplitPlan | None = None

    def planned_frozen(self, name: str) -> bool:
        """``name`` is frozen by the plan for at least part of the run."""
        return any(name in group.parameters for group in self.frozen)


def unfreezing_groups(
    model: torch.nn.Module,
    groups: Sequence[torch.nn.Module],
    trainable: Callable[[int], int],
    max_epochs: int,
) -> tuple[FrozenGroup, ...]:
    """The :class:`FrozenGroup` of each of ``groups`` (input side first) under a top-down
    gradual unfreezing where ``trainable(epoch)`` groups, counted from the top, train in
    ``epoch`` (as :meth:`trainwell.models.transfer.GradualUnfreezing.trainable`)."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = []
    for i, group in enumerate(groups):
        from_top = len(groups) - i
        epoch = next((e for e in range(max_epochs) if trainable(e) >= from_top), None)
        params = tuple(names[id(p)] for p in group.parameters() if id(p) in names)
        if params and epoch != 0:
            out.append(FrozenGroup(params, epoch))
    return tuple(out)


def split_plan(
    method: str,
    column: str | None,
    keys: Sequence[Any] | None,
    splits: dict[str, Sequence[int]],
    audit_ids: set[str],
) -> SplitPlan:
    """The :class:`SplitPlan` of a split made by ``method`` (``group``, ``time`` or another).

    ``keys`` are the group (or time) column's values, one per row; ``splits`` the row
    indices of train, validation and test; ``audit_ids`` the ids of the audit's findings.
    A grouped split counts as verified when the audit ran its shared-group check and found
    nothing (no ``group-across-splits``) and no key of validation or test is a training key;
    a time split when there is no ``time-order-violation`` and validation starts at or after
    the last training time.
    """
    if method not in ("group", "time") or keys is None or column is None:
        return SplitPlan(method, column)
    values = [[keys[i] for i in splits[name]] for name in ("train", "validation", "test")]
    train, validation, test = values
    if method == "group":
        seen = set(train)
        shared = len({k for k in [*validation, *test] if k in seen})
        evidence: dict[str, Any] = {
            "groups": {"train": len(seen), "validation": len(set(validation)),
                       "test": len(set(test))},
            "shared_groups": shared,
        }  # fmt: skip
        verified = shared == 0 and "group-across-splits" not in audit_ids
    else:
        try:
            last_train, first_val = max(train), min(validation)
            in_order = bool(first_val >= last_train)
        except (TypeError, ValueError):  # empty, or times that do not compare
            return SplitPlan(method, column)
        evidence = {"train_until": str(last_train), "validation_from": str(first_val)}
        verified = in_order and "time-order-violation" not in audit_ids
    return SplitPlan(method, column, verified, evidence)


def plan_of_split(dataset: Dataset, splits: Splits, audit: Sequence[Finding]) -> TrainingPlan:
    """The :class:`TrainingPlan` of a table fit: its split (``--group`` / ``--time``) and
    what the audit's findings ``audit`` say about it (see :func:`split_plan`)."""
    column = dataset.group or dataset.time
    method = "group" if dataset.group else "time" if dataset.time else splits.method
    keys = dataset.frame[column].tolist() if column is not None else None
    rows = {name: splits.indices(name).tolist() for name in ("train", "validation", "test")}
    return TrainingPlan(split=split_plan(method, column, keys, rows, {f.id for f in audit}))
