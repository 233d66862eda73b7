"""``fit --resume`` on a series run: interrupted then resumed equals uninterrupted (TW-T11),
augmentation included (its randomness is a function of the seed and the epoch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import InterruptAfter
from modality_data import make_sensors
from safetensors.torch import load_file

import trainwell

SETTINGS = [
    "train.max_epochs=4",
    "train.patience=100",
    "train.lr=0.01",
    "logging.progress=false",
    "report.energy=false",
    "doctor.overfit_batch=false",
]


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    path = tmp_path / "sensors.csv"
    make_sensors(60).to_csv(path, index=False)
    options = {"target": "activity", "series": "id", "time": "t", "overrides": SETTINGS}
    full = trainwell.fit(path, out=tmp_path / "full", quiet=True, **options)  # type: ignore[arg-type]
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            path, out=tmp_path / "cut", quiet=True, callbacks=[InterruptAfter(2)], **options
        )  # type: ignore[arg-type]
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert resumed.manifest["status"] == "complete"
    assert resumed.manifest["resumed"] == [{"checkpoint": "epoch-0002.safetensors"}]
    a = load_file(str(full.path / "model" / "weights.safetensors"))
    b = load_file(str(resumed.path / "model" / "weights.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.metrics == full.metrics
