"""The HTTP server: a FastAPI application over a :class:`~trainwell.serve.service.Service`.

Why FastAPI + uvicorn rather than LitServe (or TorchServe, Triton, Ray Serve): the request
and response models are generated from the run's input schema as pydantic models, and
FastAPI turns those into the OpenAPI schema at ``/docs`` and into 422 responses that name the
offending column, with no code of ours; uvicorn is the server LitServe itself runs on.
LitServe would add its own batching loop, but it runs the model in worker processes, where
the drift windows, the feedback join and the A/B state would have to cross process
boundaries; the batcher here (:mod:`trainwell.serve.batching`) is one asyncio task and one
model thread in the server's process. Prometheus metrics come from prometheus-client.

Endpoints: ``POST /predict``, ``POST /feedback``, ``GET /health`` (the process is up),
``GET /ready`` (the model is loaded and the batchers run), ``GET /metrics`` (Prometheus),
``GET /stats`` (the same numbers as JSON, for the live page), ``GET /`` (the live page),
``/docs`` and ``/openapi.json``.
"""

import asyncio
import contextlib
import html
import time
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, create_model

from trainwell.errors import DataError, RunError, TrainwellError
from trainwell.serve.abtest import CANDIDATE
from trainwell.serve.batching import Overloaded
from trainwell.serve.service import MAX_ROWS, Service

try:
    from fastapi import FastAPI, Header, Request
    from fastapi.encoders import jsonable_encoder
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        generate_latest,
    )
except ImportError as err:  # pragma: no cover - depends on the installed extras
    raise TrainwellError(
        f"trainwell serve needs the serving extras ({err.name} is missing): "
        'pip install "trainwell[serve]"'
    ) from None

KEY_HEADER = "X-Trainwell-Key"
MAX_STEPS = 100_000  # values one served series channel may hold
MAX_IMAGE_CHARS = 20_000_000  # base64 characters one served image may take (~15 MB)
MAX_AUDIO_CHARS = 40_000_000  # ... and one sound file (~30 MB: 10 min of 16 kHz 16-bit WAV)
RETRY_AFTER_S = 1
# One JSON type per column kind (trainwell.data.schema.Kind); every column may be null
# (a missing value, imputed as in training) but must be present.
KIND_TYPES: dict[str, Any] = {
    "numeric": float | None,
    "boolean": bool | str | None,
    "categorical": str | int | float | None,
    "datetime": str | None,
    "text": str,
    "image": Annotated[str, Field(max_length=MAX_IMAGE_CHARS)],  # base64 of the file's bytes
    "audio": Annotated[str, Field(max_length=MAX_AUDIO_CHARS)],  # base64 of the file's bytes
    "values": Annotated[list[float], Field(min_length=1, max_length=MAX_STEPS)],
}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Prediction(BaseModel):
    """One row's answer; ``id`` is what ``POST /feedback`` takes."""

    id: str
    prediction: str | int | float | bool | None
    proba: dict[str, float | None] | None = None


class PredictResponse(BaseModel):
    """The answer to ``POST /predict``: which run (and model sha256) produced it (TW-P09)."""

    run: str
    model_sha256: str
    variant: str
    predictions: list[Prediction]


class Feedback(BaseModel):
    """The true label of an answered row, when it becomes known."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=64)
    label: str | int | float | bool


class FeedbackResponse(BaseModel):
    id: str
    matched: bool  # whether this server process made that prediction


def request_model(service: Service) -> type[BaseModel]:
    """``{"rows": [{field: value, ...}], "key": optional sticky A/B key}``: per example the
    fields the served run's modality names (a table's columns typed by their kind, a text, a
    series' values per channel)."""
    unknown = sorted({k for k in service.control.fields.values() if k not in KIND_TYPES})
    if unknown:
        raise RunError(
            f"the run's modality names fields of kind {unknown}, which trainwell serve has no "
            f"JSON type for (known: {sorted(KIND_TYPES)})"
        )
    fields: dict[str, Any] = {
        f"c{i}": (KIND_TYPES[kind], Field(alias=name))
        for i, (name, kind) in enumerate(service.control.fields.items())
    }
    row = create_model("Row", __config__=ConfigDict(extra="ignore"), **fields)
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid"),
        rows=(list[row], Field(min_length=1, max_length=MAX_ROWS)),  # type: ignore[valid-type]
        key=(str | None, Field(default=None, max_length=256)),
    )


