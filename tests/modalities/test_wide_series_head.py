"""The wide-series layout check reads the header and the first rows, never the whole file.

``WideSeriesModality.claims`` runs on every table whose header has 16 or more indexed
column names (``x0 ... x17`` is common in plain tables too); a streamed Parquet file of 10M
rows must not be read whole to decide that it is a table.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from trainwell.config import options_config
from trainwell.data import read_table
from trainwell.errors import DataError
from trainwell.modalities.wide_series import SAMPLE_ROWS, WideSeriesModality

ROWS = SAMPLE_ROWS + 500


def frame(signal: bool, rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    if signal:  # a random walk: neighbouring columns correlate strongly
        values = np.cumsum(rng.normal(size=(rows, 20)), axis=1)
    else:
        values = rng.normal(size=(rows, 20))
    data = pd.DataFrame(values, columns=[f"x{i}" for i in range(20)])
    data["y"] = values[:, -1] > 0
    return data


def test_a_csv_past_the_first_rows_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    frame(signal=True).to_csv(path, index=False)
    with path.open("a") as fh:
        fh.write("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24\n")
    with pytest.raises(DataError, match="cannot read"):
        read_table(path)  # the whole file is unreadable: its last line has 24 fields
    cfg = options_config(None, [], target="y")
    assert WideSeriesModality().claims(path, cfg)  # decided from the first rows alone


def test_a_parquet_file_is_never_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = options_config(None, [], target="y")
    paths = {}
    for signal in (True, False):
        paths[signal] = tmp_path / f"{signal}.parquet"
        frame(signal).to_parquet(paths[signal], row_group_size=500, index=False)

    def whole_file(*args: object, **kwargs: object) -> pd.DataFrame:
        raise AssertionError("the layout check read the whole file")

    monkeypatch.setattr(pd, "read_parquet", whole_file)
    assert WideSeriesModality().claims(paths[True], cfg)
    assert not WideSeriesModality().claims(paths[False], cfg)  # the clean control: a table


def test_text_past_the_first_rows_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = frame(signal=True).astype({"x5": object})
    data.loc[ROWS - 10, "x5"] = "sensor offline"  # a signal column turns to text late
    path = tmp_path / "late.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", str(path), "--target", "y", "--out", str(out)], capsys)
    assert code == 2
    assert f"the first {SAMPLE_ROWS} rows read as a series in wide form" in err
    assert "data.layout=table" in err
    assert "Traceback" not in err
    assert not out.exists()
