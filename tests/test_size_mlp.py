"""The tabular network's size follows the training rows (TW-A02), unless the config sets it."""

from __future__ import annotations

from trainwell.config import ModelConfig
from trainwell.models.tabular import size_mlp


def test_capacity_steps_up_once_a_decade_of_rows_pays_for_it() -> None:
    cfg = ModelConfig()
    assert size_mlp(455, cfg) == (64, 1)  # breast cancer's training split
    assert size_mlp(8_000, cfg) == (128, 2)
    # 20k-200k rows: 128 x 2 fitted as well as 256 x 3 (benchmarks/train_cpu.py)
    assert size_mlp(80_000, cfg) == (128, 2)
    assert size_mlp(199_999, cfg) == (128, 2)
    assert size_mlp(800_000, cfg) == (256, 3)
    assert size_mlp(2_000_000, cfg) == (512, 4)


def test_a_configured_width_or_depth_wins() -> None:
    assert size_mlp(80_000, ModelConfig(width=256)) == (256, 2)
    assert size_mlp(80_000, ModelConfig(depth=0)) == (128, 0)
