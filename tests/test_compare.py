"""``trainwell compare``: a paired test on the same test rows says whether a difference is
larger than noise; runs on other test rows are refused; several changed keys are flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli

from trainwell.analysis.predictions import prediction_frame, save_test_predictions
from trainwell.compare import mcnemar, paired_bootstrap

N = 50


def predictions(correct: np.ndarray) -> np.ndarray:
    """Binary predictions of the truth y = row % 2, right where ``correct`` is True."""
    y = np.arange(N) % 2
    return np.where(correct, y, 1 - y)


def test_a_two_point_difference_on_50_rows_is_noise() -> None:
    y = np.arange(N) % 2
    a = np.ones(N, bool)
    a[:5] = False  # A: 45/50 = 90%
    b = np.ones(N, bool)
    b[:6] = False  # B: 44/50 = 88%, wrong on A's rows and one more
    test = mcnemar(y, predictions(a), predictions(b))
    assert test.a - test.b == pytest.approx(0.02)
    assert not test.real
    assert test.p_value == pytest.approx(1.0)  # 1 discordant row: binomtest(0, 1) p = 1


def test_a_real_difference_is_real() -> None:
    y = np.arange(N) % 2
    a = np.ones(N, bool)
    a[:3] = False  # 94%
    b = np.ones(N, bool)
    b[:20] = False  # 60%: 17 rows only A gets right, none only B
    test = mcnemar(y, predictions(a), predictions(b))
    assert test.real
    assert test.p_value == pytest.approx(2 * 0.5**17)


def test_paired_bootstrap_of_rmse() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=N)
    close = y + rng.normal(scale=0.5, size=N)
    far = y + rng.normal(scale=2.0, size=N)
    slightly = close + rng.normal(scale=0.05, size=N)
    assert paired_bootstrap("rmse", "regression", y, close, far).real
    noise = paired_bootstrap("rmse", "regression", y, close, slightly)
    assert not noise.real
    assert noise.interval is not None
    assert noise.interval[0] <= 0.0 <= noise.interval[1]


def fake_run(
    root: Path,
    name: str,
    correct: np.ndarray,
    config: dict,
    test_hash: str,
    shipped: str = "network",
    network_accuracy: float | None = None,
) -> Path:
    """A finished run directory with what compare reads: manifest, metrics, predictions."""
    run = root / name
    run.mkdir()
    y = np.arange(N) % 2
    pred = predictions(correct)
    proba = np.column_stack([1.0 - pred * 0.8 - 0.1, pred * 0.8 + 0.1])
    manifest = {
        "status": "complete", "config": config, "data": {"task": "binary"},
        "splits": {"hashes": {"train": "t", "validation": "v", "test": test_hash}},
    }  # fmt: skip
    (run / "manifest.json").write_text(json.dumps(manifest))
    metrics: dict = {"shipped": shipped, "test": {"accuracy": float(correct.mean())}}
    if network_accuracy is not None:
        metrics["network"] = {"test": {"accuracy": network_accuracy}}
    (run / "metrics.json").write_text(json.dumps(metrics))
    frame = prediction_frame("binary", np.arange(N), y, proba)
    save_test_predictions(run, frame, frame[["y_true"]])
    return run


@pytest.fixture
def good() -> np.ndarray:
    correct = np.ones(N, bool)
    correct[:3] = False
    return correct


def test_compare_runs_on_the_same_rows(
    tmp_path: Path, good: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    worse = np.ones(N, bool)
    worse[:20] = False
    a = fake_run(tmp_path, "a", good, {"train": {"lr": 0.001, "batch_size": 32}}, "same")
    b = fake_run(tmp_path, "b", worse, {"train": {"lr": 0.1, "batch_size": 64}}, "same")
    code, out, _ = run_cli(["compare", str(a), str(b), "--format", "json"], capsys)
    assert code == 0
    result = json.loads(out)
    assert result["differs"] == {"train.batch_size": [32, 64], "train.lr": [0.001, 0.1]}
    accuracy = next(t for t in result["tests"][0] if t["metric"] == "accuracy")
    assert accuracy["real"] is True
    assert accuracy["method"] == "McNemar exact"
    assert "TW-X13" in result["warnings"][0]  # two keys changed at once
    low, high = result["metrics"][0]["intervals"]["accuracy"]
    assert low < 0.94 < high  # Wilson interval around A's 47/50


def test_one_changed_key_is_not_flagged(
    tmp_path: Path, good: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    a = fake_run(tmp_path, "a", good, {"train": {"lr": 0.001}}, "same")
    b = fake_run(tmp_path, "b", good, {"train": {"lr": 0.002}}, "same")
    code, out, _ = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 0
    assert "warning" not in out
    assert "accuracy: 0.94 -> 0.94: within noise" in out


def test_runs_on_other_test_rows_are_refused(
    tmp_path: Path, good: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    a = fake_run(tmp_path, "a", good, {}, "rows-1")
    b = fake_run(tmp_path, "b", good, {}, "rows-2")
    code, _, err = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 2
    assert "test split hashes differ" in err


def test_network_keys_between_runs_that_ship_a_baseline_are_flagged(
    tmp_path: Path, good: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both runs ship the linear baseline: a changed train.lr changed only the networks,
    which compare does not see; it says so with their own scores (a user saw every metric
    "within noise" and nothing else)."""
    a = fake_run(tmp_path, "a", good, {"train": {"lr": 0.001}}, "same", "linear", 0.9)
    b = fake_run(tmp_path, "b", good, {"train": {"lr": 0.01}}, "same", "linear", 0.8)
    code, out, _ = run_cli(["compare", str(a), str(b)], capsys)
    assert code == 0
    assert (
        "warning: every run ships its linear baseline, so train.lr (which change the network) "
        "leave the compared models as they were; the networks' own test accuracy: a 0.9, b 0.8"
    ) in out
    c = fake_run(tmp_path, "c", good, {"train": {"lr": 0.01}}, "same", "network", 0.8)
    code, out, _ = run_cli(["compare", str(a), str(c)], capsys)
    assert "ships its" not in out  # c ships its network: the change is compared
