"""Small helpers for running the CLI in-process and as a real subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from trainwell.cli import main
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

FAST = ["train.max_epochs=25", "train.patience=5", "logging.progress=false"]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run ``trainwell ARGS`` in this process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), out, err


# Only a guard against a hung child, never a time limit: a loaded CI machine can be many
# times slower than a laptop, and a slow run is not a failed one.
HANG_GUARD_S = 1800


def run_subprocess(
    args: list[str], cwd: Path, timeout: float = HANG_GUARD_S, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trainwell ARGS`` in a fresh interpreter, as a user would (``env``:
    variables set beside this process's)."""
    env = {**os.environ, "PYTHONWARNINGS": "error", **(env or {})}
    try:
        return subprocess.run(
            [sys.executable, "-m", "trainwell", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as err:
        tail = (err.stderr or b"")[-2000:]
        text = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        pytest.fail(
            f"hang guard: `trainwell {' '.join(args)}` was still running after {timeout:.0f} s "
            f"(it is presumed hung); its stderr ends: {text}"
        )


class InterruptAfter(Callback):
    """Stops training at the end of epoch ``epoch`` as Ctrl-C would (a killed run)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch + 1 == self.epoch:
            raise KeyboardInterrupt


# Debian's chromium, headless, for the tests that open a page (the report, the served page):
# ``./scripts/check`` installs it with apt; without it those tests skip and say why.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/check installs it with apt)"
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# torch 2.13 sometimes aborts a gloo rank at interpreter exit, after a clean
# destroy_process_group() ("terminate called without an active exception", SIGABRT), the more
# often the busier the machine: a 2-rank DDP script under torchrun ended so in 4-5 of 8 runs
# with two CPU-bound processes alongside (and in 2 of 8 with a barrier before the destroy;
# a script with no training step never did). Not trainwell's doing, and not the doctor's (it
# happens without it): a job that ends that way is run again.
TORCH_EXIT_ABORT = "terminate called without an active exception"


def run_gloo_job(
    run: Callable[[], subprocess.CompletedProcess[str]], tries: int = 5
) -> subprocess.CompletedProcess[str]:
    """``run()`` (a multi-process gloo job), again while it ends in torch's exit-time abort."""
    for _ in range(tries - 1):
        result = run()
        if result.returncode == 0 or TORCH_EXIT_ABORT not in result.stderr:
            return result
    return run()
