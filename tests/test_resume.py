"""A killed run, resumed, ends with exactly the weights of an uninterrupted run (TW-T11)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from conftest import mixed_frame
from helpers import InterruptAfter, run_subprocess
from safetensors.torch import load_file

import trainwell
from trainwell.cli import main
from trainwell.run import RunDir
from trainwell.train.checkpoint import load_state, save_state

SETTINGS = [
    "train.max_epochs=8",
    "train.patience=100",
    "baselines.ship=network",
    "baselines.lightgbm_rounds=50",
    "logging.progress=false",
    "logging.tensorboard=false",
    "report.bootstrap=0",
    "report.importance_repeats=1",
    "report.energy=false",
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


def test_interrupted_then_resumed_equals_uninterrupted(
    data: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    full = trainwell.load(uninterrupted)
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
    assert findings_of(resumed.path) == findings_of(full.path)


# Runs `trainwell.fit` in a child process that stops where the test wants to kill it: at
# the end of epoch N (after its checkpoint is written) or inside the report. It writes a
# marker file and sleeps there, so the test kills it on an event, never on a clock.
HANG = """
import pathlib, sys, time
import trainwell
import trainwell.pipeline as pipeline
from trainwell.train.callback import Callback

marker, where, data, out, *overrides = sys.argv[1:]

def hang(*_):
    marker.write_text(where)
    time.sleep(3600)

class HangAtEpoch(Callback):
    def on_epoch_end(self, state):
        if where == f"epoch={state.epoch + 1}":
            hang()

marker = pathlib.Path(marker)
if where == "report":
    pipeline.write_report = hang
trainwell.fit(data, "label", out=out, overrides=overrides, callbacks=[HangAtEpoch()], quiet=True)
"""
HANG_GUARD_S = 1800  # only against a hang; the kill itself waits on the marker file


def start_and_kill(data: Path, out: Path, where: str) -> None:
    """Run a fit in a child process and SIGKILL it once it reaches ``where``."""
    with stopped_at(data, out, where):
        pass


@contextmanager
def stopped_at(data: Path, out: Path, where: str) -> Iterator[None]:
    """A fit in a child process, waiting at ``where`` while the block runs, then SIGKILLed."""
    marker = out.parent / f"{out.name}.marker"
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG, str(marker), where, str(data), str(out), *SETTINGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=out.parent,
    )
    started = time.monotonic()
    try:
        while not marker.exists():
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the run ended before reaching {where}: {stderr[-2000:]}")
            if time.monotonic() - started > HANG_GUARD_S:
                pytest.fail(f"hang guard: the run did not reach {where} in {HANG_GUARD_S} s")
            time.sleep(0.05)
        yield
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def findings_of(run: Path) -> list[dict[str, object]]:
    found: list[dict[str, object]] = json.loads((run / "findings.json").read_text())
    return found


@pytest.fixture(scope="module")
def uninterrupted(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run every killed-and-resumed run must equal (its own results folder)."""
    out = tmp_path_factory.mktemp("uninterrupted") / "full"
    trainwell.fit(data, "label", out=out, overrides=SETTINGS, quiet=True)
    return out


def test_sigkill_in_a_late_epoch_then_resume_equals_uninterrupted(
    data: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut"
    start_and_kill(data, cut, "epoch=7")
    assert json.loads((cut / "manifest.json").read_text())["status"] == "running"
    assert (cut / "checkpoints" / "epoch-0007.safetensors").is_file()
    assert not (cut / "model").exists()

    resumed = run_subprocess(["fit", "--resume", str(cut)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(uninterrupted, cut)
    manifest = json.loads((cut / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["resumed"] == [{"checkpoint": "epoch-0007.safetensors"}]
    # The doctor's state travelled with the checkpoint: the same findings, no new ones.
    assert findings_of(cut) == findings_of(uninterrupted)


def test_sigkill_while_the_report_is_written_then_resume_writes_it(
    data: Path, uninterrupted: Path, tmp_path: Path
) -> None:
    cut = tmp_path / "cut"
    start_and_kill(data, cut, "report")
    assert json.loads((cut / "manifest.json").read_text())["status"] == "complete"
    assert not (cut / "report.html").exists()

    resumed = run_subprocess(["fit", "--resume", str(cut)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "writing its report" in resumed.stderr
    assert "Status: <b>complete</b>" in (cut / "report.html").read_text()
    assert (cut / "model_card.md").is_file()
    assert_same_weights(uninterrupted, cut)
    assert findings_of(cut) == findings_of(uninterrupted)
    again = run_subprocess(["fit", "--resume", str(cut)], cwd=tmp_path)
    assert again.returncode == 2
    assert "already complete" in again.stderr


def test_a_run_another_process_still_writes_is_neither_resumed_nor_reported(
    data: Path, tmp_path: Path
) -> None:
    """A second ``--resume`` beside a live fit would write the same checkpoints and manifest
    at once (a helper's trial: it was accepted). The live process holds the run; once it is
    killed the kernel lets go and the run resumes."""
    cut = tmp_path / "cut"
    with stopped_at(data, cut, "epoch=2"):
        manifest = (cut / "manifest.json").read_bytes()
        for command in (["fit", "--resume", str(cut)], ["report", str(cut)]):
            refused = run_subprocess(command, cwd=tmp_path)
            assert refused.returncode == 2, refused.stderr
            (line,) = refused.stderr.strip().splitlines()
            assert f"run {str(cut)!r} is in use by another trainwell process" in line
        assert (cut / "manifest.json").read_bytes() == manifest
        assert not (cut / "report.html").exists()
    resumed = run_subprocess(["fit", "--resume", str(cut)], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((cut / "manifest.json").read_text())["status"] == "complete"


def test_a_new_run_is_held_by_its_process_until_it_ends(tmp_path: Path) -> None:
    first = RunDir(tmp_path / "run")
    first.create({"data": None})
    with pytest.raises(trainwell.RunError, match="in use by another trainwell process"):
        RunDir(tmp_path / "run").hold()
    first.release()
    again = RunDir(tmp_path / "run")
    again.hold()  # free once let go
    again.release()


def test_a_file_system_without_locks_leaves_the_run_unheld(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")  # some NFS and FUSE mounts

    monkeypatch.setattr(fcntl, "flock", no_locks)
    run = RunDir(tmp_path / "run")
    run.create({"data": None})  # no error: the run goes on, unheld
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["status"] == "running"


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
