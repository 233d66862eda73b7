"""The exceptions trainwell raises for problems a user can fix.

Every user-facing error is a :class:`TrainwellError`; the CLI turns one into a single line on
stderr and exit code 2. Anything else escaping is a bug (exit code 1, with a traceback)::

    TrainwellError            a problem the user can fix; message says what to do next
    ├── ConfigError           a malformed config file, override or option
    ├── DataError             unreadable, empty or unusable data
    │   └── LeakageError      the audit found leakage between splits (blocking)
    └── RunError              a run directory that is missing, incomplete or tampered with
        └── RunDirError       a file in a run directory is malformed, out of bounds or
                              outside the directory (a symlink, ``..``, an absolute path)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrainwellError(Exception):
    """A problem the user can fix. ``str(err)`` is the one line the CLI prints."""


class ConfigError(TrainwellError):
    """A config file, ``key=value`` override or option is malformed or unknown."""


class DataError(TrainwellError):
    """The data cannot be read or cannot be used for the requested task."""


class LeakageError(DataError):
    """The audit found an error-severity problem that would make the results wrong."""


class RunError(TrainwellError):
    """A run directory is not a run, is incomplete, or fails its integrity check."""


class RunDirError(RunError):
    """A file trainwell reads back from a run directory is malformed or is not inside it.

    The message names the file and what is wrong with it (trainwell.run_files).
    """


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choices, or ``""`` when none is close.

    Example:
        >>> did_you_mean("lable", ["label", "age"])
        " (did you mean 'label'?)"
    """
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[name.lower()]] if name.lower() in lowered else []
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def require_column(columns: Iterable[object], name: str, option: str) -> None:
    """Refuse ``name`` when the data's ``columns`` lack it, as the one line every option that
    names a column (the target, ``--text``, ``--keep``, ...) gives. ``columns`` are compared
    as they are (a frame's labels may be numbers), and named as text.

    Raises:
        DataError: "<option> column 'x' is not in the data (did you mean ...?); columns are:
            ..." (the first 20).
    """
    labels = list(columns)
    if name not in labels:
        names = [str(c) for c in labels]
        if name in names:  # a DataFrame made in Python, labelled by numbers
            label = labels[names.index(name)]
            raise DataError(
                f"{option} column {name!r} is not in the data, whose column labels are not "
                f"text ({label!r} is of type {type(label).__name__}); label the columns with "
                "text (frame.columns = frame.columns.astype(str))"
            )
        raise DataError(
            f"{option} column {name!r} is not in the data{did_you_mean(name, names)}; "
            f"columns are: {', '.join(map(repr, names[:20]))}"
        )
