"""The training doctor: live diagnosis of training pitfalls in any PyTorch code.

Probes (removable hooks) read loss, gradients, updates and activations without changing
them; small pure checks turn those numbers into findings with practice IDs, evidence and a
fix. Four ways in::

    with doctor.watch(model, optimizer) as dr: ...      # a hand-written loop
    train(..., callbacks=[doctor.DoctorCallback()])     # trainwell's own loop
    doctor.run_doctor(["python", "train.py"], None)     # any script, no code change
    trainwell.integrations.lightning / .huggingface     # framework callbacks
"""

import importlib
import typing

from trainwell.doctor.thresholds import Thresholds
from trainwell.doctor.watch import watch  # light: it loads torch when called

if typing.TYPE_CHECKING:
    from trainwell.doctor.callback import DoctorCallback
    from trainwell.doctor.command import run_doctor
    from trainwell.doctor.doctor import REMEDY_IDS, Doctor
    from trainwell.doctor.remedy import remedy_finding
    from trainwell.doctor.sanity import overfit_one_batch

__all__ = [
    "REMEDY_IDS",
    "Doctor",
    "DoctorCallback",
    "Thresholds",
    "overfit_one_batch",
    "remedy_finding",
    "run_doctor",
    "watch",
]

# Loaded on first use (PEP 562): the zero-code doctor imports this package into every
# script and DataLoader worker, which need neither trainwell's loop nor the terminal output,
# and ``trainwell doctor`` itself, which needs no torch.
_LAZY = {
    "DoctorCallback": "trainwell.doctor.callback",
    "Doctor": "trainwell.doctor.doctor",
    "REMEDY_IDS": "trainwell.doctor.doctor",
    "overfit_one_batch": "trainwell.doctor.sanity",
    "remedy_finding": "trainwell.doctor.remedy",
    "run_doctor": "trainwell.doctor.command",
}


def __getattr__(name: str) -> typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainwell.doctor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