class Metrics:
    """The Prometheus metrics of one server (its own registry, so two apps never clash)."""

    def __init__(self, service: Service) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "trainwell_requests", "Prediction requests by answer status", ["status"], registry=r
        )
        self.rows = Counter("trainwell_rows", "Rows answered by variant", ["variant"], registry=r)
        self.latency = Histogram(
            "trainwell_request_latency_seconds",
            "Time from arrival to answer of /predict",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        sizes = sorted({2**i for i in range(12) if 2**i < service.options.max_batch_size})
        self.batch = Histogram(
            "trainwell_batch_size",
            "Rows per model call",
            buckets=(*sizes, service.options.max_batch_size),
            registry=r,
        )
        self.queue = Gauge("trainwell_queue_depth", "Requests waiting", ["variant"], registry=r)
        self.rejections = Counter(
            "trainwell_rejections", "Requests refused with 503 (queue full)", registry=r
        )
        self.psi = Gauge(
            "trainwell_drift_psi",
            "Population stability index of the served window against the training split",
            ["variant", "feature"],
            registry=r,
        )
        self.p_value = Gauge(
            "trainwell_drift_p_value",
            "KS or chi-square p-value of the window against the training split",
            ["variant", "feature"],
            registry=r,
        )
        self.drifted = Gauge(
            "trainwell_drift_detected",
            "1 when the feature drifted (p < 0.01 and PSI >= 0.2), 0 if not",
            ["variant", "feature"],
            registry=r,
        )


ARRIVED = "trainwell.arrived"  # in a /predict request's ASGI scope until it is queued


class Arriving:
    """``POST /predict`` requests the server has begun but not yet handed to a batcher
    (their body is being read and validated): the batcher waits for those, and only those,
    before it runs a batch (see :class:`~trainwell.serve.batching.Batcher`)."""

    def __init__(self) -> None:
        self.count = 0

    def queued(self, scope: Any) -> None:
        """Mark a request counted by :class:`ArrivalMiddleware` as handed to a batcher."""
        if scope.pop(ARRIVED, None) is not None:
            self.count -= 1


class ArrivalMiddleware:
    """Pure ASGI middleware (no per-request task or body copy, unlike Starlette's
    ``BaseHTTPMiddleware``) counting ``POST /predict`` requests into :class:`Arriving`."""

    def __init__(self, app: Any, arriving: Arriving) -> None:
        self.app = app
        self.arriving = arriving

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/predict":
            await self.app(scope, receive, send)
            return
        self.arriving.count += 1
        scope[ARRIVED] = True
        try:
            await self.app(scope, receive, send)
        finally:
            self.arriving.queued(scope)  # refused before it was queued (a 422), or left


def stats(service: Service) -> dict[str, Any]:
    """Everything the live page shows, as JSON (the counters equal /metrics')."""
    counts = service.counts
    latencies = np.asarray(counts.latencies, dtype=float) * 1000
    percentiles = (
        {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 95, 99)}
        if len(latencies)
        else {"p50": None, "p95": None, "p99": None}
    )
    batchers = service.batchers
    sizes = [s for b in batchers.values() for s in b.batch_sizes]
    drift = {name: [d.to_dict() for d in window.report()] for name, window in service.drift.items()}
    verdict = service.verdict()
    return {
        "run": service.control.run,
        "model_sha256": service.control.sha256,
        "variants": {
            name: {"run": v.run, "model_sha256": v.sha256, "rows": counts.rows[name]}
            for name, v in service.variants.items()
        },
        "mode": service.mode,
        "split": service.options.split,
        "requests": {str(k): v for k, v in sorted(counts.responses.items())},
        "rejections": counts.rejections,
        "latency_ms": percentiles,
        "batches": {
            "recent": len(sizes),
            "mean_size": float(np.mean(sizes)) if sizes else None,
            "last": sizes[-50:],
            "max_batch_size": service.options.max_batch_size,
        },
        "queue_depth": {name: b.depth for name, b in batchers.items()},
        "max_queue": service.options.max_queue,
        "drift": drift,
        "drift_available": sorted(service.drift),
        "live": service.live_score(),
        "ab": verdict.to_dict() if verdict is not None else None,
    }


def column_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's errors with one entry per offending field: a union's branches (``x1``,
    ``float`` / ``x1``, ``str``) merge into one error located at the column, whose message
    names it (``rows[0].x1: ...``)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if loc[:2] == ("body", "rows") and len(loc) > 4:
            loc = loc[:4]  # body, rows, index, column
        where = (
            f"rows[{loc[2]}].{loc[3]}"
            if len(loc) == 4 and loc[1] == "rows"
            else ".".join(map(str, loc[1:]))
        )
        msg = str(error.get("msg", "invalid"))
        if loc in merged:
            if msg not in merged[loc]["msg"]:
                merged[loc]["msg"] += f", or {msg[0].lower()}{msg[1:]}"
            continue
        merged[loc] = {
            "loc": list(loc),
            "msg": f"{where}: {msg}" if where else msg,
            "type": error.get("type"),
        }
    return list(merged.values())


