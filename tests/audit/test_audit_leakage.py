"""Leakage between the actual splits: shared rows, shared groups, rows from the past (TW-D06)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from trainwell.audit.leakage import (
    check_few_groups_per_split,
    check_groups_across_splits,
    check_rows_across_splits,
    check_time_order,
    looks_like_group_key,
)
from trainwell.audit.signatures import ExactRowSignature, RoundedRowSignature, matches
from trainwell.data import Dataset
from trainwell.split import Splits

FEATURES = ["a", "b", "c", "color"]


def _with_copies(frame: pd.DataFrame, splits: Splits, k: int, change=None) -> pd.DataFrame:
    """Overwrite the first ``k`` test rows with (changed) copies of the first ``k`` train rows."""
    out = frame.copy()
    copies = out.iloc[splits.train[:k]].copy()
    if change is not None:
        copies = change(copies)
    out.iloc[splits.test[:k], :] = copies.to_numpy()
    return out


def test_exact_copies_in_test_are_found_with_their_train_rows(
    clean: pd.DataFrame, clean_splits: Splits
) -> None:
    frame = _with_copies(clean[FEATURES], clean_splits, 3)
    finding, masks = check_rows_across_splits(frame, clean_splits, ExactRowSignature())
    assert finding is not None
    assert (finding.id, finding.practice) == ("duplicate-across-splits", "TW-D06")
    assert finding.severity == "warning"  # 3 of 60 test rows: under Deepchecks' 10%
    expected = [
        [int(t), int(r)] for t, r in zip(clean_splits.test[:3], clean_splits.train[:3], strict=True)
    ]
    assert finding.evidence["test"]["pairs"] == expected
    assert "validation" not in finding.evidence
    assert masks["test"].sum() == 3
    assert "--allow duplicate-across-splits" in finding.fix


def test_more_than_ten_percent_shared_is_an_error(
    clean: pd.DataFrame, clean_splits: Splits
) -> None:
    frame = _with_copies(clean[FEATURES], clean_splits, 12)  # 20% of the test split
    finding, _ = check_rows_across_splits(frame, clean_splits, ExactRowSignature())
    assert finding is not None
    assert finding.severity == "error"
    assert finding.evidence["test"]["rows"] == 12
    assert finding.evidence["test"]["fraction"] == pytest.approx(0.2)


def test_near_copies_are_found_and_exact_ones_not_repeated(
    clean: pd.DataFrame, clean_splits: Splits
) -> None:
    def retyped(rows: pd.DataFrame) -> pd.DataFrame:
        # Re-exported at 6 decimals and re-typed in capitals with a stray space.
        return rows.assign(
            a=rows["a"].round(6), b=rows["b"].round(6), c=rows["c"].round(6),
            color=" " + rows["color"].str.upper(),
        )  # fmt: skip

    frame = _with_copies(clean[FEATURES], clean_splits, 8, change=retyped)
    exact, masks = check_rows_across_splits(frame, clean_splits, ExactRowSignature())
    assert exact is None
    near, _ = check_rows_across_splits(
        frame,
        clean_splits,
        RoundedRowSignature(digits=4),
        exclude=[masks["validation"], masks["test"]],
    )
    assert near is not None
    assert (near.id, near.severity) == ("near-duplicate-across-splits", "error")  # 8/60 > 10%
    assert [p[0] for p in near.evidence["test"]["pairs"]] == clean_splits.test[:8].tolist()


def test_distinct_rows_are_silent(clean: pd.DataFrame, clean_splits: Splits) -> None:
    for signature in (ExactRowSignature(), RoundedRowSignature(4)):
        finding, masks = check_rows_across_splits(clean[FEATURES], clean_splits, signature)
        assert finding is None
        assert not masks["test"].any()


def test_banded_signatures_plug_in() -> None:
    """A signature with several keys per row (LSH bands, e.g. of a perceptual hash) matches
    rows that share any one band."""

    class TwoBands:
        name = "perceptual"

        def keys(self, frame: pd.DataFrame) -> np.ndarray:
            codes = frame["hash"].to_numpy(dtype=np.uint64)
            return np.column_stack([codes >> np.uint64(32), codes & np.uint64(0xFFFFFFFF)])

    frame = pd.DataFrame({"hash": np.array([0x1111_0000_2222, 0x3333_0000_4444, 0x5555_0000_2222,
                                             0x7777_0000_8888], dtype=np.uint64)})  # fmt: skip
    splits = Splits(np.array([0, 1]), np.array([3]), np.array([2]), "manual")
    finding, _ = check_rows_across_splits(frame, splits, TwoBands())
    assert finding is not None
    assert finding.id == "near-duplicate-across-splits"
    assert finding.evidence["test"]["pairs"] == [[2, 0]]
    assert "validation" not in finding.evidence


def test_matches_returns_first_reference_row() -> None:
    reference = np.array([[1], [2], [1]], dtype=np.uint64)
    query = np.array([[1], [3]], dtype=np.uint64)
    assert matches(reference, query).tolist() == [0, -1]


@pytest.fixture(scope="module")
def patients(clean: pd.DataFrame) -> pd.DataFrame:
    """The clean data with 60 patients of 10 rows each."""
    return clean.assign(patient_id=[f"P{i % 60:03d}" for i in range(len(clean))])


def test_declared_group_shared_between_splits_is_an_error(
    patients: pd.DataFrame, clean_splits: Splits
) -> None:
    # clean_splits is a stratified row split, blind to patients: most patients straddle it.
    finding = check_groups_across_splits(patients["patient_id"], clean_splits, declared=True)
    assert finding is not None
    assert (finding.id, finding.severity) == ("group-across-splits", "error")
    test_patients = set(patients.loc[clean_splits.test, "patient_id"])
    train_patients = set(patients.loc[clean_splits.train, "patient_id"])
    assert finding.evidence["test"]["groups"] == len(test_patients & train_patients)
    assert set(finding.evidence["test"]["examples"]) <= train_patients


def test_group_split_is_silent(
    patients: pd.DataFrame,
    make_dataset: Callable[..., Dataset],
    make_split: Callable[..., Splits],
) -> None:
    dataset = make_dataset(patients, group="patient_id")
    splits = make_split(dataset)
    assert check_groups_across_splits(patients["patient_id"], splits, declared=True) is None


def test_a_group_split_with_few_held_out_groups_is_a_warning(
    patients: pd.DataFrame,
    make_dataset: Callable[..., Dataset],
    make_split: Callable[..., Splits],
) -> None:
    # 60 patients: every held-out split gets several; silent.
    splits = make_split(make_dataset(patients, group="patient_id"))
    assert check_few_groups_per_split(patients["patient_id"], splits) is None
    # 4 plans (a user's `--group plan`): one plan per held-out split.
    plans = patients.assign(plan=[["basic", "pro", "team", "enterprise"][i % 4]
                                  for i in range(len(patients))])  # fmt: skip
    splits = make_split(make_dataset(plans, group="plan"))
    finding = check_few_groups_per_split(plans["plan"], splits)
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "few-groups-per-split", "warning", "TW-D04",
    )  # fmt: skip
    assert finding.evidence["groups"]["test"] < 5
    assert "(4 groups) is coarse" in finding.message
    assert sum(finding.evidence["rows"].values()) == len(plans)


def test_undeclared_group_key_is_a_warning(patients: pd.DataFrame, clean_splits: Splits) -> None:
    assert looks_like_group_key(patients["patient_id"], "patient_id")
    finding = check_groups_across_splits(patients["patient_id"], clean_splits, declared=False)
    assert finding is not None
    assert (finding.id, finding.severity) == ("likely-group-across-splits", "warning")
    assert "--group patient_id" in finding.fix


@pytest.mark.parametrize(
    ("name", "values"),
    [
        ("color", [f"c{i % 60}" for i in range(600)]),  # repeats, but not a key's name
        ("user_id", [f"u{i}" for i in range(600)]),  # a key's name, but never repeats
        ("device", [f"d{i % 3}" for i in range(600)]),  # too few values to be individuals
    ],
)
def test_non_group_columns_are_not_group_keys(name: str, values: list[str]) -> None:
    assert not looks_like_group_key(pd.Series(values), name)


@pytest.fixture(scope="module")
def dated(clean: pd.DataFrame) -> pd.DataFrame:
    days = pd.date_range("2024-01-01", periods=len(clean), freq="D").strftime("%Y-%m-%d")
    return clean.assign(day=days)


def test_held_out_rows_older_than_train_are_an_error(
    dated: pd.DataFrame, clean_splits: Splits
) -> None:
    finding = check_time_order(dated["day"], clean_splits)  # a random split, blind to time
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "time-order-violation", "error", "TW-D06",
    )  # fmt: skip
    newest_train = clean_splits.train.max()  # the days increase with the row number
    older = clean_splits.test[clean_splits.test < newest_train]
    assert finding.evidence["test"]["rows"] == len(older)
    assert finding.evidence["test"]["examples"] == older[:20].tolist()


def test_time_split_is_silent(
    dated: pd.DataFrame, make_dataset: Callable[..., Dataset], make_split: Callable[..., Splits]
) -> None:
    dataset = make_dataset(dated, time="day")
    assert check_time_order(dataset.frame["day"], make_split(dataset)) is None
