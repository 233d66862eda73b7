"""Preprocessing is fitted on the training split only and travels inside the model (TW-D08, D09)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import mixed_frame

import trainwell
from trainwell.data.schema import ColumnSpec
from trainwell.evaluate import SealedTest
from trainwell.modalities.base import Samples
from trainwell.preprocess import FeatureEncoder, TabularInput


def test_statistics_come_from_the_training_rows_only() -> None:
    train = np.array([[1.0], [3.0], [np.nan]], dtype=np.float32)
    layer = TabularInput.fit(train, np.zeros((3, 0), dtype=np.int64), [], embedding_threshold=10)
    assert float(layer.median[0]) == 2.0  # the median of the training values, not of all data
    out = layer(torch.tensor([[np.nan], [100.0]]), torch.zeros((2, 0), dtype=torch.long))
    # missing → imputed median → standardized with the training mean/std; plus an indicator
    filled = np.array([1.0, 3.0, 2.0])
    expected = (np.array([2.0, 100.0]) - filled.mean()) / filled.std()
    np.testing.assert_allclose(out[:, 0].numpy(), expected, rtol=1e-6)
    assert out[:, 1].tolist() == [1.0, 0.0]


def test_low_cardinality_is_one_hot_and_high_cardinality_is_embedded() -> None:
    frame = mixed_frame(300)
    cols = (ColumnSpec("color", "categorical"), ColumnSpec("city", "categorical"))
    enc = FeatureEncoder.fit(frame, cols)
    num, cat = enc.transform(frame)
    layer = TabularInput.fit(
        num, cat, [len(enc.vocab["color"]), len(enc.vocab["city"])], embedding_threshold=10
    )
    assert len(layer.onehot_columns) == 1
    assert len(layer.embeddings) == 1
    assert layer.out_features == 4 + layer.embeddings[0].embedding_dim


def test_unseen_and_missing_categories_share_code_zero() -> None:
    frame = pd.DataFrame({"c": ["a", "b", "a", None]})
    enc = FeatureEncoder.fit(frame, (ColumnSpec("c", "categorical"),))
    _, cat = enc.transform(pd.DataFrame({"c": ["a", "zzz", None, "b"]}))
    assert cat[:, 0].tolist() == [1, 0, 0, 2]


def test_encoder_round_trips_through_json() -> None:
    frame = mixed_frame(100)
    cols = tuple(
        ColumnSpec(n, k)
        for n, k in [
            ("x1", "numeric"),
            ("color", "categorical"),
            ("flag", "boolean"),
            ("when", "datetime"),
        ]
    )
    enc = FeatureEncoder.fit(frame, cols)
    again = FeatureEncoder.from_json(enc.to_json())
    for a, b in zip(enc.transform(frame), again.transform(frame), strict=True):
        np.testing.assert_array_equal(a, b)


def test_sealed_test_set_opens_once() -> None:
    frame = pd.DataFrame({"k": range(3)})
    sealed = SealedTest(Samples("table", frame, None, (torch.zeros(3),), {}), np.zeros(3))
    sealed.open()
    with pytest.raises(RuntimeError, match="already evaluated once"):
        sealed.open()


def test_predict_applies_the_training_preprocessing(tmp_path: Path) -> None:
    """The same raw rows give the same predictions whatever else is in the batch: nothing
    is re-fitted at predict time."""
    run = trainwell.fit(
        mixed_frame(300),
        "label",
        out=tmp_path / "run",
        quiet=True,
        overrides=["train.max_epochs=5", "baselines.ship=network"],
    )
    rows = mixed_frame(50, seed=3)
    alone = run.predict(rows.head(5))
    together = run.predict(rows)
    pd.testing.assert_frame_equal(alone, together.head(5), check_exact=False, rtol=1e-5)
    shifted = rows.assign(x2=rows["x2"] + 1000.0)  # a batch with another mean changes nothing else
    assert not np.allclose(run.predict(shifted).head(5)["proba_pos"], alone["proba_pos"])


def test_class_weights_are_applied_to_imbalanced_classes(tmp_path: Path) -> None:
    frame = mixed_frame(600)
    noise = np.random.default_rng(1).normal(scale=0.7, size=len(frame))
    frame["label"] = np.where(frame["x1"] + noise > 1.5, "rare", "common")  # noisy: no leak
    run = trainwell.fit(
        frame, "label", out=tmp_path / "run", quiet=True, overrides=["train.max_epochs=3"]
    )
    found = {f.id: f for f in run.findings}
    assert "class-weights-applied" in found
    weights = found["class-weights-applied"].evidence["weights"]
    assert weights["rare"] > 3 * weights["common"]
    balanced = trainwell.fit(
        mixed_frame(600), "label", out=tmp_path / "b", quiet=True, overrides=["train.max_epochs=3"]
    )
    assert "class-weights-applied" not in {f.id for f in balanced.findings}
