"""Parameter importances from few trials carry a caveat (found by trying trainwell: fANOVA
importances to three decimals from two trials, shown without one)."""

from __future__ import annotations

import optuna
import pytest

from trainwell.tune.summary import FEW_TRIALS, importances


def _study(n: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1e-1, log=True) ** 0.5
                   + 0.01 * t.suggest_int("depth", 1, 4), n_trials=n)  # fmt: skip
    return study


@pytest.mark.parametrize("n", [3, FEW_TRIALS])
def test_importances_from_few_trials_say_so(n: int) -> None:
    found, note = importances(_study(n))
    assert set(found) == {"lr", "depth"}
    caveat = f"from {n} completed trials"
    if n < FEW_TRIALS:
        assert note is not None
        assert note.startswith(caveat)
        assert "rough ranking" in note
    else:
        assert note is None or caveat not in note
