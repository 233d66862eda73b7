"""``trainwell fit`` end to end with ``split.cv=5`` and ``ensemble.size=3``: the CV estimate is
in ``metrics.json`` with the test split held out of every fold, and the shipped ensemble is
what ``trainwell.load(run).predict`` and ``trainwell predict`` use: the average of its
members, each loaded from its own file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from safetensors.torch import load_file

import trainwell
from trainwell import pipeline
from trainwell.candidates import load_network
from trainwell.modalities.base import Samples, predict_outputs
from trainwell.pipeline import Prepared

FAST = [
    "train.max_epochs=2",
    "model.width=16",
    "model.depth=1",
    "train.lr=0.01",
    "logging.progress=false",
    "logging.tensorboard=false",
    "doctor.overfit_batch=false",
    "report.bootstrap=0",
    "report.energy=false",
    "report.importance_repeats=1",
    "report.explain_examples=0",
    "baselines.lightgbm_rounds=20",
    "split.cv=5",
    "ensemble.size=3",
    "baselines.ship=ensemble",  # the ensemble ships whether or not it won on this tiny run
]


@pytest.fixture(scope="module")
def fitted(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[trainwell.Run, list[np.ndarray], np.ndarray]:
    """One fit; while cross-validation runs, every row subset is recorded and the sealed
    test split's accessor raises."""
    out = tmp_path_factory.mktemp("fit") / "run"
    seen: list[np.ndarray] = []
    test_rows: list[np.ndarray] = []
    cross_validate = pipeline.cross_validate
    subset = Samples.subset

    def spy(self: Samples, rows: Any) -> Samples:
        seen.append(np.asarray(rows))
        return subset(self, rows)

    def sealed(self: Prepared) -> Any:
        raise AssertionError("cross-validation opened the sealed test split")

    def watched(prepared: Prepared, lr: float | None = None) -> dict[str, Any]:
        test_rows.append(prepared.splits.indices("test"))
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(Prepared, "sealed_test", sealed)
            mp.setattr(Samples, "subset", spy)
            return cross_validate(prepared, lr)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "cross_validate", watched)
        run = trainwell.fit(str(data_dir / "wine.csv"), "target", out=out, overrides=FAST,
                            quiet=True)  # fmt: skip
    assert len(test_rows) == 1, "the CV stage did not run"
    return run, seen, test_rows[0]


def test_cv_writes_per_fold_scores_and_an_interval(
    fitted: tuple[trainwell.Run, list[np.ndarray], np.ndarray],
) -> None:
    run, _, test = fitted
    cv = run.metrics["cv"]
    assert cv["k"] == 5
    assert len(cv["folds"]) == 5
    n_rest = 178 - len(test)  # every row not in the test split is validated exactly once
    assert sum(f["validation_rows"] for f in cv["folds"]) == n_rest
    for fold in cv["folds"]:
        assert fold["train_rows"] + fold["validation_rows"] == n_rest
    loss = cv["summary"]["val_loss"]
    assert loss["folds"] == [f["val_loss"] for f in cv["folds"]]
    assert loss["mean"] == pytest.approx(np.mean(loss["folds"]))
    low, high = loss["interval"]
    assert low < loss["mean"] < high  # the folds differ, so the interval has width
    # Student t with 4 degrees of freedom: half-width 2.776 * std / sqrt(5).
    assert high - loss["mean"] == pytest.approx(2.7764451 * loss["std"] / np.sqrt(5), rel=1e-5)
    html = (run.path / "report.html").read_text()
    assert 'data-key="cv.val_loss.interval"' in html  # the report's tuning section shows it


def test_cv_never_reads_the_test_split(
    fitted: tuple[trainwell.Run, list[np.ndarray], np.ndarray],
) -> None:
    _, seen, test = fitted
    assert seen, "the spy saw no row subsets: it did not watch the folds"
    touched = set(np.concatenate(seen).tolist())
    assert touched.isdisjoint(test.tolist())
    assert len(touched) == 178 - len(test)  # and every other row took part


def _members_average(run: trainwell.Run, frame: pd.DataFrame) -> np.ndarray:
    """Each member rebuilt from model.json and its own safetensors file, outputs averaged."""
    folder = run.path / "model"
    spec = json.loads((folder / "model.json").read_text())
    names = spec["network"]["members"]
    assert len(names) == 3
    inputs = run.model.samples(frame).inputs  # the shipped encoding, as predict applies it
    outs = []
    for name in names:
        net = load_network(spec["network"])
        net.load_state_dict(load_file(str(folder / name)))
        outs.append(predict_outputs(net.eval(), inputs).double().numpy())
    assert not np.allclose(outs[0], outs[1])  # different seeds: different members
    return np.mean(outs, axis=0)


def test_shipped_ensemble_is_what_predict_uses(
    fitted: tuple[trainwell.Run, list[np.ndarray], np.ndarray],
    data_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run, _, _ = fitted
    assert run.metrics["shipped"] == "ensemble"
    assert run.model.spec.kind == "ensemble"
    assert any(f.id.startswith("ensemble-") and f.practice == "TW-H04" for f in run.findings)
    frame = pd.read_csv(data_dir / "wine.csv").drop(columns=["target"]).head(40)
    expected = _members_average(run, frame)
    classes = run.model.spec.classes
    assert classes is not None
    columns = [f"proba_{c}" for c in classes]
    table = run.predict(frame)
    np.testing.assert_allclose(table[columns].to_numpy(), expected, atol=1e-6)
    (tmp_path / "x.csv").write_text(frame.to_csv(index=False))
    out = tmp_path / "pred.csv"
    code, _, err = run_cli(["predict", str(run.path), str(tmp_path / "x.csv"), "-o", str(out)],
                           capsys)  # fmt: skip
    assert code == 0, err
    cli = pd.read_csv(out)
    np.testing.assert_allclose(cli[columns].to_numpy(), expected, atol=1e-6)
    assert [str(v) for v in cli["prediction"]] == [str(classes[i]) for i in expected.argmax(1)]
