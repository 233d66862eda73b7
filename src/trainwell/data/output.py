"""Where ``trainwell predict`` writes, and what it tells the user about the rows it read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainwell.errors import DataError, require_column

if TYPE_CHECKING:
    import pandas as pd

    from trainwell.predictor import Predictor


def prepare_output_file(out: Path, option: str = "--out", make_folder: bool = True) -> None:
    """Make ``out``'s folder if it is missing (with ``make_folder``, else refuse it); refuse
    an ``out`` that is a folder, lies under a file or cannot be written. ``option`` names it
    in the messages.

    Raises:
        DataError: naming the path and what is wrong.
    """
    if out.is_dir():
        raise DataError(f"{option} {str(out)!r} is a folder; name a file in it")
    if not make_folder and not out.parent.is_dir():
        raise DataError(f"{option} {str(out)!r}: its folder does not exist")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"{option} {str(out)!r}: a part of its folder is a file") from None
    except OSError as err:
        raise DataError(f"{option} {str(out)!r}: cannot make its folder: {err.strerror}") from None
    # Opened once now, so that a path the system refuses (no permission, a name too long)
    # fails before the work, not after it; a file made only for this test is removed again.
    existed = out.exists()
    try:
        with out.open("a"):
            pass
    except OSError as err:
        raise DataError(f"{option} {str(out)!r}: cannot write it: {err.strerror}") from None
    if not existed:
        out.unlink()


def with_kept_columns(
    result: pd.DataFrame, frame: pd.DataFrame, keep: Sequence[str]
) -> pd.DataFrame:
    """``result`` (the predictions for ``frame``'s rows, in order) with the input columns
    ``keep`` copied in front, each once (``--keep id --keep id`` keeps one ``id``).

    Raises:
        DataError: a ``keep`` column is not in ``frame``, or has the name of an output column
            (``prediction``, ``proba_<class>``), which the output cannot hold twice.
    """
    import pandas as pd

    names = list(dict.fromkeys(keep))
    for name in names:
        require_column(frame.columns, name, "--keep")
        if name in result.columns:
            raise DataError(
                f"--keep column {name!r} has the name of an output column "
                f"({', '.join(map(str, result.columns))}); rename it in the input to keep it"
            )
    if not names:
        return result
    kept = frame[names].reset_index(drop=True)
    return pd.concat([kept, result.reset_index(drop=True)], axis=1)


def unexpected_value_warnings(model: Predictor, frame: pd.DataFrame) -> list[str]:
    """One line per column holding values the model reads as something else (a tabular run;
    other modalities have no column encoding): see :func:`describe_unexpected`."""
    from trainwell.preprocess import FeatureEncoder

    spec = model.spec
    if spec.modality != "table":
        return []
    encoder = FeatureEncoder.from_json(spec.encoding["encoder"])
    return [
        describe_unexpected(name, seen, len(frame))
        for name, seen in encoder.unexpected_values(frame).items()
    ]


def describe_unexpected(name: str, seen: dict[str, Any], rows: int) -> str:
    """The warning for one column of :meth:`FeatureEncoder.unexpected_values`: a category the
    training split never had, or a date that does not parse (read as a missing date; found by
    trying trainwell: 'not a date' and '2024/13/45' were predicted without a word)."""
    examples = ", ".join(map(repr, seen["examples"]))
    if seen["kind"] == "datetime":
        return (
            f"column {name!r}: {seen['rows']} of {rows} rows hold values that are not dates "
            f"(e.g. {examples}); they were predicted as missing dates (write dates as "
            "YYYY-MM-DD or ISO 8601)"
        )
    return (
        f"column {name!r}: {seen['rows']} of {rows} rows hold categories not seen in training "
        f"(e.g. {examples}); they were predicted as an unknown category"
    )
