"""Small helpers for running the CLI in-process and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
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


def run_subprocess(
    args: list[str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m trainwell ARGS`` in a fresh interpreter, as a user would."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run(
        [sys.executable, "-m", "trainwell", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


class InterruptAfter(Callback):
    """Stops training at the end of epoch ``epoch`` as Ctrl-C would (a killed run)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch + 1 == self.epoch:
            raise KeyboardInterrupt
