"""``trainwell monitor RUN_DIR``: drift, live accuracy and the A/B verdict from the served log.

Reads ``RUN_DIR/serve/log.jsonl`` (written by ``trainwell serve``, see
:mod:`trainwell.serve.service`): the answered rows in windows of ``window`` rows, each window's
features and predictions tested against ``train_profile.json`` (:mod:`trainwell.serve.drift`),
live accuracy per window where feedback arrived, the A/B test (:mod:`trainwell.serve.abtest`),
and whether retraining is advised (TW-P06): when the last full window drifted on any feature or
on the predictions, or its live accuracy fell more than :data:`ACCURACY_DROP` below the run's
test accuracy (for a regression: its live mean absolute error rose past :data:`ERROR_RISE`
times the test one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainwell.errors import ConfigError, RunError
from trainwell.run import load
from trainwell.run_files import read_metrics, read_run_json
from trainwell.serve.abtest import CANDIDATE, CONTROL, HORIZON, Verdict, ab_verdict, is_right
from trainwell.serve.drift import PREDICTION, WINDOW, Drift, drift_report
from trainwell.serve.profile import PROFILE_JSON
from trainwell.serve.service import LOG_DIR, LOG_FILE, log_files

ACCURACY_DROP = 0.05
ERROR_RISE = 1.5  # a live mean absolute error this many times the test one advises retraining
MIN_LABELLED = 50  # labelled rows a window needs before its accuracy is judged


@dataclass
class Window:
    """One window of answered rows: its drift tests and live accuracy, or for a regression
    its live mean absolute error (None: too few labels)."""

    first: int
    rows: int
    drift: list[Drift]
    labelled: int
    accuracy: float | None
    error: float | None = None


@dataclass
class MonitorReport:
    run: str
    rows: int
    windows: list[Window]
    test_accuracy: float | None
    verdict: Verdict | None
    advice: list[str] = field(default_factory=list)
    profile: bool = True
    modality: str = "table"
    test_error: float | None = None  # a regression's test mean absolute error

    @property
    def retrain(self) -> bool:
        return bool(self.advice)


def read_log(run_dir: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The prediction lines (in order, across the rotated files oldest first) and
    {id: label} of the feedback lines.

    Raises:
        RunError: no served log, or a line that is not JSON.
    """
    files = log_files(run_dir)
    if not files:
        path = run_dir / LOG_DIR / LOG_FILE
        raise RunError(
            f"{str(path)!r} does not exist: serve the run first (trainwell serve {run_dir})"
        )
    predictions, labels = [], {}
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    if path == files[-1] and number > 1 and not line.endswith("\n"):
                        break  # the server is writing this last line right now
                    raise RunError(f"{str(path)!r} line {number} is not JSON") from None
                if record.get("type") == "prediction":
                    predictions.append(record)
                elif record.get("type") == "feedback":
                    labels[record["id"]] = record["label"]
    return predictions, labels


def build_report(run_dir: Path, *, window: int = WINDOW, horizon: int = HORIZON) -> MonitorReport:
    """The monitor's findings for ``run_dir`` (see the module docstring).

    Raises:
        RunError: not a run, or no served log; ConfigError: ``window`` or ``horizon`` < 1.
    """
    if window < 1 or horizon < 1:
        raise ConfigError("--window and --horizon must be at least 1")
    run = load(run_dir)
    predictions, labels = read_log(run.path)
    profile = None
    if (run.path / PROFILE_JSON).is_file():
        profile = read_run_json(run.path, PROFILE_JSON)
    regression = run.manifest.get("data", {}).get("task") == "regression"
    answered = [p for p in predictions if not p.get("shadow") and p["variant"] == CONTROL]
    if not answered:  # A/B: the control's rows; else whatever answered
        answered = [p for p in predictions if not p.get("shadow")]
    windows = []
    for start in range(0, len(answered), window):
        chunk = answered[start : start + window]
        drift = []
        if profile is not None:
            columns: dict[str, list[Any]] = {name: [] for name in profile["features"]}
            for record in chunk:
                # A row's drift features: logged beside its inputs where they are not the
                # inputs themselves (a text's length ...), else its inputs (a table's columns).
                for name, value in record.get("features", record["inputs"]).items():
                    if name in columns:
                        columns[name].append(value)
            columns[PREDICTION] = [r["prediction"] for r in chunk]
            drift = drift_report(profile, columns)
        known = [r for r in chunk if r["id"] in labels]
        accuracy = None
        if not regression and len(known) >= MIN_LABELLED:
            right = sum(is_right(r["prediction"], labels[r["id"]]) for r in known)
            accuracy = right / len(known)
        error = None
        if regression and len(known) >= MIN_LABELLED:
            error = sum(abs(float(r["prediction"]) - float(labels[r["id"]])) for r in known)
            error /= len(known)
        windows.append(Window(start, len(chunk), drift, len(known), accuracy, error))
    metrics = read_metrics(run.path)
    test_accuracy = metrics.get("test", {}).get("accuracy") if not regression else None
    verdict = None
    if any(p["variant"] == CANDIDATE for p in predictions):
        pairs = [
            (p["variant"], p["prediction"], labels[p["id"]])
            for p in predictions
            if p["id"] in labels
        ]
        verdict = ab_verdict(pairs, regression=regression, horizon=horizon)
    report = MonitorReport(
        run.path.name, len(answered), windows, test_accuracy, verdict, profile=profile is not None
    )
    spec = run.model.spec
    report.modality = spec.modality
    if regression:
        report.test_error = metrics.get("test", {}).get("mae")
    report.advice = advice(report, window)
    return report


