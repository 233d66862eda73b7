"""A small fit's fixed costs (issue 19): codecarbon's set-up does not hold the run up, the
report's log axes are labelled without matplotlib's mathtext, and the command's lasting imports
are kept out of the cyclic garbage collector's way (trainwell.lasting)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from trainwell.analysis.energy import EnergyMeter
from trainwell.config import ReportConfig
from trainwell.report import figures


class _Data:
    duration, energy_consumed, emissions = 2.0, 1e-6, 5e-7
    cpu_power, gpu_power, ram_power = 10.0, 0.0, 3.0
    cpu_model, gpu_model, country_iso_code, country_name = "test CPU", "", "FRA", "France"


class _SlowTracker:
    """codecarbon's tracker whose set-up (``start``) waits until the test releases it."""

    release = threading.Event()
    made: ClassVar[list[_SlowTracker]] = []

    def __init__(self, **kwargs: Any) -> None:
        self._conf = {"codecarbon_version": "test", "hardware": ["CPU"], "pue": 1.0}
        self.made.append(self)
        self.started = self.stopped = False

    def start(self) -> None:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError("set up in line, holding the run up")  # recorded as an error
        self.release.wait()
        self.started = True

    def stop(self) -> None:
        self.stopped = True
        self.final_emissions_data = _Data()


def test_energy_meter_start_returns_before_codecarbon_is_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start() comes back while the tracker's set-up still waits; stop() waits for it, so
    the session is measured and recorded as before; a second start() makes no second one."""
    fake = types.ModuleType("codecarbon")
    fake.OfflineEmissionsTracker = _SlowTracker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "codecarbon", fake)
    _SlowTracker.made.clear()
    _SlowTracker.release.clear()
    meter = EnergyMeter(tmp_path, ReportConfig())
    meter.start()  # would never return if the set-up ran in line: release is not set
    meter.start()
    assert not (tmp_path / "energy.json").exists()
    _SlowTracker.release.set()
    meter.stop()
    (tracker,) = _SlowTracker.made
    assert tracker.started
    assert tracker.stopped
    (session,) = json.loads((tmp_path / "energy.json").read_text())["sessions"]
    assert session["status"] == "complete"
    assert session["energy_kwh"] == pytest.approx(1e-6)
    assert session["country_name"] == "France"


def test_energy_meter_records_a_failed_set_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tracker that cannot be made is an error in energy.json, never a failed run."""

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("no power counters")

    fake = types.ModuleType("codecarbon")
    fake.OfflineEmissionsTracker = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "codecarbon", fake)
    meter = EnergyMeter(tmp_path, ReportConfig())
    meter.start()
    meter.stop()
    (session,) = json.loads((tmp_path / "energy.json").read_text())["sessions"]
    assert session["error"] == "RuntimeError: no power counters"
    assert "energy_kwh" not in session


def _svg_text(figure: figures.Figure) -> str:
    return base64.b64decode(figure.src.split(",", 1)[1]).decode()


def test_range_test_figure_labels_its_log_axis_in_plain_text() -> None:
    """Tick labels such as "1e−05" (text in the SVG; matplotlib writes a true minus sign),
    not mathtext's 10 with a raised −5."""
    lrs = [1e-7 * 10 ** (i / 10) for i in range(81)]
    losses = [0.7 - 0.5 * i / 80 for i in range(81)]
    svg = _svg_text(figures.range_test(lrs, losses, losses, 1e-3, "valley"))
    labels = set(re.findall(r"<text[^>]*>([^<]*)<", svg))
    assert {"1e\u221207", "1e\u221205", "1e\u221203", "1", "10"} <= labels, labels
    assert "mathdefault" not in svg


def test_gradient_norm_figure_labels_its_log_axis_in_plain_text() -> None:
    steps = list(range(200))
    norms = [0.01 * 1.03**s for s in steps]
    svg = _svg_text(figures.step_series(steps, norms, "gradient norm", log=True))
    labels = set(re.findall(r"<text[^>]*>([^<]*)<", svg))
    assert {"1e\u221202", "1e\u221201", "1"} <= labels, labels
    assert "mathdefault" not in svg


def test_report_figures_leave_no_pyplot_figure_open() -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figures.bars(["a", "b"], {"count": [1.0, 2.0]}, ylabel="rows", caption="balance")
    assert plt.get_fignums() == before


