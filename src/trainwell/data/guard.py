"""What trainwell does with inputs pandas reads but the pipeline cannot use as they are.

The policy, one line each (every case is tested in ``tests/test_input_policy.py``):

* **Delimiter**: a ``.csv`` whose header has no comma but another delimiter is sniffed with
  :class:`csv.Sniffer` and read with it (``;`` files with decimal commas, as spreadsheet
  programs write them); finding ``delimiter-sniffed`` (info).
* **Duplicate column names**: read from the raw header (pandas renames the second ``x`` to
  ``x.1``); finding ``duplicate-column-names`` (warning). A DataFrame or Parquet file with
  duplicate names is refused (a column must be addressable by its name).
* **Decimal commas** in a comma-separated file (``"3,14"``, read as text): finding
  ``decimal-commas`` (warning) naming the columns; the values stay categories.
* **Non-finite numbers**: ``±inf`` and values beyond float32's range (``|x| > 3.4e38``; the
  network and the audit's trees compute in float32) are treated as missing in a feature, with
  finding ``non-finite-values`` (warning) naming columns and row counts; in a numeric target
  they are refused (``DataError`` naming the column, the count and the first rows).
* **Time zones**: a datetime column with mixed UTC offsets is converted to UTC; finding
  ``mixed-timezones`` (info).
* **Nested columns** (Parquet lists, structs, maps): dropped from the features with finding
  ``nested-column-dropped`` (warning); refused as the target, ``--group`` or ``--time``.
* **Many classes**: a classification target with more than :data:`MAX_CLASSES` (1000) classes
  is refused before any work starts (use ``--task regression`` for a numeric target, or group
  rare classes); classes too rare to appear in every split are refused by the split
  (:mod:`trainwell.split`) with the class named.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwell.errors import DataError
from trainwell.findings import Finding

FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_CLASSES = 1000
SNIFF_BYTES = 64 << 10
FINDINGS_ATTR = "trainwell_read_findings"  # findings of read_table, carried in DataFrame.attrs
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
_THOUSANDS = re.compile(r"^\s*[+-]?[1-9]\d{0,2}(,\d{3})+\s*$")  # "1,234": ambiguous


def _sample(path: Path) -> str:
    with path.open("rb") as fh:
        raw = fh.read(SNIFF_BYTES)
    return raw.decode("utf-8", errors="replace").lstrip("\ufeff")


def csv_dialect(path: Path, expected: str) -> tuple[str, list[Finding]]:
    """The delimiter to read ``path`` with: ``expected`` unless its header has none of it and
    :class:`csv.Sniffer` finds another (``;``, tab or ``|``)."""
    sample = _sample(path)
    header = sample.splitlines()[0] if sample.strip() else ""
    if not header or expected in header:
        return expected, []
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return expected, []
    if sniffed == expected or sniffed not in header:
        return expected, []
    shown = {"\t": "tab", ";": "';'", "|": "'|'"}.get(sniffed, repr(sniffed))
    note = " with decimal commas" if sniffed == ";" else ""
    finding = Finding(
        id="delimiter-sniffed",
        practice="TW-D01",
        severity="info",
        stage="audit",
        message=f"{path.name!r} is separated by {shown}, not {expected!r}; "
        f"it was read as such{note}.",
        evidence={"delimiter": sniffed, "expected": expected},
        fix="Nothing to do; save it comma-separated to silence this.",
    )
    return sniffed, [finding]


def duplicate_header_names(path: Path, delimiter: str) -> list[Finding]:
    """A finding for names that appear more than once in a CSV's raw header."""
    sample = _sample(path)
    try:
        header = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter), [])
    except csv.Error:
        return []
    counts = Counter(name.strip() for name in header)
    repeated = {name: n for name, n in counts.items() if n > 1}
    if not repeated:
        return []
    first = next(iter(repeated))
    return [
        Finding(
            id="duplicate-column-names",
            practice="TW-D01",
            severity="warning",
            stage="audit",
            message=f"{len(repeated)} column name(s) appear more than once in the header: "
            f"{first!r} {repeated[first]} times; the copies were read as {first + '.1'!r}"
            + (", ..." if repeated[first] > 2 else "")
            + ".",
            evidence={"names": repeated},
            fix="Give every column its own name in the file.",
        )
    ]


def refuse_duplicate_names(columns: pd.Index, source: str) -> None:
    """Raise a DataError naming the first column name that appears twice."""
    counts = Counter(map(str, columns))
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        raise DataError(
            f"{source}: column {repeated[0]!r} appears {counts[repeated[0]]} times; "
            "give every column its own name"
        )


def _is_nested(value: Any) -> bool:
    return isinstance(value, list | tuple | dict | set | np.ndarray | Mapping)


def nested_columns(frame: pd.DataFrame) -> list[str]:
    """Columns whose values are lists, structs or maps (Parquet nested types)."""
    found = []
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object:
            continue
        present = column.dropna()
        if len(present) and present.map(_is_nested).any():
            found.append(str(name))
    return found


def _is_text(values: pd.Series) -> bool:
    # pandas 3 reads text as its "str" dtype, older versions as object.
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _decimal_comma_columns(frame: pd.DataFrame, skip: set[str]) -> list[str]:
    found = []
    for name in frame.columns:
        if name in skip or not _is_text(frame[name]):
            continue
        present = frame[name].dropna()
        if present.empty or not all(isinstance(v, str) for v in present.head(50)):
            continue
        text = present.astype(str)
        if text.str.match(_DECIMAL_COMMA).all() and not text.str.match(_THOUSANDS).all():
            found.append(str(name))
    return found


