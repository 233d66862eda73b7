"""``trainwell compare``: what changed between runs, and whether the difference is real (TW-X13).

Runs are compared on the same test rows (the manifests' test-split hashes must match; other
rows would make any difference partly a difference of rows). For each run: the config keys
that differ from the first run, its shipped model's test metrics with 95% intervals
(:func:`trainwell.report.intervals.metric_intervals`: Wilson for accuracy), and, against the
first run, a paired test on the same rows:

* accuracy: McNemar's exact test, the two-sided binomial test of the discordant rows (rows one
  model gets right and the other wrong; ``scipy.stats.binomtest``), as in Dietterich 1998,
  "Approximate statistical tests for comparing supervised classification learning algorithms";
* every other metric: a paired bootstrap (the same resampled rows for both runs) of the
  difference, its 95% percentile interval; real when the interval excludes 0.

When more than one config key changed between two runs, a difference cannot be pinned on any
one of them: the comparison says so (TW-X13).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainwell.errors import RunError

ALPHA = 0.05
RESAMPLES = 1999
# Sections that do not change the model: differences there are shown, never counted as
# "more than one thing changed".
NOT_MODEL = ("logging.", "report.")


@dataclass
class PairedTest:
    """One metric of run B against run A on the same rows."""

    metric: str
    a: float
    b: float
    method: str
    p_value: float | None = None
    interval: tuple[float, float] | None = None  # of b - a
    real: bool = False
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "interval": list(self.interval) if self.interval else None}


def mcnemar(y: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> PairedTest:
    """McNemar's exact test of two classifiers' accuracy on the same rows.

    Args:
        y: (n,) true class indices. pred_a, pred_b: (n,) predicted class indices.

    Returns:
        The test: ``real`` when the exact two-sided p-value is below 0.05.
    """
    from scipy.stats import binomtest

    right_a, right_b = pred_a == y, pred_b == y
    only_a = int((right_a & ~right_b).sum())
    only_b = int((~right_a & right_b).sum())
    discordant = only_a + only_b
    p = float(binomtest(only_b, discordant, 0.5).pvalue) if discordant else 1.0
    return PairedTest(
        "accuracy", float(right_a.mean()), float(right_b.mean()), "McNemar exact",
        p_value=p, real=p < ALPHA,
        detail=f"{discordant} discordant rows of {len(y)}: {only_a} only A got right, "
        f"{only_b} only B",
    )  # fmt: skip


def paired_bootstrap(
    metric: str,
    task: str,
    y: np.ndarray,
    out_a: np.ndarray,
    out_b: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedTest:
    """The difference of ``metric`` (B - A) over the same bootstrap resamples of the rows;
    real when its 95% percentile interval excludes 0.

    Args:
        metric: a key of :func:`trainwell.report.intervals.statistics` for the task.
        y: (n,) targets; out_a, out_b: (n, K) probabilities or (n,) values of the two runs.
    """
    from trainwell.report.intervals import statistics

    fa, fb = statistics(task, y, out_a)[metric], statistics(task, y, out_b)[metric]
    rows = np.arange(len(y))
    a, b = float(fa(rows[None, :])[0]), float(fb(rows[None, :])[0])
    rng = np.random.default_rng(seed)
    diffs: list[np.ndarray] = []
    for start in range(0, resamples, 200):
        idx = rng.integers(0, len(y), size=(min(200, resamples - start), len(y)))
        diffs.append(np.asarray(fb(idx)) - np.asarray(fa(idx)))
    d = np.concatenate(diffs)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return PairedTest(metric, a, b, "paired bootstrap", detail="undefined on these rows")
    low, high = (float(v) for v in np.percentile(d, [2.5, 97.5]))
    p = float(min(1.0, 2 * min((d <= 0).mean(), (d >= 0).mean())))
    return PairedTest(
        metric, a, b, f"paired bootstrap, {resamples} resamples", p_value=p,
        interval=(low, high), real=not (low <= 0.0 <= high),
    )  # fmt: skip


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class Comparison:
    runs: list[str]
    differs: dict[str, list[Any]]  # config key -> value per run (only keys that differ)
    metrics: list[dict[str, Any]]  # per run: shipped model, test metrics, intervals
    tests: list[list[PairedTest]]  # per run after the first: against the first
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "differs": self.differs,
            "metrics": self.metrics,
            "tests": [[t.to_dict() for t in ts] for ts in self.tests],
            "warnings": self.warnings,
        }


def _load(path: Path) -> dict[str, Any]:
    from trainwell.analysis.predictions import read_test_predictions
    from trainwell.run_files import read_manifest, read_metrics

    manifest = read_manifest(path)
    if manifest.get("status") != "complete":
        raise RunError(f"run {str(path)!r} is {manifest.get('status')}, not complete")
    saved = read_test_predictions(path)
    if saved is None:
        raise RunError(f"run {str(path)!r} has no test predictions (predictions/test.parquet)")
    return {"manifest": manifest, "metrics": read_metrics(path), "predictions": saved[0]}


def outputs_of(task: str, predictions: Any) -> np.ndarray:
    if task == "regression":
        return np.asarray(predictions["y_pred"], dtype=float)
    columns = sorted(
        (c for c in predictions.columns if c.startswith("p_")), key=lambda c: int(c[2:])
    )
    return np.asarray(predictions[columns], dtype=float)


def compare_runs(paths: list[Path]) -> Comparison:
    """Compare finished runs on their shared test rows (the first run is the reference).

    Raises:
        RunError: fewer than two runs, a run that is not complete, or runs evaluated on
            different test rows (their test-split hashes differ) or tasks.
    """
    from trainwell.report.intervals import metric_intervals
    from trainwell.report.sections.common import metric_keys

    if len(paths) < 2:
        raise RunError("compare needs at least two run directories")
    runs = [_load(p) for p in paths]
    first = runs[0]["manifest"]
    test_hash = first["splits"]["hashes"]["test"]
    task = first["data"]["task"]
    for path, run in zip(paths[1:], runs[1:], strict=True):
        if run["manifest"]["splits"]["hashes"]["test"] != test_hash:
            raise RunError(
                f"{str(path)!r} was tested on other rows than {str(paths[0])!r} (their test "
                "split hashes differ); a paired comparison needs the same test rows: the same "
                "data, seed and split settings"
            )
        if run["manifest"]["data"]["task"] != task:
            raise RunError(f"{str(path)!r} is a {run['manifest']['data']['task']} task, not {task}")
    configs = [_flat(r["manifest"]["config"]) for r in runs]
    keys = sorted(set().union(*configs))
    differs = {
        k: [c.get(k) for c in configs] for k in keys if len({repr(c.get(k)) for c in configs}) > 1
    }
    warnings = []
    for path, config in zip(paths[1:], configs[1:], strict=True):
        changed = [
            k for k in differs if not k.startswith(NOT_MODEL) and config.get(k) != configs[0].get(k)
        ]
        if len(changed) > 1:
            warnings.append(
                f"{path.name} differs from {paths[0].name} in {len(changed)} config keys "
                f"({', '.join(changed)}): a difference cannot be pinned on one of them; "
                "change one thing at a time (TW-X13)"
            )
    reference = runs[0]["predictions"]
    y = np.asarray(reference["y_true"])
    keys_shown = metric_keys(task)
    metrics, tests = [], []
    for i, run in enumerate(runs):
        pred = run["predictions"].loc[reference.index]  # the same rows, in the same order
        out = outputs_of(task, pred)
        intervals = metric_intervals(task, y, out, keys_shown, RESAMPLES, seed=0)
        metrics.append(
            {
                "run": paths[i].name,
                "shipped": run["metrics"].get("shipped"),
                "test": {k: run["metrics"]["test"].get(k) for k in keys_shown},
                "intervals": {k: [v.low, v.high] for k, v in intervals.items()},
            }
        )
        if i == 0:
            continue
        base = outputs_of(task, reference)
        found = []
        for key in keys_shown:
            if key == "accuracy":
                found.append(mcnemar(y, base.argmax(axis=1), out.argmax(axis=1)))
            else:
                found.append(paired_bootstrap(key, task, y, base, out))
        tests.append(found)
    warnings += _network_not_shipped(paths, runs, differs, keys_shown[0])
    return Comparison([p.name for p in paths], differs, metrics, tests, warnings)


def _network_not_shipped(
    paths: list[Path], runs: list[dict[str, Any]], differs: dict[str, Any], key: str
) -> list[str]:
    """When every run ships the same baseline, keys that change only the network (model.*,
    train.*) change none of the models compared: say so, with the networks' own test
    ``key`` (found by trying trainwell: 7 network keys differed, every metric "within noise",
    both runs shipping the linear baseline)."""
    shipped = {run["metrics"].get("shipped") for run in runs}
    network_keys = [k for k in differs if k.split(".")[0] in {"model", "train"}]
    if len(shipped) != 1 or "network" in shipped or not network_keys:
        return []
    scores = []
    for path, run in zip(paths, runs, strict=True):
        value = (run["metrics"].get("network") or {}).get("test", {}).get(key)
        scores.append(f"{path.name} {value:.4g}" if isinstance(value, int | float) else path.name)
    return [
        f"every run ships its {shipped.pop()} baseline, so {', '.join(network_keys)} (which "
        f"change the network) leave the compared models as they were; the networks' own test "
        f"{key}: {', '.join(scores)} (metrics.json: network)"
    ]


def format_comparison(c: Comparison) -> str:
    """The comparison as plain text: config differences, metrics, paired tests, warnings."""
    lines = ["config keys that differ:"]
    if not c.differs:
        lines.append("  (none)")
    for key, values in c.differs.items():
        lines.append(
            f"  {key}: " + " | ".join(f"{r}={v}" for r, v in zip(c.runs, values, strict=True))
        )
    lines.append("test metrics (shipped model, 95% interval):")
    for m in c.metrics:
        parts = []
        for k, v in m["test"].items():
            if v is None:
                continue
            low, high = m["intervals"].get(k, [None, None])
            ci = f" [{low:.4g}, {high:.4g}]" if low is not None and high is not None else ""
            parts.append(f"{k} {v:.4g}{ci}")
        lines.append(f"  {m['run']} ({m['shipped']}): " + ", ".join(parts))
    for run, found in zip(c.runs[1:], c.tests, strict=True):
        lines.append(f"{run} vs {c.runs[0]} (paired, on the same test rows):")
        for t in found:
            verdict = "REAL difference" if t.real else "within noise"
            p = f", p={t.p_value:.3g}" if t.p_value is not None else ""
            ci = (
                f", 95% interval of B-A [{t.interval[0]:.4g}, {t.interval[1]:.4g}]"
                if t.interval
                else ""
            )
            detail = f" ({t.detail})" if t.detail else ""
            lines.append(
                f"  {t.metric}: {t.a:.4g} -> {t.b:.4g}: {verdict} [{t.method}{p}{ci}]{detail}"
            )
    lines += [f"warning: {w}" for w in c.warnings]
    return "\n".join(lines)
