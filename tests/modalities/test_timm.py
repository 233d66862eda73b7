"""timm's pre-trained families (``pip install "trainwell[vision]"``): weights from a local
file, discriminative fine-tuning and gradient checkpointing. Skipped where timm is absent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

import trainwell

# Not in CI: timm's models come with torchvision, which on this machine means torch 2.14.1's
# 5.5 GB CUDA build; the CI venv keeps the 2.13 CPU wheel. `pip install "trainwell[vision]"`.
pytest.importorskip("timm", reason="timm is not installed (pip install 'trainwell[vision]')")


def test_resnet18_fine_tunes_from_a_local_weights_file(tmp_path: Path) -> None:
    from trainwell.models.vision import TimmBackbone

    weights = tmp_path / "resnet18.safetensors"  # stands in for a downloaded checkpoint
    save_file(TimmBackbone("resnet18", 3).net.state_dict(), str(weights))
    rng = np.random.default_rng(0)
    for label, channel in (("red", 0), ("green", 1)):
        (tmp_path / "photos" / label).mkdir(parents=True)
        for i in range(15):
            pixels = rng.integers(0, 80, (32, 32, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            Image.fromarray(pixels).save(tmp_path / "photos" / label / f"{i}.png")
    run = trainwell.fit(
        tmp_path / "photos", target="label", out=tmp_path / "run", quiet=True,
        overrides=[
            "model.name=resnet18", f"model.pretrained={weights}", "model.gradient_checkpointing=on",
            "train.max_epochs=2", "train.lr=0.01", "report.energy=false",
            "doctor.overfit_batch=false",
        ],
    )  # fmt: skip
    network = run.manifest["network"]
    assert network["architecture"] == "resnet18"
    assert network["transfer"]["loaded"] == network["transfer"]["of"] - 2  # + input stats
    assert network["gradient_checkpointing"]["on"] is True
    assert len(run.predict(tmp_path / "photos")) == 30
