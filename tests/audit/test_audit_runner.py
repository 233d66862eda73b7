"""run_audit end to end: sklearn's bundled datasets, a planted leak, the text table, the API."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets

import trainwell.audit
from trainwell.audit import AuditConfig, audit_steps, format_findings_table, run_audit
from trainwell.config import DataConfig, SplitConfig, TrainConfig
from trainwell.data import Dataset, build_dataset
from trainwell.findings import SEVERITY_ORDER, Finding
from trainwell.split import Splits, make_splits

# What the audit reports on scikit-learn's bundled datasets, and only that. Why each is right:
# - outliers (info): real measurements have long tails (breast cancer's "area error", wine's
#   "malic_acid"); the robust z-score lists them for a look, nothing more.
# - label-errors (info): cleanlab flags 1.1% of breast cancer and 0.4% of digits, below the
#   3% warning level; a handful of ambiguous cells and badly written digits are expected.
# - constant-column (warning): digits' pixels 0_0, 4_0 and 4_7 are 0 in every image.
# - near-constant-column (info): digits' edge pixels are blank in nearly every image.
EXPECTED = {
    "breast_cancer": {("outliers", "info"), ("label-errors", "info")},
    "wine": {("outliers", "info")},
    "digits": {
        ("constant-column", "warning"),
        ("near-constant-column", "info"),
        ("outliers", "info"),
        ("label-errors", "info"),
    },
    "diabetes": {("outliers", "info")},
}


@pytest.fixture(scope="module")
def bundled() -> dict[str, list[Finding]]:
    found = {}
    for name in EXPECTED:
        frame = getattr(datasets, f"load_{name}")(as_frame=True).frame
        dataset = build_dataset(frame, DataConfig(target="target"), name, "-")
        found[name] = run_audit(dataset, make_splits(dataset, SplitConfig(), seed=0), seed=0)
    return found


@pytest.mark.parametrize("name", list(EXPECTED))
def test_bundled_datasets_give_only_justified_findings(
    bundled: dict[str, list[Finding]], name: str
) -> None:
    assert {(f.id, f.severity) for f in bundled[name]} == EXPECTED[name]


def test_digits_constant_pixels_are_named(bundled: dict[str, list[Finding]]) -> None:
    (constant,) = [f for f in bundled["digits"] if f.id == "constant-column"]
    assert set(constant.evidence["columns"]) == {"pixel_0_0", "pixel_4_0", "pixel_4_7"}


@pytest.fixture(scope="module")
def leaky(
    clean: pd.DataFrame, make_dataset: Callable[..., Dataset], make_split: Callable[..., Splits]
) -> tuple[Dataset, Splits, list[Finding]]:
    """The clean data with 150 repeated rows and a feature derived from the label."""
    frame = pd.concat([clean, clean.iloc[:150]], ignore_index=True)
    frame["approved"] = np.where(frame["label"] == "yes", 1.0, 0.0)
    dataset = make_dataset(frame)
    splits = make_split(dataset)
    return dataset, splits, run_audit(dataset, splits)


def test_planted_leaks_are_errors_listed_first(
    leaky: tuple[Dataset, Splits, list[Finding]],
) -> None:
    _, _, findings = leaky
    ids = {f.id: f.severity for f in findings}
    assert ids["target-leakage"] == "error"
    assert ids["duplicate-across-splits"] == "error"
    assert ids["duplicate-rows"] == "warning"
    ranks = [SEVERITY_ORDER[f.severity] for f in findings]
    assert ranks == sorted(ranks)
    (leak,) = [f for f in findings if f.id == "target-leakage"]
    assert list(leak.evidence["features"]) == ["approved"]


def test_shared_rows_evidence_points_at_real_copies(
    leaky: tuple[Dataset, Splits, list[Finding]],
) -> None:
    dataset, splits, findings = leaky
    (shared,) = [f for f in findings if f.id == "duplicate-across-splits"]
    features = [c.name for c in dataset.features]
    for held_out, train_row in shared.evidence["test"]["pairs"]:
        assert held_out in splits.test
        assert train_row in splits.train
        pair = dataset.frame.loc[[held_out, train_row], features]
        assert pair.iloc[0].equals(pair.iloc[1])


def test_clean_data_gives_no_findings(clean_dataset: Dataset, clean_splits: Splits) -> None:
    assert run_audit(clean_dataset, clean_splits) == []


def test_without_splits_only_data_checks_run(clean_dataset: Dataset) -> None:
    names = [name for name, _ in audit_steps(clean_dataset)]
    assert "duplicates-across-splits" not in names
    assert "target-leakage" in names
    assert "label-errors" in names


def test_time_check_runs_only_with_a_time_column(
    clean: pd.DataFrame, make_dataset: Callable[..., Dataset], make_split: Callable[..., Splits]
) -> None:
    dated = make_dataset(clean.assign(day=np.arange(len(clean))), time="day")
    assert "time-order" in [n for n, _ in audit_steps(dated, make_split(dated))]


def test_dataset_findings_are_included(
    clean: pd.DataFrame, make_dataset: Callable[..., Dataset]
) -> None:
    frame = clean.copy()
    frame.loc[[0, 1], "label"] = None
    ids = [f.id for f in run_audit(make_dataset(frame))]
    assert "missing-target" in ids


def test_thresholds_come_from_config(
    clean: pd.DataFrame, make_dataset: Callable[..., Dataset]
) -> None:
    frame = clean.copy()
    frame.loc[:9, "c"] = np.nan  # 1.7% missing: info by default
    dataset = make_dataset(frame)
    default = {f.id: f.severity for f in run_audit(dataset)}
    strict = {
        f.id: f.severity for f in run_audit(dataset, config=AuditConfig(missing_warn_fraction=0.01))
    }
    assert (default["missing-values"], strict["missing-values"]) == ("info", "warning")


def test_class_weights_setting_sets_imbalance_severity(
    clean: pd.DataFrame, make_dataset: Callable[..., Dataset]
) -> None:
    frame = pd.concat([clean, clean[clean["label"] == "yes"].assign(label="maybe").head(20)])
    dataset = make_dataset(frame.reset_index(drop=True))
    on = [f for f in run_audit(dataset) if f.id == "class-imbalance"]
    off = [
        f
        for f in run_audit(dataset, train=TrainConfig(class_weights="off"))
        if f.id == "class-imbalance"
    ]
    assert [f.severity for f in on] == ["info"]
    assert [f.severity for f in off] == ["warning"]


def test_table_shows_every_finding(leaky: tuple[Dataset, Splits, list[Finding]]) -> None:
    _, _, findings = leaky
    text = format_findings_table(findings, width=200)
    for f in findings:
        assert f.id in text
    assert "\x1b[" not in text  # no colour codes in redirected output
    assert text.index("target-leakage") < text.index("duplicate-rows")  # errors first


def test_empty_table_says_so() -> None:
    assert format_findings_table([]) == "No findings: the audit found nothing to report."


def test_public_api_is_exactly_all() -> None:
    public = {n for n in dir(trainwell.audit) if not n.startswith("_")}
    modules = {"columns", "config", "labels", "leakage", "ledger", "privacy", "quality",
               "runner", "shift", "signatures", "target_leakage"}  # fmt: skip
    assert public - modules == set(trainwell.audit.__all__)
    assert all(hasattr(trainwell.audit, n) for n in trainwell.audit.__all__)


def test_target_leakage_never_looks_at_test_rows(
    clean_dataset: Dataset, clean_splits: Splits, make_dataset: Callable[..., Dataset]
) -> None:
    # A feature equal to the label on the test rows only: finding it would need test labels.
    frame = clean_dataset.frame.copy()
    noise = np.random.default_rng(0).random(len(frame))
    on_test = np.isin(np.arange(len(frame)), clean_splits.test)
    frame["hint"] = np.where(on_test, (frame["label"] == "yes").astype(float), noise)
    findings = run_audit(make_dataset(frame), clean_splits)
    assert "target-leakage" not in {f.id for f in findings}
    frame["hint"] = (frame["label"] == "yes").astype(float)  # control: leaked everywhere
    assert "target-leakage" in {f.id for f in run_audit(make_dataset(frame), clean_splits)}
