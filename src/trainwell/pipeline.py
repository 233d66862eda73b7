"""``trainwell fit``: one pipeline for every kind of data.

    data → audit → split → preprocess → baselines → network → evaluate → export → report

:func:`prepare` reads, splits, encodes and audits through the data's
:class:`~trainwell.modalities.base.Modality` (tables, images, text, series, ...), writing
nothing, so bad input leaves nothing behind. :func:`run_stages` then runs the stages; each
returns a record and the :class:`~trainwell.recorder.Recorder` writes it. A failure marks the
run ``failed`` (never ``complete``), Ctrl-C ``interrupted``, and ``fit --resume`` continues a
killed run from its last checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any, Unpack

import numpy as np
from rich.console import Console
from sklearn.utils.class_weight import compute_class_weight

from trainwell import distributed
from trainwell.analysis import EnergyMeter
from trainwell.audit import stop_on_errors
from trainwell.candidates import NetworkCandidate
from trainwell.config import DataSpec, FitConfig, check_applicable, options_config
from trainwell.cv import cross_validate, cv_folds
from trainwell.data import Dataset
from trainwell.doctor.plan import plan_of_split
from trainwell.ensemble import build_ensemble, snapshot_callbacks
from trainwell.errors import ConfigError, DataError, RunError, TrainwellError, did_you_mean
from trainwell.evaluate import SealedTest, evaluate
from trainwell.findings import Finding
from trainwell.interrupts import (
    RunInterrupted,
    Terminated,
    stops_ignored,
    terminate_as_interrupt,
)
from trainwell.modalities.base import DataSource, Modality, Samples
from trainwell.modalities.registry import REGISTRY, modality_for
from trainwell.models import Choice
from trainwell.recorder import Recorder, restore_start_files
from trainwell.report import write_report
from trainwell.reproducibility import reproducible
from trainwell.run import Run, RunDir
from trainwell.run_files import read_splits
from trainwell.split import Splits, make_splits
from trainwell.streaming_eval import evaluate_test_split
from trainwell.train.callback import Callback
from trainwell.train.feature_cache import shared_features
from trainwell.train.threads import torch_threads
from trainwell.trainer import NetworkResult, setup_trainer, train_network

SPLITS = ("train", "validation", "test")


@dataclass
class Prepared:
    """The validated inputs of a run: everything checked before a directory is made."""

    cfg: FitConfig
    modality: Modality
    dataset: Dataset
    splits: Splits
    samples: Samples  # every example, encoded with what the training split taught
    choice: Choice
    data_path: str | None
    findings: list[Finding]  # the audit's, data findings included
    audit_seconds: float = 0.0

    @property
    def n_classes(self) -> int:
        return len(self.dataset.classes) if self.dataset.classes is not None else 0

    def split(self, name: str) -> tuple[Samples, np.ndarray]:
        """The examples and targets of the training or validation split (the test split is
        only handed out sealed, by :meth:`sealed_test`)."""
        if name == "test":
            raise RuntimeError("the test split is sealed until evaluation (TW-D07)")
        rows = self.splits.indices(name)
        return self.samples.subset(rows), self.dataset.y[rows]

    def sealed_test(self) -> SealedTest:
        rows = self.splits.indices("test")
        return SealedTest(self.samples.subset(rows), self.dataset.y[rows])


def prepare(
    data: DataSource,
    cfg: FitConfig,
    *,
    block: bool = True,
    check_options: bool = True,
    audit: bool = True,
) -> Prepared:
    """Read, split, encode and audit the data through its modality (no files written).

    Args:
        block: stop on an audit error the config does not allow (``audit.allow``).
        check_options: refuse config keys that have no effect on this data (fresh runs; a
            resumed run's full config was checked when it started).
        audit: run the audit (``lr-find`` leaves it to ``trainwell audit``).

    Raises:
        DataError: unusable data; ConfigError: an option that does not apply; LeakageError
            (if ``block``) for an unallowed audit error.
    """
    modality = modality_for(data, cfg)
    if check_options:
        check_applicable(cfg, modality.name, modality.options)
    if cfg.baselines.ship == "lightgbm" and modality.name != "table":
        raise ConfigError(
            "baselines.ship=lightgbm: LightGBM is a baseline for tables only; the "
            f"{modality.name} baselines are dummy and linear"
        )
    read = modality.read(data, cfg)
    splits = make_splits(read.dataset, cfg.split, cfg.seed)
    if cfg.split.cv:  # TW-D05: refuse folds the data cannot make before anything is written
        cv_folds(read.dataset, splits, cfg.split.cv, cfg.seed)
    choice = modality.choose(read, splits, cfg)
    samples = modality.encode(read, splits, choice, cfg)
    start = perf_counter()
    findings = modality.audit(read.dataset, samples, splits, cfg) if audit else []
    if block:
        stop_on_errors(findings, cfg.audit.allow)
    return Prepared(
        cfg, modality, read.dataset, splits, samples, choice, read.data_path, findings,
        perf_counter() - start,
    )  # fmt: skip


class Stopwatch:
    """Seconds per stage, for the manifest."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(perf_counter() - start, 3)


def fit(
    data: DataSource | None = None,
    target: str | None = None,
    *,
    out: str | Path | None = None,
    seed: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    quiet: bool = False,
    groups: str | Sequence[str] | None = None,
    **spec: Unpack[DataSpec],
) -> Run:
    """Train, evaluate and document a model for ``target`` in ``data``: ``trainwell fit``.

    Args:
        data: a CSV/Parquet path or a DataFrame; a folder of class sub-folders is an image
            task (trainwell.modalities).
        target: the column to predict.
        out: the run directory; ``runs/<date>-<data name>`` if None.
        seed: the run's seed (TW-R01); config ``seed`` (0) if None.
        config: a TOML or JSON config file.
        overrides: ``key.sub=value`` settings, as on the command line.
        resume: an unfinished run directory to continue; the other arguments must be None.
        callbacks: extra training callbacks (run after trainwell's own).
        quiet: print nothing.
        groups: sensitive or slice columns (``"sex,age_band"`` or a list): metrics per group
            in the report (TW-E04); config ``report.groups``.
        spec: the :class:`~trainwell.config.DataSpec`, as keywords:
            ``task`` (``classification``, ``binary``, ``multiclass`` or ``regression``;
            inferred if None), ``group`` (rows sharing this column's value stay in one
            split, TW-D04), ``time`` (train on the past, test on the future, TW-D04),
            ``text`` (the text column of a text task), ``series`` (the series id column of
            a time-series task, rows ordered by ``time``).

    Returns:
        The finished :class:`~trainwell.run.Run`.

    Raises:
        TrainwellError: bad input (nothing is written) or an unusable run directory.

    Example:
        >>> run = trainwell.fit("wine.csv", target="target")  # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    here = distributed.init()  # under torchrun: join the job; rank 0 alone writes and prints
    console = Console(stderr=True, quiet=quiet or not here.main)
    if resume is not None:
        given = (data, target, config, groups, seed, *spec.values())
        if any(v is not None for v in given) or overrides:
            raise TrainwellError(
                "--resume continues a run exactly as it was configured; "
                "do not pass data, --target, --config or overrides with it"
            )
        return _resume(Path(resume), callbacks, console)
    if data is None:
        raise TrainwellError("no data given; pass a CSV or Parquet file (or --resume RUN_DIR)")
    cfg = options_config(
        config, overrides, target=target, seed=seed, spec=spec, report__groups=groups
    )
    if not here.main:
        return _follow(lambda: prepare(data, cfg, block=False, audit=False), callbacks, console)
    with distributed.leading() as lead:
        prepared = prepare(data, cfg)
        recorder = Recorder.start(prepared, out, console)
        lead.announce(recorder.dir.path, None)
    return execute(
        recorder.dir,
        cfg,
        lambda meter: run_stages(recorder, prepared, None, callbacks, console, meter),
    )


def _follow(read: Callable[[], Prepared], callbacks: Sequence[Callback], console: Console) -> Run:
    """A rank other than 0 under torchrun: the same data and splits, training only."""

    def train(prepared: Prepared, checkpoint: Path | None) -> None:
        cfg = prepared.cfg
        with reproducible(cfg.seed, cfg.train.deterministic), terminate_as_interrupt():
            try:
                train_and_validate(
                    prepared, resume_from=checkpoint, callbacks=callbacks, console=console
                )
            except BaseException as caught:  # a lost rank 0 too: no traceback from here
                err = distributed.as_interrupt(caught)
                _note_signal(err)
                if err is caught:
                    raise
                raise err from None

    return Run(distributed.follow(read, train))


def _resume(path: Path, callbacks: Sequence[Callback], console: Console) -> Run:
    if not distributed.ranks().main:
        manifest = RunDir(path).open_existing()
        cfg = FitConfig.model_validate(manifest["config"])
        data = manifest["data"]["path"]

        def read() -> Prepared:
            if data is None:  # rank 0 refuses it with the reason
                raise RunError(f"run {str(path)!r} was trained from an in-memory DataFrame")
            return prepare(data, cfg, block=False, check_options=False, audit=False)

        return _follow(read, callbacks, console)
    run_dir = RunDir(path)
    with distributed.leading() as lead:
        run_dir.hold()  # first: a run another process still writes is refused
        try:
            return _lead_resume(run_dir, callbacks, console, lead)
        finally:
            run_dir.release()


def _lead_resume(
    run_dir: RunDir, callbacks: Sequence[Callback], console: Console, lead: distributed.Lead
) -> Run:
    path = run_dir.path
    manifest = run_dir.open_existing()
    if manifest.get("status") == "complete":
        if not (run_dir.report_path.is_file() and run_dir.model_card_path.is_file()):
            # Killed while the report was written (it comes after "complete"): finish it.
            console.print(f"finishing {run_dir.path}: writing its report", highlight=False)
            lead.announce(run_dir.path, None, train=False)
            write_report(run_dir)
            return Run(run_dir.path)
        raise RunError(f"run {str(path)!r} is already complete; there is nothing to resume")
    data_path = manifest["data"]["path"]
    if data_path is None:
        raise RunError(
            f"run {str(path)!r} was trained from an in-memory DataFrame and cannot be resumed "
            "from the command line; start it again"
        )
    cfg = FitConfig.model_validate(manifest["config"])
    kind = (manifest.get("modality") or {}).get("kind", "table")
    if kind not in REGISTRY:
        raise RunError(f"run {str(path)!r} was trained on {kind!r} data, unknown to this trainwell")
    prepared = prepare(data_path, cfg, block=False, check_options=False)
    if prepared.modality.name != kind:
        raise RunError(f"{data_path!r} no longer reads as {kind} data; start a new run")
    if prepared.dataset.sha256 != manifest["data"]["sha256"]:
        raise DataError(
            f"{data_path!r} changed since run {str(path)!r} started (its sha256 differs); "
            "resume needs the same data: restore it or start a new run"
        )
    recorded = manifest["splits"]["hashes"]
    if prepared.splits.hashes(prepared.dataset) != recorded:
        raise RunError(
            f"the data splits differently from when run {str(path)!r} started (the split "
            "hashes in its manifest differ); start a new run"
        )
    restore_start_files(run_dir, prepared, console)
    saved = Splits.from_dict(read_splits(run_dir.path, prepared.dataset.n_rows))
    if saved.hashes(prepared.dataset) != recorded:
        raise RunError(f"the splits saved in {str(path)!r} do not match the data; start again")
    recorder = Recorder(run_dir, console)
    checkpoint = recorder.resumed()
    lead.announce(run_dir.path, checkpoint)
    return execute(
        run_dir,
        cfg,
        lambda meter: run_stages(recorder, prepared, checkpoint, callbacks, console, meter),
    )


def class_weights_for(
    dataset: Dataset, y_train: np.ndarray, cfg: FitConfig
) -> tuple[np.ndarray | None, Finding | None]:
    """Balanced class weights when the classes are imbalanced (TW-D11)."""
    if not dataset.is_classification or cfg.train.class_weights == "off":
        return None, None
    assert dataset.classes is not None
    counts = np.bincount(y_train, minlength=len(dataset.classes))
    ratio = counts.max() / max(1, counts.min())
    if cfg.train.class_weights == "auto" and ratio < cfg.train.imbalance_ratio:
        return None, None
    classes = np.arange(len(dataset.classes))
    weights = compute_class_weight("balanced", classes=classes, y=y_train)
    finding = Finding(
        id="class-weights-applied",
        practice="TW-D11",
        severity="info",
        stage="preflight",
        message=f"The largest class is {ratio:.1f}x the smallest in the training split; "
        "the loss and the baselines weight classes inversely to their frequency.",
        evidence={
            "train_counts": dict(zip(map(str, dataset.classes), counts.tolist(), strict=True)),
            "weights": dict(
                zip(map(str, dataset.classes), np.round(weights, 4).tolist(), strict=True)
            ),
        },
        fix="Nothing to do; turn it off with train.class_weights=off.",
    )
    return weights, finding


def execute(run_dir: RunDir, cfg: FitConfig, stages: Callable[[EnergyMeter], None]) -> Run:
    """Run ``stages`` (seeded) into ``run_dir``; a failure or Ctrl-C is recorded in the
    manifest (``failed`` / ``interrupted``) before it propagates, so no stopped run is ever
    marked complete."""
    meter = EnergyMeter(run_dir.path, cfg.report)  # TW-R04
    try:
        meter.start()  # its set-up runs on a thread beside the seeding's torch imports
        # shared_features: cross-validation folds and candidates on one frozen backbone
        with (
            reproducible(cfg.seed, cfg.train.deterministic),
            terminate_as_interrupt(),
            shared_features(),
        ):
            stages(meter)
    except BaseException as caught:
        err = caught  # stopped while writing the report: still complete; --resume writes it
        with stops_ignored():  # a second signal must not leave the manifest at "running"
            if run_dir.manifest.get("status") != "complete":
                err = distributed.as_interrupt(caught)  # a killed peer process: interrupted
                _note_signal(err)
                _record_stop(run_dir, meter, err)
        if isinstance(err, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (trainwell.interrupts)
            raise RunInterrupted(run_dir.path, _signal_name(err)) from None
        raise
    finally:
        run_dir.release()  # taken when the run was created or resumed
    return Run(run_dir.path)


def _note_signal(err: BaseException) -> None:
    """Under torchrun, tell the job's other processes this one stops on a signal it was sent."""
    if isinstance(err, KeyboardInterrupt) and not isinstance(err, distributed.RankLost):
        distributed.note_signal(_signal_name(err))


def _signal_name(err: BaseException) -> str:
    cause = getattr(err, "cause", None)  # distributed.RankLost
    return (
        cause if isinstance(cause, str) else "SIGTERM" if isinstance(err, Terminated) else "SIGINT"
    )


def _record_stop(run_dir: RunDir, meter: EnergyMeter, err: BaseException) -> None:
    if isinstance(err, KeyboardInterrupt):
        meter.stop("interrupted")
        run_dir.finish("interrupted", f"stopped by {_signal_name(err)}; continue with --resume")
    elif isinstance(err, TrainwellError):
        meter.stop("failed")
        run_dir.finish("failed", str(err))
    else:
        meter.stop("failed")
        run_dir.finish("failed", f"{type(err).__name__}: {err}")


def train_and_validate(
    prepared: Prepared,
    *,
    recorder: Recorder | None = None,
    resume_from: Path | None = None,
    callbacks: Sequence[Callback] = (),
    console: Console | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> NetworkResult:
    """Train the network for ``prepared`` and return it with its validation scores
    (``result.state.history``); with no ``recorder`` nothing is written (a tuning trial).
    ``on_finding`` sees each of the doctor's findings as it is made."""
    cfg, ds = prepared.cfg, prepared.dataset
    train, y_train = prepared.split("train")
    validation, y_validation = prepared.split("validation")
    weights, _ = class_weights_for(ds, y_train, cfg)
    paths = recorder.paths if recorder is not None else None
    trainer = setup_trainer(
        prepared.modality, train, y_train, prepared.choice, ds.task, prepared.n_classes,
        weights, cfg, batch_plan=paths.batch_plan if paths else None,
    )  # fmt: skip
    split = plan_of_split(ds, prepared.splits, prepared.findings)  # the doctor knows the split
    return train_network(
        trainer, validation, y_validation, cfg, paths=paths, resume_from=resume_from,
        callbacks=callbacks, console=console, split_plan=split, on_finding=on_finding,
    )  # fmt: skip


def run_stages(
    recorder: Recorder,
    prepared: Prepared,
    checkpoint: Path | None,
    callbacks: Sequence[Callback],
    console: Console,
    meter: EnergyMeter,
) -> None:
    """The stages after :func:`prepare`, each returning a record the recorder writes."""
    cfg, ds, splits, modality = prepared.cfg, prepared.dataset, prepared.splits, prepared.modality
    meter.start()  # started already by execute(); here for a caller that did not
    watch = Stopwatch()
    watch.timings["audit"] = round(prepared.audit_seconds, 3)
    findings: list[Finding] = list(prepared.findings)
    recorder.audit(findings)
    sizes = "/".join(str(len(splits.indices(n))) for n in SPLITS)
    console.print(
        f"data: {ds.n_rows} {modality.name} examples, {len(ds.features)} features, task "
        f"{ds.task}; split {splits.method}: {sizes}",
        highlight=False,
    )
    counts = recorder.dir.manifest["audit"]["counts"]
    allowed = recorder.dir.manifest["audit"]["allowed"]
    allowed_note = f" (allowed: {', '.join(allowed)})" if allowed else ""
    console.print(
        f"audit: {counts['error']} errors{allowed_note}, {counts['warning']} warnings, "
        f"{counts['info']} notes",
        highlight=False,
    )
    found = {f.id for f in findings}
    for name in cfg.audit.allow:  # a typo in --allow would otherwise pass unnoticed
        if name not in found:
            console.print(
                f"warning: --allow {name} matched no finding of this audit"
                f"{did_you_mean(name, found)}",
                highlight=False,
            )
    console.print(f"network: {prepared.choice.name} ({prepared.choice.reason})", highlight=False)

    train, y_train = prepared.split("train")
    validation, y_validation = prepared.split("validation")
    test = prepared.sealed_test()  # TW-D07: opened once, in the evaluate stage
    weights, weight_finding = class_weights_for(ds, y_train, cfg)
    if weight_finding is not None:
        findings.append(weight_finding)
    y = {"train": y_train, "validation": y_validation}

    with watch.stage("baselines"):
        candidates = modality.baselines(
            train, validation, ds.task, prepared.n_classes, y, weights, cfg
        )
        console.print("baselines: " + ", ".join(c.name for c in candidates), highlight=False)
    with watch.stage("train"):
        console.print("network: training (early stopping on validation loss)", highlight=False)
        snapshots = snapshot_callbacks(cfg)  # TW-H05: weights kept at each cycle's end
        result = train_and_validate(
            prepared, recorder=recorder, resume_from=checkpoint,
            callbacks=[*callbacks, *snapshots], console=console,
        )  # fmt: skip
        network = NetworkCandidate("network", result.net, {"task": ds.task})
        candidates.append(network)
        findings.extend(result.findings)
        recorder.network(result.state.history, result.details)
    # The forward passes after training (evaluation, explanations) run on the threads the
    # network trained on: the same per-step work, the same verdict (trainwell.train.threads).
    with torch_threads(result.details.get("threads")):
        if cfg.ensemble.size > 1:  # TW-H04/H05: kept only if better on validation
            with watch.stage("ensemble"):
                ensemble, note = build_ensemble(prepared, result, snapshots, weights)
                findings.append(note)
                candidates.extend([ensemble] if ensemble is not None else [])
        if cfg.split.cv:  # TW-D05: the spread of the validation metrics over K folds
            with watch.stage("cross_validation"):
                cv = cross_validate(prepared, lr=result.details["lr"])
        with watch.stage("evaluate"):
            evaluation = evaluate(
                ds.task, candidates, validation, y_validation, test, weights, cfg.baselines.ship,
                cv=cfg.split.cv,
            )  # fmt: skip
            if prepared.samples.stream is not None:  # every test row of a streamed file
                evaluation = evaluate_test_split(
                    prepared.samples.stream, evaluation, candidates, ds.task, weights,
                    len(splits.test),
                )  # fmt: skip
            findings.extend(evaluation.findings)
            findings.extend(recorder.test_use(prepared))
            recorder.metrics({**evaluation.metrics, **({"cv": cv} if cfg.split.cv else {})})
        shipped = next(c for c in candidates if c.name == evaluation.shipped)
        with watch.stage("explain"):  # data summary, test predictions, groups, explanations
            analysis = modality.analyze(
                ds, splits, prepared.samples, shipped, network,
                evaluation.test_outputs[evaluation.shipped], cfg,
            )  # fmt: skip
            findings.extend(analysis.findings)
            recorder.analysis(analysis)
        with watch.stage("export"):
            recorder.model(prepared, shipped)
            recorder.findings(findings)
        meter.stop()
        recorder.timings(watch.timings)
        recorder.complete()
        # The metrics are final: shown before the report, the slowest stage left, is drawn.
        print_summary(console, evaluation.metrics, ds.task)
        print_later_findings(console, findings[len(prepared.findings) :])
        # The report is derived from the finished run directory (and `trainwell report` can
        # rebuild it), so it is written after the run is complete and shows it so.
        with watch.stage("report"):
            write_report(recorder.dir)
        recorder.timings(watch.timings)
        console.print(f"report: {recorder.dir.report_path}", highlight=False)


def print_later_findings(console: Console, findings: list[Finding]) -> None:
    """A recap, under the metrics, of the errors and warnings found after the audit's line
    was printed (training, evaluation, explanations): a reused test split, a validation split
    too small to choose the shipped model on, the doctor's findings (also printed as they
    were found, which has scrolled by). One line each, the message's first sentence; notes
    stay in ``findings.json`` and the report."""
    shown = [f for f in findings if f.severity in {"error", "warning"}]
    if not shown:
        return
    counts = {s: sum(f.severity == s for f in shown) for s in ("error", "warning")}
    what = ", ".join(f"{n} {s}{'s' if n > 1 else ''}" for s, n in counts.items() if n)
    console.print(f"after the audit: {what} (details in the report)", highlight=False)
    for f in shown:
        first = f.message.split(". ")[0].rstrip(".")
        console.print(f"  {f.severity} ({f.stage}): {f.id}: {first}.", highlight=False)


def print_summary(console: Console, metrics: dict[str, Any], task: str) -> None:
    """The test metrics of every model, the shipped one marked."""
    from rich.table import Table

    keys = (
        ["rmse", "mae", "r2"]
        if task == "regression"
        else ["accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"]
    )
    table = Table(title="test metrics (sealed test split, evaluated once)")
    table.add_column("model")
    for k in keys:
        table.add_column(k, justify="right")
    rows = {
        "network": metrics["network"]["test"],
        **{n: b["test"] for n, b in metrics["baselines"].items()},
    }
    for name, values in rows.items():
        label = f"{name} (shipped)" if name == metrics["shipped"] else name
        table.add_row(label, *("-" if values.get(k) is None else f"{values[k]:.4f}" for k in keys))
    console.print(table)
