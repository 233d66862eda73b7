"""The doctor judged against the trainer's plan: planned freezing and verified splits."""

from __future__ import annotations

import torch
from torch import nn

from tests.doctor.conftest import blobs, ids, mlp, run
from trainwell.doctor import DoctorCallback, checks
from trainwell.doctor.plan import (
    FrozenGroup,
    SplitPlan,
    TrainingPlan,
    split_plan,
    unfreezing_groups,
)
from trainwell.doctor.record import EpochRecord
from trainwell.models.transfer import GradualUnfreezing
from trainwell.train.loop import InMemoryData, train


def _freeze_first_layer(model: nn.Sequential) -> None:
    for p in model[0].parameters():
        p.requires_grad_(False)


def test_user_script_frozen_for_the_whole_run_is_a_warning() -> None:
    x, y = blobs()
    model = mlp()
    _freeze_first_layer(model)  # the optimizer below still holds them
    dr = run(model, x, y, steps=40)
    (finding,) = [f for f in dr.findings if f.id == "params-frozen"]
    assert finding.severity == "warning"
    assert finding.evidence["parameters"] == ["0.weight", "0.bias"]
    assert "for the whole run" in finding.message
    assert "zero-gradients" not in ids(dr)  # frozen is not "the graph is cut"


def test_user_script_frozen_then_released_is_not_a_finding() -> None:
    x, y = blobs()
    model = mlp()
    _freeze_first_layer(model)
    calls = [0]

    def release_after_ten(m: nn.Module, xb: torch.Tensor, _yb: torch.Tensor) -> torch.Tensor:
        calls[0] += 1
        if calls[0] == 10:  # gradual unfreezing, by hand
            for p in model[0].parameters():
                p.requires_grad_(True)
        return m(xb)

    dr = run(model, x, y, steps=40, forward=release_after_ten)
    assert calls[0] == 40
    assert {"params-frozen", "zero-gradients"}.isdisjoint(ids(dr))


def _fit_with_doctor(plan: TrainingPlan | None) -> DoctorCallback:
    x, y = blobs()
    torch.manual_seed(0)
    model = mlp()
    _freeze_first_layer(model)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    doctor = DoctorCallback(plan=plan)
    train(
        model, opt, nn.functional.cross_entropy, InMemoryData((x,), y, 32),
        max_epochs=3, callbacks=[doctor],
    )  # fmt: skip
    return doctor


def test_planned_freezing_is_not_a_finding_and_unplanned_is() -> None:
    planned = TrainingPlan(frozen=(FrozenGroup(("0.weight", "0.bias"), None),))
    with_plan = {f.id for f in _fit_with_doctor(planned).findings}
    assert {"params-frozen", "zero-gradients"}.isdisjoint(with_plan)
    without = [f for f in _fit_with_doctor(None).findings if f.id == "params-frozen"]
    assert [f.evidence["parameters"] for f in without] == [["0.weight", "0.bias"]]


def _epochs(train: list[float], val: list[float]) -> list[EpochRecord]:
    return [EpochRecord(i, t, v) for i, (t, v) in enumerate(zip(train, val, strict=True))]


GAP = _epochs([1.0, 0.8, 0.7, 0.7], [0.5, 0.3, 0.15, 0.14])  # validation 5x lower


def test_gap_on_a_verified_grouped_split_is_a_shift_not_overlap() -> None:
    verified = SplitPlan(
        "group", "firm", True, {"groups": {"train": 8, "validation": 1}, "shared_groups": 0}
    )
    finding = checks.check_val_better_than_train(GAP, 30, split=verified)
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "validation-shift",
        "info",
        "TW-E02",
    )
    assert "not overlap" in finding.message
    assert "8 training and 1 validation groups, 0 shared" in finding.message
    assert finding.evidence["shared_groups"] == 0
    period = SplitPlan("time", "year", True, {"train_until": "1946", "validation_from": "1947"})
    by_time = checks.check_val_better_than_train(GAP, 30, split=period)
    assert by_time is not None
    assert by_time.id == "validation-shift"
    assert "shift between periods" in by_time.message
    # Not verified, or a random split: the overlap warning stands.
    for split in (SplitPlan("group", "firm", False), SplitPlan("random"), None):
        plain = checks.check_val_better_than_train(GAP, 30, split=split)
        assert plain is not None, split
        assert plain.id == "val-better-than-train", split
        assert plain.severity == "warning"
    # No gap, no finding, whatever the plan.
    close = _epochs([1.0, 0.8, 0.7, 0.7], [0.9, 0.75, 0.7, 0.72])
    assert checks.check_val_better_than_train(close, 30, split=verified) is None


def test_split_plan_is_verified_only_when_no_group_or_period_is_shared() -> None:
    keys = ["a", "a", "b", "b", "c", "d"]
    rows = {"train": [0, 1, 2, 3], "validation": [4], "test": [5]}
    plan = split_plan("group", "firm", keys, rows, set())
    assert plan.verified_disjoint
    assert plan.disjoint_groups_or_periods
    assert plan.evidence == {"groups": {"train": 2, "validation": 1, "test": 1}, "shared_groups": 0}
    shared = split_plan("group", "firm", keys, {**rows, "test": [3, 5]}, set())
    assert not shared.verified_disjoint
    assert shared.evidence["shared_groups"] == 1
    assert not split_plan("group", "firm", keys, rows, {"group-across-splits"}).verified_disjoint
    years = [2000, 2001, 2002, 2003, 2004, 2005]
    assert split_plan("time", "year", years, rows, set()).verified_disjoint
    back = {"train": [0, 1, 4, 3], "validation": [2], "test": [5]}
    assert not split_plan("time", "year", years, back, set()).verified_disjoint
    assert not split_plan("stratified", None, None, rows, set()).disjoint_groups_or_periods


def test_unfreezing_groups_follow_gradual_unfreezing() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1))
    groups = list(model)[:3]
    schedule = GradualUnfreezing(groups, freeze_epochs=1, every=1)
    frozen = unfreezing_groups(model, groups, schedule.trainable, max_epochs=3)
    assert frozen == (
        FrozenGroup(("0.weight", "0.bias"), None),  # would unfreeze at epoch 3: never
        FrozenGroup(("1.weight", "1.bias"), 2),
        FrozenGroup(("2.weight", "2.bias"), 1),
    )
    assert TrainingPlan(frozen).planned_frozen("1.bias")
    assert not TrainingPlan(frozen).planned_frozen("3.weight")
