"""Serving beyond classified tables: text, series and image runs (the request schema and the
data of each batch come from the modality: ``served_fields`` / ``served_data``), and a regression
table run (numeric predictions, drift of the predictions, feedback with a numeric label).
Every served answer equals ``trainwell predict``'s on the same examples."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import run_cli
from modality_data import make_reviews, make_sensors, write_digits
from serve.conftest import fit, fresh_copy, rows_of, running

from trainwell.serve.drift import PREDICTION
from trainwell.serve.service import ServeOptions

LABELLED = 60  # served rows whose true value is sent back (monitor scores from 50)


def predicted(run: Path, new: pd.DataFrame, folder: Path, capsys: pytest.CaptureFixture[str]):
    """``trainwell predict RUN new.csv``'s table."""
    new.to_csv(folder / "new.csv", index=False)
    code, out, err = run_cli(["predict", str(run), str(folder / "new.csv")], capsys)
    assert code == 0, err
    return pd.read_csv(io.StringIO(out))


def assert_same(answer: httpx.Response, expected: pd.DataFrame, classes: list[str]) -> None:
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert [p["prediction"] for p in got] == expected["prediction"].tolist()
    for cls in classes:
        served = np.array([p["proba"][cls] for p in got])
        np.testing.assert_allclose(served, expected[f"proba_{cls}"], rtol=1e-6, atol=1e-7)


def test_a_text_run_serves_texts_as_trainwell_predict_answers(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = make_reviews(12, seed=5).drop(columns="sentiment")
    expected = predicted(text_run, new, tmp_path, capsys)
    classes = sorted(c[len("proba_") :] for c in expected.columns if c.startswith("proba_"))
    served = fresh_copy(text_run, tmp_path, "served")
    with running(ServeOptions(served)) as (client, _):
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Row"]
        answer = client.post("/predict", json={"rows": [{"review": t} for t in new["review"]]})
        wrong = client.post("/predict", json={"rows": [{"review": ["not", "a", "text"]}]})
    code, out, err = run_cli(["monitor", str(served)], capsys)
    assert code == 0, err
    assert "run served: 12 answered rows" in out
    assert "rows 1-12: too few rows to test drift;" in out
    assert schema["required"] == ["review"]
    assert schema["properties"]["review"]["type"] == "string"
    assert_same(answer, expected, classes)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "rows", 0, "review"]


