"""Task inference on real small tables: a measured quantity is a regression target (issue 21)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_linnerud

from trainwell.config import DataConfig
from trainwell.data import build_dataset


def _linnerud() -> pd.DataFrame:
    bunch = load_linnerud(as_frame=True)
    return pd.concat([bunch.data, bunch.target], axis=1)  # type: ignore[attr-defined]


def test_a_measured_integer_target_on_few_rows_is_read_as_regression() -> None:
    frame = _linnerud()  # 20 rows; Weight takes 17 integer values between 138 and 247
    assert len(frame) == 20
    assert frame["Weight"].nunique() > 10
    data = build_dataset(
        frame.drop(columns=["Waist", "Pulse"]), DataConfig(target="Weight"), "l", "-"
    )
    assert data.task == "regression"
    [finding] = [f for f in data.findings if f.id == "task-inferred"]
    assert "regression" in finding.message
    assert "--task" in finding.fix
    assert finding.evidence["distinct_values"] == frame["Weight"].nunique()


def test_an_integer_class_code_stays_classification() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "grade": np.arange(40) % 5})  # 0..4
    data = build_dataset(frame, DataConfig(target="grade"), "g", "-")
    assert data.task == "multiclass"
    assert data.classes == (0, 1, 2, 3, 4)
    assert not [f for f in data.findings if f.id == "task-inferred"]


def test_numeric_classes_too_rare_to_split_suggest_regression() -> None:
    from trainwell.config import SplitConfig
    from trainwell.errors import DataError
    from trainwell.split import make_splits

    frame = _linnerud().drop(columns=["Waist", "Pulse"])
    data = build_dataset(frame, DataConfig(target="Weight", task="classification"), "l", "-")
    with pytest.raises(DataError, match="pass --task regression"):
        make_splits(data, SplitConfig(), seed=0)
