"""Column-level data quality (TW-D01): constant, near-constant, ID-like, high-cardinality.

Each check is a pure function: a table and column names in, a :class:`Finding` or ``None`` out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trainwell.audit._common import as_float, as_python, name_tokens
from trainwell.findings import Finding

# Words that make a column name read as a row identifier ("Unnamed: 0" is pandas' name for
# an index column written to CSV).
ID_WORDS = frozenset({"id", "ids", "uid", "uuid", "guid", "idx", "index", "key", "unnamed"})
# Below this many rows, "every value is distinct" happens too easily to mean "identifier".
MIN_ROWS_FOR_ID = 20


def check_constant_columns(frame: pd.DataFrame, columns: Sequence[str]) -> Finding | None:
    """Columns holding one value in every row (missing counts as a value of its own).

    A constant carries no information and only costs parameters. Remedy: drop it with
    ``data.drop=COL``.

    Returns:
        A ``constant-column`` warning, or ``None`` when every column varies.
    """
    constant = {c: frame[c].iloc[0] for c in columns if frame[c].nunique(dropna=False) <= 1}
    if not constant:
        return None
    names = list(constant)
    return Finding(
        id="constant-column",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"{len(names)} column(s) hold the same value in every row: "
        f"{', '.join(map(repr, names[:5]))}{' …' if len(names) > 5 else ''}.",
        evidence={"columns": {str(c): str(as_python(v)) for c, v in constant.items()}},
        fix=f"Drop them; they carry no information: data.drop={','.join(map(str, names))}",
    )


def check_near_constant_columns(
    frame: pd.DataFrame,
    columns: Sequence[str],
    ratio: float = 19.0,
    unique_fraction: float = 0.10,
    limit: int = 20,
) -> Finding | None:
    """Columns with near-zero variance, as caret's ``nearZeroVar`` defines it.

    The most common value is more than ``ratio`` times as frequent as the second and fewer
    than ``unique_fraction`` of the rows have distinct values. Such a column can still matter
    (a rare flag), so this is information. Remedy: keep it if the rare values are meaningful,
    else drop it with ``data.drop=COL``.

    Returns:
        A ``near-constant-column`` info finding, or ``None``.
    """
    found: dict[str, dict[str, object]] = {}
    for name in columns:
        counts = frame[name].value_counts(dropna=False)
        if len(counts) < 2:
            continue  # constant: check_constant_columns reports it
        freq_ratio = counts.iloc[0] / counts.iloc[1]
        if freq_ratio > ratio and len(counts) / len(frame) < unique_fraction:
            found[str(name)] = {
                "top_value": str(as_python(counts.index[0])),
                "top_share": round(float(counts.iloc[0] / len(frame)), 4),
            }
    if not found:
        return None
    names = list(found)
    return Finding(
        id="near-constant-column",
        practice="TW-D01",
        severity="info",
        stage="audit",
        message=f"{len(names)} column(s) hold one value in nearly every row (near-zero "
        f"variance), e.g. {names[0]!r} ({found[names[0]]['top_share']:.1%} one value).",
        evidence={"columns": dict(list(found.items())[:limit]), "n_columns": len(names)},
        fix="Keep a column whose rare values mean something (a rare flag); otherwise drop it: "
        f"data.drop={names[0]}",
    )


def _id_reason(values: pd.Series, name: str) -> str | None:
    """Why a column looks like a row identifier, or ``None`` if it does not."""
    n = len(values)
    if n < MIN_ROWS_FOR_ID or values.isna().any() or values.nunique() != n:
        return None  # an identifier names every row once
    if ID_WORDS & set(name_tokens(name)):
        return "unique per row, with an identifier's name"
    numbers = as_float(values)
    if not np.isnan(numbers).any():
        if not np.all(np.mod(numbers, 1) == 0):
            return None  # distinct measurements (floats) are normal, not identifiers
        steps = np.diff(numbers)
        if np.all(steps > 0) or np.all(steps < 0):
            return "a counter that moves with the row order"
        if numbers.max() - numbers.min() + 1 == n:
            return "consecutive integers, one per row"
        return None
    text = values.astype("string")
    # Free text and person names are distinct per row too, but contain spaces.
    if text.str.contains(r"\s", regex=True).mean() < 0.05:
        return "a distinct code in every row"
    return None


def check_id_like_columns(frame: pd.DataFrame, columns: Sequence[str]) -> Finding | None:
    """Columns that identify rows: distinct per row and a counter, a code or an ID's name.

    A model can memorize an identifier but never generalize from it, and when rows were
    sorted by label before numbering, the ID even leaks the target. Remedy: drop it with
    ``data.drop=COL`` (or pass it as ``--group`` if several rows share an ID).

    Returns:
        An ``id-like-column`` warning, or ``None``.
    """
    reasons = {str(c): r for c in columns if (r := _id_reason(frame[c], str(c))) is not None}
    if not reasons:
        return None
    names = list(reasons)
    return Finding(
        id="id-like-column",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"{len(names)} column(s) look like row identifiers: "
        f"{', '.join(f'{n!r} ({r})' for n, r in list(reasons.items())[:3])}.",
        evidence={"columns": reasons},
        fix=f"Drop identifiers from the features: data.drop={','.join(names)}",
    )


def check_high_cardinality(
    frame: pd.DataFrame, columns: Sequence[str], threshold: int = 50, limit: int = 20
) -> Finding | None:
    """Categorical columns with more than ``threshold`` distinct values (identifiers excluded).

    Most levels are then seen in a handful of rows: the model memorizes them and meets
    unseen ones at test time. Remedy: group rare levels into "other", use a coarser column
    (e.g. region instead of town), or drop it.

    Returns:
        A ``high-cardinality`` warning, or ``None``.
    """
    found = {}
    for name in columns:
        values = frame[name]
        n_levels = values.nunique()
        if n_levels > threshold and _id_reason(values, str(name)) is None:
            counts = values.value_counts()
            found[str(name)] = {
                "levels": int(n_levels),
                "levels_seen_once": int((counts == 1).sum()),
            }
    if not found:
        return None
    names = sorted(found, key=lambda c: -found[c]["levels"])
    top = names[0]
    return Finding(
        id="high-cardinality",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"{len(names)} categorical column(s) have more than {threshold} distinct "
        f"values; {top!r} has {found[top]['levels']} ({found[top]['levels_seen_once']} seen "
        "only once).",
        evidence={"threshold": threshold, "columns": {n: found[n] for n in names[:limit]}},
        fix="Group rare levels into 'other' or use a coarser column (region instead of town); "
        f"drop it if it names individual rows: data.drop={top}",
    )
