"""The live page at ``/`` in headless Chromium: it renders from /stats with no console
errors and no outside request (its Content-Security-Policy allows only its own origin), and
its numbers equal /metrics'. Skipped, saying why, when no chromium is on PATH."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from conftest import mixed_frame
from helpers import CHROMIUM, CHROMIUM_FLAGS, needs_chromium
from serve.conftest import fresh_copy, rows_of, running

from trainwell.serve.service import ServeOptions

pytestmark = needs_chromium
FLAGS = [
    *CHROMIUM_FLAGS,
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
    "--dump-dom",
]


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


def test_the_live_page_renders_the_numbers_of_metrics(served_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(served_run, tmp_path)
    frame = mixed_frame(300, seed=3).sample(120, random_state=0)  # dates over the same span
    frame["x1"] += 3
    with running(ServeOptions(run, window=120, max_delay_ms=0)) as (client, _):
        for start in range(0, 120, 30):
            client.post("/predict", json={"rows": rows_of(frame.iloc[start : start + 30])})
        client.post("/predict", json={"rows": [{"x1": 1.0}]})  # a 422
        metrics = client.get("/metrics").text
        assert CHROMIUM is not None
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", str(client.base_url)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:500]
    assert 'data-errors="0"' in body.group(0)
    assert 'data-rendered="0"' not in body.group(0)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert console == []

    def shown(element: str) -> str:
        found = re.search(rf'id="{element}">([^<]*)<', dom)
        assert found is not None, element
        return found.group(1)

    assert int(shown("req-200")) == metric(metrics, 'trainwell_requests_total{status="200"}') == 4
    assert int(shown("req-422")) == metric(metrics, 'trainwell_requests_total{status="422"}') == 1
    assert int(shown("req-503")) == metric(metrics, "trainwell_rejections_total") == 0
    batches = metric(metrics, "trainwell_batch_size_sum") / metric(
        metrics, "trainwell_batch_size_count"
    )
    assert float(shown("batch-mean")) == pytest.approx(batches, abs=0.005)
    assert '<svg id="batches"' in dom
    assert 'data-bars="4"' in dom
    drifted = re.findall(r'<tr data-feature="([^"]+)" class="drifted">', dom)
    assert set(drifted) - {"(prediction)"} == {"x1"}
    assert 'trainwell_drift_detected{feature="x1",variant="A"} 1.0' in metrics
