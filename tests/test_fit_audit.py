"""The audit inside fit: leaks stop the run, --allow proceeds, test-set reuse is counted."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import FAST, run_cli


@pytest.fixture(scope="module")
def leaky(data_dir: Path) -> Path:
    frame = pd.read_csv(data_dir / "breast_cancer.csv")
    frame["leak"] = frame["target"] * 2 + 1  # a feature computed from the target
    path = data_dir / "leaky.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_planted_leak_stops_fit_with_one_line_and_exit_2(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        ["fit", str(leaky), "--target", "target", "--out", str(tmp_path / "run"), *FAST], capsys
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "target-leakage (TW-D06)" in err
    assert "'leak'" in err
    assert err.count("--allow target-leakage") == 1  # its fix names it; not told twice
    assert not (tmp_path / "run").exists()


def test_allow_proceeds_and_the_manifest_records_it(
    leaky: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, _, err = run_cli(
        [
            "fit",
            str(leaky),
            "--target",
            "target",
            "--out",
            str(out),
            "--allow",
            "target-leakage",
            "--allow",
            "target-leakag",  # a typo: said, not silently taken
            *FAST,
        ],
        capsys,
    )
    assert code == 0, err
    assert "--allow target-leakage matched" not in err
    assert (
        "warning: --allow target-leakag matched no finding of this audit (did you mean "
        "'target-leakage'?)" in " ".join(err.split())
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["audit"]["allowed"] == ["target-leakage"]
    assert manifest["config"]["audit"]["allow"] == ["target-leakage", "target-leakag"]
    findings = json.loads((out / "findings.json").read_text())
    assert findings[0]["id"] == "target-leakage"  # errors first
    assert findings[0]["evidence"]


def test_evaluating_the_test_set_again_with_another_config_is_flagged(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = str(data_dir / "wine.csv")
    first = ["fit", data, "--target", "target", "--out", str(tmp_path / "a"), *FAST]
    assert run_cli(first, capsys)[0] == 0
    same = ["fit", data, "--target", "target", "--out", str(tmp_path / "b"), *FAST]
    assert run_cli(same, capsys)[0] == 0  # the same configuration again is not tuning on test
    assert "test-set-reuse" not in (tmp_path / "b" / "findings.json").read_text()
    changed = [
        "fit",
        data,
        "--target",
        "target",
        "--out",
        str(tmp_path / "c"),
        *FAST,
        "train.lr=3e-3",
    ]
    code, out, err = run_cli(changed, capsys)
    assert code == 0, err
    findings = {f["id"]: f for f in json.loads((tmp_path / "c" / "findings.json").read_text())}
    assert findings["test-set-reuse"]["practice"] == "TW-D07"
    # Found after the audit's line was printed, it is recapped under the metrics (a user
    # trying trainwell saw "0 warnings" and nothing else while findings.json held it).
    printed = " ".join((out + err).split())
    assert "after the audit: " in printed
    assert "warning (evaluate): test-set-reuse: This test set has now been evaluated 3" in printed
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["test_set"]["evaluations"] == 3


def test_audit_command_prints_a_table_or_json(
    leaky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["audit", str(leaky), "--target", "target"], capsys)
    assert code == 0, err
    assert "target-leakage" in out
    assert "TW-D06" in out
    code, out, _ = run_cli(["audit", str(leaky), "--target", "target", "--format", "json"], capsys)
    assert code == 0
    findings = json.loads(out)
    assert {"id", "practice", "severity", "stage", "message", "evidence", "fix"} <= set(findings[0])
    assert findings[0]["severity"] == "error"
    code, _, err = run_cli(["audit", str(leaky), "--target", "target", "--format", "xml"], capsys)
    assert code == 2
    assert "--format must be text or json" in err
