"""Shift between splits: the class mix and the features of a later test period (TW-E02)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwell.audit.runner import audit_steps
from trainwell.audit.shift import check_feature_shift, check_label_shift
from trainwell.config import DataConfig, SplitConfig
from trainwell.data import Dataset, build_dataset
from trainwell.findings import Finding
from trainwell.split import make_splits

N = 1000
WEATHER = np.array(["sun", "rain", "snow", "fog"])


def _weather(shifted: bool) -> pd.DataFrame:
    """Daily weather; with ``shifted`` the last 10% of days (the test period) are 60% rain,
    never snow, and 8 degrees warmer, like a Seattle autumn after two winters."""
    rng = np.random.default_rng(0)
    late = np.arange(N) >= 0.9 * N
    train_mix, test_mix = [0.5, 0.2, 0.15, 0.15], [0.4, 0.6, 0.0, 0.0]
    kind = np.where(late & shifted, rng.choice(4, N, p=test_mix), rng.choice(4, N, p=train_mix))
    return pd.DataFrame(
        {
            "date": pd.date_range("2012-01-01", periods=N, freq="D").strftime("%Y-%m-%d"),
            "temp": rng.normal(12, 4, N) + 8.0 * (late & shifted) - 5.0 * (kind == 2),
            "wind": rng.gamma(2.0, 2.0, N) + 2.0 * (kind == 1),
            "station": rng.choice(["north", "south"], N),
            "weather": WEATHER[kind],
        }
    )


def _audit(frame: pd.DataFrame, time: str | None) -> tuple[Dataset, list[Finding]]:
    dataset = build_dataset(frame, DataConfig(target="weather", time=time), "weather", "-")
    steps = dict(audit_steps(dataset, make_splits(dataset, SplitConfig(), seed=0), seed=0))
    return dataset, steps["shift-between-splits"]()  # registered with the audit's checks


@pytest.fixture(scope="module")
def shifted() -> list[Finding]:
    return _audit(_weather(shifted=True), time="date")[1]


def test_a_later_test_period_with_another_class_mix_is_reported(shifted: list[Finding]) -> None:
    [finding] = [f for f in shifted if f.id == "label-shift"]
    assert (finding.severity, finding.practice) == ("warning", "TW-E02")
    shares = finding.evidence["shares"]
    assert shares["test"]["rain"] > 0.5
    assert shares["train"]["rain"] < 0.3
    assert shares["test"]["snow"] == 0.0
    assert finding.evidence["splits"]["test"]["absent_classes"] == ["fog", "snow"]
    assert f"'rain' is {shares['test']['rain']:.0%} of test" in finding.message
    assert "ROC-AUC is not computed on test" in finding.message
    # Four classes, two absent: the macro metrics are said to average over the other two.
    assert "macro precision, recall and F1 average over the 2 classes present" in finding.message
    assert "ROC-AUC" in finding.evidence["missing_metrics"]["test"]


def test_drifting_features_are_named_with_their_test(shifted: list[Finding]) -> None:
    [finding] = [f for f in shifted if f.id == "feature-shift"]
    features = finding.evidence["features"]
    assert next(iter(features)) == "temp (test)"
    assert features["temp (test)"]["test"] == "ks"
    assert features["temp (test)"]["statistic"] > 0.5
    assert not [k for k in features if k.startswith("station")]


def test_a_steady_period_and_a_random_split_give_no_shift_findings() -> None:
    for frame, time in ((_weather(shifted=False), "date"), (_weather(shifted=True), None)):
        _, findings = _audit(frame, time)
        assert not {"label-shift", "feature-shift"} & {f.id for f in findings}, time


def test_regression_target_shift_uses_ks() -> None:
    frame = _weather(shifted=True).drop(columns="weather")
    data = build_dataset(frame, DataConfig(target="temp", time="date"), "w", "-")
    finding = check_label_shift(data.y, None, make_splits(data, SplitConfig(), seed=0))
    assert finding is not None
    assert finding.evidence["splits"]["test"]["ks_statistic"] > 0.5
    assert check_feature_shift(data.frame, [], [], make_splits(data, SplitConfig(), 0)) is None
