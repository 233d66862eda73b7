"""Property: on any table, ``trainwell audit`` and ``trainwell fit`` either finish or exit 2
with one line; never a traceback, never a run directory left ``running``.

Hypothesis generates tables with random column kinds, missing values, infinities, huge
numbers, mixed time zones, odd column names and text encodings, as CSV or Parquet.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_input_policy import TINY

from trainwell.cli import main
from trainwell.run_files import read_metrics

TARGET = "target"
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([1e308, -1e308, 3.5e38, 0.0, 1.0]),
    st.none(),
)
WORDS = st.one_of(
    st.sampled_from(["a", "b", "ü", "Ä,ö", "x;y", "", " ", "yes", "no", "3,14", "n/a"]),
    st.text(max_size=5),
    st.none(),
)
DATES = st.one_of(
    st.sampled_from(
        ["2024-01-01", "2024-01-01T10:00:00+01:00", "2024-02-03T00:00:00-05:00", "not a date"]
    ),
    st.none(),
)
CELLS = {
    "float": NUMBERS,
    "int": st.integers(min_value=-(2**40), max_value=2**40),
    "word": WORDS,
    "bool": st.sampled_from([True, False, None]),
    "date": DATES,
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[pd.DataFrame, str, str]:
    rows = draw(st.integers(min_value=1, max_value=120))
    names = draw(
        st.lists(
            st.one_of(st.text(max_size=6), st.sampled_from(["x", "x", "a b", "é"])),
            min_size=1,
            max_size=4,
        )
    )
    # One column of distinct numbers, so that not every table is refused for rows repeated
    # across splits and fit gets to train on some.
    spread = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
    columns: dict[str, list[Any]] = {
        "spread": draw(st.lists(spread, min_size=rows, max_size=rows, unique=True))
    }
    for i, name in enumerate(names):
        kind = draw(st.sampled_from(sorted(CELLS)))
        values = draw(st.lists(CELLS[kind], min_size=rows, max_size=rows))
        key = name if name not in columns and name != TARGET else f"{name}_{i}"
        columns[key] = values
    if draw(st.booleans()):  # classification
        labels = draw(st.lists(st.sampled_from(["p", "q", "r"]), min_size=rows, max_size=rows))
    else:  # regression: finite numbers, sometimes with one infinite, huge or missing value
        value = st.floats(min_value=-100, max_value=100, allow_nan=False)
        labels = draw(st.lists(value, min_size=rows, max_size=rows))
        if draw(st.booleans()):
            odd = draw(st.sampled_from([math.inf, -math.inf, 1e308, math.nan, None]))
            labels[draw(st.integers(min_value=0, max_value=rows - 1))] = odd
    columns[TARGET] = labels
    frame = pd.DataFrame(columns)
    return (
        frame,
        draw(st.sampled_from(["csv", "parquet"])),
        draw(st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"])),
    )


def write(frame: pd.DataFrame, folder: Path, fmt: str, encoding: str) -> Path | None:
    path = folder / f"data.{fmt}"
    try:
        if fmt == "parquet":
            frame.astype({c: "object" for c in frame.columns}).to_parquet(path)
        else:
            frame.to_csv(path, index=False, encoding=encoding)
    except (UnicodeEncodeError, ValueError, TypeError, OverflowError):
        return None  # pandas or pyarrow cannot write this table; nothing to test
    except Exception as err:  # pyarrow's own conversion errors
        if type(err).__module__.startswith("pyarrow"):
            return None
        raise
    return path


def cli(args: list[str]) -> tuple[int, str]:
    """Run ``trainwell ARGS`` in-process; an exception other than exit is a bug (exit 1)."""
    err = io.StringIO()
    # A library warning is printed, not raised, for a user (no -W error): the property is
    # about exit codes and tracebacks. (Known: the report's matplotlib figures can warn on
    # degenerate data; that is not fixed here.)
    with warnings.catch_warnings(), redirect_stderr(err), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        with pytest.raises(SystemExit) as done:
            main(args)
    code = done.value.code
    return (code if isinstance(code, int) else 0), err.getvalue()


def assert_finished_or_one_line(code: int, err: str) -> None:
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("trainwell: error: ")


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(tables())
def test_audit_and_fit_finish_or_refuse_in_one_line(case: tuple[pd.DataFrame, str, str]) -> None:
    frame, fmt, encoding = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write(frame, folder, fmt, encoding)
        if path is None:
            return
        code, err = cli(["audit", str(path), "--target", TARGET])
        assert_finished_or_one_line(code, err)
        out = folder / "run"
        code, err = cli(["fit", str(path), "--target", TARGET, "--out", str(out), "-q", *TINY])
        assert_finished_or_one_line(code, err)
        if out.exists():
            status = json.loads((out / "manifest.json").read_text())["status"]
            assert status == ("complete" if code == 0 else "failed"), err
            if code == 0:  # a finished run reads back and has a report
                assert "test" in read_metrics(out)
                assert (out / "report.html").is_file()
