"""Where ``trainwell predict`` writes, and what it tells the user about the rows it read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from trainwell.errors import DataError, did_you_mean

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
        if name not in frame.columns:
            raise DataError(
                f"--keep column {name!r} is not in the data{did_you_mean(name, frame.columns)}"
            )
        if name in result.columns:
            raise DataError(
                f"--keep column {name!r} has the name of an output column "
                f"({', '.join(map(str, result.columns))}); rename it in the input to keep it"
            )
    if not names:
        return result
    kept = frame[names].reset_index(drop=True)
    return pd.concat([kept, result.reset_index(drop=True)], axis=1)


def unseen_category_warnings(model: Predictor, frame: pd.DataFrame) -> list[str]:
    """One line per categorical column holding values the training split never had
    (a tabular run; other modalities have no category vocabulary)."""
    from trainwell.preprocess import FeatureEncoder

    spec = model.spec
    if spec.modality != "table":
        return []
    encoder = FeatureEncoder.from_json(spec.encoding["encoder"])
    lines = []
    for name, seen in encoder.unseen_categories(frame).items():
        examples = ", ".join(map(repr, seen["examples"]))
        lines.append(
            f"column {name!r}: {seen['rows']} of {len(frame)} rows hold categories not seen "
            f"in training (e.g. {examples}); they were predicted as an unknown category"
        )
    return lines
