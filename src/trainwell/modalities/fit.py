"""``trainwell fit`` for images, text and time series: the same stages and run directory as
for tables (manifest, metrics.json, findings.json, model/, report), with the modality's
audit, baselines on simple features, and the network chosen for the task.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from trainwell.analysis import EnergyMeter, record_examples
from trainwell.config import FitConfig
from trainwell.errors import RunError
from trainwell.evaluate import SELECTION_METRIC, SealedTest, selection_score, task_metrics
from trainwell.findings import Finding, sort_findings, write_findings
from trainwell.modalities import image, series, text
from trainwell.modalities.artifact import save_modality_model
from trainwell.modalities.base import Samples, predict_outputs
from trainwell.modalities.network import train_modality
from trainwell.modalities.prepare import ModalPrepared, prepare_modality
from trainwell.pipeline import (
    Prepared,
    Stopwatch,
    class_weights_for,
    execute,
    mark_resumed,
    print_summary,
    record_test_use,
    selection_findings,
)
from trainwell.pipeline import start_run as start_table_run
from trainwell.report import write_report
from trainwell.run import Run, RunDir, write_json
from trainwell.train.callback import Callback

SPLITS = ("train", "validation", "test")


def start_run(prepared: ModalPrepared, out: str | Path | None, console: Console) -> RunDir:
    """Create the run directory as for tables, with the modality recorded in the manifest."""
    base = Prepared(
        prepared.cfg, prepared.dataset, prepared.splits, prepared.data_path, prepared.findings
    )
    modality = {
        "kind": prepared.samples.kind,
        "encoding": {k: v for k, v in prepared.samples.encoding.items() if k != "vocab"},
        **prepared.samples.info,
    }
    return start_table_run(base, out, console, extra={"modality": modality})


def fit_modality(
    prepared: ModalPrepared,
    out: str | Path | None,
    callbacks: Sequence[Callback],
    console: Console,
) -> Run:
    """Run every stage into a new run directory (``trainwell fit`` on images, text, series)."""
    run_dir = start_run(prepared, out, console)
    return execute(
        run_dir,
        prepared.cfg,
        lambda meter: _stages(run_dir, prepared, None, callbacks, console, meter),
    )


def resume_modality(
    run_dir: RunDir, manifest: dict[str, Any], callbacks: Sequence[Callback], console: Console
) -> Run:
    """Continue an unfinished run from its last checkpoint (``fit --resume``): the data is
    read and split again and must give the recorded split hashes.

    Raises:
        RunError: the data or its splits changed since the run started.
    """
    cfg = FitConfig.model_validate(manifest["config"])
    data_path = manifest["data"]["path"]
    if data_path is None:
        raise RunError(f"run {str(run_dir.path)!r} was trained from a DataFrame; start it again")
    prepared = prepare_modality(data_path, cfg, manifest["modality"]["kind"], block=False)
    if (
        prepared.dataset.sha256 != manifest["data"]["sha256"]
        or prepared.splits.hashes(prepared.dataset) != manifest["splits"]["hashes"]
    ):
        raise RunError(
            f"{data_path!r} changed since run {str(run_dir.path)!r} started; resume needs the "
            "same data: restore it or start a new run"
        )
    checkpoint = mark_resumed(run_dir, manifest, console)
    return execute(
        run_dir,
        cfg,
        lambda meter: _stages(run_dir, prepared, checkpoint, callbacks, console, meter),
    )


def _features(samples: Samples, train_rows: np.ndarray) -> Any:
    if samples.kind == "image":
        return image.baseline_features(samples)
    if samples.kind == "text":
        return text.baseline_features(samples, train_rows)
    return series.baseline_features(samples)


def _baselines(
    prepared: ModalPrepared, rows: dict[str, np.ndarray], y: dict[str, np.ndarray]
) -> dict[str, dict[str, np.ndarray]]:
    """Outputs on validation and test of the dummy and a linear model on simple features
    (pooled pixels, TF-IDF, per-channel statistics): what the network must beat (TW-A08)."""
    ds, seed = prepared.dataset, prepared.cfg.seed
    x = _features(prepared.samples, rows["train"])
    out: dict[str, dict[str, np.ndarray]] = {}
    if ds.task == "regression":
        models: dict[str, Any] = {"dummy": DummyRegressor(), "linear": Ridge(alpha=1.0)}
    else:
        models = {
            "dummy": DummyClassifier(strategy="prior"),
            "linear": LogisticRegression(max_iter=2000, C=1.0, random_state=seed),
        }
    for name, model in models.items():
        model.fit(x[rows["train"]], y["train"])
        out[name] = {}
        for split in ("validation", "test"):
            xs = x[rows[split]]
            if ds.task == "regression":
                out[name][split] = np.asarray(model.predict(xs), dtype=np.float64)
            else:
                assert ds.classes is not None
                proba = np.zeros((len(rows[split]), len(ds.classes)))
                proba[:, model.classes_] = model.predict_proba(xs)
                out[name][split] = proba
    return out


def _stages(
    run_dir: RunDir,
    prepared: ModalPrepared,
    checkpoint: Path | None,
    callbacks: Sequence[Callback],
    console: Console,
    meter: EnergyMeter,
) -> None:
    cfg, ds, splits, samples = prepared.cfg, prepared.dataset, prepared.splits, prepared.samples
    meter.start()
    watch = Stopwatch()
    watch.timings["audit"] = round(prepared.audit_seconds, 3)
    findings: list[Finding] = list(prepared.findings)
    rows = {n: splits.indices(n) for n in SPLITS}
    y = {n: ds.y[r] for n, r in rows.items()}
    allowed = sorted({f.id for f in findings if f.severity == "error"})
    counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
    run_dir.update(audit={"counts": counts, "allowed": allowed})
    console.print(
        f"data: {ds.n_rows} {samples.kind} examples, task {ds.task}; split {splits.method}: "
        + "/".join(str(len(r)) for r in rows.values()),
        highlight=False,
    )
    console.print(f"network: {prepared.choice.name} ({prepared.choice.reason})", highlight=False)
    weights, weight_finding = class_weights_for(ds, y["train"], cfg)
    if weight_finding is not None:
        findings.append(weight_finding)
    n_classes = len(ds.classes) if ds.classes is not None else 0
    test = SealedTest(rows["test"])  # TW-D07: opened once, below

    with watch.stage("baselines"):
        baseline_outputs = _baselines(prepared, rows, y)
    with watch.stage("train"):
        result = train_modality(
            samples, prepared.choice, ds.task, rows, y, n_classes, weights, cfg,
            run_path=run_dir.path, resume_from=checkpoint, callbacks=callbacks, console=console,
        )  # fmt: skip
        findings.extend(result.findings)
        write_json(run_dir.history_path, result.state.history)
        run_dir.update(network=result.details)

    with watch.stage("evaluate"):
        val_out = {
            "network": predict_outputs(result.net, samples.select(rows["validation"]))
            .double()
            .numpy(),
            **{name: o["validation"] for name, o in baseline_outputs.items()},
        }
        val_w = None if weights is None else weights[y["validation"]]
        scores = {n: task_metrics(ds.task, y["validation"], o, val_w) for n, o in val_out.items()}
        best = min(scores, key=lambda n: selection_score(ds.task, scores[n]))
        findings.extend(selection_findings(ds.task, scores, best, "network"))
        (test_rows,) = test.open()
        findings.extend(record_test_use(run_dir, cfg, prepared.dataset, prepared.splits))
        test_out = {
            "network": predict_outputs(result.net, samples.select(test_rows)).double().numpy(),
            **{name: o["test"] for name, o in baseline_outputs.items()},
        }
        test_w = None if weights is None else weights[y["test"]]
        test_scores = {n: task_metrics(ds.task, y["test"], o, test_w) for n, o in test_out.items()}
        metrics = {
            "shipped": "network",
            "selection_metric": SELECTION_METRIC[ds.task],
            "validation": scores["network"],
            "test": test_scores["network"],
            "network": {"validation": scores["network"], "test": test_scores["network"]},
            "baselines": {
                n: {"validation": scores[n], "test": test_scores[n]} for n in baseline_outputs
            },
        }
        write_json(run_dir.metrics_path, metrics)
        record_examples(run_dir.path, ds, splits, samples.frame[[samples.key]], test_out["network"])

    with watch.stage("export"):
        classes = list(ds.classes) if ds.classes is not None else None
        tokenizer = (
            samples.encoding["source"]
            if samples.encoding.get("tokenizer") == "pretrained"
            else None
        )
        files = save_modality_model(
            run_dir.model_dir, result.net, samples.encoding, ds.target, classes, tokenizer
        )
        write_findings(run_dir.findings_path, sort_findings(findings))
        run_dir.update(shipped="network", model_files=files)
    meter.stop()
    run_dir.update(timings=watch.timings)
    run_dir.finish("complete")
    with watch.stage("report"):
        write_report(run_dir)
    run_dir.update(timings=watch.timings)
    print_summary(console, run_dir, metrics, ds.task)
