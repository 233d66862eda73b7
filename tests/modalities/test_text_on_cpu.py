"""Text on a CPU: a frozen pre-trained encoder under a trained head, unless asked (TW-A03/A04)."""

from __future__ import annotations

from trainwell.config import build_config
from trainwell.models.transfer import fine_tune_decision


def test_text_on_a_cpu_keeps_the_encoder_frozen_and_says_why() -> None:
    unfreezes, reason = fine_tune_decision("text", "cpu", None)
    assert unfreezes is False
    assert "no GPU" in reason
    assert "model.fine_tune=true" in reason


def test_fine_tuning_stays_the_default_on_a_gpu_for_images_and_when_asked() -> None:
    assert fine_tune_decision("text", "cuda", None) == (True, "")
    assert fine_tune_decision("image", "cpu", None) == (True, "")
    assert fine_tune_decision("text", "cpu", True) == (True, "")
    assert fine_tune_decision("image", "cuda", False)[0] is False
    assert build_config(overrides=["model.fine_tune=true"]).model.fine_tune is True
    assert build_config().model.fine_tune is None
