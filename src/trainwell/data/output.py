"""Where ``trainwell predict`` writes, and what it tells the user about the rows it read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trainwell.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from trainwell.predictor import Predictor


def prepare_output_file(out: Path) -> None:
    """Make ``out``'s folder if it is missing; refuse an ``out`` that is a folder or lies
    under a file.

    Raises:
        DataError: naming the path and what is wrong.
    """
    if out.is_dir():
        raise DataError(f"--out {str(out)!r} is a folder; name a file such as predictions.csv")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DataError(f"--out {str(out)!r}: a part of its folder is a file") from None
    except OSError as err:
        raise DataError(f"--out {str(out)!r}: cannot make its folder: {err.strerror}") from None


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
