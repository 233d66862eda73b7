"""The doctor inside a script run by ``trainwell doctor``: global hooks, JSON-lines out.

Findings go to the file named by ``TRAINWELL_DOCTOR_EVENTS`` as one JSON object per line,
written and flushed as they are made, so the parent prints them live and nothing is lost
if the script crashes. JSON only: the channel never carries pickles.
"""

from __future__ import annotations

import atexit
import json
import os
from typing import Any

from trainwell.doctor.doctor import Doctor
from trainwell.doctor.loss_probe import LossProbe
from trainwell.doctor.probes import ForwardProbe, OptimizerProbe
from trainwell.findings import Finding

EVENTS_ENV = "TRAINWELL_DOCTOR_EVENTS"


class JsonLinesSink:
    """Appends events to a file, one JSON object per line, flushed at once."""

    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, event: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, default=str) + "\n")

    def finding(self, finding: Finding) -> None:
        self.write({"kind": "finding", "pid": os.getpid(), "finding": finding.to_dict()})


def attach() -> Doctor | None:
    """Attach a doctor through PyTorch's global hooks; report at interpreter exit."""
    path = os.environ.get(EVENTS_ENV)
    if not path:
        return None
    sink = JsonLinesSink(path)
    doctor = Doctor(on_finding=sink.finding)
    probes = [
        ForwardProbe(doctor).attach(),
        OptimizerProbe(doctor).attach(),
        LossProbe(doctor).attach(),
    ]
    atexit.register(_finish, doctor, sink, probes)
    return doctor


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
