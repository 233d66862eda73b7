"""The doctor inside a script run by ``trainwell doctor``: global hooks, JSON-lines out.

Findings go to the file named by ``TRAINWELL_DOCTOR_EVENTS`` as one JSON object per line,
written and flushed as they are made, so the parent prints them live and nothing is lost
if the script crashes. JSON only: the channel never carries pickles.
"""

from __future__ import annotations

import atexit
import json
import os
import warnings
from typing import Any

from trainwell.doctor.amp_probe import ScaledClipProbe
from trainwell.doctor.doctor import Doctor
from trainwell.doctor.loss_probe import LossProbe
from trainwell.doctor.manual_steps import ManualStepProbe
from trainwell.doctor.probes import ForwardProbe, OptimizerProbe
from trainwell.findings import Finding

EVENTS_ENV = "TRAINWELL_DOCTOR_EVENTS"


class JsonLinesSink:
    """Appends events to a file, one JSON object per line, flushed at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rank = _rank()

    def write(self, event: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, default=str) + "\n")

    def finding(self, finding: Finding) -> None:
        data = finding.to_dict()
        if self.rank is not None:
            data["evidence"] = {**data["evidence"], "rank": self.rank}
        self.write({"kind": "finding", "pid": os.getpid(), "finding": data})


def _rank() -> int | None:
    """This worker's rank in a distributed run (``torchrun`` sets ``RANK`` and ``WORLD_SIZE``
    before the script starts); ``None`` when the run is not distributed."""
    try:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return int(os.environ["RANK"])
    except (KeyError, ValueError):
        pass
    return None


def attach() -> Doctor | None:
    """Attach a doctor through PyTorch's global hooks; report at interpreter exit."""
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return None
    # torch warns on every compiled module's call while global module hooks exist; those
    # are the doctor's, so the warning is the doctor's noise, not the script's.
    warnings.filterwarnings(
        "ignore", message=r"Using `torch\.compile\(module\)` when there are global hooks"
    )
    sink = JsonLinesSink(path)
    doctor = Doctor(on_finding=sink.finding)
    atexit.register(_finish, doctor, sink, global_probes(doctor))
    return doctor


def global_probes(doctor: Doctor) -> list[Any]:
    """The zero-code doctor's probes, attached through PyTorch's global hooks; remove them
    in this order (the first may still end the run's last step)."""
    return [
        ManualStepProbe(doctor).attach(),
        ForwardProbe(doctor).attach(),
        OptimizerProbe(doctor).attach(),
        LossProbe(doctor).attach(),
        ScaledClipProbe(doctor).attach(),
    ]


def _finish(doctor: Doctor, sink: JsonLinesSink, probes: list[Any]) -> None:
    for probe in probes:
        probe.remove()
    if doctor.step == 0 and not doctor.findings:
        return  # a helper process (data-loader worker, tool) that never trained
    doctor.finish()
    for cause in doctor.causes:
        if cause.evidence.get("symptoms"):  # attached after the cause was written
            sink.write({"kind": "symptoms", "pid": os.getpid(), "finding": cause.to_dict()})
    sink.write(
        {
            "kind": "end",
            "pid": os.getpid(),
            "steps": doctor.step,
            "epochs": [[e.train_loss, e.val_loss] for e in doctor.epochs],
        }
    )
