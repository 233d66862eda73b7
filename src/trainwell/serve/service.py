"""What a served model knows besides its weights: the variants, their batchers, the drift
windows, the served log and the feedback joined to it. No HTTP here (see
:mod:`trainwell.serve.app`); everything is plain Python, so ``trainwell monitor`` and the
tests use the same pieces.

The served log (``RUN_DIR/serve/log.jsonl``, JSON lines, appended): one ``prediction`` line
per answered (or shadowed) row with its ``id``, ``time``, ``variant``, ``run``,
``model_sha256``, the row's ``inputs`` and ``prediction`` (and ``shadow: true`` for a
candidate that saw the row but did not answer; ``features``: its drift features, when they
are not its inputs, as for a text or an image), and one ``feedback`` line per label received.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import logging.handlers
import math
import tempfile
import threading
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwell.data.load import file_sha256
from trainwell.data.schema import ColumnSpec
from trainwell.errors import ConfigError, DataError, RunError
from trainwell.modalities.base import Modality, Samples
from trainwell.modalities.registry import REGISTRY
from trainwell.predictor import MODEL_JSON, Predictor
from trainwell.run import load
from trainwell.run_files import read_run_json
from trainwell.serve.abtest import CANDIDATE, CONTROL, HORIZON, Verdict, ab_verdict, route
from trainwell.serve.batching import Batcher
from trainwell.serve.drift import WINDOW, DriftWindow
from trainwell.serve.profile import PROFILE_JSON

LOG_DIR = "serve"
LOG_FILE = "log.jsonl"
MAX_ROWS = 1000  # rows one request may carry
REMEMBERED = 100_000  # predictions kept in memory to join feedback to
LATENCIES = 2000  # recent request latencies kept for the live page's percentiles
LOG_MAX_BYTES = 100 * 2**20  # the served log rotates past this size ...
LOG_KEEP = 5  # ... keeping this many older files
LOGGED_CHARS = 4096  # longer input strings are logged as their length and sha256


@dataclass
class ServeOptions:
    """``trainwell serve``'s settings (the CLI's options, same names)."""

    run_dir: Path
    candidate: Path | None = None
    split: float = 0.0
    shadow: bool = False
    max_batch_size: int = 64
    max_delay_ms: float = 5.0
    max_queue: int = 100
    window: int = WINDOW
    horizon: int = HORIZON
    log: bool = True
    log_max_bytes: int = LOG_MAX_BYTES
    log_keep: int = LOG_KEEP

    def check(self) -> None:
        """Raises ConfigError on a setting out of range or contradictory."""
        if self.max_batch_size < 1 or self.max_queue < 1 or self.max_delay_ms < 0:
            raise ConfigError(
                "--max-batch-size and --max-queue must be at least 1, --max-delay-ms at least 0"
            )
        if not 0 <= self.split <= 1:
            raise ConfigError(f"--split must be between 0 and 1, not {self.split}")
        if (self.split > 0 or self.shadow) and self.candidate is None:
            raise ConfigError("--split and --shadow need a --candidate RUN_DIR")
        if self.shadow and self.split > 0:
            raise ConfigError("choose --shadow (B answers none) or --split (B answers some)")
        if self.window < 1 or self.horizon < 1:
            raise ConfigError("--window and --horizon must be at least 1")
        if self.log_max_bytes < 1 or self.log_keep < 0:
            raise ConfigError("--log-max-mb must be positive and --log-keep at least 0")


@dataclass
class Variant:
    """One served model: ``A`` (the run served) or ``B`` (the candidate).

    ``predict`` is the predictor's (encoded samples in, ``prediction`` and ``proba_*`` out);
    a test may wrap it (to make the model slow, say).
    """

    name: str
    run_dir: Path
    predictor: Predictor
    sha256: str  # of model.json, which lists every model file's sha256 (TW-P09)
    fields: dict[str, str]  # one example's fields -> JSON kind (Modality.served_fields)
    columns: tuple[ColumnSpec, ...]  # the input columns (tables; empty for other modalities)
    profile: dict[str, Any] | None
    predict: Callable[[Samples], pd.DataFrame]

    @property
    def modality(self) -> Modality:
        return REGISTRY[self.predictor.spec.modality]

    @property
    def features_are_inputs(self) -> bool:
        """Whether the profiled drift features are served fields (a table's columns): a
        feature named as a field is that field's value as served (Modality.drift_features),
        so it is read from the request and, by ``trainwell monitor``, from the logged inputs.
        Else (a text's length, an image's brightness) the modality measures them on each
        batch and the served log keeps them beside the inputs."""
        return self.profile is not None and set(self.profile["features"]) <= set(self.fields)

    def answer(self, examples: list[dict[str, Any]]) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
        """``predict`` on served examples, made into the data it takes by the modality
        (Modality.served_data), and their drift features (feature -> one value per example;
        none without a training profile to compare them with). A scratch folder, deleted
        after, only for a modality whose examples become files (Modality.served_files)."""
        if not self.modality.served_files:
            return self._answer(examples, None)
        with tempfile.TemporaryDirectory(prefix="trainwell-serve-") as scratch:
            return self._answer(examples, Path(scratch))

    def _answer(
        self, examples: list[dict[str, Any]], scratch: Path | None
    ) -> tuple[pd.DataFrame, dict[str, list[Any]]]:
        modality, encoding = self.modality, self.predictor.spec.encoding
        samples = self.predictor.samples(modality.served_data(encoding, examples, scratch))
        features: dict[str, list[Any]] = {}
        if self.profile is not None and self.features_are_inputs:
            # Straight from the request: a few microseconds, where pandas' column access on
            # the encoded frame costs ~0.2 ms per batch.
            features = {name: [e.get(name) for e in examples] for name in self.profile["features"]}
        elif self.profile is not None:
            measured = modality.drift_features(samples)
            features = {  # a feature the profile has and this version no longer measures
                # (a profile from another trainwell) is left out, not an error
                name: measured[name][1].tolist()
                for name in self.profile["features"]
                if name in measured
            }
        return self.predict(samples), features  # late-bound: a test may wrap it

    @property
    def run(self) -> str:
        return self.run_dir.name


def load_variant(name: str, run_dir: Path) -> Variant:
    """Load a finished run's shipped model for serving.

    The request schema comes from the run's modality (``served_fields``: a table's columns,
    a text, a series' values per channel), and so does the data each batch becomes.

    Raises:
        RunError: not a finished run, a model file changed, or a model whose modality cannot
            take examples one by one (``served_fields`` is None).
    """
    run = load(run_dir)
    predictor = run.model
    modality = REGISTRY[predictor.spec.modality]
    fields = modality.served_fields(predictor.spec.encoding)
    if not fields:
        raise RunError(
            f"{str(run_dir)!r} holds a {predictor.spec.modality} model, which trainwell serve "
            "cannot serve: its modality names no fields for one example (served_fields)"
        )
    columns = modality.input_columns(predictor.spec.encoding) or ()
    profile = None
    if (run.path / PROFILE_JSON).is_file():
        profile = read_run_json(run.path, PROFILE_JSON)
    sha = file_sha256(run.dir.model_dir / MODEL_JSON)
    return Variant(
        name, run.path, predictor, sha, fields, tuple(columns), profile, predictor.predict_encoded
    )


def json_value(value: Any) -> Any:
    """A value JSON can carry: numpy scalars as Python ones, NaN/inf and NA as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def logged_value(value: Any) -> Any:
    """An input as the served log keeps it: a string longer than :data:`LOGGED_CHARS` (an
    image's base64, a long document) as its length and sha256, anything else as JSON."""
    if isinstance(value, str) and len(value) > LOGGED_CHARS:
        digest = hashlib.sha256(value.encode()).hexdigest()
        return {"chars": len(value), "sha256": digest}
    return json_value(value)


def output_records(outputs: pd.DataFrame) -> list[dict[str, Any]]:
    """``[{"prediction": ..., "proba": {class: p} | None}]`` from a predictions table."""
    predictions = [json_value(v) for v in outputs["prediction"].tolist()]
    proba_cols = [str(c) for c in outputs.columns if str(c).startswith("proba_")]
    if not proba_cols:
        return [{"prediction": p, "proba": None} for p in predictions]
    names = [c[len("proba_") :] for c in proba_cols]
    probas = outputs[proba_cols].to_numpy(dtype=float).tolist()
    return [
        {"prediction": p, "proba": {n: json_value(v) for n, v in zip(names, row, strict=True)}}
        for p, row in zip(predictions, probas, strict=True)
    ]


class ServedLog:
    """Appends JSON lines to ``RUN_DIR/serve/log.jsonl`` (thread-safe); a no-op when off.

    Size-based rotation by the standard library's ``RotatingFileHandler``: past
    ``max_bytes`` the file becomes ``log.jsonl.1`` (the older ones ``.2`` ... up to
    ``keep``, the oldest dropped), so a long-served model's log stays within
    ``(keep + 1) * max_bytes``; :func:`log_files` lists them oldest first for
    ``trainwell monitor``. A batch's lines go in one write, so rotation never splits one.
    """

    def __init__(
        self,
        run_dir: Path,
        enabled: bool = True,
        max_bytes: int = LOG_MAX_BYTES,
        keep: int = LOG_KEEP,
    ) -> None:
        self.path = run_dir / LOG_DIR / LOG_FILE
        self._handler: logging.handlers.RotatingFileHandler | None = None
        if enabled:
            self.path.parent.mkdir(exist_ok=True)
            self._handler = logging.handlers.RotatingFileHandler(
                self.path, maxBytes=max_bytes, backupCount=keep, encoding="utf-8"
            )
            self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, lines: list[dict[str, Any]]) -> None:
        if self._handler is None or not lines:
            return
        text = "\n".join(json.dumps(line, default=str, allow_nan=False) for line in lines)
        # The handler locks, rolls over when the file is full, writes and flushes.
        self._handler.handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None


