"""Dynamic batching (TW-P05) and overload safety: requests queued while the model is busy run
as one batch of at most max-batch-size rows; past max-queue waiting requests the server
answers 503 with Retry-After at once, and stays up.

The model is made slow by a gate (a test-only wrapper) that holds the first batch until the
test releases it, so the queue really fills; the test waits on events, never on time."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import mixed_frame
from serve.conftest import fresh_copy, rows_of, running

from trainwell.serve.service import ServeOptions, Service

HANG_GUARD_S = 600  # only against a hung test, never a time limit
MAX_QUEUE, EXTRA, MAX_BATCH = 20, 7, 8


class Gate:
    """Wraps a model: every call announces itself, then waits until the test opens it."""

    def __init__(self, predict: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
        self.predict = predict
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        self.entered.set()
        assert self.opened.wait(HANG_GUARD_S), "the test never opened the gate"
        return self.predict(rows)


async def burst(
    url: httpx.URL, gate: Gate
) -> tuple[list[httpx.Response], list[httpx.Response], dict]:
    row = {"rows": rows_of(mixed_frame(1))}
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=HANG_GUARD_S) as client:
        first = asyncio.create_task(client.post("/predict", json=row))
        await asyncio.to_thread(gate.entered.wait, HANG_GUARD_S)  # the model holds `first`
        tasks = {
            asyncio.create_task(client.post("/predict", json=row)) for _ in range(MAX_QUEUE + EXTRA)
        }
        refused: list[httpx.Response] = []
        while len(refused) < EXTRA:  # the ones past the bound answer while the rest wait
            done, tasks = await asyncio.wait(
                tasks, timeout=HANG_GUARD_S, return_when=asyncio.FIRST_COMPLETED
            )
            assert done, "hang guard: no request was refused although the queue is full"
            refused.extend(t.result() for t in done)
        stats = (await client.get("/stats")).json()
        health = (await client.get("/health")).status_code
        gate.opened.set()
        served = [await first, *await asyncio.gather(*tasks)]
        stats["health_while_full"] = health
    return refused, served, stats


@pytest.fixture(scope="module")
def overloaded(served_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = fresh_copy(served_run, tmp_path_factory.mktemp("overload"))
    gates: list[Gate] = []

    def slow(service: Service) -> None:
        gates.append(Gate(service.variants["A"].predict))
        service.variants["A"].predict = gates[0]

    options = ServeOptions(run, max_queue=MAX_QUEUE, max_batch_size=MAX_BATCH, max_delay_ms=1)
    with running(options, slow) as (client, service):
        refused, served, stats = asyncio.run(burst(client.base_url, gates[0]))
        after = client.post("/predict", json={"rows": rows_of(mixed_frame(2))})
        metrics = client.get("/metrics").text
        sizes = list(service.batchers["A"].batch_sizes)
    return {"refused": refused, "served": served, "stats": stats, "after": after,
            "metrics": metrics, "sizes": sizes}  # fmt: skip


def test_past_the_queue_bound_requests_get_503_with_retry_after(overloaded: dict) -> None:
    refused = overloaded["refused"]
    assert [r.status_code for r in refused] == [503] * EXTRA
    assert all(r.headers["Retry-After"] == "1" for r in refused)
    assert overloaded["stats"]["queue_depth"]["A"] == MAX_QUEUE
    assert overloaded["stats"]["rejections"] == EXTRA
    assert f"trainwell_rejections_total {float(EXTRA)}" in overloaded["metrics"]


def test_every_queued_request_is_answered_and_the_server_stays_up(overloaded: dict) -> None:
    assert [r.status_code for r in overloaded["served"]] == [200] * (MAX_QUEUE + 1)
    assert overloaded["stats"]["health_while_full"] == 200
    assert overloaded["after"].status_code == 200


def test_requests_queued_while_the_model_is_busy_run_as_one_batch(overloaded: dict) -> None:
    # 1 (held by the gate), then the 20 queued one-row requests in batches of at most 8,
    # then the 2-row request sent afterwards.
    assert overloaded["sizes"] == [1, 8, 8, 4, 2]


def test_batching_off_runs_each_request_alone(served_run: Path, tmp_path: Path) -> None:
    run = fresh_copy(served_run, tmp_path)
    gates: list[Gate] = []

    def slow(service: Service) -> None:
        gates.append(Gate(service.variants["A"].predict))
        service.variants["A"].predict = gates[0]

    with running(
        ServeOptions(run, max_queue=MAX_QUEUE, max_batch_size=1, max_delay_ms=0), slow
    ) as (client, service):
        refused, served, _ = asyncio.run(burst(client.base_url, gates[0]))
        sizes = list(service.batchers["A"].batch_sizes)
    assert len(refused) == EXTRA
    assert [r.status_code for r in served] == [200] * (MAX_QUEUE + 1)
    assert sizes == [1] * (MAX_QUEUE + 1)


def test_an_idle_batcher_runs_a_lone_request_at_once() -> None:
    """Concurrency 1: nothing else arriving, so the request does not wait out the delay (an
    hour here: were it waited for, the hang guard would fail the test)."""
    from trainwell.serve.batching import Batcher

    async def scenario() -> tuple[list[object], list[int]]:
        batcher = Batcher(list, max_batch_size=64, max_delay_s=3600, max_queue=10)
        await batcher.start()
        try:
            answer = await asyncio.wait_for(batcher.submit(["a"]), HANG_GUARD_S)
        finally:
            await batcher.stop()
        return answer, list(batcher.batch_sizes)

    assert asyncio.run(scenario()) == (["a"], [1])


def test_a_batch_waits_for_requests_known_to_be_arriving() -> None:
    """A request the server has begun to read (counted as arriving) joins the batch of the
    request queued before it."""
    from trainwell.serve.batching import Batcher

    arriving = [1]

    async def scenario() -> tuple[list[object], list[object], list[int]]:
        batcher = Batcher(
            list, max_batch_size=64, max_delay_s=3600, max_queue=10, arriving=lambda: arriving[0]
        )
        await batcher.start()
        try:
            first = asyncio.create_task(batcher.submit(["a"]))
            await asyncio.sleep(0)
            assert batcher.depth == 1  # "a" is queued
            while batcher.depth:
                await asyncio.sleep(0)  # until the batcher takes "a" (and waits for company)
            arriving[0] = 0
            second = await asyncio.wait_for(batcher.submit(["b", "c"]), HANG_GUARD_S)
            return await first, second, list(batcher.batch_sizes)
        finally:
            await batcher.stop()

    assert asyncio.run(scenario()) == (["a"], ["b", "c"], [3])
