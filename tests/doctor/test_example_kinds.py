"""Kinds of false alarm found on healthy pytorch/examples scripts, each with its planted fault.

- A model output built in ``forward`` (a ``torch.cat`` of ``Linear`` outputs, as in
  time_sequence_prediction) that happens to start inside [0, 1] is not a bounded activation.
- Validation rows equal to training rows because the data repeats itself (one scalar per time
  step of integer-shifted sines) is not validation drawn from the training set.
- A mostly dead ReLU layer in a network whose loss falls well (mnist, vae on the offline
  digits) is capacity left unused (an info note), not a fault; it is a warning when the loss
  does not fall or (nearly) all units are dead.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tests.doctor.conftest import blobs, ids, mlp, run
from trainwell import doctor
from trainwell.doctor import Doctor, checks, stats


class PerStep(nn.Module):
    """One ``Linear`` per time step, joined with ``torch.cat`` (the container is the producer);
    ``squash`` puts a sigmoid on the joined output (the planted fault)."""

    def __init__(self, squash: bool) -> None:
        super().__init__()
        self.linear = nn.Linear(1, 1)
        self.squash = squash
        with torch.no_grad():  # starts inside [0, 1] on every input below
            self.linear.weight.fill_(0.01)
            self.linear.bias.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.cat([self.linear(x_t) for x_t in x.split(1, dim=1)], dim=1)
        return torch.sigmoid(out) if self.squash else out


def _sines() -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(64, dtype=torch.float32).reshape(8, 8) + torch.arange(8).reshape(8, 1) * 3
    return torch.sin(t / 4), torch.sin((t + 1) / 4)  # targets span [-1, 1]


def test_output_activation_reads_the_graph_through_cat_and_views() -> None:
    lin = nn.Linear(3, 1)
    x = torch.ones(2, 3)
    assert stats.output_activation(torch.cat([lin(x), lin(x)], 1)) == "affine"
    assert stats.output_activation(torch.sigmoid(lin(x)).squeeze(-1)) == "sigmoid"
    assert stats.output_activation(torch.relu(lin(x)).view(-1)) == "relu"
    assert stats.output_activation(torch.cat([lin(x), torch.sigmoid(lin(x))], 1)) is None
    assert stats.output_activation(lin(x).detach()) is None


def test_cat_of_linear_outputs_inside_0_1_is_not_a_mismatch() -> None:
    x, y = _sines()
    clean = run(PerStep(squash=False), x, y, loss_fn=nn.MSELoss(), steps=2, batch=8)
    assert "output-loss-mismatch" not in ids(clean)
    planted = run(PerStep(squash=True), x, y, loss_fn=nn.MSELoss(), steps=2, batch=8)
    found = [f for f in planted.findings if f.id == "output-loss-mismatch"]
    assert len(found) == 1
    assert "(sigmoid)" in found[0].message


def _fit_then_validate(
    xt: torch.Tensor, yt: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor, batch: int
) -> Doctor:
    """One pass of SGD over the training rows in order, then one validation pass (no_grad)."""
    model = nn.Sequential(nn.Linear(xt.shape[1], 16), nn.ReLU(), nn.Linear(16, yt.shape[1]))
    opt = torch.optim.SGD(model.parameters(), 1e-2)
    loss = nn.MSELoss()
    with doctor.watch(model, opt) as dr:
        model.train()
        for start in range(0, len(xt), batch):
            opt.zero_grad()
            loss(model(xt[start : start + batch]), yt[start : start + batch]).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            loss(model(xv), yv)
    return dr


def test_rows_that_repeat_by_nature_are_not_a_validation_leak() -> None:
    """time_sequence_prediction's data: one sine value per time step on an integer grid, so
    nearly every training row repeats and held-out series match training rows by chance."""
    shifts = torch.randint(-60, 60, (20, 1), generator=torch.Generator().manual_seed(2))
    series = torch.sin((torch.arange(61) + shifts) / 20.0)
    # rows in time order (one batch per time step), validation: the first 3 series, held out
    xt = series[3:, :-1].T.reshape(-1, 1)
    yt = series[3:, 1:].T.reshape(-1, 1)
    xv, yv = series[:3, :-1].reshape(-1, 1), series[:3, 1:].reshape(-1, 1)
    dr = _fit_then_validate(xt, yt, xv, yv, batch=17)
    assert "validation-overlaps-train" not in ids(dr)


@pytest.mark.parametrize("fixed", [False, True])
def test_validation_from_training_rows_is_found_where_rows_repeat(fixed: bool) -> None:
    """Rows that repeat in part (3 in 8 from a few prototypes, Good-Turing chance ~0.36):
    validation taken from the training rows is still a leak; held-out rows are not."""
    g = torch.Generator().manual_seed(0)
    prototypes = torch.randn(6, 4, generator=g)
    x = torch.randn(384, 4, generator=g)
    repeat = torch.rand(384, generator=g) < 0.375
    x[repeat] = prototypes[torch.randint(0, 6, (int(repeat.sum()),), generator=g)]
    y = x.sum(dim=1, keepdim=True)
    xv, yv = (x[256:], y[256:]) if fixed else (x[:128], y[:128])
    dr = _fit_then_validate(x[:256], y[:256], xv, yv, batch=32)
    found = [f for f in dr.findings if f.id == "validation-overlaps-train"]
    assert bool(found) is not fixed
    if found:
        assert found[0].evidence["leaked_share"] > 0.5
        assert 0.2 < found[0].evidence["chance_overlap"] < 0.5


@pytest.mark.parametrize("fixed", [False, True])
def test_later_passes_over_the_loader_do_not_count_as_repeats(fixed: bool) -> None:
    """Continuous rows, three shuffled passes of a DataLoader before validation: a batch of a
    later pass holds rows the first pass did not fingerprint (its first batch is not), but its
    other rows are not the data repeating itself: counted over one pass, the loader's size
    (chance 0.23: the one batch of the second pass that fits; 0.93 counting every pass)."""
    x, y = blobs(n=384)
    xv, yv = (x[256:], y[256:]) if fixed else (x[:128], y[:128])
    train = DataLoader(TensorDataset(x[:256], y[:256]), batch_size=32, shuffle=True)
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    loss = nn.CrossEntropyLoss()
    with doctor.watch(model, opt) as dr:
        for _ in range(3):
            model.train()
            for xb, yb in train:
                opt.zero_grad()
                loss(model(xb), yb).backward()
                opt.step()
        model.eval()
        with torch.no_grad():
            loss(model(xv), yv)
    found = [f for f in dr.findings if f.id == "validation-overlaps-train"]
    assert bool(found) is not fixed
    if found:
        assert found[0].evidence["chance_overlap"] < 0.5


def test_dead_units_severity_follows_the_loss() -> None:
    mostly = [0.73, 0.75]
    note = checks.check_dead_units(16, "fc1", mostly, fall=0.6)
    assert note is not None
    assert note.severity == "info"
    assert "fc1" in note.message
    assert "60%" in note.message
    assert checks.check_dead_units(16, "fc1", mostly, fall=0.05) is None  # may still fall
    stalled = checks.check_dead_units(48, "fc1", mostly, fall=0.05)
    assert stalled is not None
    assert stalled.severity == "warning"
    ended = checks.check_dead_units(20, "fc1", mostly, fall=None, final=True)
    assert ended is not None
    assert ended.severity == "warning"
    all_dead = checks.check_dead_units(2, "fc1", [0.95, 1.0], fall=0.6)
    assert all_dead is not None
    assert all_dead.severity == "warning"
    assert checks.check_dead_units(48, "fc1", [0.5, 0.6], fall=0.0) is None


def _mostly_dead(learnable: bool) -> Doctor:
    """An MLP whose first layer has 26 of 32 ReLU units killed by a -20 bias (81 %)."""
    x, y = blobs()
    if not learnable:  # labels apart from their inputs: the loss cannot fall
        y = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(3))]
    model = mlp()
    with torch.no_grad():
        model[0].bias[:26] = -20.0
    return run(model, x, y, opt=torch.optim.Adam(model.parameters(), 1e-2), steps=64)


@pytest.mark.parametrize("learnable", [True, False])
def test_mostly_dead_layer_is_a_note_while_the_loss_falls(learnable: bool) -> None:
    dr = _mostly_dead(learnable)
    dead = [f for f in dr.findings if f.id == "dead-units" and f.evidence["layer"] == "1"]
    assert len(dead) == 1
    assert dead[0].severity == ("info" if learnable else "warning")
    assert 0.7 < dead[0].evidence["dead_fraction"] < 0.9


def test_tune_prunes_on_dead_units_only_when_they_are_a_fault() -> None:
    from trainwell.tune.trials import TrialWatch

    note = checks.check_dead_units(16, "fc1", [0.73, 0.75], fall=0.6)
    fault = checks.check_dead_units(16, "fc1", [0.95, 1.0], fall=0.6)
    watch = TrialWatch(trial=None)  # type: ignore[arg-type]  # on_finding never reads it
    watch.on_finding(note)  # type: ignore[arg-type]
    assert watch.finding is None
    watch.on_finding(fault)  # type: ignore[arg-type]
    assert watch.finding is fault
