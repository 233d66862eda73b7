"""Columns that name rows instead of describing them: identifiers and person names (TW-D01, R03).

A text column with a distinct value in (nearly) every row cannot teach a model anything that
carries over to new rows: as a categorical feature every level is seen once, so the network
memorizes it (an embedding per passenger name) and meets only unseen levels at test time. When
the values are person names it is personal data too. ``build_dataset`` leaves such columns out
of the features and says so in a finding; this module holds the pure test.
"""

from __future__ import annotations

import pandas as pd

# "Anna Schmidt", "Mary-Ann O'Neil".
PERSON_NAME = r"[A-Z][a-z'’-]+(?:\s+[A-Z][a-z'’.-]*)+"
# The catalogue form "Last, Title. First ..." (Titanic's "Braund, Mr. Owen Harris") and
# "Last, First Middle": a capitalized surname, a comma, then capitalized words, with optional
# parentheses or quotes for maiden and nick names.
PERSON_NAME_INVERTED = (
    r"[A-Z][\w'’-]*(?:[ -][A-Z][\w'’-]*)*,\s+(?:the\s+)?[A-Z][\w'’]*\.?"
    r"(?:\s+[\w'’.\"()/-]+)*"
)
# Below this many rows, "almost every value is distinct" happens too easily to mean anything.
MIN_ROWS = 20
# Share of distinct values among the present ones that makes a column name rows, not kinds.
DISTINCT_FRACTION = 0.95
# Share of values that must have a person name's shape.
NAME_FRACTION = 0.5
SAMPLE = 1000


def name_share(values: pd.Series) -> float:
    """Share of the (first 1,000 present) values shaped like a person's name, either order."""
    text = values.dropna().astype("string").str.strip().head(SAMPLE)
    if text.empty:
        return 0.0
    shaped = text.str.fullmatch(PERSON_NAME_INVERTED) | text.str.fullmatch(PERSON_NAME)
    return float(shaped.mean())


def names_rows(values: pd.Series) -> str | None:
    """Why a text column names individual rows (so it cannot be a feature), or ``None``.

    Args:
        values: one column of a table, read as text.

    Returns:
        A reason such as ``"1309 distinct values in 1309 rows, person names ('Last,
        Title. First')"``, or ``None`` for a column with repeated values (a real category).
    """
    present = values.dropna()
    if len(present) < MIN_ROWS:
        return None
    distinct = int(present.nunique())
    if distinct < DISTINCT_FRACTION * len(present):
        return None
    reason = f"{distinct} distinct values in {len(present)} rows"
    if (share := name_share(present)) >= NAME_FRACTION:
        return f"{reason}, person names ({share:.0%} of values)"
    return reason
