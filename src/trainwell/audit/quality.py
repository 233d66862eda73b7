"""Row- and value-level data quality (TW-D01): duplicate rows, missing values, outliers.

Each check is a pure function: a table in, a :class:`Finding` or ``None`` out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from trainwell.audit._common import as_float, capped
from trainwell.findings import Finding, Severity

# 0.6745 is the 0.75 quantile of the standard normal: it makes the MAD-based (modified)
# z-score equal the ordinary z-score on normal data (Iglewicz & Hoaglin, 1993).
MAD_TO_SD = 0.6745
# Outlier rows listed per column; the finding still counts them all.
EXAMPLES_PER_COLUMN = 5


def check_duplicate_rows(
    frame: pd.DataFrame, limit: int = 20, *, natural: str | None = None
) -> Finding | None:
    """Rows that are exact copies of an earlier row (every column, the target included).

    Copies weigh some rows more than others and, once split, put the same row in train and
    test (TW-D06). Remedy: drop them before training, e.g. ``df.drop_duplicates()``.

    Args:
        frame: the data, one row per example.
        limit: most (copy, original) row pairs listed in the evidence.
        natural: why equal rows are different examples here, if they are
            (:func:`trainwell.audit._common.natural_repeats`): then the finding is a note.

    Returns:
        A ``duplicate-rows`` warning (info with ``natural``), or ``None`` when every row is
        distinct.
    """
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    copies = frame.duplicated(keep="first").to_numpy()
    n_copies = int(copies.sum())
    if n_copies == 0:
        return None
    # The first row with the same hash is the original each copy repeats.
    first = pd.Series(np.arange(len(frame))).groupby(hashes).transform("min").to_numpy()
    copy_rows = np.flatnonzero(copies)
    return Finding(
        id="duplicate-rows",
        practice="TW-D01",
        severity="info" if natural else "warning",
        stage="audit",
        message=f"{n_copies} of {len(frame)} rows ({n_copies / len(frame):.1%}) are exact "
        "copies of an earlier row." + (f" Likely not copies: {natural}." if natural else ""),
        evidence={
            "copies": n_copies,
            "fraction": round(n_copies / len(frame), 6),
            "pairs": [[int(r), int(first[r])] for r in copy_rows[:limit]],
            "pairs_are": "[copy row, original row], 0-based row positions",
        },
        fix="Remove the copies before training (pandas: df.drop_duplicates()); if repeated "
        "rows are real, repeated measurements, pass --group with the column that ties them.",
    )


def check_missing_values(
    frame: pd.DataFrame, columns: Sequence[str], warn_fraction: float = 0.05, limit: int = 20
) -> Finding | None:
    """Columns with missing values; a warning once one column misses more than ``warn_fraction``.

    Remedy: find out why values are missing (a failed join, a sensor that was off) and fill
    them at the source; drop a mostly empty (half or more) column with ``data.drop=COL``.

    Returns:
        A ``missing-values`` finding, or ``None`` when no value is missing.
    """
    fractions = frame[list(columns)].isna().mean().sort_values(ascending=False)
    fractions = fractions[fractions > 0]
    if fractions.empty:
        return None
    worst, worst_fraction = str(fractions.index[0]), float(fractions.iloc[0])
    severity: Severity = "warning" if worst_fraction > warn_fraction else "info"
    return Finding(
        id="missing-values",
        practice="TW-D01",
        severity=severity,
        stage="audit",
        message=f"{len(fractions)} column(s) have missing values; {worst!r} misses "
        f"{worst_fraction:.1%} of its values.",
        evidence={
            "columns": {str(k): round(float(v), 6) for k, v in fractions.head(limit).items()},
            "n_columns": len(fractions),
            "rows_with_missing": int(frame[list(fractions.index)].isna().any(axis=1).sum()),
            "warn_above": warn_fraction,
        },
        fix="Find out why values are missing and fill them at the source. The rest stay "
        "missing: the network and the linear baseline fill them with the training median and "
        "a was-missing indicator, LightGBM splits on them natively"
        + (
            f"; a mostly empty column is better dropped: data.drop={worst}"
            if worst_fraction >= 0.5
            else "."
        ),
    )


def check_outliers(
    frame: pd.DataFrame, columns: Sequence[str], z: float = 3.5, limit: int = 20
) -> Finding | None:
    """Numeric values more than ``z`` robust z-scores (median and MAD) from their column's median.

    Columns whose MAD is 0 (more than half the rows share one value) are skipped: their
    scale is unknown, and the near-constant check reports them. Remedy: check the listed
    rows for entry errors, sentinel codes (-999) or unit mix-ups, and fix or drop them.

    Returns:
        An ``outliers`` info finding, or ``None`` when no value is that far out.
    """
    if not columns:
        return None
    values = np.column_stack([as_float(frame[c]) for c in columns])
    present = ~np.isnan(values)
    keep = present.sum(axis=0) > 0
    values, names = values[:, keep], [c for c, k in zip(columns, keep, strict=True) if k]
    if not names:
        return None
    median = np.nanmedian(values, axis=0)
    mad = np.nanmedian(np.abs(values - median), axis=0)
    scaled = mad > 0
    values, median, mad = values[:, scaled], median[scaled], mad[scaled]
    names = [n for n, s in zip(names, scaled, strict=True) if s]
    robust_z = np.abs(MAD_TO_SD * (values - median) / mad)
    far = np.nan_to_num(robust_z, nan=0.0) > z
    counts = far.sum(axis=0)
    if counts.sum() == 0:
        return None
    order = np.argsort(-counts, kind="stable")
    per_column = {}
    for j in order[: min(limit, int((counts > 0).sum()))]:
        rows = np.flatnonzero(far[:, j])
        worst = rows[np.argsort(-robust_z[rows, j], kind="stable")]
        per_column[names[j]] = {
            "rows": int(counts[j]),
            "max_abs_z": round(float(robust_z[rows, j].max()), 2),
            "median": float(median[j]),
            "examples": capped(worst, EXAMPLES_PER_COLUMN),
        }
    n_rows = int(far.any(axis=1).sum())
    top = names[order[0]]
    return Finding(
        id="outliers",
        practice="TW-D01",
        severity="info",
        stage="audit",
        message=f"{int(counts.sum())} values in {int((counts > 0).sum())} numeric column(s) "
        f"({n_rows} rows) lie more than {z:g} robust z-scores from the median; most in "
        f"{top!r} ({int(counts[order[0]])} rows).",
        evidence={"threshold": z, "rows_affected": n_rows, "columns": per_column},
        fix="Look at the example rows: fix entry errors, sentinel codes (-999) and unit mix-ups "
        "at the source; genuine extreme values can stay.",
    )
