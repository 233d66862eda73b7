"""gradients-not-reset (TW-T08): a forgotten ``optimizer.zero_grad()`` is found and named as
the cause (before the divergence it brings); every way of resetting gradients, gradient
accumulation over micro-batches and a GAN's two optimizers stay silent."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, mlp
from trainwell import doctor
from trainwell.doctor import DoctorCallback
from trainwell.doctor.loss_probe import LossProbe
from trainwell.findings import sort_findings
from trainwell.train.callback import Callback
from trainwell.train.loop import InMemoryData, TrainState, train

_ID = "gradients-not-reset"


def _train(reset: str, opt_name: str = "sgd", steps: int = 12, accumulate: int = 1) -> list:
    """A small classifier trained ``steps`` optimizer steps; ``reset`` says how the
    gradients are cleared each step ("none": never)."""
    x, y = blobs(n=256, d=8, k=3)
    model = mlp()
    if opt_name == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with doctor.watch(model, opt) as dr:
        batch = 0
        for _ in range(steps):
            if reset == "zero_grad":
                opt.zero_grad()
            elif reset == "keep-tensors":
                opt.zero_grad(set_to_none=False)
            elif reset == "model":
                model.zero_grad()
            elif reset == "by-hand":
                for p in model.parameters():
                    p.grad = None
            for _ in range(accumulate):
                i = (batch * 16) % 256
                batch += 1
                loss = nn.functional.cross_entropy(model(x[i : i + 16]), y[i : i + 16])
                (loss / accumulate).backward()
            opt.step()
    return dr.findings


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_forgotten_zero_grad_is_found_first(opt_name: str) -> None:
    findings = _train("none", opt_name)
    ranked = sort_findings(findings)
    assert ranked[0].id == _ID
    assert ranked[0].practice == "TW-T08"
    assert ranked[0].step == 3  # three steps in a row carried the previous step's gradients
    assert ranked[0].evidence["steps_carried_over"] == 3
    assert "optimizer.zero_grad()" in ranked[0].fix
    assert "summed over at least 4 batches" in ranked[0].message


@pytest.mark.parametrize("reset", ["zero_grad", "keep-tensors", "model", "by-hand"])
def test_gradients_reset_each_step_are_silent(reset: str) -> None:
    assert _ID not in [f.id for f in _train(reset)]


def test_accumulation_over_micro_batches_is_silent() -> None:
    assert _ID not in [f.id for f in _train("zero_grad", accumulate=4, steps=6)]


def test_divergence_from_it_is_a_symptom() -> None:
    """SGD with momentum on never-reset gradients diverges; the curve findings that follow
    are filed under the cause instead of advising a lower learning rate."""
    findings = _train("none", steps=60)
    ids = [f.id for f in findings]
    assert ids.count(_ID) == 1
    assert not {"divergence", "exploding-gradients", "lr-too-high"} & set(ids)
    symptoms = {s["id"] for s in findings[ids.index(_ID)].evidence["symptoms"]}
    assert {"divergence", "exploding-gradients"} <= symptoms


def test_gan_generator_backward_through_the_discriminator_is_silent() -> None:
    """DCGAN's loop: after the discriminator's step, the generator's backward runs through
    the discriminator, whose gradients still hold that step's; netD.zero_grad() clears them
    before its next step, so nothing is carried over."""
    x, _ = blobs(n=128, d=8, k=3)
    disc = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
    gen = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3)
    bce = nn.BCEWithLogitsLoss()
    with doctor.watch(nn.ModuleDict({"d": disc, "g": gen}), opt_d) as dr:
        for i in range(8):
            real = x[(i * 16) % 128 :][:16]
            fake = gen(torch.randn(16, 4))
            disc.zero_grad()
            bce(disc(real), torch.ones(16, 1)).backward()
            bce(disc(fake.detach()), torch.zeros(16, 1)).backward()
            opt_d.step()
            gen.zero_grad()
            bce(disc(fake), torch.ones(16, 1)).backward()
            opt_g.step()
    assert _ID not in [f.id for f in dr.findings]


class _SeesBackward(Callback):
    """Attaches a LossProbe to a DoctorCallback's doctor: the check then runs in trainwell's
    own loop (whose DoctorCallback has none; it is on here so that the control can fail)."""

    def __init__(self, cb: DoctorCallback) -> None:
        self.cb = cb
        self.probe: LossProbe | None = None

    def on_fit_start(self, state: TrainState) -> None:
        assert self.cb.doctor is not None
        self.probe = LossProbe(self.cb.doctor).attach()

    def on_fit_end(self, state: TrainState) -> None:
        if self.probe is not None:
            self.probe.remove()


@pytest.mark.parametrize("accumulate", [1, 2])
def test_trainwell_own_loop_is_silent(accumulate: int) -> None:
    x, y = blobs(n=192, d=8, k=3)
    cb = DoctorCallback()
    sees = _SeesBackward(cb)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    state = train(
        model,
        opt,
        nn.CrossEntropyLoss(),
        InMemoryData((x,), y, batch_size=32),
        max_epochs=2,
        callbacks=[cb, sees],
        accumulate=accumulate,
    )
    assert state.step == 12 // accumulate
    assert cb.doctor is not None
    assert cb.doctor.stale_grads.done  # every window was watched
    assert _ID not in [f.id for f in cb.findings]
