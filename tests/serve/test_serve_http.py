"""``trainwell serve`` over loopback: the answers equal ``trainwell predict``'s, bad payloads
are 422s naming the column, every answer names its run and model sha256 (TW-P09), and
schemathesis finds no 5xx in the OpenAPI schema."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import run_cli
from serve.conftest import assert_served_equals_predict, fresh_copy, rows_of, running

from trainwell.serve.service import ServeOptions


@pytest.fixture(scope="module")
def server(served_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    run = fresh_copy(served_run, tmp_path_factory.mktemp("http"))
    with running(ServeOptions(run, max_delay_ms=1)) as (client, _):
        yield client


def test_answers_equal_trainwell_predict(
    server: httpx.Client, served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = mixed_frame(40, seed=7).drop(columns="label")
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(["predict", str(served_run), str(tmp_path / "new.csv")], capsys)
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(out))
    answer = server.post("/predict", json={"rows": rows_of(pd.read_csv(tmp_path / "new.csv"))})
    assert_served_equals_predict(answer, expected)


def test_every_answer_names_its_run_and_model_sha256(
    server: httpx.Client, served_run: Path
) -> None:
    answer = server.post("/predict", json={"rows": rows_of(mixed_frame(3, seed=1))}).json()
    model_json = (served_run / "model" / "model.json").read_bytes()
    assert answer["run"] == "run"
    assert answer["model_sha256"] == hashlib.sha256(model_json).hexdigest()
    ids = [p["id"] for p in answer["predictions"]]
    assert len(set(ids)) == 3
    fed = server.post("/feedback", json={"id": ids[0], "label": "pos"})
    assert fed.json() == {"id": ids[0], "matched": True}
    unknown = server.post("/feedback", json={"id": "nope", "label": "pos"})
    assert unknown.json()["matched"] is False


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"x1": "not a number"}, "x1"),
        ({"when": 12}, "when"),
        ({"flag": [1, 2]}, "flag"),
        ({"color": {"a": 1}}, "color"),
    ],
)
def test_a_wrong_type_is_a_422_naming_the_column(
    server: httpx.Client, change: dict[str, object], column: str
) -> None:
    row = {**rows_of(mixed_frame(1))[0], **change}
    answer = server.post("/predict", json={"rows": [row]})
    assert answer.status_code == 422
    locations = [e["loc"] for e in answer.json()["detail"]]
    assert ["body", "rows", 0, column] in locations


def test_a_missing_column_is_a_422_naming_it(server: httpx.Client) -> None:
    row = rows_of(mixed_frame(1))[0]
    del row["city"]
    answer = server.post("/predict", json={"rows": [row, rows_of(mixed_frame(1))[0]]})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "rows", 0, "city"]
    assert answer.json()["detail"][0]["type"] == "missing"


def test_health_ready_docs_and_the_request_schema(server: httpx.Client) -> None:
    assert server.get("/health").json() == {"status": "ok"}
    assert server.get("/ready").json() == {"ready": True}
    assert server.get("/docs").status_code == 200
    schema = server.get("/openapi.json").json()
    row = schema["components"]["schemas"]["Row"]
    assert sorted(row["required"]) == ["city", "color", "flag", "when", "x1", "x2"]
    assert {"type": "number"} in row["properties"]["x1"]["anyOf"]


def test_metrics_count_what_stats_count(server: httpx.Client) -> None:
    server.post("/predict", json={"rows": rows_of(mixed_frame(2))})
    server.post("/predict", json={"rows": [{"x1": 1}]})  # a 422
    stats = server.get("/stats").json()
    text = server.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert samples['trainwell_requests_total{status="200"}'] == stats["requests"]["200"]
    assert samples['trainwell_requests_total{status="422"}'] == stats["requests"]["422"] >= 1
    assert samples["trainwell_batch_size_count"] == stats["batches"]["recent"] >= 1
    assert samples['trainwell_queue_depth{variant="A"}'] == 0
    assert "trainwell_rejections_total" in samples


def test_schemathesis_finds_no_server_error(server: httpx.Client) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(str(server.base_url.join("/openapi.json")))
    failures, seen = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=15, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=str(server.base_url).rstrip("/"))
            seen.add((case.method, case.path))
            if response.status_code >= 500:
                failures.append((case.method, case.path, case.body, response.status_code))

        call()
    assert failures == []
    assert {("POST", "/predict"), ("POST", "/feedback"), ("GET", "/metrics")} <= seen
