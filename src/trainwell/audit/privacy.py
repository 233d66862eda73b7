"""Columns that look like personal data: e-mail addresses, phone numbers, names (TW-R03).

A column is reported when its name says so (``email``, ``phone``, ``last_name``, ``ssn`` …)
or when most of its text values have the shape of an e-mail address or a phone number; a
bare ``name`` column is reported when its values also look like person names.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from trainwell.audit._common import name_tokens
from trainwell.data.identity import name_share
from trainwell.findings import Finding

EMAIL = r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"
# 7 to 15 digits (ITU-T E.164 allows at most 15) with the usual separators.
PHONE = r"\+?[\d\s().-]{7,22}"
ISO_DATE = r"\d{4}-\d{2}-\d{2}.*"
# Values looked at per column; the share of matches is stable well before this.
SAMPLE = 1000

NAME_WORDS: dict[str, str] = {
    "email": "e-mail addresses",
    "mail": "e-mail addresses",
    "phone": "phone numbers",
    "telephone": "phone numbers",
    "mobile": "phone numbers",
    "tel": "phone numbers",
    "fax": "phone numbers",
    "surname": "person names",
    "firstname": "person names",
    "lastname": "person names",
    "fullname": "person names",
    "ssn": "national ID numbers",
    "passport": "passport numbers",
    "address": "addresses",
    "street": "addresses",
    "dob": "dates of birth",
    "birth": "dates of birth",
    "birthdate": "dates of birth",
    "birthday": "dates of birth",
}
# "first name", "last_name", "FamilyName": a qualifier before "name" makes it a person's name.
NAME_QUALIFIERS = frozenset({"first", "last", "full", "given", "family", "middle", "maiden"})


def _share(values: pd.Series, pattern: str) -> float:
    return float(values.str.fullmatch(pattern).mean()) if len(values) else 0.0


def _phone_share(values: pd.Series) -> float:
    digits = values.str.count(r"\d")
    shaped = values.str.fullmatch(PHONE) & digits.between(7, 15) & ~values.str.fullmatch(ISO_DATE)
    return float(shaped.mean()) if len(values) else 0.0


def _reason(values: pd.Series, name: str, fraction: float) -> str | None:
    """What personal data a column seems to hold, or ``None``."""
    tokens = name_tokens(name)
    for token in tokens:
        if token in NAME_WORDS:
            return f"{NAME_WORDS[token]} (column name)"
    if "name" in tokens and NAME_QUALIFIERS & set(tokens):
        return "person names (column name)"
    text = values.dropna().astype("string").str.strip().head(SAMPLE)
    if (share := _share(text, EMAIL)) >= fraction:
        return f"e-mail addresses ({share:.0%} of values)"
    if (share := _phone_share(text)) >= fraction:
        return f"phone numbers ({share:.0%} of values)"
    # "Anna Schmidt" and the catalogue form "Braund, Mr. Owen Harris" (data.identity).
    if tokens and tokens[-1] == "name" and (share := name_share(text)) >= fraction:
        return f"person names ({share:.0%} of values)"
    return None


def check_personal_data(
    frame: pd.DataFrame,
    columns: Sequence[str],
    text_columns: Sequence[str],
    fraction: float = 0.5,
) -> Finding | None:
    """Columns whose name or values suggest personal data (TW-R03).

    Personal data should not train a model unless it is needed and lawful; a model can
    memorize it and leak it. Remedy: drop the column (``data.drop=COL``) or replace it with
    a pseudonymous key before the data reaches trainwell.

    Args:
        frame: the data.
        columns: every feature column (checked by name).
        text_columns: the text-valued ones among them (also checked by value).
        fraction: share of values that must match a pattern.

    Returns:
        A ``personal-data`` warning, or ``None``.
    """
    text = set(text_columns)
    reasons = {}
    for column in columns:
        values = frame[column] if column in text else frame[column].iloc[:0]
        reason = _reason(values, str(column), fraction)
        if reason is not None:
            reasons[str(column)] = reason
    if not reasons:
        return None
    names = list(reasons)
    return Finding(
        id="personal-data",
        practice="TW-R03",
        severity="warning",
        stage="audit",
        message=f"{len(names)} column(s) look like personal data: "
        f"{', '.join(f'{n!r} ({r})' for n, r in list(reasons.items())[:3])}.",
        evidence={"columns": reasons},
        fix="Drop personal data the model does not need, or pseudonymize it before training: "
        f"data.drop={','.join(names)}",
    )
