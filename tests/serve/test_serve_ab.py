"""A/B tests and shadow mode (TW-P07): routing is sticky by key, the log names the variant
that answered, and the fixed-horizon test says "too early to say" before its horizon and
"worse" for a candidate planted to answer the wrong class; equal variants read "no
difference detected" (the clean control)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import run_cli
from serve.conftest import fresh_copy, rows_of, running

from trainwell.serve.abtest import ab_verdict, route
from trainwell.serve.service import ServeOptions, Service

HORIZON = 40
FLIP = {"pos": "neg", "neg": "pos"}


def flipped(
    predict: Callable[[pd.DataFrame], pd.DataFrame],
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A planted worse model: the other class, always."""

    def run(rows: pd.DataFrame) -> pd.DataFrame:
        out = predict(rows).copy()
        out["prediction"] = out["prediction"].map(FLIP)
        out[["proba_neg", "proba_pos"]] = out[["proba_pos", "proba_neg"]].to_numpy()
        return out

    return run


def plant(service: Service) -> None:
    service.variants["B"].predict = flipped(service.variants["B"].predict)


@pytest.fixture(scope="module")
def ab(served_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("ab")
    run, candidate = fresh_copy(served_run, folder), fresh_copy(served_run, folder, "candidate")
    options = ServeOptions(run, candidate=candidate, split=0.5, horizon=HORIZON, max_delay_ms=0)
    frame = mixed_frame(200, seed=5)
    with running(options, plant) as (client, _):
        sticky = {}
        for key in (f"user{i}" for i in range(12)):
            by_header = client.post(
                "/predict", json={"rows": rows_of(frame.iloc[:1])}, headers={"X-Trainwell-Key": key}
            )
            by_field = [
                client.post("/predict", json={"rows": rows_of(frame.iloc[:1]), "key": key}).json()
                for _ in range(2)
            ]
            sticky[key] = [by_header.json()["variant"], *(a["variant"] for a in by_field)]
        early = None
        for i in range(0, len(frame), 5):  # five rows per request, each request its own key
            rows = frame.iloc[i : i + 5]
            answer = client.post("/predict", json={"rows": rows_of(rows), "key": f"row{i}"}).json()
            for prediction, label in zip(answer["predictions"], rows["label"], strict=True):
                client.post("/feedback", json={"id": prediction["id"], "label": label})
            if i == 10:
                early = client.get("/stats").json()["ab"]
        stats = client.get("/stats").json()
    return {"run": run, "sticky": sticky, "early": early, "stats": stats}  # fmt: skip


def test_routing_is_sticky_by_key_and_splits_traffic(ab: dict) -> None:
    for key, variants in ab["sticky"].items():
        assert variants == [route(key, 0.5)] * 3, key
    assert {v[0] for v in ab["sticky"].values()} == {"A", "B"}
    rows = ab["stats"]["variants"]
    assert rows["A"]["rows"] > 50
    assert rows["B"]["rows"] > 50
    assert rows["B"]["run"] == "candidate"


def test_the_test_is_too_early_before_its_horizon_then_finds_the_worse_candidate(
    ab: dict,
) -> None:
    assert ab["early"]["verdict"] == "too early to say"
    verdict = ab["stats"]["ab"]
    assert verdict["verdict"] == "worse"
    assert verdict["p_value"] < 0.05
    assert verdict["score"]["A"] > verdict["score"]["B"]


def test_the_log_names_the_variant_and_monitor_reads_the_verdict(
    ab: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.loads(line) for line in (ab["run"] / "serve" / "log.jsonl").read_text().splitlines()
    ]
    answered = [line for line in lines if line["type"] == "prediction"]
    assert {line["variant"] for line in answered} == {"A", "B"}
    assert {line["run"] for line in answered if line["variant"] == "B"} == {"candidate"}
    code, out, err = run_cli(["monitor", str(ab["run"]), "--horizon", str(HORIZON)], capsys)
    assert code == 0, err
    assert "A/B test (B = candidate): worse: accuracy A" in out


def test_equal_variants_show_no_difference_and_few_labels_are_too_early() -> None:
    rng = np.random.default_rng(0)
    truth = rng.choice(["pos", "neg"], size=400)
    right = rng.random(400) < 0.8
    predicted = np.where(right, truth, np.vectorize(FLIP.get)(truth))
    pairs = [
        ("A" if i % 2 else "B", p, y) for i, (p, y) in enumerate(zip(predicted, truth, strict=True))
    ]
    assert ab_verdict(pairs, regression=False, horizon=100).verdict == "no difference detected"
    assert ab_verdict(pairs[:150], regression=False, horizon=100).verdict == "too early to say"
    assert ab_verdict([], regression=False).verdict == "no feedback"


def test_shadow_mode_answers_with_a_and_logs_b_on_the_same_ids(
    served_run: Path, tmp_path: Path
) -> None:
    run, candidate = fresh_copy(served_run, tmp_path), fresh_copy(served_run, tmp_path, "candidate")
    with running(ServeOptions(run, candidate=candidate, shadow=True, max_delay_ms=0)) as (
        client,
        service,
    ):
        answers = [
            client.post("/predict", json={"rows": rows_of(mixed_frame(2, seed=i))}).json()
            for i in range(5)
        ]
        # The shadow call is a task of its own: poll (bounded) until B saw all 10 rows.
        for _ in range(500):
            if service.counts.shadow_rows == 10:
                break
            client.get("/health")
    assert {a["variant"] for a in answers} == {"A"}
    lines = [json.loads(line) for line in (run / "serve" / "log.jsonl").read_text().splitlines()]
    shadow = {line["id"] for line in lines if line.get("shadow")}
    ids = {p["id"] for a in answers for p in a["predictions"]}
    assert shadow == ids
    assert {line["variant"] for line in lines if line.get("shadow")} == {"B"}
