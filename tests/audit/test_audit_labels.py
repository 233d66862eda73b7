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


def _blobs(std: float, flip: float, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import make_blobs

    x, y = make_blobs(600, centers=3, cluster_std=std, random_state=seed)
    rows = np.random.default_rng(seed).choice(600, size=round(600 * flip), replace=False)
    y[rows] = (y[rows] + 1) % 3
    return pd.DataFrame(x, columns=["a", "b"]), y


@pytest.mark.parametrize("seed", [0, 1])
def test_flipped_labels_on_a_separable_task_warn(seed: int) -> None:
    features, y = _blobs(std=0.8, flip=0.10, seed=seed)
    finding = check_label_errors(features, y, ("a", "b", "c"), seed=0)
    assert finding is not None
    assert finding.severity == "warning"
    assert finding.evidence["confidently_contradicted"] >= 0.5
    assert "gives their label under 10%" in finding.message


@pytest.mark.parametrize("seed", [0, 2])
def test_a_merely_noisy_task_is_info_with_its_error_rate(seed: int) -> None:
    features, y = _blobs(std=3.0, flip=0.0, seed=seed)  # classes overlap; no label is wrong
    finding = check_label_errors(features, y, ("a", "b", "c"), seed=0)
    assert finding is not None
    assert finding.evidence["fraction"] > 0.13  # the case: 13-35% of rows flagged
    assert finding.severity == "info"
    assert finding.evidence["confidently_contradicted"] < 0.5
    assert "the task's own noise" in finding.message
    assert f"errs on {finding.evidence['out_of_fold_error_rate']:.1%}" in finding.message
