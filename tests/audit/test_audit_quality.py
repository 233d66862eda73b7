"""Row- and value-level checks: duplicate rows, missing values, outliers (TW-D01)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from trainwell.audit.quality import check_duplicate_rows, check_missing_values, check_outliers


def test_duplicate_rows_lists_each_copy_with_its_original(clean: pd.DataFrame) -> None:
    frame = pd.concat([clean, clean.iloc[[3, 10]]], ignore_index=True)
    finding = check_duplicate_rows(frame)
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "duplicate-rows",
        "warning",
        "TW-D01",
    )
    assert finding.evidence["copies"] == 2
    assert finding.evidence["pairs"] == [[600, 3], [601, 10]]
    assert "2 of 602 rows" in finding.message


def test_duplicate_rows_silent_on_distinct_rows(clean: pd.DataFrame) -> None:
    assert check_duplicate_rows(clean) is None


def test_duplicate_rows_caps_the_listed_pairs(clean: pd.DataFrame) -> None:
    frame = pd.concat([clean, clean.iloc[:30]], ignore_index=True)
    finding = check_duplicate_rows(frame, limit=5)
    assert finding is not None
    assert finding.evidence["copies"] == 30
    assert len(finding.evidence["pairs"]) == 5


def test_missing_values_warns_above_five_percent(clean: pd.DataFrame) -> None:
    frame = clean.copy()
    frame.loc[:59, "c"] = np.nan  # 10% of rows
    frame.loc[[0], "a"] = np.nan
    finding = check_missing_values(frame, ["a", "b", "c", "color"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("missing-values", "warning")
    assert finding.evidence["columns"] == {"c": 0.1, "a": round(1 / 600, 6)}
    assert finding.evidence["rows_with_missing"] == 60
    # 10% missing is filled (median and indicator), not a column to drop (a user was told
    # to drop an 11.8%-missing column)
    assert "data.drop" not in finding.fix
    assert "was-missing indicator" in finding.fix
    frame.loc[:399, "c"] = np.nan  # two thirds: mostly empty
    finding = check_missing_values(frame, ["a", "b", "c", "color"])
    assert finding is not None
    assert finding.fix.endswith("a mostly empty column is better dropped: data.drop=c")


def test_missing_values_few_are_info(clean: pd.DataFrame) -> None:
    frame = clean.copy()
    frame.loc[[5, 6], "color"] = None
    finding = check_missing_values(frame, ["a", "color"])
    assert finding is not None
    assert finding.severity == "info"
    assert list(finding.evidence["columns"]) == ["color"]


def test_missing_values_silent_when_complete(clean: pd.DataFrame) -> None:
    assert check_missing_values(clean, ["a", "b", "c", "color"]) is None


def test_outliers_finds_planted_sentinels(clean: pd.DataFrame) -> None:
    frame = clean.copy()
    frame.loc[[7, 42, 99], "b"] = -999.0
    finding = check_outliers(frame, ["a", "b", "c"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("outliers", "info")
    assert list(finding.evidence["columns"]) == ["b"]
    assert sorted(finding.evidence["columns"]["b"]["examples"]) == [7, 42, 99]
    assert finding.evidence["rows_affected"] == 3


def test_outliers_silent_on_bounded_data(clean: pd.DataFrame) -> None:
    assert check_outliers(clean, ["a", "b", "c"]) is None


def test_outliers_skip_columns_dominated_by_one_value() -> None:
    # MAD is 0 when most rows share a value: the scale is unknown, nothing is flagged.
    frame = pd.DataFrame({"x": [0.0] * 90 + [5.0] * 10})
    assert check_outliers(frame, ["x"]) is None
