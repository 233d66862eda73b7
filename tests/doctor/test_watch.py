"""The doctor on real (tiny) training loops: planted faults are found, healthy runs stay quiet."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.doctor.conftest import blobs, ids, mlp, run
from trainwell import doctor


def test_healthy_run_is_silent() -> None:
    x, y = blobs()
    dr = run(mlp(), x, y, steps=60)
    assert dr.findings == []
    assert dr.step == 60


def test_softmax_before_cross_entropy() -> None:
    x, y = blobs()
    dr = run(nn.Sequential(mlp(), nn.Softmax(dim=1)), x, y, steps=3)
    (finding,) = [f for f in dr.findings if f.practice == "TW-A06"]
    assert "softmax applied twice" in finding.message
    assert "Softmax" in finding.message  # names the module that produced the output


def test_bce_on_unbounded_output_is_reported_before_torch_raises() -> None:
    x, y = blobs(k=2)
    model = mlp(k=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # PyTorch rejects values outside [0, 1]; the finding must already be out.
    with doctor.watch(model, opt) as dr, pytest.raises(RuntimeError, match="between 0 and 1"):
        nn.BCELoss()(model(x * 10), y.float().unsqueeze(1))
    assert [f.id for f in dr.findings] == ["output-loss-mismatch"]


def test_bad_init_and_unnormalized_inputs() -> None:
    x, y = blobs()
    model = mlp()
    with torch.no_grad():
        model[-1].weight.mul_(50)
    dr = run(model, x * 100 + 50, y, steps=3)
    assert {"loss-at-init", "inputs-not-normalized"} <= ids(dr)
    (scale,) = [f for f in dr.findings if f.id == "inputs-not-normalized"]
    assert scale.evidence["max_abs_mean"] > 10
    assert "0" in scale.message  # the first layer, by its name in the model


def test_sorted_labels_without_shuffle() -> None:
    x, y = blobs()
    order = torch.argsort(y, stable=True)
    dr = run(mlp(), x[order], y[order], steps=8, shuffle=False)
    assert "batches-not-shuffled" in ids(dr)
    assert "batches-not-shuffled" not in ids(run(mlp(), x, y, steps=8))


def test_nan_names_the_first_layer() -> None:
    x, y = blobs()
    model = mlp()
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    dr = run(model, x, y, steps=2)
    (finding,) = [f for f in dr.findings if f.id == "nonfinite-loss"]
    assert finding.step == 0
    assert finding.evidence["first_layer"] == "2"
    assert dr.needs_remedy() is finding
    assert dr.needs_remedy() is None  # handed out once


@pytest.mark.parametrize("steps", [7, 6])
def test_nan_on_a_light_step_is_traced_on_the_next_pass(steps: int) -> None:
    """Outputs are kept only on heavy steps; a NaN at light step 5 is traced by step 6's
    forward pass (weights are NaN by then), or reported untraced if training ends first."""
    x, y = blobs()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with doctor.watch(model, opt) as dr:
        for step in range(steps):
            opt.zero_grad()
            if step == 5:
                with torch.no_grad():
                    model[2].weight[0, 0] = float("nan")
            nn.CrossEntropyLoss()(model(x[:32]), y[:32]).backward()
            opt.step()
    assert dr.t.heavy_first <= 5
    assert 5 % dr.t.heavy_every != 0  # a light step
    (finding,) = [f for f in dr.findings if f.id == "nonfinite-loss"]
    assert finding.step == 5
    assert finding.evidence["first_layer"] == ("0" if steps == 7 else None)


def test_detached_encoder_gets_no_gradient() -> None:
    x, y = blobs()
    model = mlp()
    dr = run(model, x, y, steps=4, forward=lambda m, xb, yb: m[2:](m[:2](xb).detach()))
    (finding,) = [f for f in dr.findings if f.id == "zero-gradients"]
    assert finding.evidence["parameters"] == ["0.weight", "0.bias"]


def test_parameters_missing_from_optimizer() -> None:
    x, y = blobs()
    model = mlp()
    dr = run(model, x, y, steps=3, opt=torch.optim.Adam(model[-1].parameters(), 1e-3))
    (finding,) = [f for f in dr.findings if f.id == "params-not-in-optimizer"]
    assert "0.weight" in finding.evidence["parameters"]


def test_model_left_in_eval_mode() -> None:
    x, y = blobs()
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))
    model.eval()
    assert "eval-mode-training" in ids(run(model, x, y, steps=5))
    assert "eval-mode-training" not in ids(run(model.train(), x, y, steps=5))


def test_dead_relus_from_negative_bias() -> None:
    x, y = blobs()
    model = mlp()
    with torch.no_grad():
        model[0].bias.fill_(-20)
    dr = run(model, x, y, steps=4)
    # Once per dead layer: at its ReLU module, not again at the Linear weight before it
    # (benchmarks/doctor/scripts/vanish-deadrelu.py gave each of its 3 layers twice).
    (dead,) = [f for f in dr.findings if f.id == "dead-units"]
    assert dead.practice == "TW-X04"
    assert dead.evidence["layer"] == "1"


class FunctionalReLU(nn.Module):
    def __init__(self, d: int = 8, hidden: int = 32, k: int = 3) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.relu(self.fc1(x)))


def test_dead_units_after_a_functional_relu_are_found_at_the_weight() -> None:
    x, y = blobs()
    model = FunctionalReLU()
    with torch.no_grad():
        model.fc1.bias.fill_(-20)
    (dead,) = [f for f in run(model, x, y, steps=4).findings if f.id == "dead-units"]
    assert dead.evidence["layer"] == "fc1.weight"
    # two dead layers, one finding each
    model = mlp()
    with torch.no_grad():
        model[0].bias.fill_(-20)
        model[2].bias.fill_(-20)
    findings = run(model, x, y, steps=4).findings
    layers = [f.evidence["layer"] for f in findings if f.id == "dead-units"]
    assert sorted(layers) == ["1", "3"]


def test_vanishing_gradients_in_deep_sigmoid_stack() -> None:
    x, y = blobs()
    layers: list[nn.Module] = [nn.Linear(8, 32), nn.Sigmoid()]
    for _ in range(10):
        layers += [nn.Linear(32, 32), nn.Sigmoid()]
    dr = run(nn.Sequential(*layers, nn.Linear(32, 3)), x, y, steps=2)
    assert "vanishing-gradients" in ids(dr)


def test_learning_rate_too_low_and_too_high() -> None:
    x, y = blobs()
    model = mlp()
    low = run(model, x, y, steps=60, opt=torch.optim.SGD(model.parameters(), lr=1e-7))
    assert "lr-too-low" in ids(low)
    model = mlp()
    high = run(model, x, y, steps=20, opt=torch.optim.SGD(model.parameters(), lr=5.0))
    assert {f.practice for f in high.findings} & {"TW-X05"}


def test_validation_checks_from_logged_losses() -> None:
    model = mlp()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    with doctor.watch(model, opt) as dr:
        rising = [(0.3 / (i + 1), 0.7 + 0.02 * i) for i in range(11)]  # past any patience
        for epoch, (train, val) in enumerate([(1.0, 0.9), (0.6, 0.6), (0.4, 0.55), *rising]):
            dr.log_validation(val, epoch=epoch, train_loss=train)
    (finding,) = dr.findings
    assert (finding.id, finding.epoch) == ("overfitting", 13)


def test_gradient_norms_on_a_cadence_and_every_step_while_high() -> None:
    x, y = blobs()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    read: list[int] = []
    with doctor.watch(model, opt) as dr:
        original = dr.on_gradients

        def spy(params: list[torch.Tensor], total: float | None) -> None:
            read.append(dr.step)
            original(params, total)

        dr.on_gradients = spy  # type: ignore[method-assign]
        for step in range(40):
            opt.zero_grad()
            scale = 1e4 if step >= 30 else 1.0  # the gradients jump 10,000x from step 30
            (nn.CrossEntropyLoss()(model(x[:32]), y[:32]) * scale).backward()
            opt.step()
    every = dr.t.grad_every
    quiet = [s for s in read if s < 30]
    assert quiet == sorted(
        {s for s in range(30) if s < dr.t.heavy_first or s % every == 0 or s % 16 == 0}
    )
    assert set(range(32, 40)) <= set(read)  # the next cadence step, then every step
    (spike,) = [f for f in dr.findings if f.id == "exploding-gradients"]
    assert spike.step is not None
    assert spike.step <= 33  # within three steps of the jump


def test_a_loss_first_used_after_the_first_step_is_still_checked() -> None:
    x, y = blobs()
    model = nn.Sequential(mlp(), nn.Softmax(dim=1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with doctor.watch(model, opt) as dr:
        for step in range(4):
            opt.zero_grad()
            out = model(x[:32])
            loss_fn = nn.NLLLoss() if step < 2 else nn.CrossEntropyLoss()
            loss_fn(out.log() if step < 2 else out, y[:32]).backward()
            opt.step()
            if step == 1:
                assert dr.findings == []  # NLLLoss on log-probabilities is right
    assert "output-loss-mismatch" in ids(dr)  # softmax before CrossEntropyLoss, from step 2


def test_nan_passes_without_an_optimizer_step_are_reported_at_once() -> None:
    """GradScaler skips opt.step() on non-finite gradients, and scripts skip NaN batches: the
    trace must not wait for a step that never comes."""
    x, y = blobs()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with doctor.watch(model, opt) as dr:
        for _ in range(5):
            opt.zero_grad()
            nn.CrossEntropyLoss()(model(x[:32]), y[:32]).backward()
            opt.step()
        with torch.no_grad():
            model[2].weight[0, 0] = float("nan")
        for _ in range(2):  # NaN losses: the script skips the step
            opt.zero_grad()
            loss = nn.CrossEntropyLoss()(model(x[:32]), y[:32])
            assert not torch.isfinite(loss)
        (finding,) = [f for f in dr.findings if f.id == "nonfinite-loss"]  # before finish()
    assert finding.step == 5
    assert finding.evidence["first_layer"] == "2"


def test_one_nan_gives_one_remedy_when_loss_module_and_log_loss_both_report() -> None:
    x, y = blobs()
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    remedies = []
    with doctor.watch(model, opt) as dr:
        for step in range(20):
            opt.zero_grad()
            if step == 16:  # a heavy step: its outputs are kept
                with torch.no_grad():
                    model[2].weight[0, 0] = float("nan")
            loss = nn.CrossEntropyLoss()(model(x[:32]), y[:32])
            dr.log_loss(loss)  # as a loop that also logs its loss explicitly
            remedy = dr.needs_remedy()  # as trainwell's Remedy callback asks, every step
            if remedy is not None:
                remedies.append((step, remedy.id))
                with torch.no_grad():
                    model[2].weight[0, 0] = 0.0  # restore clean weights
                dr.acknowledge_remedy()
            elif torch.isfinite(loss):
                loss.backward()
            opt.step()
    assert remedies == [(16, "nonfinite-loss")]


def test_batches_with_zero_loss_are_not_dead_units() -> None:
    # Logits sharpened x200 under cross-entropy: once the classes are apart the loss is exactly
    # 0 on whole batches and every gradient row is zero, but no unit is dead (seen on the HF
    # Trainer variant of benchmarks/doctor/scripts/nan-plain-loss.py --fixed).
    def sharp_ce(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(out * 200, target)

    x, y = blobs(d=20, k=4, seed=1)
    torch.manual_seed(0)
    model = mlp(d=20, k=4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    dr = run(model, x * 3, y, loss_fn=sharp_ce, opt=opt, steps=120)
    assert dr.step == 120
    assert "dead-units" not in ids(dr)
    # The control: the same loss with units really dead is still reported.
    torch.manual_seed(0)
    model = mlp(d=20, k=4)
    with torch.no_grad():
        model[0].bias.fill_(-20)
    dead = run(model, x, y, loss_fn=sharp_ce, steps=8)
    assert "dead-units" in ids(dead)
