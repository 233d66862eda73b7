"""``trainwell doctor -- COMMAND``: run any script with the doctor attached, no code change.

The child gets this package's ``_bootstrap`` folder first on ``PYTHONPATH``; Python imports
its ``sitecustomize`` at start-up, which attaches the doctor through PyTorch's global
module-forward and optimizer-step hooks as soon as the script imports torch. Findings come
back as JSON lines through a file the parent tails, so they print while the script runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console

from trainwell.doctor import render
from trainwell.doctor._child import EVENTS_ENV
from trainwell.errors import ConfigError
from trainwell.findings import Finding, write_findings

_BOOTSTRAP = Path(__file__).resolve().parent / "_bootstrap"
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # the folder holding ``trainwell``
_POLL_S = 0.2


class _EventReader:
    """Reads complete JSON lines appended to the events file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read(self) -> list[dict[str, object]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next read
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


def child_env(events: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes a Python child attach the doctor at start-up."""
    env = dict(os.environ if base is None else base)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(_BOOTSTRAP), *([path] if path else [])])
    env[EVENTS_ENV] = str(events)
    env["TRAINWELL_DOCTOR_PACKAGE_DIR"] = str(_PACKAGE_DIR)
    return env


def run_doctor(
    command: list[str],
    json_path: Path | None = None,
    *,
    console: Console | None = None,
    child_output: int | None = None,
) -> int:
    """Run ``command`` with the doctor attached; print findings live and a summary.

    Args:
        command: the program and its arguments, e.g. ``["python", "train.py", "--epochs", "5"]``.
            A Python child must be able to import trainwell (same environment).
        json_path: where to write the findings as a JSON list of finding dicts.
        console: where to print (stderr by default); ``Console(quiet=True)`` for silence.
        child_output: ``subprocess.DEVNULL`` to silence the command's stdout and stderr;
            by default they pass through.

    Returns:
        The command's own exit code (128 + N when a signal N killed it).

    Raises:
        ConfigError: the command is empty or cannot be started.
    """
    if not command:
        raise ConfigError("trainwell doctor needs a command: trainwell doctor -- python train.py")
    console = console or Console(stderr=True)
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="trainwell-doctor-") as tmp:
        events = Path(tmp) / "events.jsonl"
        events.touch()
        reader = _EventReader(events)
        try:
            proc = subprocess.Popen(
                command, env=child_env(events), stdout=child_output, stderr=child_output
            )
        except OSError as err:
            raise ConfigError(f"cannot run {command[0]!r}: {err.strerror or err}") from err
        while True:
            try:
                done = proc.wait(timeout=_POLL_S) is not None
            except subprocess.TimeoutExpired:
                done = False
            except KeyboardInterrupt:  # the child got the same Ctrl-C; let it finish reporting
                proc.wait()
                done = True
            findings += _print_new(reader, console, findings)
            if done:
                break
        findings += _print_new(reader, console, findings)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    render.print_summary(console, findings, code)
    if json_path is not None:
        write_findings(json_path, findings)
    return code


def _print_new(reader: _EventReader, console: Console, seen: list[Finding]) -> list[Finding]:
    new: list[Finding] = []
    for event in reader.read():
        if event.get("kind") == "finding":
            finding = Finding.from_dict(event["finding"])  # type: ignore[arg-type]
            render.print_finding(console, finding)
            new.append(finding)
        elif event.get("kind") == "symptoms":  # a cause, now with the symptoms it explains
            cause = Finding.from_dict(event["finding"])  # type: ignore[arg-type]
            for found in (seen, new):
                for i, f in enumerate(found):
                    if (f.id, f.step, f.message) == (cause.id, cause.step, cause.message):
                        found[i] = cause
    return new
