"""Reading a CSV or Parquet file into a DataFrame, with one clear error for each way it fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from trainwell.data.guard import (
    FINDINGS_ATTR,
    csv_dialect,
    duplicate_header_names,
    refuse_duplicate_names,
)
from trainwell.errors import DataError
from trainwell.files import require_data_file
from trainwell.findings import Finding

SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks (``hashlib.file_digest``), as hex."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash of a DataFrame (values, column names and order), for in-memory data."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def read_table(path: str | Path, nrows: int | None = None) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file (``nrows``: only its first rows, read no further).

    A CSV's delimiter is sniffed when its header lacks commas, and duplicate names in the raw
    header are noted (trainwell.data.guard); those findings travel in
    ``frame.attrs["trainwell_read_findings"]``.

    Raises:
        DataError: the file is missing, a folder, of an unknown type, unreadable or empty, or
            a Parquet file with two columns of one name.
    """
    path = require_data_file(path)
    findings: list[Finding] = []
    if path.is_dir():
        raise DataError(
            f"{str(path)!r} is a folder; pass a CSV, TSV or Parquet file, or a folder of "
            "images with one sub-folder per class"
        )
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise DataError(
            f"cannot read {str(path)!r}: unknown file type {path.suffix!r}; "
            "use a .csv, .tsv or .parquet file"
        )
    try:
        if kind == "parquet":
            frame = pd.read_parquet(path) if nrows is None else _parquet_head(path, nrows)
            refuse_duplicate_names(frame.columns, repr(str(path)))
        else:
            sep, findings = csv_dialect(path, "\t" if kind == "tsv" else ",")
            findings += duplicate_header_names(path, sep)
            # A ';' file is what spreadsheets write where the decimal separator is a comma.
            decimal = "," if sep == ";" else "."
            frame = pd.read_csv(path, sep=sep, decimal=decimal, low_memory=False, nrows=nrows)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(path)!r} is empty; it needs a header and rows") from None
    except UnicodeDecodeError as err:  # a subclass of ValueError: first
        raise DataError(
            f"cannot read {str(path)!r} as {kind}: it is not UTF-8 text (it holds byte "
            f"{err.object[err.start]:#04x}, as Latin-1 or Windows-1252 files do); save it as "
            "UTF-8 (in a spreadsheet: CSV UTF-8) and run again"
        ) from None
    except (pd.errors.ParserError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot read {str(path)!r} as {kind}: {first}") from None
    except Exception as err:  # pyarrow raises its own error types for corrupt Parquet files
        if type(err).__module__.startswith("pyarrow"):
            raise DataError(f"cannot read {str(path)!r} as parquet: {err}") from None
        raise
    if frame.empty:
        raise DataError(f"data file {str(path)!r} has no rows; it needs at least a header and rows")
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)
    frame.attrs[FINDINGS_ATTR] = findings  # build_dataset adds them to the dataset's findings
    return frame


def _parquet_head(path: Path, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows of a Parquet file: one record batch of its first row group,
    read page by page (``ParquetFile.iter_batches``), never the whole file."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    first = next(file.iter_batches(batch_size=rows), None)
    table = file.schema_arrow.empty_table() if first is None else first
    return table.to_pandas()
