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
