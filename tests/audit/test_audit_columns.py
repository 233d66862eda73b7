"""Column-level checks: constant, near-constant, ID-like, high-cardinality (TW-D01)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwell.audit.columns import (
    check_constant_columns,
    check_high_cardinality,
    check_id_like_columns,
    check_near_constant_columns,
)

FEATURES = ["a", "b", "c", "color"]


def test_constant_column_found(clean: pd.DataFrame) -> None:
    frame = clean.assign(site="berlin")
    finding = check_constant_columns(frame, [*FEATURES, "site"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("constant-column", "warning")
    assert finding.evidence["columns"] == {"site": "berlin"}
    assert finding.fix.endswith("data.drop=site")


def test_constant_column_silent(clean: pd.DataFrame) -> None:
    assert check_constant_columns(clean, FEATURES) is None


def test_a_column_that_is_sometimes_missing_is_not_constant(clean: pd.DataFrame) -> None:
    frame = clean.assign(flag=[1.0] * 300 + [np.nan] * 300)
    assert check_constant_columns(frame, ["flag"]) is None


def test_near_constant_column_found(clean: pd.DataFrame) -> None:
    frame = clean.assign(rare=[0] * 595 + [1] * 5)
    finding = check_near_constant_columns(frame, [*FEATURES, "rare"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("near-constant-column", "info")
    assert list(finding.evidence["columns"]) == ["rare"]
    assert finding.evidence["columns"]["rare"]["top_share"] == pytest.approx(595 / 600, abs=1e-4)


def test_near_constant_silent_on_balanced_columns(clean: pd.DataFrame) -> None:
    frame = clean.assign(flag=[0] * 500 + [1] * 100)  # 5:1, well under caret's 19:1
    assert check_near_constant_columns(frame, [*FEATURES, "flag"]) is None


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        (lambda n: np.arange(n), "counter"),
        (lambda n: np.random.default_rng(0).permutation(n) + 1000, "consecutive"),
        (lambda n: [f"C-{i:05d}" for i in np.random.default_rng(1).permutation(n)], "code"),
    ],
    ids=["counter", "shuffled-range", "string-code"],
)
def test_id_like_column_found(clean: pd.DataFrame, values, reason: str) -> None:
    frame = clean.assign(ref=values(len(clean)))
    finding = check_id_like_columns(frame, [*FEATURES, "ref"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("id-like-column", "warning")
    assert list(finding.evidence["columns"]) == ["ref"]
    assert reason in finding.evidence["columns"]["ref"]


def test_id_like_by_name(clean: pd.DataFrame) -> None:
    ids = np.random.default_rng(0).choice(10**9, size=len(clean), replace=False)
    finding = check_id_like_columns(clean.assign(CustomerID=ids), ["CustomerID"])
    assert finding is not None
    assert "name" in finding.evidence["columns"]["CustomerID"]


def test_id_like_silent_on_measurements_and_text(clean: pd.DataFrame) -> None:
    # Distinct floats are measurements; distinct integers with gaps and no ID name are
    # counts; distinct sentences are free text.
    rng = np.random.default_rng(0)
    frame = clean.assign(
        income=rng.choice(10**6, size=len(clean), replace=False),
        note=[f"call back on day {i}" for i in range(len(clean))],
    )
    assert check_id_like_columns(frame, [*FEATURES, "income", "note"]) is None


def test_high_cardinality_found(clean: pd.DataFrame) -> None:
    towns = np.array([f"town {k}" for k in range(120)])
    frame = clean.assign(town=towns[np.arange(len(clean)) % 120])
    finding = check_high_cardinality(frame, ["color", "town"])
    assert finding is not None
    assert (finding.id, finding.severity) == ("high-cardinality", "warning")
    assert list(finding.evidence["columns"]) == ["town"]
    assert finding.evidence["columns"]["town"]["levels"] == 120


def test_high_cardinality_silent_at_the_threshold(clean: pd.DataFrame) -> None:
    levels = np.array([f"l{k}" for k in range(50)])
    frame = clean.assign(shop=levels[np.arange(len(clean)) % 50])
    assert check_high_cardinality(frame, ["color", "shop"]) is None


def test_high_cardinality_leaves_identifiers_to_the_id_check(clean: pd.DataFrame) -> None:
    frame = clean.assign(code=[f"X{i}" for i in range(len(clean))])
    assert check_high_cardinality(frame, ["code"]) is None
