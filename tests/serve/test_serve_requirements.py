"""The requirements ``trainwell serve --emit-dockerfile DIR`` writes resolve in a fresh venv
(TW-P09): pip, run for a new empty venv, finds every pinned distribution at its pinned
version, with the dependencies they need, for this Python and platform.

It is pip's ``--dry-run``: the resolution a real install does (every pin found in the
reachable index, every dependency's constraints met together), without unpacking a few
hundred MB into the venv; that the installed set then imports is what the rest of the suite
shows in the environment the pins were read from. The machine reaches no index but its
configured one (pip's own configuration); with none reachable the test skips, saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

PIP_LIMIT_S = 900  # against a hung index only, never a time assert
QUIET = ["--disable-pip-version-check", "--retries", "0", "--timeout", "30", "--quiet"]


def pip(venv: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The shared environment's pip acting for the fresh venv's interpreter (pip's
    ``--python``), so the venv needs no pip of its own."""
    command = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=PIP_LIMIT_S)


def test_the_emitted_requirements_resolve_in_a_fresh_venv(
    served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "image"
    code, _, err = run_cli(["serve", str(served_run), "--emit-dockerfile", str(out)], capsys)
    assert code == 0, err
    requirements = out / "requirements.txt"
    pins = {
        line.split("==")[0].lower(): line.split("==")[1]
        for line in requirements.read_text().splitlines()
        if line and not line.startswith(("#", "--"))
    }
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    probe = pip(venv, "install", "--dry-run", "--no-deps", "--ignore-installed", *QUIET,
                f"fastapi=={pins['fastapi']}")  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"no package index is reachable from here, so nothing can resolve: {last}")
    report = tmp_path / "report.json"
    resolved = pip(venv, "install", "--dry-run", "--ignore-installed", *QUIET,
                   "--report", str(report), "-r", str(requirements))  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr[-3000:]
    chosen = {
        item["metadata"]["name"].lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    for name, version in pins.items():
        assert chosen[name.replace("_", "-")] == version, name
    assert len(chosen) > len(pins)  # their own dependencies resolved too
