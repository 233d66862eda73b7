"""Personal data columns (TW-R03)."""

from __future__ import annotations

import pandas as pd
import pytest

from trainwell.audit.privacy import check_personal_data

N = 40


@pytest.mark.parametrize(
    ("column", "values", "reason"),
    [
        ("contact", [f"user{i}@example.org" for i in range(N)], "e-mail addresses"),
        ("reach", [f"+1 (555) 010-{i:04d}" for i in range(N)], "phone numbers"),
        ("name", [f"Anna Schmidt{chr(97 + i % 26)}" for i in range(N)], "person names"),
        ("Last Name", [f"x{i}" for i in range(N)], "person names (column name)"),
        ("E-Mail", [None] * N, "e-mail addresses (column name)"),
        ("ssn", [f"{i:09d}" for i in range(N)], "national ID numbers"),
    ],
    ids=["email-values", "phone-values", "name-values", "name-column", "email-column", "ssn"],
)
def test_personal_data_found(column: str, values: list[object], reason: str) -> None:
    frame = pd.DataFrame({"score": range(N), column: values})
    finding = check_personal_data(frame, ["score", column], [column])
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "personal-data",
        "warning",
        "TW-R03",
    )
    assert list(finding.evidence["columns"]) == [column]
    assert reason in finding.evidence["columns"][column]
    assert f"data.drop={column}" in finding.fix


def test_personal_data_silent_on_ordinary_columns() -> None:
    frame = pd.DataFrame(
        {
            "product name": [f"Super Widget {i}" for i in range(N)],  # not a person's name
            "city": ["New York", "Los Angeles"] * (N // 2),
            "day": [f"2024-01-{1 + i % 28:02d}" for i in range(N)],  # dates are not phones
            "code": [f"AB-{i:03d}" for i in range(N)],
            "mean radius": [float(i) for i in range(N)],
        }
    )
    text = ["product name", "city", "day", "code"]
    assert check_personal_data(frame, list(frame.columns), text) is None


def test_catalogue_form_names_are_person_names() -> None:
    names = [f"Braund{chr(97 + i % 26)}, Mr. Owen Harris" for i in range(N)]
    frame = pd.DataFrame({"score": range(N), "Name": names})
    finding = check_personal_data(frame, ["score", "Name"], ["Name"])
    assert finding is not None
    assert "person names (100% of values)" in finding.evidence["columns"]["Name"]
