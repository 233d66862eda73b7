"""A killed run, resumed, ends with exactly the weights of an uninterrupted run (TW-T11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import mixed_frame
from helpers import InterruptAfter, run_subprocess
from safetensors.torch import load_file

import trainwell
from trainwell.cli import main
from trainwell.train.checkpoint import load_state, save_state

SETTINGS = [
    "train.max_epochs=8",
    "train.patience=100",
    "baselines.ship=network",
    "logging.progress=false",
]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "model" / "weights.safetensors"))


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("resume") / "data.csv"
    mixed_frame(600).to_csv(path, index=False)
    return path


def test_interrupted_then_resumed_equals_uninterrupted(data: Path, tmp_path: Path) -> None:
    full = trainwell.fit(data, "label", out=tmp_path / "full", overrides=SETTINGS, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            data,
            "label",
            out=tmp_path / "cut",
            overrides=SETTINGS,
            quiet=True,
            callbacks=[InterruptAfter(3)],
        )
    manifest = json.loads((tmp_path / "cut" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    with pytest.raises(trainwell.RunError, match="not complete"):
        trainwell.load(tmp_path / "cut").predict(mixed_frame(5))
    with pytest.raises(SystemExit) as done:  # a stopped run's report can be built
        main(["report", str(tmp_path / "cut")])
    assert done.value.code == 0
    assert "Status: <b>interrupted</b>" in (tmp_path / "cut" / "report.html").read_text()
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert resumed.manifest["status"] == "complete"
    assert resumed.manifest["resumed"] == [{"checkpoint": "epoch-0003.safetensors"}]
    assert_same_weights(full.path, resumed.path)
    assert resumed.metrics == full.metrics
    history = json.loads((resumed.path / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(8))


def test_sigkill_mid_training_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    data = tmp_path / "big.csv"
    mixed_frame(3000).to_csv(data, index=False)
    settings = [
        "train.max_epochs=40",
        "train.patience=1000",
        "baselines.ship=network",
        "logging.progress=false",
    ]
    cut = tmp_path / "cut"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainwell",
            "fit",
            str(data),
            "--target",
            "label",
            "--out",
            str(cut),
            *settings,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 240
    while not (cut / "checkpoints" / "epoch-0005.safetensors").exists():
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((cut / "manifest.json").read_text())["status"] == "running"
    assert not (cut / "model").exists()

    resumed = run_subprocess(["fit", "--resume", str(cut)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    full = run_subprocess(
        ["fit", str(data), "--target", "label", "--out", str(tmp_path / "full"), *settings],
        cwd=tmp_path,
    )
    assert full.returncode == 0, full.stderr
    assert_same_weights(tmp_path / "full", cut)
    manifest = json.loads((cut / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert len(manifest["resumed"]) == 1


def test_resume_refuses_changed_data_and_finished_runs(data: Path, tmp_path: Path) -> None:
    run = trainwell.fit(data, "label", out=tmp_path / "run", overrides=SETTINGS, quiet=True)
    with pytest.raises(trainwell.RunError, match="already complete"):
        trainwell.fit(resume=run.path, quiet=True)
    manifest = json.loads((run.path / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (run.path / "manifest.json").write_text(json.dumps(manifest))
    changed = tmp_path / "changed.csv"
    mixed_frame(600, seed=1).to_csv(changed, index=False)
    manifest["data"]["path"] = str(changed)
    (run.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(trainwell.DataError, match="changed since run"):
        trainwell.fit(resume=run.path, quiet=True)


def test_checkpoint_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "epoch-0001.safetensors"
    save_state(path, {"w": torch.ones(3), "epoch": 1})
    before = path.read_bytes()

    def crash(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_state(path, {"w": torch.zeros(3), "epoch": 2})
    assert path.read_bytes() == before  # the old checkpoint is untouched
    assert load_state(path)["epoch"] == 1


def test_checkpoint_round_trips_optimizer_state_with_integer_keys(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_state(tmp_path / "c.safetensors", {"optimizer": opt.state_dict(), "t": (1, None, "x")})
    loaded = load_state(tmp_path / "c.safetensors")
    assert loaded["t"] == (1, None, "x")
    fresh = torch.optim.AdamW(model.parameters())
    fresh.load_state_dict(loaded["optimizer"])
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(fresh.state_dict()["state"][0][key], opt.state_dict()["state"][0][key])
