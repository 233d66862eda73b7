"""Augmentation (TW-D10): the training split only; validation, test and predict never."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from modality_data import make_sensors

import trainwell
from trainwell.config import FitConfig, ImageOptions, SeriesOptions, TextOptions
from trainwell.modalities import image, series, text
from trainwell.modalities.base import AugmentedData, Samples
from trainwell.modalities.series import SeriesModality
from trainwell.models import ModalityNet

MARK = 1e6  # added by the spy below; no real sensor value comes near it


def _samples(kind: str, inputs: tuple[torch.Tensor, ...]) -> Samples:
    return Samples(kind, pd.DataFrame({"k": range(len(inputs[0]))}), "k", inputs, {})  # type: ignore[arg-type]


def test_validation_test_and_predict_batches_are_never_augmented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every batch the network sees in train mode carries the augmentation's mark; none it
    sees in eval mode (validation each epoch, the sealed test, predict) does."""
    real = SeriesModality.augmenter

    def marked(self: SeriesModality, samples: Samples, cfg: FitConfig):  # type: ignore[no-untyped-def]
        augment, info = real(self, samples, cfg)
        assert augment is not None

        def spy(inputs: tuple[torch.Tensor, ...], gen: torch.Generator):  # type: ignore[no-untyped-def]
            (x,) = augment(inputs, gen)
            return (x + MARK,)

        return spy, info

    seen: list[tuple[bool, bool]] = []
    forward = ModalityNet.forward

    def watched(self: ModalityNet, *inputs: torch.Tensor) -> torch.Tensor:
        seen.append((self.training, bool(inputs[0].abs().max() > MARK / 2)))
        return forward(self, *inputs)

    monkeypatch.setattr(SeriesModality, "augmenter", marked)
    monkeypatch.setattr(ModalityNet, "forward", watched)
    data = make_sensors(60)
    run = trainwell.fit(
        data, target="activity", series="id", time="t", out=tmp_path / "run", quiet=True,
        overrides=["train.max_epochs=2", "train.lr=0.01", "report.energy=false",
                   "doctor.overfit_batch=false", "baselines.ship=network"],
    )  # fmt: skip
    trained = len(seen)
    run.predict(data.drop(columns="activity"))
    train_calls = [marked_ for training, marked_ in seen if training]
    eval_calls = [marked_ for training, marked_ in seen if not training]
    assert train_calls
    assert all(train_calls)
    assert len(eval_calls) >= 3  # two validations and the test, then predict
    assert not any(eval_calls)
    assert len(seen) > trained  # predict went through the network too


def test_image_augmentation_shifts_and_jitters_but_keeps_shape_and_range() -> None:
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    augment, info = image.augmenter(ImageOptions(), _samples("image", (x,)))
    assert augment is not None
    assert info["flip"] is True  # colour images are mirrored
    (out,) = augment((x,), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert 0 <= float(out.min()) <= float(out.max()) <= 255
    assert not torch.equal(out, x.float())
    (again,) = augment((x,), torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # seeded: a resumed run replays it


def test_small_grayscale_images_are_not_mirrored_by_default() -> None:
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    _, info = image.augmenter(ImageOptions(), _samples("image", (x,)))
    assert "mirrored" in str(info["flip"])
    _, forced = image.augmenter(ImageOptions(flip="on"), _samples("image", (x,)))
    assert forced["flip"] is True


def test_token_dropout_masks_tokens_but_never_the_first() -> None:
    ids = torch.arange(1, 401).reshape(20, 20)
    mask = torch.ones_like(ids)
    augment, _ = text.augmenter(TextOptions(token_dropout=0.5))
    assert augment is not None
    out_ids, out_mask = augment((ids, mask), torch.Generator().manual_seed(0))
    assert torch.equal(out_ids, ids)
    assert 0.3 < 1 - float(out_mask.float().mean()) < 0.6
    assert bool(out_mask[:, 0].all())


def test_series_augmentation_crops_scales_and_jitters() -> None:
    x = torch.sin(torch.linspace(0, 12, 50)).repeat(8, 2, 1).transpose(1, 2).contiguous()
    augment, info = series.augmenter(SeriesOptions(), _samples("series", (x,)))
    assert augment is not None
    assert info["window"] == 45
    (out,) = augment((x,), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    assert 0 < float((out - x).abs().mean()) < 0.5


def test_augmentation_off_leaves_batches_untouched() -> None:
    x = torch.randn(10, 20, 2)
    augment, info = series.augmenter(SeriesOptions(), _samples("series", (x,)), enabled=False)
    assert augment is None
    assert info == {"enabled": False}
    data = AugmentedData((x,), torch.zeros(10), 4, None, seed=0)
    batches = list(data.epoch(0))
    assert torch.equal(torch.cat([b[0][0] for b in batches]).sort(0).values, x.sort(0).values)