def test_a_series_run_serves_value_lists_as_trainwell_predict_answers(
    series_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = make_sensors(5, length=16, seed=9).drop(columns="activity")
    expected = predicted(series_run, new, tmp_path, capsys)  # one row per series, ids sorted
    examples = [
        {"ax": rows["ax"].tolist(), "ay": rows["ay"].tolist()}
        for _, rows in new.sort_values(["id", "t"]).groupby("id", sort=True)
    ]
    with running(ServeOptions(fresh_copy(series_run, tmp_path, "served"))) as (client, _):
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Row"]
        answer = client.post("/predict", json={"rows": examples})
        uneven = client.post("/predict", json={"rows": [{"ax": [1.0, 2.0], "ay": [1.0]}]})
        wrong = client.post("/predict", json={"rows": [{"ax": "1,2", "ay": [1.0]}]})
        up = client.get("/health").status_code
    assert sorted(schema["required"]) == ["ax", "ay"]
    assert schema["properties"]["ax"]["type"] == "array"
    assert_same(answer, expected, ["run", "sit", "walk"])
    assert uneven.status_code == 422
    assert "must have equal lengths" in uneven.json()["detail"][0]["msg"]
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["loc"] == ["body", "rows", 0, "ax"]
    assert up == 200


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = mixed_frame(300)
    frame["amount"] = 3 * frame["x1"] + frame["x2"].fillna(50) / 10
    return fit(tmp_path_factory.mktemp("regression"), frame.drop(columns="label"), "amount")


def test_a_regression_run_serves_numbers_drift_and_live_error(
    regression_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = mixed_frame(300, seed=4).drop(columns="label")  # the training dates: no drift there
    frame["x1"] += 3.0  # the stream moved: x1 and, through it, the predictions drift
    truth = 3 * frame["x1"] + frame["x2"].fillna(50) / 10
    expected = predicted(regression_run, frame, tmp_path, capsys)
    run = fresh_copy(regression_run, tmp_path, "served")
    with running(ServeOptions(run, window=300)) as (client, _):
        answer = client.post("/predict", json={"rows": rows_of(frame)})
        got = answer.json()["predictions"]
        for p, y in zip(got[:LABELLED], truth[:LABELLED], strict=True):
            assert client.post("/feedback", json={"id": p["id"], "label": float(y)}).json()[
                "matched"
            ]
        stats = client.get("/stats").json()
    np.testing.assert_allclose(
        [p["prediction"] for p in got], expected["prediction"], rtol=1e-5, atol=1e-6
    )
    assert all(p["proba"] is None for p in got)
    drifted = {d["feature"] for d in stats["drift"]["A"] if d["drifted"]}
    assert drifted == {"x1", PREDICTION}
    served = np.array([p["prediction"] for p in got[:LABELLED]])
    error = np.mean(np.abs(served - truth[:LABELLED]))
    live = stats["live"]["A"]
    assert live["labelled"] == LABELLED
    assert live["mean_absolute_error"] == pytest.approx(error)
    code, out, err = run_cli(["monitor", str(run), "--window", "300"], capsys)
    assert code == 0, err
    assert "drift on x1 (PSI" in out
    assert f"live mean absolute error {error:.4g} ({LABELLED} labelled)" in out
    assert "test mean absolute error at training" in out
    assert "retraining advised" in out


def test_wide_series_examples_are_rows_of_their_step_columns(tmp_path: Path) -> None:
    """A wide-series run (one row per series, a column per step) takes one number per step
    column, and a batch becomes those rows in order (what its predict reads, as for a table)."""
    from trainwell.modalities.registry import REGISTRY

    wide = REGISTRY["wide_series"]
    encoding = {"modality": "wide_series", "columns": ["t0", "t1", "t2"], "length": 3}
    assert wide.served_fields(encoding) == {"t0": "numeric", "t1": "numeric", "t2": "numeric"}
    examples = [{"t0": 1.0, "t1": 2.0, "t2": 3.0}, {"t2": 6.0, "t0": 4.0, "t1": 5.0}]
    frame = wide.served_data(encoding, examples, tmp_path)
    assert frame.columns.tolist() == ["t0", "t1", "t2"]
    assert frame.to_numpy().tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


def test_an_image_run_serves_base64_images_as_trainwell_predict_answers(
    image_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = write_digits(tmp_path / "new", range(3), per_class=2, skip=40)
    code, out, err = run_cli(["predict", str(image_run), str(new)], capsys)
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(out), dtype={"prediction": str})  # classes "0" "1" "2"
    images = [base64.b64encode(Path(p).read_bytes()).decode() for p in expected["path"]]
    with running(ServeOptions(fresh_copy(image_run, tmp_path, "served"))) as (client, _):
        answer = client.post("/predict", json={"rows": [{"image": i} for i in images]})
        not_base64 = client.post("/predict", json={"rows": [{"image": "%%%"}]})
        not_image = client.post(
            "/predict", json={"rows": [{"image": base64.b64encode(b"plain text").decode()}]}
        )
        up = client.get("/health").status_code
    assert_same(answer, expected, ["0", "1", "2"])
    assert not_base64.status_code == 422
    assert "image 0 is not base64-encoded bytes" in not_base64.json()["detail"][0]["msg"]
    assert not_image.status_code == 422
    assert "cannot read image" in not_image.json()["detail"][0]["msg"]
    assert up == 200


def test_long_inputs_are_logged_as_their_length_and_sha256() -> None:
    import hashlib

    from trainwell.serve.service import LOGGED_CHARS, logged_value

    long = "x" * (LOGGED_CHARS + 1)
    assert logged_value(long) == {
        "chars": LOGGED_CHARS + 1, "sha256": hashlib.sha256(long.encode()).hexdigest()
    }  # fmt: skip
    assert logged_value("short") == "short"
