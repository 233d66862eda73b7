"""Transfer learning (TW-A03, TW-A04): weights this test pre-trains on one set of digit images
make a far better start than random weights on another, disjoint set with two images per
class, for the same architecture, data and budget."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
from modality_data import write_digits
from torch import nn

import trainwell
from trainwell.errors import ConfigError
from trainwell.models.transfer import GradualUnfreezing, discriminative_groups, load_weights
from trainwell.models.vision import SmallCNN

BUDGET = [
    "train.max_epochs=6",
    "train.patience=6",
    "train.lr=0.003",
    "logging.progress=false",
    "report.energy=false",
    "doctor.overfit_batch=false",
]


@pytest.fixture(scope="module")
def transfer_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, trainwell.Run]:
    root = tmp_path_factory.mktemp("transfer")
    source = write_digits(root / "source", per_class=80)
    pretrained = trainwell.fit(
        source, out=root / "pretrain", overrides=[*BUDGET, "baselines.ship=network"], quiet=True
    )
    weights = pretrained.path / "model" / "weights.safetensors"
    # Other images of the digits, six per class, 45% held out for the test: two to learn from.
    target = write_digits(root / "target", per_class=6, skip=100)
    small = [
        *BUDGET, "split.validation=0.2", "split.test=0.45", "train.max_epochs=10",
        "train.patience=10", "train.batch_size=8", "train.lr=0.01",
    ]  # fmt: skip
    return {
        "scratch": trainwell.fit(target, out=root / "scratch", overrides=small, quiet=True),
        "fine_tuned": trainwell.fit(
            target,
            out=root / "tuned",
            overrides=[*small, f"model.pretrained={weights}"],
            quiet=True,
        ),
    }


def test_fine_tuning_beats_training_from_scratch(transfer_runs: dict[str, trainwell.Run]) -> None:
    # The networks (what ships may be a simpler baseline when validation is tiny).
    scratch = transfer_runs["scratch"].metrics["network"]["test"]
    tuned = transfer_runs["fine_tuned"].metrics["network"]["test"]
    # Over seeds 0-3: scratch 0.30-0.56, fine-tuned 0.93-1.0 test accuracy.
    assert tuned["accuracy"] >= scratch["accuracy"] + 0.25, (tuned, scratch)
    assert tuned["log_loss"] < scratch["log_loss"]


def test_fine_tuning_froze_then_unfroze_with_lower_lrs_below(
    transfer_runs: dict[str, trainwell.Run],
) -> None:
    transfer = transfer_runs["fine_tuned"].manifest["network"]["transfer"]
    assert transfer["pretrained"].endswith("weights.safetensors")
    assert transfer["head_start"].startswith("linear probe")
    assert transfer["loaded"] == transfer["of"]  # the whole backbone, the head skipped
    assert transfer["unfreezing"][0] == {"epoch": 0, "trainable_groups": 0}
    assert transfer["unfreezing"][-1]["trainable_groups"] == transfer["layer_groups"]
    lrs = transfer["layer_lrs"]
    assert all(a < b for a, b in itertools.pairwise(lrs))
    scratch = transfer_runs["scratch"].manifest["network"]["transfer"]
    assert scratch["pretrained"] is None
    assert len(set(scratch["layer_lrs"])) == 1


def test_gradual_unfreezing_trains_only_the_unfrozen_groups() -> None:
    groups = [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)]
    cb = GradualUnfreezing(groups, freeze_epochs=2, every=2)
    assert [cb.trainable(e) for e in range(8)] == [0, 0, 1, 1, 2, 2, 3, 3]
    cb.apply(2)
    assert [g.weight.requires_grad for g in groups] == [False, False, True]


def test_discriminative_lrs_fall_with_depth() -> None:
    groups = [nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)]
    lrs = [g["lr"] for g in discriminative_groups(groups, 1e-2, 0.5, 0.0)][::2]
    assert lrs == pytest.approx([2.5e-3, 5e-3, 1e-2])


def test_weights_of_another_architecture_are_a_clear_error(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(ConfigError, match="none of the 1 tensors"):
        load_weights(SmallCNN(1), path)
    with pytest.raises(ConfigError, match="not found offline"):
        load_weights(SmallCNN(1), tmp_path / "missing.safetensors")
