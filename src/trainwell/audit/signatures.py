"""Row signatures: hash keys under which two rows count as the same example (TW-D06).

A signature turns each row into one or more 64-bit keys; two rows are (near) duplicates when
they share a key in the same position. One key per row gives exact matching of a normalized
form (the tabular signatures below). Several keys per row give locality-sensitive hashing,
which is how other modalities plug in without changing the leakage check:

* images: a 64-bit perceptual hash (e.g. ``imagehash.phash``) cut into bands, so hashes a few
  bits apart still share a band;
* text: the text with case, punctuation and whitespace normalized (one key), or MinHash
  bands over its word shingles.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"x": [1.00001, 1.0, 2.0], "c": ["A ", "a", "b"]})
    >>> keys = RoundedRowSignature(digits=4).keys(frame)
    >>> bool(keys[0, 0] == keys[1, 0]), bool(keys[0, 0] == keys[2, 0])
    (True, False)
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd


class RowSignature(Protocol):
    """Anything that maps rows to hash keys; rows sharing a key in one column match."""

    name: str

    def keys(self, frame: pd.DataFrame) -> np.ndarray:
        """Keys of every row: a uint64 array of shape (rows, bands)."""
        ...


class ExactRowSignature:
    """Rows match when every value is identical."""

    name = "exact"

    def keys(self, frame: pd.DataFrame) -> np.ndarray:
        return pd.util.hash_pandas_object(frame, index=False).to_numpy()[:, None]


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Round to ``digits`` significant digits (NaN and infinities pass through).

    Example:
        >>> round_significant(np.array([123456.0, 0.00123456, -0.0]), 3).tolist()
        [123000.0, 0.00123, 0.0]
    """
    finite = np.isfinite(values) & (values != 0)
    out = np.where(values == 0, 0.0, values)
    # Clipped so that 10**scale stays finite for subnormal and huge values.
    magnitude = np.clip(np.floor(np.log10(np.abs(values[finite]))), -290, 290)
    scale = 10.0 ** (digits - 1 - magnitude)
    out[finite] = np.round(values[finite] * scale) / scale
    return out


class RoundedRowSignature:
    """Rows match when equal after rounding numbers and normalizing text.

    Numbers are rounded to ``digits`` significant digits; text is case-folded with runs of
    whitespace collapsed and the ends stripped. This catches copies that were re-exported at
    a different precision or re-typed with stray spaces. (Values just either side of a
    rounding boundary still differ: the check undercounts, it never invents a match.)
    """

    name = "near"

    def __init__(self, digits: int = 4) -> None:
        self.digits = digits

    def keys(self, frame: pd.DataFrame) -> np.ndarray:
        normalized: dict[str, Any] = {}
        for column in frame.columns:
            values = frame[column]
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
                normalized[column] = round_significant(numbers, self.digits)
            elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
                normalized[column] = values
            else:
                text = values.astype("string").str.casefold().str.replace(r"\s+", " ", regex=True)
                normalized[column] = text.str.strip()
        table = pd.DataFrame(normalized, index=frame.index)
        return pd.util.hash_pandas_object(table, index=False).to_numpy()[:, None]


def matches(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query row, the first reference row sharing a key with it, or -1.

    Args:
        reference: keys of the reference rows, shape (n_reference, bands).
        query: keys of the rows to look up, shape (n_query, bands).

    Returns:
        Positions into ``reference`` (int64, shape (n_query,)).

    Example:
        >>> matches(np.array([[5], [7]], dtype=np.uint64), np.array([[7], [9]], dtype=np.uint64))
        array([ 1, -1])
    """
    found = np.full(len(query), -1, dtype=np.int64)
    for band in range(reference.shape[1]):
        unique, first = np.unique(reference[:, band], return_index=True)
        if len(unique) == 0:
            continue
        at = np.clip(np.searchsorted(unique, query[:, band]), 0, len(unique) - 1)
        hit = (unique[at] == query[:, band]) & (found < 0)
        found[hit] = first[at[hit]]
    return found
