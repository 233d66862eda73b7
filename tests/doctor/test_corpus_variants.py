"""The doctor corpus names, case by case, why a framework variant does not apply."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCORE = Path(__file__).resolve().parents[2] / "benchmarks" / "doctor" / "score.py"


@pytest.fixture(scope="module")
def score():
    spec = importlib.util.spec_from_file_location("doctor_corpus_score", SCORE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_case_outside_a_framework_says_why(score) -> None:
    faulty = [p for p in score.SCRIPTS.glob("*.py") if not p.name.startswith(("_", "healthy"))]
    assert len(faulty) >= 72
    for variant in score.FRAMEWORK_EXCLUDED:
        applied = [p for p in faulty if score.applies(p, variant)]
        reasons = {p.stem: score.framework_reason(p, variant) for p in faulty}
        assert len(applied) + sum(r is not None for r in reasons.values()) == len(faulty)
        assert all(r is None or len(r) > 20 for r in reasons.values())
    # Every own-loop reason names an existing case that really keeps its own loop.
    for stem in score.LOOP_ONLY:
        text = (score.SCRIPTS / f"{stem}.py").read_text()
        assert not score._FIT_CALL.search(text), stem


def test_an_own_loop_case_without_a_reason_is_refused(score, tmp_path: Path) -> None:
    script = tmp_path / "lrhigh-own-loop.py"
    script.write_text("for epoch in range(3):\n    pass\n")
    with pytest.raises(ValueError, match="own loop without a reason"):
        score.framework_reason(script, "lightning")
