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
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FrameType


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
    """Within the block, SIGTERM raises :class:`Terminated`, and a stop that lands in a
    weakref callback or a ``__del__`` is delivered again (:func:`_redeliver_stops`); the
    previous handlers are restored afterwards. A no-op outside the main thread, where Python
    cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    previous_hook, sys.unraisablehook = sys.unraisablehook, _redeliver_stops(sys.unraisablehook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGTERM, previous)


def _redeliver_stops(
    previous: Callable[[sys.UnraisableHookArgs], object],
) -> Callable[[sys.UnraisableHookArgs], object]:
    """An ``unraisablehook`` that turns a swallowed stop back into a signal for the main code.

    A signal's handler runs in whatever Python code the main thread is running; inside a
    weakref callback or a ``__del__`` (matplotlib's, while the report is drawn), the
    ``KeyboardInterrupt`` it raises cannot propagate: Python prints "Exception ignored" and
    goes on, and the run ignored the stop (seen 2 in 40 SIGTERMs during the report). A
    helper thread signals the main thread again (``signal.pthread_kill``) once the main
    thread has left this hook (a signal sent from within it would be handled, and swallowed,
    inside it), so the stop is raised in the run's own code. Other unraisable errors go to
    ``previous``.
    """

    def hook(unraisable: sys.UnraisableHookArgs) -> object:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            return previous(unraisable)
        number = signal.SIGTERM if isinstance(unraisable.exc_value, Terminated) else signal.SIGINT
        again = threading.Thread(
            target=_signal_main_after, args=(hook.__code__, number), daemon=True
        )
        again.start()
        return None

    return hook


def _signal_main_after(code: CodeType, number: int) -> None:
    """Send ``number`` to the main thread once no frame of its stack runs ``code``."""
    main = threading.main_thread().ident
    while True:
        frame = sys._current_frames().get(main or 0)
        if frame is None:  # the main thread has ended
            return
        while frame is not None and frame.f_code is not code:
            frame = frame.f_back
        if frame is None:
            break
        time.sleep(0.001)  # polled: the hook returns within microseconds
    if callable(signal.getsignal(number)):  # not once the run is over, nor in stops_ignored
        # A real signal (not _thread.interrupt_main): it also wakes a blocking wait.
        signal.pthread_kill(main or 0, number)


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
