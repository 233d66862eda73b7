"""Stopping a run from outside: Ctrl-C (SIGINT) and SIGTERM end it as ``interrupted``.

Python turns SIGINT into ``KeyboardInterrupt``; SIGTERM (what ``kill``, job schedulers and
container runtimes send) would end the process without unwinding, leaving the manifest at
``running``. :func:`terminate_as_interrupt` makes SIGTERM raise :class:`Terminated`, a
``KeyboardInterrupt``, for the length of a run, so both take the same path: callbacks release
the terminal (``Callback.on_exception``), the manifest is marked ``interrupted``, and the CLI
prints how to resume.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during a run."""


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by Ctrl-C or SIGTERM, after its manifest was marked ``interrupted``.

    Attributes:
        run_dir: the run's directory, for ``trainwell fit --resume RUN_DIR``.
        signal_name: ``SIGINT`` or ``SIGTERM``.
    """

    def __init__(self, run_dir: Path, signal_name: str = "SIGINT") -> None:
        super().__init__(f"{signal_name}: run {run_dir} interrupted")
        self.run_dir = run_dir
        self.signal_name = signal_name


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise Terminated


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`; the previous handler is restored
    afterwards. A no-op outside the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def stops_ignored() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are ignored (their handlers restored after), so a
    second Ctrl-C or ``kill`` while a stopping run records why cannot cut the record short
    and leave its manifest at ``running``. A no-op outside the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def interrupted_message(err: BaseException) -> str:
    """The one line the CLI prints for an interrupt: with the resume command when the run
    directory is known."""
    run_dir = getattr(err, "run_dir", None)
    if run_dir is None:
        return "trainwell: interrupted"
    return f"trainwell: interrupted; resume with `trainwell fit --resume {run_dir}`"
