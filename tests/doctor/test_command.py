"""The no-code-change runner: a script's own exit code, live findings, JSON out."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console

from trainwell.doctor import run_doctor
from trainwell.errors import ConfigError

SCRIPT = """
import sys
import torch
from torch import nn

torch.manual_seed(0)
x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3){extra})
opt = torch.optim.Adam(model.parameters(), 1e-3)
for _ in range(5):
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(x), y).backward()
    opt.step()
sys.exit({code})
"""


def script(tmp_path: Path, extra: str = "", code: int = 0) -> list[str]:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(SCRIPT.format(extra=extra, code=code)))
    return [sys.executable, str(path)]


def test_finding_streams_back_as_json_and_exit_code_passes_through(tmp_path: Path) -> None:
    out = tmp_path / "findings.json"
    console = Console(record=True, width=200)
    code = run_doctor(
        script(tmp_path, extra=", nn.Softmax(dim=1)", code=3),
        out,
        console=console,
        child_output=subprocess.DEVNULL,
    )
    assert code == 3
    findings = json.loads(out.read_text())
    assert [f["id"] for f in findings] == ["output-loss-mismatch"]
    assert findings[0]["practice"] == "TW-A06"
    text = console.export_text()
    assert "softmax applied twice" in text
    assert "script exit code 3" in text


def test_clean_script_gives_empty_json(tmp_path: Path) -> None:
    out = tmp_path / "findings.json"
    code = run_doctor(
        script(tmp_path), out, console=Console(quiet=True), child_output=subprocess.DEVNULL
    )
    assert code == 0
    assert json.loads(out.read_text()) == []


def test_crashing_script_keeps_its_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "crash.py"
    path.write_text("import torch\nraise SystemExit('boom')\n")
    code = run_doctor(
        [sys.executable, str(path)],
        None,
        console=Console(quiet=True),
        child_output=subprocess.DEVNULL,
    )
    assert code == 1


def test_missing_command_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot run"):
        run_doctor([str(tmp_path / "no-such-program")], None, console=Console(quiet=True))
    with pytest.raises(ConfigError, match="needs a command"):
        run_doctor([], None)


def test_cli_runs_a_script_and_passes_its_exit_code_through(tmp_path: Path) -> None:
    """`trainwell doctor --json F -- python train.py` exactly as a user types it."""
    from tests.helpers import run_subprocess

    out = tmp_path / "findings.json"
    result = run_subprocess(
        ["doctor", "--json", str(out), "--", *script(tmp_path, ", nn.Softmax(dim=1)", code=3)],
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr
    assert "softmax applied twice" in result.stderr
    assert [f["id"] for f in json.loads(out.read_text())] == ["output-loss-mismatch"]


def test_cli_without_a_command_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.helpers import run_subprocess

    result = run_subprocess(["doctor"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "trainwell: error: trainwell doctor needs a command: trainwell doctor -- python train.py"
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],  # help, usage errors and reported errors stay with the full CLI
        ["python", "train.py"],  # no "--": options may follow the command
        ["--bogus", "--", "python", "train.py"],
        ["--json"],
        ["--"],
        ["--json", "/no/such/folder/f.json", "--", "python", "train.py"],
    ],
)
def test_fast_start_hands_every_other_form_to_the_full_cli(args: list[str]) -> None:
    from trainwell.doctor.command import main_fast

    assert main_fast(args) is None


def test_doctor_starts_without_the_full_command_line(tmp_path: Path) -> None:
    """`python -m trainwell doctor --json F -- COMMAND` imports neither typer nor pydantic
    nor the config schema (~0.2 s of CPU before the script starts); the exit code and the
    findings are those of the full command line."""
    out = tmp_path / "f.json"
    command = ["doctor", f"--json={out}", "--", *script(tmp_path, ", nn.Softmax(dim=1)", code=3)]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trainwell", *command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert [f["id"] for f in json.loads(out.read_text())] == ["output-loss-mismatch"]
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "trainwell.doctor.command" in imported
    assert imported & {"typer", "pydantic", "trainwell.cli", "trainwell.config"} == set()
