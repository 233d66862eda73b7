"""The healthy scripts rebuilt from pytorch/examples raise no warning under the doctor."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "doctor"))
import run_examples


@pytest.mark.parametrize("name", ["regression", "mnist_rnn", "gcn", "reinforce"])
def test_healthy_example_raises_no_warning(name: str) -> None:
    (script,) = run_examples.scripts(name)
    code, findings = run_examples.run_example(script)
    assert code == 0
    assert run_examples.alarms(findings) == [], [f.message for f in findings]
