"""``trainwell doctor -- COMMAND``: run any script with the doctor attached, no code change.

The child gets this package's ``_bootstrap`` folder first on ``PYTHONPATH``; Python imports
its ``sitecustomize`` at start-up, which attaches the doctor through PyTorch's global
module-forward and optimizer-step hooks as soon as the script imports torch. Findings come
back as JSON lines through a file the parent tails, so they print while the script runs.

Every process of the run writes there (``torchrun``'s workers too); a finding carries the
rank of the worker that made it, and the same finding from several ranks prints once.
SIGTERM, SIGHUP and SIGINT sent to ``trainwell doctor`` are passed on to the command, which
then ends as it would alone; the summary and the JSON are written after it exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from rich.console import Console

from trainwell.doctor import render
from trainwell.errors import ConfigError
from trainwell.findings import Finding, write_findings

_BOOTSTRAP = Path(__file__).resolve().parent / "_bootstrap"
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # the folder holding ``trainwell``
_POLL_S = 0.2
# Read by ``_child`` and ``_bootstrap/sitecustomize``; not imported from ``_child``, which
# loads torch, and this process needs none.
EVENTS_ENV = "TRAINWELL_DOCTOR_EVENTS"


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
    findings = _Findings()
    # At a terminal, Ctrl-C reaches the whole foreground process group, the command
    # included, and the command must stay in it to read the terminal. Anywhere else (a
    # scheduler, a test, nohup) it gets its own group and every signal comes through here.
    own_group = os.name == "posix" and not _in_foreground()
    with tempfile.TemporaryDirectory(prefix="trainwell-doctor-") as tmp:
        events = Path(tmp) / "events.jsonl"
        events.touch()
        reader = _EventReader(events)
        try:
            proc = subprocess.Popen(
                command,
                env=child_env(events),
                stdout=child_output,
                stderr=child_output,
                process_group=0 if own_group else None,
            )
        except OSError as err:
            raise ConfigError(f"cannot run {command[0]!r}: {err.strerror or err}") from err
        with _forward_signals(proc, own_group):
            while True:
                try:
                    done = proc.wait(timeout=_POLL_S) is not None
                except subprocess.TimeoutExpired:
                    done = False
                except KeyboardInterrupt:  # the child got the same Ctrl-C; let it report
                    proc.wait()
                    done = True
                _print_new(reader, console, findings)
                if done:
                    break
        _print_new(reader, console, findings)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    render.print_summary(console, findings.items, code)
    if json_path is not None:
        write_findings(json_path, findings.items)
    return code


def main_fast(args: list[str]) -> int | None:
    """``trainwell doctor [--json FILE] -- COMMAND ...`` without the full command line.

    The command line (:mod:`trainwell.cli`) imports typer, pydantic and the config schema,
    ~0.2 s of CPU that every doctored run paid before its script started. This reads only the
    form the docs show: ``--json FILE`` (or ``--json=FILE``) options, then ``--``, then the
    command. Everything else (``--help``, another option, no ``--``, no command, a missing
    ``--json`` folder, a command that cannot start) returns ``None`` before anything ran, and
    the caller hands it to the full command line, which parses and reports it as always.

    Args:
        args: the arguments after ``doctor``.

    Returns:
        The command's exit code, or ``None`` when the full command line must handle ``args``.
    """
    if "--" not in args:
        return None
    split = args.index("--")
    options, command = args[:split], args[split + 1 :]
    json_path: Path | None = None
    i = 0
    while i < len(options):
        if options[i] == "--json" and i + 1 < len(options):
            json_path, i = Path(options[i + 1]), i + 2
        elif options[i].startswith("--json="):
            json_path, i = Path(options[i].removeprefix("--json=")), i + 1
        else:
            return None
    if not command or (json_path is not None and not json_path.parent.is_dir()):
        return None
    try:
        return run_doctor(command, json_path)
    except ConfigError:  # raised before the command started: the full CLI reports it
        return None
    except KeyboardInterrupt as err:  # as the full command line reports it
        from trainwell.interrupts import interrupted_message

        print(interrupted_message(err), file=sys.stderr)
        return 130


def _in_foreground() -> bool:
    """This process runs in the foreground of a terminal (Ctrl-C reaches its group)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (AttributeError, OSError, ValueError):  # no terminal, or stdin closed/replaced
        return False


@contextlib.contextmanager
def _forward_signals(proc: subprocess.Popen[bytes], own_group: bool) -> Iterator[None]:
    """Pass SIGTERM, SIGHUP (and SIGINT when the command has its own process group) on to
    the command while it runs; this process keeps waiting for it."""
    if os.name != "posix" or threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return

    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            if own_group:
                os.killpg(proc.pid, signum)  # torchrun's workers and other helpers too
            else:
                proc.send_signal(signum)

    signums = [signal.SIGTERM, signal.SIGHUP] + ([signal.SIGINT] if own_group else [])
    previous = {signum: signal.signal(signum, forward) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Findings:
    """The run's findings in arrival order; a finding that several ranks of a distributed
    run make (same id and layer) is kept once, with the ranks listed in ``evidence``."""

    def __init__(self) -> None:
        self.items: list[Finding] = []
        self._by_key: dict[tuple[str, str], Finding] = {}

    def add(self, finding: Finding) -> bool:
        """Keep ``finding``; ``False`` when it repeats another rank's finding."""
        rank = finding.evidence.get("rank")
        if rank is not None:
            key = (finding.id, str(finding.evidence.get("layer", "")))
            kept = self._by_key.get(key)
            if kept is not None:
                kept.evidence["ranks"] = sorted({*kept.evidence["ranks"], rank})
                return False
            finding.evidence["ranks"] = [rank]
            self._by_key[key] = finding
        self.items.append(finding)
        return True

    def replace(self, cause: Finding) -> None:
        """Put ``cause`` (a finding again, with the symptoms it explains) in its place."""
        for i, f in enumerate(self.items):
            if (f.id, f.step, f.message) == (cause.id, cause.step, cause.message):
                if "ranks" in f.evidence:
                    cause.evidence["ranks"] = f.evidence["ranks"]
                self.items[i] = cause
                # Later ranks' copies must merge into the finding that is kept now.
                for key, kept in self._by_key.items():
                    if kept is f:
                        self._by_key[key] = cause


def _print_new(reader: _EventReader, console: Console, findings: _Findings) -> None:
    for event in reader.read():
        if event.get("kind") == "finding":
            finding = Finding.from_dict(event["finding"])  # type: ignore[arg-type]
            if findings.add(finding):
                render.print_finding(console, finding)
        elif event.get("kind") == "symptoms":  # a cause, now with the symptoms it explains
            findings.replace(Finding.from_dict(event["finding"]))  # type: ignore[arg-type]
