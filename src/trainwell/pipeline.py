"""``trainwell fit``: data → split → preprocess → baselines → network → evaluate → export.

Each stage returns a typed value the next consumes. Every check of the user's input runs
before the run directory is created, so bad input leaves nothing behind; a failure after
that marks the run ``failed`` in its manifest (never ``complete``), and ``--resume`` continues
a killed run from its last checkpoint.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from sklearn.utils.class_weight import compute_class_weight

from trainwell import baselines as bl
from trainwell.analysis import EnergyMeter, check_group_columns, record_evaluation
from trainwell.artifact import save_model
from trainwell.audit import TestSetLedger, config_sha256, run_audit, stop_on_errors
from trainwell.config import FitConfig, Task, options_config
from trainwell.data import Dataset, build_dataset, read_table
from trainwell.data.load import file_sha256, frame_sha256
from trainwell.errors import DataError, RunError, TrainwellError
from trainwell.evaluate import SELECTION_METRIC, SealedTest, selection_score, task_metrics
from trainwell.findings import Finding, sort_findings, write_findings
from trainwell.modalities import modality_of, prepare_modality
from trainwell.network import train_network
from trainwell.preprocess import FeatureEncoder
from trainwell.report import write_report
from trainwell.reproducibility import reproducible
from trainwell.run import (
    Run,
    RunDir,
    default_run_dir,
    environment,
    git_state,
    write_json,
)
from trainwell.run_files import read_splits
from trainwell.split import Splits, make_splits
from trainwell.train.callback import Callback
from trainwell.train.checkpoint import latest_checkpoint


@dataclass
class Prepared:
    """The validated inputs of a run: everything checked before a directory is made."""

    cfg: FitConfig
    dataset: Dataset
    splits: Splits
    data_path: str | None
    findings: list[Finding]  # the audit's, data findings included
    audit_seconds: float = 0.0


class Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(perf_counter() - start, 3)


def prepare(data: str | Path | pd.DataFrame, cfg: FitConfig, *, block: bool = True) -> Prepared:
    """Read and validate the data, make the splits and audit them (no files written).

    Raises:
        DataError: unusable data; LeakageError (if ``block``) for an unallowed audit error.
    """
    kind = modality_of(data, cfg)
    if kind is not None:
        modal = prepare_modality(data, cfg, kind, block=block)
        return Prepared(
            cfg, modal.dataset, modal.splits, modal.data_path, modal.findings, modal.audit_seconds
        )
    if isinstance(data, pd.DataFrame):
        if data.empty:
            raise DataError("the DataFrame has no rows")
        frame, source, sha, path = (
            data.reset_index(drop=True),
            "<DataFrame>",
            frame_sha256(data),
            None,
        )
        frame.columns = [str(c) for c in frame.columns]
    else:
        frame = read_table(data)
        path = str(Path(data).resolve())
        source, sha = str(data), file_sha256(Path(data))
    dataset = build_dataset(frame, cfg.data, source, sha)
    check_group_columns(dataset.frame, cfg.report.groups, dataset.target)
    splits = make_splits(dataset, cfg.split, cfg.seed)
    start = perf_counter()
    findings = audit(dataset, splits, cfg, block=block)
    return Prepared(cfg, dataset, splits, path, findings, perf_counter() - start)


def audit(dataset: Dataset, splits: Splits, cfg: FitConfig, *, block: bool = True) -> list[Finding]:
    """Run the audit on the real splits; error findings stop the run unless allowed.

    Raises:
        LeakageError: an error-severity finding whose id is not in ``audit.allow``.
    """
    findings = run_audit(dataset, splits, config=cfg.audit, train=cfg.train, seed=cfg.seed)
    if block:
        stop_on_errors(findings, cfg.audit.allow)
    return findings


def fit(
    data: str | Path | pd.DataFrame | None = None,
    target: str | None = None,
    *,
    task: str | None = None,
    group: str | None = None,
    time: str | None = None,
    out: str | Path | None = None,
    seed: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    resume: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    quiet: bool = False,
    groups: str | Sequence[str] | None = None,
    text: str | None = None,
    series: str | None = None,
) -> Run:
    """Train, evaluate and document a model for ``target`` in ``data``: ``trainwell fit``.

    Args:
        data: a CSV/Parquet path or a DataFrame.
        target: the column to predict.
        task: ``classification``, ``binary``, ``multiclass`` or ``regression``; inferred if None.
        group: keep rows sharing this column's value in one split (TW-D04).
        time: split by this column: train on the past, test on the future (TW-D04).
        out: the run directory; ``runs/<date>-<data name>`` if None.
        seed: the run's seed (TW-R01); config ``seed`` (0) if None.
        config: a TOML or JSON config file.
        overrides: ``key.sub=value`` settings, as on the command line.
        resume: an unfinished run directory to continue; the other arguments must be None.
        callbacks: extra training callbacks (run after trainwell's own).
        quiet: print nothing.
        groups: sensitive or slice columns (``"sex,age_band"`` or a list): metrics per group
            in the report (TW-E04); config ``report.groups``.
        text: the text column of a text task (``data.text``; trainwell.modalities).
        series: the series id column of a time-series task, rows ordered by ``time``
            (``data.series``). A folder as ``data`` is an image task.

    Returns:
        The finished :class:`~trainwell.run.Run`.

    Raises:
        TrainwellError: bad input (nothing is written) or an unusable run directory.

    Example:
        >>> run = trainwell.fit("wine.csv", target="target")  # doctest: +SKIP
        >>> run.metrics["test"]["accuracy"]  # doctest: +SKIP
    """
    console = Console(stderr=True, quiet=quiet)
    if resume is not None:
        if (
            data is not None
            or target is not None
            or overrides
            or config is not None
            or groups is not None
        ):
            raise TrainwellError(
                "--resume continues a run exactly as it was configured; "
                "do not pass data, --target, --config or overrides with it"
            )
        return _resume(Path(resume), callbacks, console)
    if data is None:
        raise TrainwellError("no data given; pass a CSV or Parquet file (or --resume RUN_DIR)")
    cfg = options_config(
        config, overrides, target=target, task=task, group=group, time=time, seed=seed,
        text=text, series=series, report__groups=groups,
    )  # fmt: skip
    kind = modality_of(data, cfg)
    if kind is not None:  # images, text, time series: same stages, trainwell.modalities
        from trainwell.modalities.fit import fit_modality

        return fit_modality(prepare_modality(data, cfg, kind), out, callbacks, console)
    prepared = prepare(data, cfg)
    run_dir = start_run(prepared, out, console)
    return execute(
        run_dir,
        prepared.cfg,
        lambda meter: _stages(run_dir, prepared, None, callbacks, console, meter),
    )


def start_run(
    prepared: Prepared,
    out: str | Path | None,
    console: Console,
    extra: dict[str, Any] | None = None,
) -> RunDir:
    """Create the run directory (only after every check passed): manifest (with ``extra``
    keys), config.json, the command that reproduces the run, and the split indices."""
    run_dir = RunDir(Path(out) if out is not None else default_run_dir(prepared.dataset.source))
    run_dir.create({**manifest_for(prepared), **(extra or {})})
    write_json(run_dir.config_path, prepared.cfg.model_dump(mode="json"))
    if prepared.data_path is not None:
        # Everything that shaped the run is in config.json (target, task, group, time, seed).
        config = str(run_dir.config_path.resolve())
        command = ["trainwell", "fit", prepared.data_path, "--config", config]
        run_dir.update(reproduce=shlex.join([*command, "--out", "NEW_RUN_DIR"]))
    write_json(run_dir.splits_path, prepared.splits.to_dict(prepared.dataset))
    console.print(f"run directory: {run_dir.path}", highlight=False)
    return run_dir


def manifest_for(prepared: Prepared) -> dict[str, Any]:
    ds, splits = prepared.dataset, prepared.splits
    return {
        "argv": sys.argv,
        "seed": prepared.cfg.seed,
        "config": prepared.cfg.model_dump(mode="json"),
        "data": {
            "path": prepared.data_path,
            "source": ds.source,
            "sha256": ds.sha256,
            "rows": ds.n_rows,
            "target": ds.target,
            "task": ds.task,
            "classes": list(ds.classes) if ds.classes is not None else None,
            "features": [{"name": c.name, "kind": c.kind} for c in ds.features],
        },
        "splits": {
            "method": splits.method,
            "sizes": {n: len(splits.indices(n)) for n in ("train", "validation", "test")},
            "hashes": splits.hashes(ds),
        },
        "environment": environment(),
        "git": git_state(Path.cwd()),
    }


def mark_resumed(run_dir: RunDir, manifest: dict[str, Any], console: Console) -> Path | None:
    """Set the run running again, log the resume in the manifest; the checkpoint to load."""
    checkpoint = latest_checkpoint(run_dir.checkpoints)
    resumes = [
        *manifest.get("resumed", []),
        {"checkpoint": checkpoint.name if checkpoint else None},
    ]
    run_dir.update(status="running", resumed=resumes)
    where = checkpoint.name if checkpoint else "the start"
    console.print(f"resuming {run_dir.path} from {where}", highlight=False)
    return checkpoint


def _resume(path: Path, callbacks: Sequence[Callback], console: Console) -> Run:
    run_dir = RunDir(path)
    manifest = run_dir.open_existing()
    if manifest.get("status") == "complete":
        if not (run_dir.report_path.is_file() and run_dir.model_card_path.is_file()):
            # Killed while the report was written (it comes after "complete"): finish it.
            console.print(f"finishing {run_dir.path}: writing its report", highlight=False)
            write_report(run_dir)
            return Run(run_dir.path)
        raise RunError(f"run {str(path)!r} is already complete; there is nothing to resume")
    if manifest.get("modality") is not None:  # images, text, series
        from trainwell.modalities.fit import resume_modality

        return resume_modality(run_dir, manifest, callbacks, console)
    data_path = manifest["data"]["path"]
    if data_path is None:
        raise RunError(
            f"run {str(path)!r} was trained from an in-memory DataFrame and cannot be resumed "
            "from the command line; start it again"
        )
    if not run_dir.splits_path.is_file():
        raise RunError(f"run {str(path)!r} stopped before its splits were saved; start it again")
    cfg = FitConfig.model_validate(manifest["config"])
    frame = read_table(data_path)
    if file_sha256(Path(data_path)) != manifest["data"]["sha256"]:
        raise DataError(
            f"{data_path!r} changed since run {str(path)!r} started (its sha256 differs); "
            "resume needs the same data: restore it or start a new run"
        )
    dataset = build_dataset(frame, cfg.data, manifest["data"]["source"], manifest["data"]["sha256"])
    splits = Splits.from_dict(read_splits(run_dir.path, dataset.n_rows))
    if splits.hashes(dataset) != manifest["splits"]["hashes"]:
        raise RunError(f"the splits saved in {str(path)!r} do not match the data; start again")
    checkpoint = mark_resumed(run_dir, manifest, console)
    prepared = Prepared(cfg, dataset, splits, data_path, audit(dataset, splits, cfg))
    return execute(
        run_dir,
        cfg,
        lambda meter: _stages(run_dir, prepared, checkpoint, callbacks, console, meter),
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
        "the loss, the linear model and LightGBM weight classes inversely to their frequency.",
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
    marked complete. Shared by tables and the other modalities."""
    meter = EnergyMeter(run_dir.path, cfg.report)  # TW-R04
    try:
        with reproducible(cfg.seed, cfg.train.deterministic):
            stages(meter)
    except BaseException as err:
        if run_dir.manifest.get("status") == "complete":
            raise  # stopped while writing the report: still complete; --resume writes it
        _record_stop(run_dir, meter, err)
        raise
    return Run(run_dir.path)


def _record_stop(run_dir: RunDir, meter: EnergyMeter, err: BaseException) -> None:
    if isinstance(err, KeyboardInterrupt):
        meter.stop("interrupted")
        run_dir.finish("interrupted", "stopped by the user; continue with --resume")
    elif isinstance(err, TrainwellError):
        meter.stop("failed")
        run_dir.finish("failed", str(err))
    else:
        meter.stop("failed")
        run_dir.finish("failed", f"{type(err).__name__}: {err}")


def _stages(
    run_dir: RunDir,
    prepared: Prepared,
    checkpoint: Path | None,
    callbacks: Sequence[Callback],
    console: Console,
    meter: EnergyMeter,
) -> None:
    cfg, ds, splits = prepared.cfg, prepared.dataset, prepared.splits
    meter.start()
    watch = Stopwatch()
    watch.timings["audit"] = round(prepared.audit_seconds, 3)
    findings: list[Finding] = list(prepared.findings)
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    allowed = sorted({f.id for f in findings if f.severity == "error"})
    run_dir.update(audit={"counts": counts, "allowed": allowed})
    console.print(
        f"data: {ds.n_rows} rows, {len(ds.features)} features, task {ds.task}; "
        f"split {splits.method}: "
        + "/".join(str(len(splits.indices(n))) for n in ("train", "validation", "test")),
        highlight=False,
    )

    allowed_note = f" (allowed: {', '.join(allowed)})" if allowed else ""
    console.print(
        f"audit: {counts['error']} errors{allowed_note}, "
        f"{counts['warning']} warnings, {counts['info']} notes",
        highlight=False,
    )

    with watch.stage("preprocess"):
        rows = {n: splits.indices(n) for n in ("train", "validation", "test")}
        encoder = FeatureEncoder.fit(ds.frame.iloc[rows["train"]], ds.features)  # TW-D08
        encoded = {
            n: encoder.transform(ds.frame.iloc[r].reset_index(drop=True)) for n, r in rows.items()
        }
        train = bl.Arrays(*encoded["train"], ds.y[rows["train"]])
        val = bl.Arrays(*encoded["validation"], ds.y[rows["validation"]])
        test = SealedTest(*encoded["test"], ds.y[rows["test"]])  # TW-D07: opened once, below
        levels = [len(encoder.vocab[name]) for name in encoder.categorical_names]
    weights, weight_finding = class_weights_for(ds, train.y, cfg)
    if weight_finding is not None:
        findings.append(weight_finding)
    task = ds.task
    n_classes = len(ds.classes) if ds.classes is not None else 0

    with watch.stage("baselines"):
        console.print("baselines: dummy, linear, LightGBM", highlight=False)
        candidates = [
            bl.fit_dummy(task, train, _empty_input(train, levels, cfg), n_classes),
            bl.fit_linear(
                task, train, _weight_dict(weights), levels, cfg.model.embedding_threshold, cfg.seed
            ),
            bl.fit_lightgbm(task, train, val, weights, cfg.baselines.lightgbm_rounds, cfg.seed),
        ]
    with watch.stage("train"):
        console.print("network: training (early stopping on validation loss)", highlight=False)
        result = train_network(
            task,
            train,
            val,
            levels,
            weights,
            cfg,
            checkpoints=run_dir.checkpoints,
            tensorboard=run_dir.tensorboard,
            training_log=run_dir.path / "training_log.json",
            record_dir=run_dir.path,  # lr_find.json, batch_size.json: reused by --resume
            resume_from=checkpoint,
            callbacks=callbacks,
            console=console,
        )
        candidates.append(result.candidate)
        findings.extend(result.findings)
        write_json(run_dir.history_path, result.state.history)
        run_dir.update(network=result.details)

    with watch.stage("evaluate"):
        val_weights = None if weights is None else weights[val.y]
        scores = {
            c.name: task_metrics(task, val.y, c.outputs(val.num, val.cat), val_weights)
            for c in candidates
        }
        ranking = sorted(candidates, key=lambda c: selection_score(task, scores[c.name]))
        best = ranking[0]
        ship_name = best.name if cfg.baselines.ship == "best" else cfg.baselines.ship
        shipped = next(c for c in candidates if c.name == ship_name)
        findings.extend(selection_findings(task, scores, best.name, ship_name))
        num, cat, y_test = test.open()
        findings.extend(record_test_use(run_dir, cfg, prepared.dataset, prepared.splits))
        test_weights = None if weights is None else weights[y_test]
        # Every candidate's outputs of the one sealed evaluation; the shipped model's are
        # saved for the report, so the test split is never run through a model again.
        test_outputs = {c.name: c.outputs(num, cat) for c in candidates}
        test_scores = {
            c.name: task_metrics(task, y_test, test_outputs[c.name], test_weights)
            for c in candidates
        }
        metrics = {
            "shipped": ship_name,
            "selection_metric": SELECTION_METRIC[task],
            "validation": scores[ship_name],
            "test": test_scores[ship_name],
            "network": {"validation": scores["network"], "test": test_scores["network"]},
            "baselines": {
                c.name: {
                    "validation": scores[c.name],
                    "test": test_scores[c.name],
                    **({"info": c.info} if len(c.info) > 1 else {}),
                }
                for c in candidates
                if c.name != "network"
            },
        }
        write_json(run_dir.metrics_path, metrics)

    with watch.stage("explain"):  # data summary, test predictions, groups, explanations
        findings.extend(
            record_evaluation(
                run_dir.path,
                ds,
                splits,
                encoder,
                shipped,
                result.candidate,
                test_outputs[ship_name],
                cfg,
            )
        )

    with watch.stage("export"):
        classes = list(ds.classes) if ds.classes is not None else None
        files = save_model(run_dir.model_dir, shipped, encoder, task, ds.target, classes)
        write_findings(run_dir.findings_path, sort_findings(findings))
        run_dir.update(shipped=ship_name, model_files=files)
    meter.stop()
    run_dir.update(timings=watch.timings)
    run_dir.finish("complete")
    # The report is derived from the finished run directory (and `trainwell report` can
    # rebuild it), so it is written after the run is complete and shows it so.
    with watch.stage("report"):
        write_report(run_dir)
    run_dir.update(timings=watch.timings)
    print_summary(console, run_dir, metrics, task)


def record_test_use(
    run_dir: RunDir, cfg: FitConfig, dataset: Dataset, splits: Splits
) -> list[Finding]:
    """Count this evaluation of the test split in the results folder's ledger (TW-D07, H03);
    a ``test-set-reuse`` finding when another configuration was judged on the same rows."""
    ledger = TestSetLedger(run_dir.path.parent)
    test_hash = splits.hashes(dataset)["test"]
    reuse = ledger.record(test_hash, config_hash=config_sha256(cfg), run_id=run_dir.path.name)
    uses = ledger.evaluations(test_hash)
    run_dir.update(
        test_set={"sha256": test_hash, "evaluations": len(uses), "ledger": str(ledger.path)}
    )
    return [reuse] if reuse is not None else []


def _empty_input(train: bl.Arrays, levels: list[int], cfg: FitConfig) -> bl.TabularInput:
    return bl.TabularInput.fit(
        train.num, train.cat, levels, embedding_threshold=cfg.model.embedding_threshold, embed=False
    )


def _weight_dict(weights: np.ndarray | None) -> dict[int, float] | None:
    return None if weights is None else {i: float(w) for i, w in enumerate(weights)}


def selection_findings(
    task: Task, scores: dict[str, dict[str, Any]], best: str, shipped: str
) -> list[Finding]:
    """Say plainly when a baseline beats the network on validation (TW-A08)."""
    metric = SELECTION_METRIC[task]
    net = selection_score(task, scores["network"])
    found = []
    if best != "network":
        top = selection_score(task, scores[best])
        found.append(
            Finding(
                id="baseline-beats-network",
                practice="TW-A08",
                severity="warning" if best == "dummy" else "info",
                stage="evaluate",
                message=f"The {best} baseline beat the network on validation {metric} "
                f"({top:.4g} vs {net:.4g}); " + f"the shipped model is {shipped}.",
                evidence={
                    "metric": metric,
                    "validation": {n: selection_score(task, s) for n, s in scores.items()},
                },
                fix="Ship it (the default), or keep the network with baselines.ship=network; "
                "on tabular data gradient boosting often wins."
                if best != "dummy"
                else "Nothing beat predicting the prior: check that the features carry signal.",
            )
        )
    return found


def print_summary(console: Console, run_dir: RunDir, metrics: dict[str, Any], task: str) -> None:
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
    console.print(f"report: {run_dir.report_path}", highlight=False)
