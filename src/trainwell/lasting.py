"""Objects that last the whole process, kept out of the cyclic garbage collector's way.

torch (with ``torch._dynamo`` and sympy), scikit-learn, captum and matplotlib create millions
of objects on import (modules, functions, classes) that live until the process exits. The
cyclic collector walks all of them on every full collection, and again at interpreter
teardown, although it can never free one. In a 569-row fit (when it took ~13 CPU s) that
walking cost ~0.45 CPU s during the imports, ~0.5 s in the run and 1.6-2 s at exit (issue
19, measured with ``gc.callbacks`` and side by side). :func:`preload` imports with the
collector off and, at the command's start, then moves everything alive to the permanent
generation (:func:`gc.freeze`, the technique the Python docs describe for long-lived
processes); :func:`freeze_for_exit` does the same before the interpreter's teardown.

Both act only when ``trainwell`` is the process's own command (:func:`as_command`, set by the
command line's entry point): a caller's process, a test or a notebook, is left as it is.
Frozen objects are still freed by reference counting; only cyclic garbage alive at the freeze
would stay, so :func:`preload` collects before it freezes.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_process = {"command": False}

#: What every command that trains imports: the pipeline, and torch._dynamo (~1 s with
#: sympy), which its first ``torch.optim`` optimizer and its
#: ``torch.use_deterministic_algorithms`` call import anyway.
TRAINING = ("torch._dynamo", "trainwell.pipeline")


def as_command(command: bool) -> None:
    """Mark whether ``trainwell`` runs as the process's own command (the CLI's ``main``)."""
    _process["command"] = command


@contextmanager
def _collector_paused(freeze: bool) -> Iterator[None]:
    if not _process["command"] or not gc.isenabled():  # a caller's process, or nested
        yield
        return
    if freeze:
        gc.collect()  # garbage cycles alive now would otherwise be frozen with the rest
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()


def preload(*modules: str, freeze: bool = False) -> None:
    """Import those of ``modules`` (dotted names) not imported yet, with the cyclic
    collector paused; the caller then imports from them as usual.

    ``freeze=True`` then moves every object alive to the permanent generation, so later
    collections skip them: only at the command's start, before a run's own objects exist
    (frozen, a run's reference cycles would never be freed; a long ``tune`` would keep its
    first trial's). A stage that imports a library lazily (captum, matplotlib) preloads it
    without freezing, so that a run that never reaches the stage never pays for it; freezing
    there too measured no faster (569-row fit, 5 runs each, medians 6.81 vs 6.83 s).
    """
    missing = [name for name in modules if name not in sys.modules]
    if not missing:
        return
    with _collector_paused(freeze):
        for name in missing:
            importlib.import_module(name)


def freeze_for_exit() -> None:
    """Keep the collector off the objects alive now for the rest of the process: the
    interpreter's teardown would otherwise walk every object the imports made (1.6-2 CPU s
    of a 569-row fit's ~13 then, issue 19; measured against the same run exiting with
    ``os._exit``). Memory goes back to the OS with the process, as it does anyway; atexit
    handlers and logging's flush still run."""
    if _process["command"]:
        gc.freeze()
