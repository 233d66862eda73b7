"""The LR range test (TW-T02) and the memory-fitted batch (TW-T08-T10)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import FAST, run_cli
from sklearn.datasets import load_breast_cancer
from torch import nn

import trainwell
from trainwell.train import range_test as range_test_module
from trainwell.train.loop import InMemoryData, train
from trainwell.train.memory import BatchPlan, fit_batch_to_memory, largest_fitting, step_probe
from trainwell.train.precision import Precision
from trainwell.train.range_test import LRChoice, RangeTest, choose_lr, lr_range_test, suggest


@pytest.fixture(scope="module")
def cancer() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    order = np.random.default_rng(0).permutation(len(y))
    xt, yt = torch.tensor(x[order], dtype=torch.float32), torch.tensor(y[order])
    return xt[:455], yt[:455], xt[455:], yt[455:]


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(30, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 2)
    )


def loss_fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def cancer_test(cancer: tuple[torch.Tensor, ...]) -> RangeTest:
    x, y, _, _ = cancer
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    return lr_range_test(model, opt, loss_fn, InMemoryData((x,), y, 32), clip_grad_norm=1.0)


def test_range_test_leaves_weights_optimizer_and_rng_bit_identical(
    cancer: tuple[torch.Tensor, ...],
) -> None:
    x, y, _, _ = cancer
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    data = InMemoryData((x,), y, 32, seed=1)
    train(model, opt, loss_fn, data, max_epochs=1)  # an optimizer with state to keep
    model.eval()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    opt_state = {
        i: {k: v.clone() for k, v in s.items()} for i, s in opt.state_dict()["state"].items()
    }
    groups = opt.state_dict()["param_groups"]
    rng = torch.get_rng_state()

    test = lr_range_test(model, opt, loss_fn, data, steps=60, clip_grad_norm=1.0)

    assert len(test.lrs) > 10  # it did train
    for key, value in model.state_dict().items():  # BatchNorm buffers included
        assert torch.equal(value, weights[key]), key
    after = opt.state_dict()
    assert after["param_groups"] == groups  # the LR is back, no "initial_lr" left behind
    for i, state in after["state"].items():
        for key, value in state.items():
            assert torch.equal(value, opt_state[i][key]), (i, key)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model.training  # eval mode restored


def test_training_after_the_test_equals_training_that_never_ran_it(
    cancer: tuple[torch.Tensor, ...],
) -> None:
    x, y, _, _ = cancer
    data = InMemoryData((x,), y, 32, seed=3)
    tested, plain = mlp(), mlp()
    opt_tested = torch.optim.AdamW(tested.parameters(), lr=1e-3)
    torch.manual_seed(5)
    lr = lr_range_test(tested, opt_tested, loss_fn, data, steps=40).suggestion
    assert lr is not None
    for group in opt_tested.param_groups:
        group["lr"] = lr
    train(tested, opt_tested, loss_fn, data, max_epochs=2)

    opt_plain = torch.optim.AdamW(plain.parameters(), lr=lr)
    torch.manual_seed(5)  # dropout draws from the same RNG state in both runs
    train(plain, opt_plain, loss_fn, data, max_epochs=2)
    for (key, a), b in zip(tested.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), key


def test_suggestion_trains_well_and_the_curve_diverges_at_high_lrs(
    cancer: tuple[torch.Tensor, ...], cancer_test: RangeTest
) -> None:
    x, y, xv, yv = cancer
    test = cancer_test
    assert test.suggestion is not None
    assert 1e-4 <= test.suggestion <= 5e-2, test.reason
    assert "diverged" in test.stopped
    assert test.lrs[-1] < test.end_lr
    finite = [v for v in test.smoothed if math.isfinite(v)]
    assert max(test.losses[-3:]) > 2 * min(finite)  # and the loss had blown up by then
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=test.suggestion)
    train(model, opt, loss_fn, InMemoryData((x,), y, 32), max_epochs=15)
    assert accuracy(model, xv, yv) >= 0.93


def test_range_test_is_deterministic_and_json_round_trips(
    cancer: tuple[torch.Tensor, ...], cancer_test: RangeTest
) -> None:
    x, y, _, _ = cancer
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    again = lr_range_test(model, opt, loss_fn, InMemoryData((x,), y, 32), clip_grad_norm=1.0)
    assert again.lrs == cancer_test.lrs
    assert again.losses == cancer_test.losses
    text = json.dumps(cancer_test.to_dict(), allow_nan=False)  # strict JSON: no NaN
    back = RangeTest.from_dict(json.loads(text))
    assert back.suggestion == cancer_test.suggestion
    assert back.lrs == cancer_test.lrs


def test_every_method_suggests_below_the_divergence(cancer_test: RangeTest) -> None:
    for method in ("valley", "steepest", "minimum"):
        result = suggest(cancer_test.lrs, cancer_test.losses, method)
        assert result.suggestion is not None
        assert result.suggestion < cancer_test.lrs[-1]
        assert result.method == method
        assert result.reason


def test_a_flat_curve_gives_no_suggestion_and_fit_keeps_the_default(tmp_path: Path) -> None:
    lrs = list(np.geomspace(1e-7, 10, 50))
    flat = suggest(lrs, [0.69] * 50)
    assert flat.suggestion is None
    assert flat.verdict == "flat"
    assert "the curve is flat" in flat.reason
    chosen = choose_lr(None, lambda: flat, tmp_path / "lr.json")
    assert chosen.source == "default"
    assert chosen.lr == 1e-3
    assert json.loads((tmp_path / "lr.json").read_text())["suggestion"] is None


def test_choose_lr_uses_config_then_the_record_never_sweeping_twice(tmp_path: Path) -> None:
    def no_sweep() -> RangeTest:
        raise AssertionError("the range test must not run")

    assert choose_lr(3e-4, no_sweep) == LRChoice(
        3e-4, "config", "train.lr=0.0003 set in the config"
    )
    record = tmp_path / "lr_find.json"
    lrs = list(np.geomspace(1e-7, 10, 60))
    losses = [1.0 / (1 + 1e3 * lr) if lr < 1 else 50.0 for lr in lrs]
    first = choose_lr(None, lambda: suggest(lrs, losses), record)
    assert first.source == "range test"
    again = choose_lr(None, no_sweep, record)
    assert again.source == "recorded"
    assert again.lr == first.lr
    record.write_text("{broken")
    with pytest.raises(trainwell.RunError, match="damaged"):
        choose_lr(None, no_sweep, record)


def test_batch_halves_until_it_fits_and_accumulation_keeps_the_effective_batch() -> None:
    tried: list[int] = []

    def fits_up_to_40(size: int) -> None:
        tried.append(size)
        if size > 40:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    assert largest_fitting(fits_up_to_40, 128) == (32, [128, 64])
    plan = fit_batch_to_memory(128, 2, fits_up_to_40, torch.device("cuda"), "from the data")
    assert (plan.batch_size, plan.accumulate, plan.effective) == (32, 8, 256)
    assert "ran out of CUDA memory" in plan.reason
    assert "effective batch of 256" in plan.reason
    cpu = fit_batch_to_memory(128, 2, fits_up_to_40, torch.device("cpu"), "from the data")
    assert cpu == BatchPlan(128, 2, cpu.reason)
    assert "CPU" in cpu.reason
    with pytest.raises(torch.OutOfMemoryError):
        largest_fitting(lambda n: fits_up_to_40(n * 1000), 4)


def test_memory_probe_step_is_undone(cancer: tuple[torch.Tensor, ...]) -> None:
    x, y, _, _ = cancer
    model = mlp()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    step_probe(model, opt, loss_fn, (x,), y, Precision("fp32"))(64)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert opt.state_dict()["state"] == {}
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in model.parameters())


def test_cli_lr_find_writes_plot_and_curve_and_prints_the_suggestion(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot, curve = tmp_path / "lr.png", tmp_path / "lr.json"
    code, out, err = run_cli(
        [
            "lr-find",
            str(data_dir / "breast_cancer.csv"),
            "--target",
            "target",
            "--plot",
            str(plot),
            "--json",
            str(curve),
            "train.lr_find_steps=60",
        ],
        capsys,
    )
    assert code == 0, err
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(curve.read_text())
    assert set(saved) >= {"lrs", "losses", "smoothed", "suggestion", "method", "reason"}
    assert len(saved["lrs"]) <= 60
    assert f"suggested learning rate: {saved['suggestion']:.3g}" in out
    assert "why: valley rule (fastai)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "target column 'nope'"),
        (["--target", "target", "--plot", "lr.jpg"], "must end in .png, .svg, .pdf"),
        (["--target", "target", "--plot", "missing/lr.png"], "does not exist"),
        (["--target", "target", "train.lr_find_method=best"], "train.lr_find_method"),
    ],
)
def test_cli_lr_find_bad_input_is_one_line_exit_2(
    data_dir: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _out, err = run_cli(["lr-find", str(data_dir / "breast_cancer.csv"), *args], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("trainwell: error:")
    assert message in err


def test_fit_records_the_range_test_and_resume_reuses_it(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from helpers import InterruptAfter

    settings = [
        *FAST,
        "train.max_epochs=4",
        "baselines.ship=network",
        "baselines.lightgbm_rounds=50",
        "train.lr_find_steps=50",
    ]
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            data_dir / "wine.csv",
            "target",
            out=tmp_path / "run",
            overrides=settings,
            quiet=True,
            callbacks=[InterruptAfter(2)],
        )
    record = json.loads((tmp_path / "run" / "lr_find.json").read_text())
    assert record["suggestion"] is not None
    assert len(record["lrs"]) == len(record["smoothed"])

    def no_sweep(*args: object, **kwargs: object) -> RangeTest:
        raise AssertionError("a resumed run must not run the range test again")

    monkeypatch.setattr("trainwell.trainer.lr_range_test", no_sweep)
    monkeypatch.setattr(range_test_module, "lr_range_test", no_sweep)
    run = trainwell.fit(resume=tmp_path / "run", quiet=True)
    network = run.manifest["network"]
    assert network["lr"] == record["suggestion"]
    assert network["lr_source"] == "recorded"
    assert network["lr_reason"].startswith("LR range test: valley rule")
    assert network["effective_batch_size"] == network["batch_size"] * network["accumulate"]
    assert run.manifest["config"]["train"]["lr"] is None  # "auto": the reproduce command re-runs it