def log_files(run_dir: Path) -> list[Path]:
    """The served log's files, oldest first: ``log.jsonl.N`` ... ``log.jsonl.1``,
    ``log.jsonl`` (those that exist)."""
    folder = run_dir / LOG_DIR
    rotated = [p for p in folder.glob(f"{LOG_FILE}.*") if p.suffix[1:].isdigit()]
    rotated.sort(key=lambda p: int(p.suffix[1:]), reverse=True)
    current = folder / LOG_FILE
    return [*rotated, *([current] if current.is_file() else [])]


@dataclass
class Counts:
    """Traffic the live page shows (the same numbers as /metrics' counters)."""

    responses: Counter[int] = field(default_factory=Counter)
    rows: Counter[str] = field(default_factory=Counter)  # per variant that answered
    rejections: int = 0
    shadow_rows: int = 0  # rows the candidate saw in shadow mode
    shadow_dropped: int = 0  # shadow requests dropped because the candidate's queue was full
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCIES))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class Service:
    """The served variants and everything the server keeps about their traffic."""

    def __init__(self, options: ServeOptions) -> None:
        options.check()
        self.options = options
        self.variants = {CONTROL: load_variant(CONTROL, options.run_dir)}
        if options.candidate is not None:
            self.variants[CANDIDATE] = load_variant(CANDIDATE, options.candidate)
            a, b = self.variants[CONTROL], self.variants[CANDIDATE]
            if a.fields != b.fields:
                raise RunError(
                    f"the candidate {str(b.run_dir)!r} takes other inputs than "
                    f"{str(a.run_dir)!r}; an A/B test needs models of the same input"
                )
        self.control = self.variants[CONTROL]
        self.regression = self.control.predictor.task == "regression"
        self.counts = Counts()
        self.drift = {
            name: DriftWindow(v.profile, options.window)
            for name, v in self.variants.items()
            if v.profile is not None
        }
        self.log = ServedLog(options.run_dir, options.log, options.log_max_bytes, options.log_keep)
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, list[tuple[str, Any]]] = OrderedDict()
        self._labelled: deque[tuple[str, Any, Any]] = deque(maxlen=REMEMBERED)
        self.batchers = {
            name: Batcher(
                self._predict_of(name),
                max_batch_size=options.max_batch_size,
                max_delay_s=options.max_delay_ms / 1000,
                max_queue=options.max_queue,
            )
            for name in self.variants
        }

    def _predict_of(self, name: str) -> Callable[[list[Any]], list[Any]]:
        return lambda items: self.run_batch(name, items)

    def run_batch(self, variant: str, items: list[tuple[dict[str, Any], str | None]]) -> list[Any]:
        """Predict one batch of (row, id) items with ``variant`` (in the model thread): build
        the table, read the outputs, give each row an id (a shadow row keeps the id the
        answering variant gave it), log and feed the drift window. One answer per row:
        ``{"id", "prediction", "proba"}``.

        Raises:
            DataError: the rows are not what the model needs.
        """
        served = self.variants[variant]
        rows = [row for row, _ in items]
        outputs, features = served.answer(rows)
        records = output_records(outputs)
        if len(records) != len(rows):
            raise DataError(f"{len(rows)} examples gave {len(records)} predictions")
        shadow = [given is not None for _, given in items]
        ids = [given or uuid.uuid4().hex for _, given in items]
        self.record(variant, rows, records, ids, shadow, features)
        return [{"id": i, **r} for i, r in zip(ids, records, strict=True)]

    @property
    def mode(self) -> str:
        if CANDIDATE not in self.variants:
            return "single"
        return "shadow" if self.options.shadow else "ab"

    def choose(self, key: str | None) -> str:
        """The variant answering a request with sticky ``key``."""
        return route(key, self.options.split) if self.mode == "ab" else CONTROL

    def record(
        self,
        variant: str,
        rows: list[dict[str, Any]],
        outputs: list[dict[str, Any]],
        ids: list[str],
        shadow: list[bool],
        features: dict[str, list[Any]] | None = None,
    ) -> None:
        """Log rows and their answers (and the rows' drift features, where they are not
        the inputs), feed the drift window, remember the answers for feedback."""
        served = self.variants[variant]
        features = features or {}
        now = _now()
        lines = [
            {
                "type": "prediction",
                "id": id_,
                "time": now,
                "variant": variant,
                **({"shadow": True} if hidden else {}),
                "run": served.run,
                "model_sha256": served.sha256,
                "inputs": {k: logged_value(v) for k, v in row.items()},
                "prediction": out["prediction"],
            }
            for id_, row, out, hidden in zip(ids, rows, outputs, shadow, strict=True)
        ]
        if served.profile is not None and not served.features_are_inputs:
            for i, line in enumerate(lines):
                line["features"] = {k: json_value(v[i]) for k, v in features.items()}
        self.log.write(lines)
        if variant in self.drift:
            self.drift[variant].add(features, [out["prediction"] for out in outputs])
        with self._lock:
            hidden_rows = sum(shadow)
            self.counts.shadow_rows += hidden_rows
            self.counts.rows[variant] += len(rows) - hidden_rows
            for id_, out in zip(ids, outputs, strict=True):
                self._answers.setdefault(id_, []).append((variant, out["prediction"]))
            while len(self._answers) > REMEMBERED:
                self._answers.popitem(last=False)

    def feedback(self, id_: str, label: Any) -> bool:
        """Record the true label of prediction ``id_``; whether this server made it."""
        self.log.write([{"type": "feedback", "id": id_, "time": _now(), "label": label}])
        with self._lock:
            answers = self._answers.get(id_, [])
            for variant, prediction in answers:
                self._labelled.append((variant, prediction, label))
        return bool(answers)

    def verdict(self) -> Verdict | None:
        """The A/B test on the feedback received so far; None with no candidate."""
        if CANDIDATE not in self.variants:
            return None
        with self._lock:
            pairs = list(self._labelled)
        return ab_verdict(pairs, regression=self.regression, horizon=self.options.horizon)

    def live_score(self) -> dict[str, Any]:
        """Labelled predictions and their accuracy (or mean absolute error) per variant."""
        with self._lock:
            pairs = list(self._labelled)
        result: dict[str, Any] = {}
        for name in self.variants:
            mine = [(p, y) for v, p, y in pairs if v == name]
            if self.regression:
                errors = [abs(float(p) - float(y)) for p, y in mine]
                score = sum(errors) / len(errors) if errors else None
                result[name] = {"labelled": len(mine), "mean_absolute_error": score}
            else:
                right = [str(p) == str(y) for p, y in mine]
                score = sum(right) / len(right) if right else None
                result[name] = {"labelled": len(mine), "accuracy": score}
        return result

    async def start(self) -> None:
        for batcher in self.batchers.values():
            await batcher.start()

    async def stop(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()
        self.log.close()
