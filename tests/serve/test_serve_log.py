"""The served log rotates by size (keeping N older files) and ``trainwell monitor`` reads
across the rotated files, oldest first."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import mixed_frame
from helpers import run_cli
from serve.conftest import fresh_copy, rows_of, running

from trainwell.serve.monitor import read_log
from trainwell.serve.service import LOG_DIR, ServedLog, ServeOptions, log_files

KEEP = 3


def test_the_log_rotates_by_size_and_keeps_the_newest_files(tmp_path: Path) -> None:
    log = ServedLog(tmp_path, max_bytes=400, keep=KEEP)
    for i in range(40):  # ~60 bytes a line, 2 lines a batch: ~6 batches a file
        log.write(
            [
                {"type": "prediction", "id": f"{i}a", "n": i},
                {"type": "feedback", "id": f"{i}a", "label": i},
            ]
        )
    log.close()
    files = log_files(tmp_path)
    assert [p.name for p in files] == ["log.jsonl.3", "log.jsonl.2", "log.jsonl.1", "log.jsonl"]
    assert all(p.stat().st_size <= 400 for p in files)
    predictions, labels = read_log(tmp_path)
    numbers = [p["n"] for p in predictions]
    assert numbers == list(range(numbers[0], 40))  # in order, the oldest files dropped
    assert numbers[0] > 0
    assert labels == {f"{n}a": n for n in numbers}


def test_monitor_reads_the_rotated_served_log(
    served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = fresh_copy(served_run, tmp_path)
    options = ServeOptions(run, log_max_bytes=20_000, log_keep=50, max_delay_ms=0)
    with running(options) as (client, _):
        for seed in range(3):
            answer = client.post("/predict", json={"rows": rows_of(mixed_frame(100, seed=seed))})
            assert answer.status_code == 200
    assert len(list((run / LOG_DIR).glob("log.jsonl*"))) > 3  # it rotated
    code, out, err = run_cli(["monitor", str(run), "--window", "300"], capsys)
    assert code == 0, err
    assert "run run: 300 answered rows in 1 window(s)" in out