def build_app(service: Service) -> FastAPI:
    """The FastAPI application serving ``service`` (start it with uvicorn)."""
    metrics = Metrics(service)
    arriving = Arriving()
    for batcher in service.batchers.values():  # called in the model thread; prometheus locks
        batcher.on_batch = metrics.batch.observe
        batcher.arriving = lambda: arriving.count
    shadows: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            for task in shadows:
                task.cancel()
            await service.stop()

    control = service.control
    app = FastAPI(
        title=f"trainwell: {control.run}",
        description=(
            f"The shipped model of run {control.run} (model.json sha256 {control.sha256}); "
            f"task {control.predictor.task}, target {control.predictor.spec.target!r}."
        ),
        version=control.sha256[:12],
        lifespan=lifespan,
    )
    body_model = request_model(service)
    template = resources.files("trainwell").joinpath("templates/serve.html").read_text()
    page_html = template.replace("__TITLE__", html.escape(f"trainwell serve: {control.run}"))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        if request.url.path == "/predict":
            service.counts.responses[422] += 1
            metrics.requests.labels(status="422").inc()
        return JSONResponse({"detail": column_errors(err.errors())}, status_code=422)

    def answered(status: int, started: float) -> None:
        service.counts.responses[status] += 1
        metrics.requests.labels(status=str(status)).inc()
        elapsed = time.perf_counter() - started
        service.counts.latencies.append(elapsed)
        metrics.latency.observe(elapsed)

    async def shadow(rows: list[dict[str, Any]], ids: list[str]) -> None:
        try:
            await service.batchers[CANDIDATE].submit(list(zip(rows, ids, strict=True)))
        except (Overloaded, DataError):
            service.counts.shadow_dropped += 1

    async def predict(
        request: Request,
        body: body_model,  # type: ignore[valid-type]
        x_trainwell_key: str | None = Header(default=None, max_length=256),
    ) -> Any:
        started = time.perf_counter()
        rows = [r.model_dump(by_alias=True) for r in body.rows]  # type: ignore[attr-defined]
        variant = service.choose(x_trainwell_key or body.key)  # type: ignore[attr-defined]
        arriving.queued(request.scope)
        try:
            answers = await service.batchers[variant].submit([(row, None) for row in rows])
        except Overloaded as err:
            service.counts.rejections += 1
            metrics.rejections.inc()
            answered(503, started)
            return JSONResponse(
                {"detail": f"overloaded: {err}; retry later"},
                status_code=503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        except DataError as err:
            answered(422, started)
            return JSONResponse(
                {"detail": [{"loc": ["body", "rows"], "msg": str(err), "type": "data_error"}]},
                status_code=422,
            )
        metrics.rows.labels(variant=variant).inc(len(rows))
        if service.mode == "shadow":
            task = asyncio.create_task(shadow(rows, [a["id"] for a in answers]))
            shadows.add(task)
            task.add_done_callback(shadows.discard)
        served = service.variants[variant]
        answered(200, started)
        # Built here, not through the response model (whose schema /docs shows): the answers
        # were made by the model thread in that shape, and validating them again per request
        # would cost the event loop as much as parsing the request.
        return JSONResponse(
            {
                "run": served.run,
                "model_sha256": served.sha256,
                "variant": variant,
                "predictions": answers,
            }
        )

    app.post(
        "/predict",
        response_model=PredictResponse,
        summary="Predict rows with the served model",
        responses={
            503: {"description": "Overloaded: the queue is full; retry after Retry-After s"}
        },
    )(predict)

    app.add_middleware(ArrivalMiddleware, arriving=arriving)

    @app.post("/feedback", response_model=FeedbackResponse, summary="The true label of a row")
    async def feedback(body: Feedback) -> FeedbackResponse:
        return FeedbackResponse(id=body.id, matched=service.feedback(body.id, body.label))

    @app.get("/health", summary="The process is up")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="The model is loaded and requests are served")
    async def ready() -> JSONResponse:
        up = all(b.running for b in service.batchers.values())
        return JSONResponse({"ready": up}, status_code=200 if up else 503)

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        for name, batcher in service.batchers.items():
            metrics.queue.labels(variant=name).set(batcher.depth)
        for name, window in service.drift.items():
            for d in window.report():
                if d.drifted is None:
                    continue
                labels = {"variant": name, "feature": d.feature}
                metrics.psi.labels(**labels).set(d.psi or 0.0)
                metrics.p_value.labels(**labels).set(d.p_value if d.p_value is not None else 1)
                metrics.drifted.labels(**labels).set(float(d.drifted))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/stats", summary="The live page's numbers as JSON")
    async def stats_json() -> JSONResponse:
        return JSONResponse(jsonable_encoder(stats(service)))

    @app.get("/", response_class=HTMLResponse, summary="The live page", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html)

    return app
