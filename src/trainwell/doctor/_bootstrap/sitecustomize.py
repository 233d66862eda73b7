"""Attach the trainwell doctor to this process once it imports torch.

Python imports ``sitecustomize`` at start-up; ``trainwell doctor`` put this folder first on
``PYTHONPATH``. It must stay light (it runs before every script and in every worker), so it
only installs a one-shot import watcher; the doctor is imported after torch has loaded. Any
``sitecustomize`` the environment had is loaded afterwards, so it keeps working.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_EVENTS = "TRAINWELL_DOCTOR_EVENTS"
_PACKAGE_DIR = "TRAINWELL_DOCTOR_PACKAGE_DIR"


def _attach() -> None:
    if importlib.util.find_spec("trainwell") is None and os.environ.get(_PACKAGE_DIR):
        sys.path.append(os.environ[_PACKAGE_DIR])  # last, so it shadows nothing
    try:
        from trainwell.doctor import _child
    except ImportError as err:
        print(
            f"trainwell doctor: cannot import trainwell in {sys.executable} ({err}); "
            "running without the doctor. Run it with the Python trainwell is installed in.",
            file=sys.stderr,
        )
        return
    try:
        _child.attach()
    except Exception as err:  # the user's script must run even if the doctor cannot
        print(f"trainwell doctor: could not attach ({err!r}); running without it.", file=sys.stderr)


class _AfterTorch(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps torch's loader so the doctor attaches right after it."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "torch":
            return None
        sys.meta_path.remove(self)  # one shot, and no recursion into this finder
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        original = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _attach()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _chain_previous_sitecustomize() -> None:
    others = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if os.environ.get(_EVENTS):
    if "torch" in sys.modules:
        _attach()
    else:
        sys.meta_path.insert(0, _AfterTorch())
_chain_previous_sitecustomize()
