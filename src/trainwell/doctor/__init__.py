"""The training doctor: live diagnosis of training pitfalls in any PyTorch code.

Probes (removable hooks) read loss, gradients, updates and activations without changing
them; small pure checks turn those numbers into findings with practice IDs, evidence and a
fix. Four ways in::

    with doctor.watch(model, optimizer) as dr: ...      # a hand-written loop
    train(..., callbacks=[doctor.DoctorCallback()])     # trainwell's own loop
    doctor.run_doctor(["python", "train.py"], None)     # any script, no code change
    trainwell.integrations.lightning / .huggingface     # framework callbacks
"""

from trainwell.doctor.callback import DoctorCallback
from trainwell.doctor.command import run_doctor
from trainwell.doctor.doctor import REMEDY_IDS, Doctor
from trainwell.doctor.remedy import remedy_finding
from trainwell.doctor.sanity import overfit_one_batch
from trainwell.doctor.thresholds import Thresholds
from trainwell.doctor.watch import watch

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
