"""Target leakage: a single feature that predicts the target almost perfectly (TW-D06)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwell.audit._common import model_matrix
from trainwell.audit.target_leakage import check_target_leakage
from trainwell.data import Dataset

FEATURES = ["a", "b", "c", "color"]


def _classification(dataset: Dataset, extra: dict[str, object]) -> pd.DataFrame:
    features = model_matrix(dataset.frame, dataset, FEATURES)
    return features.assign(**extra)


def test_numeric_copy_of_the_label_is_found(clean_dataset: Dataset) -> None:
    noise = np.random.default_rng(0).normal(0, 0.05, clean_dataset.n_rows)
    features = _classification(clean_dataset, {"refund_score": clean_dataset.y + noise})
    finding = check_target_leakage(features, clean_dataset.y, clean_dataset.task)
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == ("target-leakage", "error", "TW-D06")
    assert list(finding.evidence["features"]) == ["refund_score"]
    assert finding.evidence["features"]["refund_score"]["skill"] > 0.99
    assert "data.drop=refund_score" in finding.fix


def test_categorical_recoding_of_the_label_is_found(clean_dataset: Dataset) -> None:
    # 40 codes, each used for one class only: a per-level lookup predicts the label.
    rng = np.random.default_rng(0)
    codes = np.where(clean_dataset.y == 1, rng.integers(0, 20, clean_dataset.n_rows),
                     rng.integers(20, 40, clean_dataset.n_rows))  # fmt: skip
    status = pd.Series([f"S{c}" for c in codes]).astype("category")
    finding = check_target_leakage(
        _classification(clean_dataset, {"status": status}), clean_dataset.y, clean_dataset.task
    )
    assert finding is not None
    assert list(finding.evidence["features"]) == ["status"]


def test_honest_features_are_silent(clean_dataset: Dataset) -> None:
    features = _classification(clean_dataset, {})
    assert check_target_leakage(features, clean_dataset.y, clean_dataset.task) is None


@pytest.fixture(scope="module")
def regression() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(800, 3))
    y = 2 * x[:, 0] + x[:, 1] + rng.normal(0, 0.5, 800)
    return pd.DataFrame(x, columns=["x0", "x1", "x2"]), y


def test_transformation_of_a_regression_target_is_found(
    regression: tuple[pd.DataFrame, np.ndarray],
) -> None:
    features, y = regression
    finding = check_target_leakage(features.assign(price_log=np.log1p(np.exp(y))), y, "regression")
    assert finding is not None
    assert list(finding.evidence["features"]) == ["price_log"]
    assert finding.evidence["features"]["price_log"]["rank_correlation"] == pytest.approx(1.0)


def test_strong_but_honest_regression_feature_is_silent(
    regression: tuple[pd.DataFrame, np.ndarray],
) -> None:
    features, y = regression  # x0 explains ~75% of the variance: strong, not leaked
    assert check_target_leakage(features, y, "regression") is None


def test_large_data_is_sampled_and_says_so(regression: tuple[pd.DataFrame, np.ndarray]) -> None:
    features, y = regression
    finding = check_target_leakage(features.assign(copy=y), y, "regression", max_rows=500)
    assert finding is not None
    assert finding.evidence["sampled"] is True
    assert finding.evidence["rows_used"] == 500
