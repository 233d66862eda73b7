"""Tiny fitted runs shared by the serving tests (a table; a text, series, image and audio
run), and a real uvicorn server on loopback."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame
from modality_data import make_reviews, make_sensors, write_digits, write_tones
from test_input_policy import TINY

import trainwell
from trainwell.serve.service import ServeOptions, Service

READY_ATTEMPTS = 600  # polls of /ready, 20 ms apart: a bound on attempts, not a time assert


@pytest.fixture(scope="session")
def served_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on ``mixed_frame`` (every column kind: numeric, categorical, boolean,
    datetime, missing values), the linear baseline shipped so the fit is quick."""
    folder = tmp_path_factory.mktemp("served")
    mixed_frame(300).to_csv(folder / "d.csv", index=False)
    trainwell.fit(
        folder / "d.csv", "label", out=folder / "run", quiet=True,
        overrides=[*TINY, "baselines.ship=linear"],
    )  # fmt: skip
    return folder / "run"


def fit(folder: Path, data: pd.DataFrame, target: str, **options: str) -> Path:
    """A run on the table ``data`` shipping its linear baseline (quick to fit)."""
    data.to_csv(folder / "d.csv", index=False)
    overrides = [*TINY, "baselines.ship=linear", "model.name=bag_of_embeddings"]
    if "text" not in options:
        overrides.pop()
    trainwell.fit(
        folder / "d.csv", target, out=folder / "run", quiet=True, overrides=overrides, **options
    )
    return folder / "run"


@pytest.fixture(scope="session")
def text_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fit(tmp_path_factory.mktemp("text"), make_reviews(120), "sentiment", text="review")


@pytest.fixture(scope="session")
def series_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sensors = make_sensors(36, length=16)
    return fit(tmp_path_factory.mktemp("series"), sensors, "activity", series="id", time="t")


@pytest.fixture(scope="session")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("image")
    photos = write_digits(folder / "photos", range(3), per_class=14)
    overrides = [*TINY, "baselines.ship=linear"]
    trainwell.fit(photos, "label", out=folder / "run", quiet=True, overrides=overrides)
    return folder / "run"


@pytest.fixture(scope="session")
def audio_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    tones = write_tones(folder / "tones", per_class=12)
    overrides = [*TINY, "baselines.ship=linear"]
    trainwell.fit(tones, "label", out=folder / "run", quiet=True, overrides=overrides)
    return folder / "run"


def fresh_copy(run: Path, tmp_path: Path, name: str = "run") -> Path:
    """A copy of the run, so each server writes its own served log."""
    copy = tmp_path / name
    shutil.copytree(run, copy, symlinks=True)
    return copy


def wait_until_ready(client: httpx.Client, alive: Callable[[], None] | None = None) -> None:
    """Poll ``/ready`` until it answers 200, at most READY_ATTEMPTS times; ``alive`` (called
    before each poll) fails the test at once when the server process has died."""
    for _ in range(READY_ATTEMPTS):
        if alive is not None:
            alive()
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    pytest.fail("the server never became ready")


def assert_served_equals_predict(answer: httpx.Response, expected: pd.DataFrame) -> None:
    """The served answer's predictions and probabilities equal ``trainwell predict``'s output
    (columns ``prediction``, ``proba_neg``, ``proba_pos``) for the breast-cancer-like run."""
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert [p["prediction"] for p in got] == expected["prediction"].tolist()
    for cls in ("neg", "pos"):
        served = np.array([p["proba"][cls] for p in got])
        np.testing.assert_allclose(served, expected[f"proba_{cls}"], rtol=1e-6, atol=1e-7)


def rows_of(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON rows (missing values as null) without the target."""
    clean = frame.drop(columns=["label"], errors="ignore").astype(object)
    return clean.where(clean.notna(), None).to_dict(orient="records")  # type: ignore[return-value]


@contextmanager
def running(
    options: ServeOptions, prepare: Callable[[Service], None] | None = None
) -> Iterator[tuple[httpx.Client, Service]]:
    """Serve ``options`` with uvicorn in a thread on a free loopback port; yields (a client
    of its base URL, the service) once /ready answers 200. ``prepare`` may wrap the
    service's models first. (One client: a new httpx client per request costs ~0.1 s.)"""
    import uvicorn

    from trainwell.serve.app import build_app

    service = Service(options)
    if prepare is not None:
        prepare(service)
    app = build_app(service)
    sock = socket.socket()
    # Accepted connections inherit it; without it each answer waits ~40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}")
    try:
        wait_until_ready(client)
        yield client, service
    finally:
        client.close()
        server.should_exit = True
        thread.join()
        sock.close()
