"""Drift (TW-P06): a served stream whose x1 moved raises drift on x1 only (KS and PSI against
``train_profile.json``), in /stats, /metrics and ``trainwell monitor``, which also reports
live accuracy from feedback and advises retraining; an unshifted stream (the clean control)
raises none and advises nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import run_cli
from serve.conftest import fresh_copy, rows_of, running

from trainwell.serve.drift import PREDICTION, drift_report
from trainwell.serve.service import ServeOptions

STREAM = 300
FEATURES = {"x1", "x2", "color", "city", "flag", "when"}


def serve_stream(run: Path, frame: pd.DataFrame) -> dict:
    """Serve ``frame`` in requests of 50 rows, send every true label as feedback; the
    server's /stats and /metrics at the end."""
    with running(ServeOptions(run, window=STREAM, max_delay_ms=0)) as (client, _):
        for start in range(0, len(frame), 50):
            chunk = frame.iloc[start : start + 50]
            answer = client.post("/predict", json={"rows": rows_of(chunk)}).json()
            for prediction, label in zip(answer["predictions"], chunk["label"], strict=True):
                client.post("/feedback", json={"id": prediction["id"], "label": label})
        return {
            "stats": client.get("/stats").json(),
            "metrics": client.get("/metrics").text,
        }


@pytest.fixture(scope="module")
def streams(served_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    result = {}
    for name, shift in (("clean", 0.0), ("shifted", 3.0)):
        run = fresh_copy(served_run, tmp_path_factory.mktemp(name))
        frame = mixed_frame(STREAM, seed=11)
        frame["x1"] += shift
        result[name] = {"run": run, **serve_stream(run, frame)}
    return result


def moved(drift: list[dict]) -> set[str]:
    return {d["feature"] for d in drift if d["drifted"]}


def test_the_run_records_its_training_profile(served_run: Path) -> None:
    profile = json.loads((served_run / "train_profile.json").read_text())
    manifest = json.loads((served_run / "manifest.json").read_text())
    assert profile["rows"] == manifest["splits"]["sizes"]["train"]
    assert set(profile["features"]) == FEATURES
    assert len(profile["features"]["x1"]["sample"]) == profile["rows"]
    assert set(profile["features"]["color"]["counts"]) == {"red", "green", "blue"}
    assert set(profile["prediction"]["counts"]) <= {"pos", "neg"}


def test_a_shifted_feature_drifts_and_only_it(streams: dict[str, dict]) -> None:
    drift = streams["shifted"]["stats"]["drift"]["A"]
    assert moved(drift) - {PREDICTION} == {"x1"}
    x1 = next(d for d in drift if d["feature"] == "x1")
    assert x1["test"] == "ks"
    assert x1["p_value"] < 0.01
    assert x1["psi"] >= 0.2
    assert x1["rows"] == STREAM
    assert 'trainwell_drift_detected{feature="x1",variant="A"} 1.0' in streams["shifted"]["metrics"]
    assert 'trainwell_drift_detected{feature="x2",variant="A"} 0.0' in streams["shifted"]["metrics"]


def test_an_unshifted_stream_raises_no_drift(streams: dict[str, dict]) -> None:
    drift = streams["clean"]["stats"]["drift"]["A"]
    assert {d["feature"] for d in drift} == FEATURES | {PREDICTION}
    assert all(d["drifted"] is False for d in drift)


def test_a_moved_category_drifts_by_chi_square(served_run: Path) -> None:
    profile = json.loads((served_run / "train_profile.json").read_text())
    frame = mixed_frame(STREAM, seed=11)
    frame["color"] = "blue"
    columns = {name: frame[name].tolist() for name in FEATURES}
    drift = drift_report(profile, columns)
    assert {d.feature for d in drift if d.drifted} == {"color"}
    assert next(d for d in drift if d.feature == "color").test == "chi2"


def test_monitor_names_the_moved_feature_and_advises_retraining(
    streams: dict[str, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["monitor", str(streams["shifted"]["run"]), "--window", "300"], capsys)
    assert code == 0, err
    assert "rows 1-300: drift on x1 (PSI" in out
    for other in FEATURES - {"x1"}:
        assert f"{other} (PSI" not in out
    assert "live accuracy" in out
    assert "retraining advised: rows 1-300 drifted from the training split on x1" in out


def test_monitor_of_a_clean_stream_advises_nothing(
    streams: dict[str, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["monitor", str(streams["clean"]["run"]), "--window", "300"], capsys)
    assert code == 0, err
    assert "rows 1-300: no drift; live accuracy" in out
    assert "retraining not advised" in out


def test_monitor_without_a_served_log_is_one_line(
    served_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["monitor", str(served_run)], capsys)
    assert code == 2
    assert "serve/log.jsonl' does not exist: serve the run first" in err


def test_monitor_claims_only_what_its_last_window_measured() -> None:
    """One served row: too few to test drift or score, so no "no drift" verdict (found by
    trying trainwell: "too few rows to test drift", then "not advised: no drift")."""
    from trainwell.serve.drift import Drift
    from trainwell.serve.monitor import MonitorReport, Window, format_report

    untested = Drift("x1", "ks", 1, None, None, None, None)
    window = Window(first=0, rows=1, drift=[untested], labelled=0, accuracy=None)
    text = format_report(MonitorReport("r", 1, [window], 0.9, None))
    assert "too few rows to test drift" in text
    assert text.splitlines()[-1] == (
        "retraining: no verdict yet: the last window has too few rows to test drift and too "
        "few labels to score"
    )
    tested = Drift("x1", "ks", 500, 0.01, 0.9, 0.01, False)
    window = Window(first=0, rows=500, drift=[tested], labelled=0, accuracy=None)
    text = format_report(MonitorReport("r", 500, [window], 0.9, None))
    assert text.splitlines()[-1] == "retraining not advised: no drift in the last window"
