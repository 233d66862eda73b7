"""Steps without an optimizer: a hand-written SGD update (pytorch/examples' ``regression``
and ``word_language_model``) gets the per-step checks under the zero-code doctor's global
hooks; a script with an optimizer gets exactly the findings it got without this probe."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tests.doctor.conftest import blobs, mlp
from trainwell import doctor
from trainwell.doctor import Doctor
from trainwell.doctor._child import global_probes
from trainwell.doctor.manual_steps import ManualStepProbe


def _zero_code(train: Any, *, manual: bool = True) -> tuple[Doctor, int]:
    """Run ``train()`` under the zero-code doctor's probes, in process; the doctor (finished)
    and the steps the manual-step probe ended."""
    dr = Doctor()
    probes = global_probes(dr)
    if not manual:
        probes[0].remove()
        probes = probes[1:]
    try:
        train()
    finally:
        for probe in probes:
            probe.remove()
    dr.finish()
    ended = probes[0].steps_ended if isinstance(probes[0], ManualStepProbe) else 0
    return dr, ended


def _manual_sgd(lr: float, steps: int = 40, nan_at: int | None = None) -> tuple[nn.Module, Any]:
    """word_language_model's loop: zero_grad, forward, loss, backward, clip-free update
    ``p.data.add_(p.grad, alpha=-lr)``; ``nan_at``: that batch's inputs hold a NaN."""
    x, y = blobs(n=256, d=8, k=3)
    model = mlp()
    loss_fn = nn.CrossEntropyLoss()

    def train() -> None:
        for i in range(steps):
            rows = slice((i * 32) % 256, (i * 32) % 256 + 32)
            xb = x[rows].clone()
            if i == nan_at:
                xb[0, 0] = float("nan")
            model.zero_grad()
            loss = loss_fn(model(xb), y[rows])
            loss.backward()
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-lr)  # type: ignore[arg-type]

    return model, train


def _ids(dr: Doctor) -> set[str]:
    return {f.id for f in dr.findings if f.severity in ("warning", "error")}


def test_manual_sgd_at_a_huge_lr_is_found_and_named() -> None:
    dr, ended = _zero_code(_manual_sgd(lr=50.0)[1])
    assert ended == 40
    assert dr.step == 40
    found = _ids(dr)
    # before: no step ever ended, so nothing past the first loss was judged (only the NaN
    # loss, at "step 0")
    assert {"exploding-gradients", "divergence", "nonfinite-loss"} <= found, found
    first = dr.findings[0]  # the cause first: gradients exploding under the too-large steps
    assert first.id == "exploding-gradients"
    assert first.step == 5
    assert "learning rate" in (first.fix or "")
    assert "lr-too-high" not in found  # no optimizer: no LR value is guessed


def test_nan_mid_run_is_found_at_its_step() -> None:
    dr, ended = _zero_code(_manual_sgd(lr=0.1, nan_at=20)[1])
    assert ended == 40
    nan = [f for f in dr.findings if f.id.startswith("nonfinite")]
    assert nan, [f.id for f in dr.findings]
    assert nan[0].step == 20  # before: every loss was step 0


def test_manual_sgd_at_a_sane_lr_stays_silent() -> None:
    dr, ended = _zero_code(_manual_sgd(lr=0.1)[1])
    assert ended == 40
    assert dr.step == 40
    assert len(dr.curve.values) == 40
    assert max(dr.grad_norms) > 0  # gradients were read
    assert _ids(dr) == set(), [f.message for f in dr.findings]


def _with_optimizer(lr: float) -> Any:
    x, y = blobs(n=256, d=8, k=3)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def train() -> None:
        for i in range(40):
            rows = slice((i * 32) % 256, (i * 32) % 256 + 32)
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[rows]), y[rows]).backward()
            opt.step()

    return train


def test_an_optimizer_gets_the_same_findings_as_without_the_probe() -> None:
    for lr in (50.0, 0.1):
        torch.manual_seed(0)
        with_probe, ended = _zero_code(_with_optimizer(lr))
        torch.manual_seed(0)
        without, _ = _zero_code(_with_optimizer(lr), manual=False)
        assert ended == 0
        assert with_probe.step == without.step == 40
        assert [f.to_dict() for f in with_probe.findings] == [f.to_dict() for f in without.findings]
    assert _ids(with_probe) == set()  # lr 0.1: healthy


def test_watch_without_an_optimizer_checks_a_hand_written_update() -> None:
    """``doctor.watch(model)`` with no optimizer: the same steps and findings as the
    zero-code doctor on the same loop."""
    for lr in (50.0, 0.1):
        torch.manual_seed(0)
        model, train = _manual_sgd(lr)
        with doctor.watch(model) as dr:
            train()
        torch.manual_seed(0)
        zero_code, _ = _zero_code(_manual_sgd(lr)[1])
        assert dr.step == zero_code.step == 40
        assert [(f.id, f.step) for f in dr.findings] == [(f.id, f.step) for f in zero_code.findings]
        if lr == 50.0:
            assert dr.findings[0].id == "exploding-gradients"
            assert dr.findings[0].step == 5
        else:
            assert _ids(dr) == set()
            assert len(dr.curve.values) == 40


def test_a_hand_updated_loss_summed_over_a_line_is_judged_per_character() -> None:
    """The PyTorch char-RNN generation tutorial's ``train()`` shape: the loss summed over a
    line's characters (``loss += criterion(output, target_line_tensor[i])``), one backward per
    line, ``p.data.add_(p.grad.data, alpha=-learning_rate)``. Lines of 1 character first, then
    of 300, every character alike (the terms' gradients align): the gradient norm grows 300x
    with the count of summed losses, not with a fault (before: ``exploding-gradients``)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 30))
    criterion = nn.CrossEntropyLoss()
    x, y = torch.ones(1, 4), torch.tensor([3])

    def train() -> None:
        for n in [1] * 8 + [300] * 8:
            model.zero_grad()
            loss = torch.zeros(())
            for _ in range(n):
                loss = loss + criterion(model(x), y)
            loss.backward()
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-5e-5)  # type: ignore[arg-type]

    dr, ended = _zero_code(train)
    assert ended == 16
    assert "exploding-gradients" not in _ids(dr), [f.message for f in dr.findings]
    assert max(dr.grad_norms) < 1.5 * min(dr.grad_norms)  # per character: about the same