def test_the_command_leaves_its_objects_to_the_os_but_a_call_with_arguments_does_not(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``trainwell`` (argv None) freezes the garbage collector as it ends, so the teardown
    does not walk torch's objects; ``main([...])`` in a caller's process changes nothing."""
    import gc

    from trainwell.cli import main

    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0))\n"
        "sys.argv = ['trainwell', 'fit', 'no-such-file.csv', '--target', 'y']\n"
        "from trainwell.cli import main\n"
        "main()\n"
    )
    proc = _python(probe)
    assert proc.returncode == 2  # a user error still exits 2 with one line
    assert proc.stderr.count("trainwell: error:") == 1
    assert proc.stdout.strip() == "frozen True"
    before = gc.get_freeze_count()
    with pytest.raises(SystemExit):
        main(["fit", "no-such-file.csv", "--target", "y"])
    assert gc.get_freeze_count() == before
    capsys.readouterr()


def test_preload_freezes_a_commands_first_imports_after_collecting_its_garbage() -> None:
    """As the process's command, :func:`trainwell.lasting.preload` with ``freeze=True``
    imports with the cyclic collector off and freezes what is alive, after collecting the
    garbage cycles already there (frozen, they would never be freed); without ``freeze`` (a
    stage's lazy import, when a run's objects are alive) nothing is frozen; a module already
    imported costs nothing."""
    probe = (
        "import gc, sys, weakref\n"
        "from trainwell.lasting import as_command, preload\n"
        "as_command(True)\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.other, b.other = b, a\n"  # a cycle, then garbage
        "alive = weakref.ref(a); del a, b\n"
        "assert alive() is not None  # nothing collected it yet\n"
        "before = gc.get_freeze_count()\n"
        "preload('colorsys', 'wave', freeze=True)\n"
        "frozen = gc.get_freeze_count()\n"
        "print('imported', 'colorsys' in sys.modules and 'wave' in sys.modules)\n"
        "print('frozen', frozen > before, 'enabled', gc.isenabled())\n"
        "print('garbage collected', alive() is None)\n"
        "keep = [Node() for _ in range(10)]\n"
        "preload('wave', freeze=True)\n"
        "print('again frozen nothing', gc.get_freeze_count() == frozen)\n"
        "preload('tabnanny')\n"
        "print('lazy', 'tabnanny' in sys.modules, gc.get_freeze_count() == frozen)\n"
        "print('enabled', gc.isenabled())\n"
    )
    proc = _python(probe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "imported True",
        "frozen True enabled True",
        "garbage collected True",
        "again frozen nothing True",
        "lazy True True",
        "enabled True",
    ]


def test_preload_in_a_callers_process_only_imports() -> None:
    import gc

    from trainwell.lasting import preload

    before = gc.get_freeze_count()
    preload("tabnanny", freeze=True)
    assert "tabnanny" in sys.modules
    assert gc.get_freeze_count() == before
    assert gc.isenabled()


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """``code`` run by a fresh interpreter: the garbage collector's state is per process."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, bytes]:
    """``python -m trainwell ARGS`` with a pseudo-terminal as its stdin, stdout and stderr;
    returns its exit code and everything it wrote, read until it closed the terminal."""
    import os
    import pty

    terminal, child_end = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainwell", *args],
        cwd=cwd, stdin=child_end, stdout=child_end, stderr=child_end,
    )  # fmt: skip
    os.close(child_end)
    written = b""
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # EIO: the command exited and the terminal closed
            break
        if not chunk:
            break
        written += chunk
    os.close(terminal)
    return proc.wait(), written


def test_a_spinner_shows_the_imports_on_a_terminal_and_nothing_elsewhere(tmp_path: Path) -> None:
    """Issue 19: a fit printed nothing for its first ~4 s (torch's and scikit-learn's imports).
    A terminal now shows a spinner that is erased after; captured output keeps its one line."""
    (tmp_path / "data.csv").write_text("x,y\n1,0\n2,0\n3,0\n4,0\n")
    args = ["fit", "data.csv", "--target", "y"]  # one class: refused after the imports
    code, written = _run_on_a_terminal(args, tmp_path)
    assert code == 2
    assert b"loading torch and scikit-learn" in written
    after_spinner = written[written.rfind(b"loading torch and scikit-learn") :]
    erased = after_spinner.find(b"\x1b[1A\x1b[2K")  # cursor up a line, clear it: rich's last
    assert 0 < erased < after_spinner.index(b"has a single class")  # erase, before the error

    piped = subprocess.run(
        [sys.executable, "-m", "trainwell", *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert piped.returncode == 2
    assert piped.stderr.startswith("trainwell: error: target 'y' has a single class")
    assert len(piped.stderr.strip().splitlines()) == 1
    assert "loading" not in piped.stderr

    code, quiet = _run_on_a_terminal([*args, "--quiet"], tmp_path)
    assert code == 2
    assert b"has a single class" in quiet  # it ran, and got as far as before
    assert b"loading" not in quiet
