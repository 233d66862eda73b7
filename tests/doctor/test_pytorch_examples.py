"""The healthy scripts rebuilt from pytorch/examples raise no warning under the doctor; one run
under torchrun reports its true finding once, with the ranks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_gloo_job

from trainwell.findings import read_findings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "doctor"))
import run_examples


@pytest.mark.parametrize("name", ["regression", "mnist_rnn", "gcn", "reinforce"])
def test_healthy_example_raises_no_warning(name: str) -> None:
    (script,) = run_examples.scripts(name)
    code, findings = run_examples.run_example(script)
    assert code == 0
    assert run_examples.alarms(findings) == [], [f.message for f in findings]


@pytest.mark.xdist_group("gloo")  # one gloo job at a time: see tests/test_distributed.py
def test_torchrun_example_reports_its_true_finding_once_with_the_ranks(tmp_path: Path) -> None:
    """The DDP tutorial (declares ``TORCHRUN_NPROC = 2``) runs under torchrun, gloo, 2 ranks:
    its one-class cross-entropy (loss always 0) is found, once, though both ranks see it."""
    (script,) = run_examples.scripts("ddp_tutorial_torchrun")
    assert run_examples.command(script)[1:] == [
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        str(script),
    ]
    doctor = [sys.executable, "-m", "trainwell", "doctor", "--json", str(tmp_path / "f.json")]
    job = run_gloo_job(
        lambda: subprocess.run(
            [*doctor, "--", *run_examples.command(script)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    )
    assert job.returncode == 0, job.stderr
    findings = read_findings(tmp_path / "f.json")
    mismatch = [f for f in findings if f.id == "output-loss-mismatch"]
    assert len(mismatch) == 1
    assert mismatch[0].severity == "error"
    assert "single output unit" in mismatch[0].message
    assert mismatch[0].evidence["ranks"] == [0, 1]
