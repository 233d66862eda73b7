"""The sealed test set's ledger (TW-D07, TW-H03)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainwell.audit.ledger import TestSetLedger, config_sha256
from trainwell.config import FitConfig
from trainwell.errors import RunError


def test_first_evaluation_is_not_reuse(tmp_path: Path) -> None:
    ledger = TestSetLedger(tmp_path)
    assert ledger.record("t1", config_hash="c1", run_id="run-1") is None
    assert [e["run"] for e in ledger.evaluations("t1")] == ["run-1"]


def test_same_config_again_is_not_reuse(tmp_path: Path) -> None:
    ledger = TestSetLedger(tmp_path)
    ledger.record("t1", config_hash="c1", run_id="run-1")
    assert ledger.record("t1", config_hash="c1", run_id="run-1") is None  # a resumed run
    assert len(ledger.evaluations("t1")) == 2


def test_another_config_on_the_same_test_set_is_reuse(tmp_path: Path) -> None:
    TestSetLedger(tmp_path).record("t1", config_hash="c1", run_id="run-1")
    TestSetLedger(tmp_path).record("t1", config_hash="c1", run_id="run-1b")
    finding = TestSetLedger(tmp_path).record("t1", config_hash="c2", run_id="run-2")
    assert finding is not None
    assert (finding.id, finding.severity, finding.practice) == (
        "test-set-reuse",
        "warning",
        "TW-D07",
    )
    assert finding.evidence["evaluations"] == 3
    assert finding.evidence["configurations"] == 2
    assert finding.evidence["runs"] == ["run-1", "run-1b", "run-2"]
    assert "3 times under 2 different configurations" in finding.message
    assert "validation" in finding.fix


def test_other_test_sets_do_not_count(tmp_path: Path) -> None:
    ledger = TestSetLedger(tmp_path)
    ledger.record("t1", config_hash="c1", run_id="run-1")
    assert ledger.record("t2", config_hash="c2", run_id="run-2") is None


def test_ledger_is_plain_json_in_the_results_folder(tmp_path: Path) -> None:
    ledger = TestSetLedger(tmp_path)
    ledger.record("t1", config_hash="c1", run_id="run-1")
    data = json.loads((tmp_path / ".trainwell" / "test-ledger.json").read_text())
    assert data["version"] == 1
    assert data["test_sets"]["t1"][0]["config"] == "c1"
    leftovers = [p.name for p in (tmp_path / ".trainwell").iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_corrupt_ledger_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / ".trainwell" / "test-ledger.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(RunError, match="delete it to start a new one"):
        TestSetLedger(tmp_path).record("t1", config_hash="c1", run_id="run-1")


def test_config_hash_ignores_logging_but_not_training() -> None:
    base = FitConfig()
    quiet = base.model_copy(update={"logging": base.logging.model_copy(update={"progress": False})})
    faster = base.model_copy(update={"train": base.train.model_copy(update={"lr": 0.01})})
    assert config_sha256(base) == config_sha256(quiet)
    assert config_sha256(base) != config_sha256(faster)


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    """Eight threads record at once; the file lock keeps every entry."""
    from concurrent.futures import ThreadPoolExecutor

    def record(i: int) -> None:
        TestSetLedger(tmp_path).record("t1", config_hash="c1", run_id=f"run-{i}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(record, range(24)))
    runs = sorted(e["run"] for e in TestSetLedger(tmp_path).evaluations("t1"))
    assert runs == sorted(f"run-{i}" for i in range(24))