def advice(report: MonitorReport, window: int) -> list[str]:
    """Why retraining is advised (empty: it is not), from the last judged window."""
    judged = [w for w in report.windows if any(d.drifted is not None for d in w.drift)]
    reasons = []
    if judged:
        last = judged[-1]
        moved = [d.feature for d in last.drift if d.drifted]
        if moved:
            reasons.append(
                f"rows {last.first + 1}-{last.first + last.rows} drifted from the training "
                f"split on {', '.join(moved)}"
            )
    scored = [w for w in report.windows if w.accuracy is not None]
    if scored and report.test_accuracy is not None:
        last = scored[-1]
        assert last.accuracy is not None
        if last.accuracy < report.test_accuracy - ACCURACY_DROP:
            reasons.append(
                f"live accuracy {last.accuracy:.3f} on rows {last.first + 1}-"
                f"{last.first + last.rows} is below the test accuracy {report.test_accuracy:.3f}"
            )
    errors = [w for w in report.windows if w.error is not None]
    if errors and report.test_error:
        last = errors[-1]
        assert last.error is not None
        if last.error > ERROR_RISE * report.test_error:
            reasons.append(
                f"live mean absolute error {last.error:.4g} on rows {last.first + 1}-"
                f"{last.first + last.rows} is over {ERROR_RISE}x the test one "
                f"({report.test_error:.4g})"
            )
    return reasons


def format_report(report: MonitorReport) -> str:
    lines = [f"run {report.run}: {report.rows} answered rows in {len(report.windows)} window(s)"]
    if not report.profile:
        lines.append(
            f"no {PROFILE_JSON} in this {report.modality} run (fitted before trainwell wrote "
            "it): drift is not tested (live accuracy and the A/B test are); refit to get it"
        )
    for w in report.windows:
        head = f"rows {w.first + 1}-{w.first + w.rows}:"
        judged = [d for d in w.drift if d.drifted is not None]
        if w.drift and not judged:
            head += " too few rows to test drift;"
        elif judged:
            moved = [d for d in judged if d.drifted]
            head += (
                " drift on "
                + ", ".join(f"{d.feature} (PSI {d.psi:.2f}, p {d.p_value:.1e})" for d in moved)
                + ";"
                if moved
                else " no drift;"
            )
        if w.accuracy is not None:
            head += f" live accuracy {w.accuracy:.3f} ({w.labelled} labelled)"
        elif w.error is not None:
            head += f" live mean absolute error {w.error:.4g} ({w.labelled} labelled)"
        elif w.labelled:
            head += f" {w.labelled} labelled (too few to score)"
        lines.append(head)
    if report.test_accuracy is not None:
        lines.append(f"test accuracy at training: {report.test_accuracy:.3f}")
    if report.test_error is not None:
        lines.append(f"test mean absolute error at training: {report.test_error:.4g}")
    if report.verdict is not None:
        v = report.verdict
        lines.append(f"A/B test (B = candidate): {v.verdict}: {v.reason}")
    last = report.windows[-1] if report.windows else None
    # Only what the last window measured is claimed (found by trying trainwell: one served
    # row read "too few rows to test drift", then "not advised: no drift").
    measured = []
    if last is not None and any(d.drifted is not None for d in last.drift):
        measured.append("no drift")
    if last is not None and (last.accuracy is not None or last.error is not None):
        measured.append("no accuracy drop")
    if report.advice:
        lines.append("retraining advised: " + "; ".join(report.advice))
    elif measured:
        lines.append(f"retraining not advised: {' and '.join(measured)} in the last window")
    else:
        lines.append(
            "retraining: no verdict yet: the last window has too few rows to test drift and "
            "too few labels to score"
        )
    return "\n".join(lines)


def monitor_report(run_dir: Path, *, window: int = WINDOW, horizon: int = HORIZON) -> str:
    """The text ``trainwell monitor`` prints.

    Raises:
        RunError: not a run, or no served log.
    """
    return format_report(build_report(run_dir, window=window, horizon=horizon))
