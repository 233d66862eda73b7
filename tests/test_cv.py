"""``split.cv=K`` (TW-D05): folds over train+validation only, whole groups per fold, the
spread of the validation metrics; ``tune`` scores a trial by its CV mean."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from trainwell.config import options_config
from trainwell.cv import cross_validate, cv_folds
from trainwell.errors import ConfigError, DataError
from trainwell.pipeline import Prepared, prepare
from trainwell.tune.trials import TrialWatch, score_cv

FAST = ["train.max_epochs=2", "logging.progress=false", "train.lr=0.01", "model.width=16",
        "doctor.overfit_batch=false"]  # fmt: skip


def frame(n_groups: int = 30, per_group: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = n_groups * per_group
    x = rng.normal(size=(n, 2))
    return pd.DataFrame(
        {
            "a": x[:, 0],
            "b": x[:, 1],
            "g": np.repeat([f"g{i}" for i in range(n_groups)], per_group),
            "t": np.arange(n),
            "y": (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int),
        }
    )


@pytest.fixture(scope="module")
def grouped() -> Prepared:
    cfg = options_config(None, [*FAST, "split.cv=3"], target="y", spec={"group": "g"})
    return prepare(frame().drop(columns="t"), cfg)


def test_folds_keep_groups_whole_and_the_test_split_out(grouped: Prepared) -> None:
    ds, splits = grouped.dataset, grouped.splits
    groups = ds.frame["g"].to_numpy()
    folds = cv_folds(ds, splits, 3, seed=0)
    assert len(folds) == 3
    test = set(splits.test.tolist())
    validated = []
    for train, validation in folds:
        assert set(groups[train]).isdisjoint(groups[validation])  # no group on both sides
        assert test.isdisjoint(train.tolist())
        assert test.isdisjoint(validation.tolist())
        validated.extend(validation.tolist())
    # Every training and validation row is validated exactly once.
    assert sorted(validated) == sorted([*splits.train.tolist(), *splits.validation.tolist()])


def test_cv_records_mean_and_spread_of_the_folds(grouped: Prepared) -> None:
    cv = cross_validate(grouped)
    assert cv["k"] == 3
    assert len(cv["folds"]) == 3
    for key in ("val_loss", "val_accuracy"):
        values = [f[key] for f in cv["folds"]]
        assert cv["summary"][key]["folds"] == values
        assert cv["summary"][key]["mean"] == pytest.approx(np.mean(values))
        assert cv["summary"][key]["std"] == pytest.approx(np.std(values, ddof=1))
    assert sum(f["validation_rows"] for f in cv["folds"]) == len(grouped.splits.train) + len(
        grouped.splits.validation
    )


def test_a_trial_is_scored_by_its_cv_mean(grouped: Prepared) -> None:
    study = optuna.create_study(direction="minimize")
    trial = study.ask()
    outcome = score_cv(grouped, lambda offset: TrialWatch(trial, offset))
    assert outcome.value is not None
    assert np.isfinite(outcome.value)
    steps = set(study.trials[0].intermediate_values)  # reported epochs of all 3 folds
    assert steps == {fold * 2 + epoch for fold in range(3) for epoch in range(2)}
    assert outcome.epochs == 6


@pytest.mark.parametrize(
    ("overrides", "kwargs", "error", "message"),
    [
        (["split.cv=1"], {}, ConfigError, "1 fold is no cross-validation"),
        (["split.cv=3"], {"time": "t"}, ConfigError, "split by time"),
        (["split.cv=20"], {"group": "g"}, DataError, "groups"),
    ],
)
def test_bad_cv_is_refused_before_training(
    overrides: list[str], kwargs: dict[str, str], error: type[Exception], message: str
) -> None:
    data = frame(n_groups=15, per_group=4) if "group" in kwargs else frame()
    with pytest.raises(error, match=message):
        prepare(data, options_config(None, [*FAST, *overrides], target="y", spec=kwargs))  # type: ignore[arg-type]