def _non_finite(values: pd.Series) -> pd.Series:
    """Mask of values that are ±inf or beyond float32's range (NaN excluded)."""
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    with np.errstate(invalid="ignore"):
        return numbers.notna() & ~(numbers.abs() <= FLOAT32_MAX)


def _numeric_like(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    present = values.dropna()
    if present.empty or not _is_text(values):
        return False
    return bool(pd.to_numeric(present, errors="coerce").notna().all())


def _mixed_timezones(values: pd.Series) -> bool:
    if not _is_text(values):
        return False
    sample = values.dropna().astype(str).head(500)
    if sample.empty or not sample.str.contains(r"\d{4}-\d\d-\d\d", regex=True).all():
        return False
    try:
        pd.to_datetime(sample, format="ISO8601")
    except (ValueError, TypeError) as err:
        return "timezone" in str(err).lower() or "offset" in str(err).lower()
    return False


def guard_frame(
    frame: pd.DataFrame, target: str, roles: Mapping[str, str]
) -> tuple[pd.DataFrame, list[Finding]]:
    """Apply the module's policy to a raw table (see the module docstring).

    Args:
        frame: the table as read.
        target: the target column.
        roles: other columns that must stay as they are, by option (``{"--group": "g"}``).

    Returns:
        The table to build the dataset from, and the findings made.

    Raises:
        DataError: duplicate names, a nested or non-finite target, a nested role column.
    """
    refuse_duplicate_names(frame.columns, "the data")
    findings: list[Finding] = list(frame.attrs.get(FINDINGS_ATTR, []))
    frame = frame.copy()
    frame.attrs = {}
    kept = {target: "target", **{col: opt for opt, col in roles.items()}}

    nested = nested_columns(frame)
    for name in nested:
        if name in kept:
            raise DataError(
                f"{kept[name]} column {name!r} holds lists or structs; "
                "trainwell needs one plain value per row there"
            )
    if nested:
        frame = frame.drop(columns=nested)
        findings.append(
            Finding(
                id="nested-column-dropped",
                practice="TW-D01",
                severity="warning",
                stage="audit",
                message=f"{len(nested)} column(s) hold lists or structs and were left out of "
                f"the features: {', '.join(map(repr, nested[:10]))}.",
                evidence={"columns": nested},
                fix="Flatten them into plain columns (one value per row) to use them.",
            )
        )

    if target in frame.columns and _numeric_like(frame[target]):
        bad = _non_finite(frame[target])
        if bad.any():
            rows = frame.index[bad][:5].tolist()
            raise DataError(
                f"target {target!r} holds {int(bad.sum())} value(s) that are infinite or beyond "
                f"±3.4e38 (rows {', '.join(map(str, rows))}); a target must be a finite number: "
                "fix or remove those rows"
            )
    infinite: dict[str, int] = {}
    for name in frame.columns:
        if name in kept or not _numeric_like(frame[name]):
            continue
        bad = _non_finite(frame[name])
        if bad.any():
            infinite[str(name)] = int(bad.sum())
            numbers = pd.to_numeric(frame[name], errors="coerce").astype("float64")
            frame[name] = numbers.mask(bad)
    if infinite:
        first = next(iter(infinite))
        findings.append(
            Finding(
                id="non-finite-values",
                practice="TW-D01",
                severity="warning",
                stage="audit",
                message=f"{sum(infinite.values())} value(s) in {len(infinite)} column(s) are "
                f"infinite or beyond ±3.4e38 and were treated as missing ({first!r}: "
                f"{infinite[first]} rows).",
                evidence={"rows_per_column": infinite, "limit": FLOAT32_MAX},
                fix="Fix the values at their source, or rescale the column (e.g. a log).",
            )
        )

    converted = []
    for name in frame.columns:
        if _mixed_timezones(frame[name]):
            stamps = pd.to_datetime(frame[name], format="ISO8601", utc=True, errors="coerce")
            frame[name] = stamps
            converted.append(str(name))
    if converted:
        findings.append(
            Finding(
                id="mixed-timezones",
                practice="TW-D01",
                severity="info",
                stage="audit",
                message=f"{len(converted)} datetime column(s) mix time zones and were converted "
                f"to UTC: {', '.join(map(repr, converted[:10]))}.",
                evidence={"columns": converted},
                fix="Nothing to do; store times in one zone to silence this.",
            )
        )

    commas = _decimal_comma_columns(frame, set(kept))
    if commas:
        findings.append(
            Finding(
                id="decimal-commas",
                practice="TW-D01",
                severity="warning",
                stage="audit",
                message=f"{len(commas)} column(s) hold numbers written with decimal commas "
                f"(such as '3,14') and were read as categories: "
                f"{', '.join(map(repr, commas[:10]))}.",
                evidence={"columns": commas},
                fix="Write numbers with decimal points, or save the file separated by ';' "
                "(then trainwell reads decimal commas as numbers).",
            )
        )
    return frame, findings


def refuse_many_classes(target: str, n_classes: int) -> None:
    """Refuse a classification target with more than :data:`MAX_CLASSES` classes."""
    if n_classes > MAX_CLASSES:
        raise DataError(
            f"target {target!r} has {n_classes} classes; trainwell classifies into at most "
            f"{MAX_CLASSES}: group rare classes into fewer, or use --task regression "
            "for a numeric target"
        )
