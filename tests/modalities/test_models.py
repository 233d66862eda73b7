"""Architectures by task (TW-A01, A02), their specs, gradient checkpointing (TW-T10), and the
overrides users type (``model.name=``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from modality_data import make_reviews, make_sensors

import trainwell
from trainwell.models import ModalityNet, build_backbone, choose_architecture, use_checkpointing
from trainwell.models.vision import SmallCNN

QUICK = ["train.max_epochs=3", "train.lr=0.01", "report.energy=false", "doctor.overfit_batch=false"]


def test_the_smallest_sensible_model_is_chosen_and_explained() -> None:
    small = choose_architecture("image", "auto", n_train=1400, image_side=8)
    assert small.name == "small_cnn"
    assert "224px" in small.reason
    big = choose_architecture("image", "auto", n_train=500, image_side=128)
    assert big.name == "small_cnn"
    assert "model.download=true" in big.reason
    tuned = choose_architecture("image", "auto", n_train=500, image_side=128, pretrained="w.st")
    assert tuned.name == "resnet18"
    assert choose_architecture("text", "auto", n_train=50).name == "bag_of_embeddings"
    assert choose_architecture("text", "auto", n_train=50, text_weights="dir").name == "minilm"
    assert choose_architecture("series", "auto", n_train=50).name == "tcn"
    assert (
        choose_architecture("series", "lstm", n_train=50).reason
        == "model.name=lstm set in the config"
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "small_cnn", "in_channels": 3, "width": 8, "stages": 2},
        {"name": "tcn", "channels": 2},
        {"name": "lstm", "channels": 2},
        {"name": "transformer", "channels": 2, "length": 30},
        {"name": "bag_of_embeddings", "vocab_size": 50},
    ],
)
def test_backbones_rebuild_from_their_spec_with_the_same_outputs(spec: dict) -> None:
    backbone = build_backbone(spec)
    net = ModalityNet(backbone, "multiclass", 3).eval()
    if spec["name"] == "small_cnn":
        inputs: tuple[torch.Tensor, ...] = (torch.rand(4, 3, 16, 16) * 255,)
    elif spec["name"] == "bag_of_embeddings":
        inputs = (torch.randint(1, 50, (4, 7)), torch.ones(4, 7, dtype=torch.long))
    else:
        inputs = (torch.randn(4, 30, 2),)
    again = ModalityNet(build_backbone(net.spec()["backbone"]), "multiclass", 3).eval()
    again.load_state_dict(net.state_dict())
    assert torch.equal(net.predict(*inputs), again.predict(*inputs))
    assert net.predict(*inputs).sum(1).allclose(torch.ones(4))
    assert len(net.layer_groups()) >= 2


def test_gradient_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    plain = SmallCNN(1, width=8, stages=3)
    checkpointed = SmallCNN(1, width=8, stages=3)
    checkpointed.load_state_dict(plain.state_dict())
    checkpointed.set_grad_checkpointing(True)
    x = torch.rand(4, 1, 16, 16) * 255
    for net in (plain, checkpointed):
        net(x).square().sum().backward()
    for (name, a), b in zip(plain.named_parameters(), checkpointed.parameters(), strict=True):
        assert a.grad is not None
        assert b.grad is not None
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name
    assert use_checkpointing("auto", plain)[0] is False  # 0.01M parameters: not worth it
    assert use_checkpointing("on", plain)[0] is True


def test_series_and_text_architectures_by_name(tmp_path: Path) -> None:
    sensors = make_sensors(60)
    run = trainwell.fit(
        sensors, target="activity", series="id", time="t", out=tmp_path / "lstm", quiet=True,
        overrides=[*QUICK, "model.name=lstm", "augment.enabled=false"],
    )  # fmt: skip
    network = run.manifest["network"]
    assert network["architecture"] == "lstm"
    assert network["augmentation"] == {"enabled": False}
    reviews = make_reviews(200)
    words = trainwell.fit(
        reviews, target="sentiment", text="review", out=tmp_path / "words", quiet=True,
        overrides=[*QUICK, "model.name=bag_of_embeddings", "train.max_epochs=15"],
    )  # fmt: skip
    assert words.manifest["network"]["architecture"] == "bag_of_embeddings"
    assert words.metrics["test"]["accuracy"] >= 0.8
    predicted = words.predict(make_reviews(20, seed=3).drop(columns="sentiment"))
    assert list(predicted.columns) == ["prediction", "proba_negative", "proba_positive"]
