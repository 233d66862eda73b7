"""Label checks: class imbalance (TW-D11) and likely label errors with cleanlab (TW-D02)."""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from trainwell.audit._common import model_matrix
from trainwell.audit.labels import check_class_imbalance, check_label_errors
from trainwell.data import Dataset
from trainwell.findings import Finding

CLASSES = ("cat", "dog")


def test_imbalance_is_info_when_class_weights_apply() -> None:
    y = np.array([0] * 30 + [1] * 90)
    finding = check_class_imbalance(y, CLASSES, class_weights="auto", imbalance_ratio=3.0)
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == ("class-imbalance", "info", "TW-D11")
    assert finding.evidence["counts"] == {"cat": 30, "dog": 90}
    assert finding.evidence["ratio"] == 3.0
    assert "train.class_weights=auto" in finding.fix


def test_imbalance_warns_when_class_weights_are_off() -> None:
    y = np.array([0] * 10 + [1] * 90)
    finding = check_class_imbalance(y, CLASSES, class_weights="off")
    assert finding is not None
    assert finding.severity == "warning"
    assert "9.0x" in finding.message


def test_imbalance_silent_below_the_ratio() -> None:
    y = np.array([0] * 31 + [1] * 90)  # 2.9x
    assert check_class_imbalance(y, CLASSES) is None


@pytest.fixture(scope="module")
def noisy(
    clean_dataset: Dataset, make_dataset: Callable[..., Dataset]
) -> tuple[Dataset, np.ndarray, Finding | None]:
    """The clean data with 8% of its labels flipped, and cleanlab's finding on it."""
    frame = clean_dataset.frame.copy()
    flipped = np.sort(np.random.default_rng(1).choice(len(frame), size=48, replace=False))
    frame.loc[flipped, "label"] = frame.loc[flipped, "label"].map({"yes": "no", "no": "yes"})
    dataset = make_dataset(frame)
    features = model_matrix(dataset.frame, dataset, ["a", "b", "c", "color"])
    assert dataset.classes is not None
    return dataset, flipped, check_label_errors(features, dataset.y, dataset.classes, seed=0)


def test_label_errors_lists_the_flipped_rows(
    noisy: tuple[Dataset, np.ndarray, Finding | None],
) -> None:
    _, flipped, finding = noisy
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == ("label-errors", "warning", "TW-D02")
    flagged_total = finding.evidence["flagged"]
    listed = finding.evidence["rows"]
    assert len(listed) == 20  # the evidence cap
    # Nearly every listed (most suspect) row is one we flipped, and most flips are caught.
    assert len(set(listed) & set(flipped.tolist())) >= 18
    assert 40 <= flagged_total <= 60
    assert finding.evidence["sampled"] is False


def test_label_errors_suggest_the_original_label(
    noisy: tuple[Dataset, np.ndarray, Finding | None], clean: pd.DataFrame
) -> None:
    _, flipped, finding = noisy
    assert finding is not None
    for row, suggested, given in zip(
        finding.evidence["rows"],
        finding.evidence["suggested"],
        finding.evidence["given"],
        strict=True,
    ):
        if row in set(flipped.tolist()):
            assert suggested == clean.loc[row, "label"] != given


def test_label_errors_silent_on_clean_labels(clean_dataset: Dataset) -> None:
    features = model_matrix(clean_dataset.frame, clean_dataset, ["a", "b", "c", "color"])
    assert clean_dataset.classes is not None
    assert check_label_errors(features, clean_dataset.y, clean_dataset.classes) is None


def test_label_errors_sample_big_data_and_say_so(
    noisy: tuple[Dataset, np.ndarray, Finding | None],
) -> None:
    dataset, _, _ = noisy
    features = model_matrix(dataset.frame, dataset, ["a", "b", "c", "color"])
    assert dataset.classes is not None
    finding = check_label_errors(features, dataset.y, dataset.classes, max_rows=300, seed=0)
    assert finding is not None
    assert finding.evidence["sampled"] is True
    assert finding.evidence["rows_checked"] == 300
    assert "sample" in finding.message


def test_missing_cleanlab_skips_with_an_install_hint(
    clean_dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)  # makes the import fail
    features = model_matrix(clean_dataset.frame, clean_dataset, ["a", "b", "c", "color"])
    assert clean_dataset.classes is not None
    finding = check_label_errors(features, clean_dataset.y, clean_dataset.classes)
    assert finding is not None
    assert (finding.id, finding.severity) == ("label-errors-skipped", "info")
    assert finding.fix == 'pip install "trainwell[audit]"'
