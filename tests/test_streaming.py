"""Tables larger than memory: a Parquet file read in row groups (trainwell.streaming).

Tiny files with tiny row groups stand in for large ones: the split is per row and sealed,
the streamed batches are every training row exactly once per epoch (replayed on resume, split
over ranks as the global batch), ``data.streaming=auto`` switches on above its threshold,
and ``predict`` in batches writes what the in-memory predict returns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import InterruptAfter, run_cli

import trainwell
from trainwell.config import options_config
from trainwell.evaluate import task_metrics
from trainwell.interrupts import RunInterrupted
from trainwell.pipeline import Prepared, prepare
from trainwell.streaming import TEST, TRAIN, StreamedData, split_codes

ROWS, GROUP_ROWS = 3000, 250
SETTINGS = [
    "train.max_epochs=2",
    "train.lr=0.01",
    "baselines.lightgbm_rounds=10",
    "logging.progress=false",
    "report.bootstrap=0",
    "report.importance_repeats=1",
    "report.energy=false",
]


@pytest.fixture(scope="module")
def parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``rid`` is the row number (a feature, so the streamed tensors say which rows they
    hold); ``y`` depends on ``a`` and ``color``."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"rid": np.arange(ROWS, dtype=np.float64)})
    frame["a"] = rng.normal(size=ROWS)
    frame["b"] = rng.normal(size=ROWS)
    frame["color"] = rng.choice(["red", "green", "blue"], ROWS)
    frame["y"] = np.where(frame["a"] + (frame["color"] == "red") > 0.3, "yes", "no")
    path = tmp_path_factory.mktemp("streaming") / "big.parquet"
    frame.to_parquet(path, row_group_size=GROUP_ROWS, index=False)
    return path


@pytest.fixture(scope="module")
def prepared(parquet: Path) -> Prepared:
    cfg = options_config(None, ["data.streaming=on", "data.sample_rows=600"], target="y")
    return prepare(parquet, cfg, audit=False)


def streamed_rows(data: StreamedData, epoch: int) -> list[np.ndarray]:
    return [inputs[0][:, 0].numpy().astype(np.int64) for inputs, _ in data.epoch(epoch)]


def test_split_is_per_row_deterministic_and_near_its_shares() -> None:
    ids = np.arange(200_000)
    codes = split_codes(ids, 0, 0.1, 0.1)
    assert np.array_equal(codes, split_codes(ids, 0, 0.1, 0.1))
    assert not np.array_equal(codes, split_codes(ids, 1, 0.1, 0.1))  # the seed moves rows
    shares = np.bincount(codes, minlength=3) / len(ids)
    assert np.allclose(shares, [0.8, 0.1, 0.1], atol=0.005)
    # Rows of one group share a split.
    groups = pd.Series(np.repeat(np.arange(500), 4).astype(str))
    by_group = split_codes(np.arange(2000), 0, 0.1, 0.1, groups).reshape(500, 4)
    assert (by_group == by_group[:, :1]).all()
    assert len(np.unique(by_group)) == 3


def test_stream_is_every_training_row_once_and_test_stays_sealed(prepared: Prepared) -> None:
    samples, ds = prepared.samples, prepared.dataset
    stream = samples.stream
    assert stream is not None
    assert ds.row_ids is not None
    assert stream.n_rows == ROWS
    assert len(ds.frame) < 1000
    data = stream.batches(torch.from_numpy, 64, seed=0, device=torch.device("cpu"))
    batches = streamed_rows(data, 0)
    assert len(batches) == len(data)
    seen = np.concatenate(batches)
    expected = np.flatnonzero(split_codes(np.arange(ROWS), 0, 0.1, 0.1) == TRAIN)
    assert stream.n_train == len(expected)
    assert np.array_equal(np.sort(seen), expected)  # every training row, once
    # The sample's splits follow the same rule: its test rows are never streamed.
    sample_test = ds.row_ids[prepared.splits.test]
    assert len(sample_test) > 0
    assert not np.isin(sample_test, seen).any()
    assert (split_codes(sample_test, 0, 0.1, 0.1) == TEST).all()
    # Labels travel with their rows: y is "yes" exactly where the rule says.
    frame = pd.read_parquet(prepared.data_path or "")
    for inputs, y in data.epoch(0):
        rows = inputs[0][:, 0].numpy().astype(np.int64)
        labels = np.asarray(ds.classes, dtype=object)[y.numpy()]
        assert (labels == frame["y"].to_numpy()[rows]).all()
        break


def test_epochs_replay_reshuffle_and_shard_the_global_batch(prepared: Prepared) -> None:
    stream = prepared.samples.stream
    assert stream is not None
    cpu = torch.device("cpu")
    one = stream.batches(torch.from_numpy, 64, seed=0, device=cpu)
    first = streamed_rows(one, 0)
    assert all(np.array_equal(a, b) for a, b in zip(first, streamed_rows(one, 0), strict=True))
    assert not np.array_equal(np.concatenate(first), np.concatenate(streamed_rows(one, 1)))
    ranks = [stream.batches(torch.from_numpy, 32, seed=0, device=cpu, shard=(r, 2)) for r in (0, 1)]
    assert len(ranks[0]) == len(one)
    for k, (a, b) in enumerate(zip(*(streamed_rows(r, 0) for r in ranks), strict=True)):
        assert np.array_equal(np.sort(np.concatenate([a, b])), np.sort(first[k]))


def test_auto_streams_only_above_its_threshold(parquet: Path) -> None:
    small = options_config(None, [], target="y")
    assert prepare(parquet, small, audit=False).samples.stream is None
    cfg = options_config(None, ["data.streaming_rows=1000"], target="y")
    assert prepare(parquet, cfg, audit=False).samples.stream is not None


@pytest.fixture(scope="module")
def run(parquet: Path) -> trainwell.Run:
    out = parquet.parent / "run"
    overrides = ["data.streaming_rows=1000", "data.sample_rows=600", *SETTINGS]
    return trainwell.fit(str(parquet), target="y", out=out, overrides=overrides, quiet=True)


def test_fit_streams_and_states_its_sample(run: trainwell.Run) -> None:
    manifest = json.loads((run.path / "manifest.json").read_text())
    facts = manifest["modality"]["streaming"]
    expected = int((split_codes(np.arange(ROWS), 0, 0.1, 0.1) == TRAIN).sum())
    assert facts["file_rows"] == ROWS
    assert facts["train_rows_streamed"] == expected
    assert facts["row_groups"] == ROWS // GROUP_ROWS
    found = [f for f in run.findings if f.id == "streaming-sample"]
    assert len(found) == 1
    assert f"sample of {facts['sample_rows']} rows" in found[0].message
    assert run.metrics["network"]["test"]["accuracy"] > 0.8


def test_resume_of_a_streamed_fit_ends_as_the_uninterrupted_one(
    run: trainwell.Run, parquet: Path
) -> None:
    out = parquet.parent / "interrupted"
    overrides = ["data.streaming_rows=1000", "data.sample_rows=600", *SETTINGS]
    with pytest.raises(RunInterrupted):
        trainwell.fit(
            str(parquet), target="y", out=out, overrides=overrides, quiet=True,
            callbacks=[InterruptAfter(1)],
        )  # fmt: skip
    resumed = trainwell.fit(resume=out, quiet=True)
    history = [json.loads((r.path / "history.json").read_text()) for r in (run, resumed)]
    assert history[0] == history[1]  # the same epochs' losses, to the last bit
    assert resumed.metrics["network"]["test"] == run.metrics["network"]["test"]


def test_predict_in_batches_equals_predict_in_memory(
    run: trainwell.Run, parquet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = pd.read_parquet(parquet).drop(columns="y").head(700)
    new.loc[3, "color"] = "purple"
    path = parquet.parent / "new.parquet"
    new.to_parquet(path, row_group_size=100, index=False)
    expected = run.predict(new)
    out = parquet.parent / "pred.parquet"
    args = ["predict", str(run.path), str(path), "-o", str(out), "--keep", "rid"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    got = pd.read_parquet(out)
    assert len(got) == 700
    assert got["rid"].tolist() == new["rid"].tolist()
    pd.testing.assert_frame_equal(got.drop(columns="rid"), expected.reset_index(drop=True))
    assert "'color': 1 of 700 rows" in err
    assert "wrote 700 predictions" in err
    code, csv, _ = run_cli(["predict", str(run.path), str(path)], capsys)
    assert code == 0
    assert csv.count("\n") == 701
    assert csv.startswith("prediction,")


@pytest.mark.parametrize(
    ("make", "overrides", "says"),
    [
        ("csv", ["data.streaming=on"], "convert the data to Parquet"),
        ("parquet", ["data.streaming=on", "--time", "rid"], "--time splits on the order"),
        ("parquet", ["data.streaming=on", "split.cv=3"], "split.cv folds the rows"),
    ],
)
def test_streaming_refusals(
    parquet: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: str,
    overrides: list[str],
    says: str,
) -> None:
    data = parquet
    if make == "csv":
        data = tmp_path / "t.csv"
        pd.read_parquet(parquet).head(100).to_csv(data, index=False)
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["fit", str(data), "--target", "y", "--out", str(out), *overrides], capsys
    )
    assert code == 2
    assert says in err
    assert "Traceback" not in err
    assert not out.exists()


def test_test_metrics_are_over_every_test_row_of_the_file(
    run: trainwell.Run, parquet: Path
) -> None:
    """metrics.json's test metrics come from every test row of the file (streamed in row
    groups), and equal the metrics computed in memory over the same rows; the sample's
    test metrics stay beside them, and the report's figures match those."""
    frame = pd.read_parquet(parquet)
    test = frame.loc[split_codes(np.arange(ROWS), 0, 0.1, 0.1) == TEST].reset_index(drop=True)
    split = run.metrics["test_split"]
    assert split["rows"] == len(test)
    assert 0 < split["sample"]["rows"] < len(test) / 2  # the sample's share: ~600 of 3000
    manifest = json.loads((run.path / "manifest.json").read_text())
    assert manifest["modality"]["streaming"]["test_rows_streamed"] == len(test)
    classes = manifest["data"]["classes"]
    predicted = run.predict(test.drop(columns="y"))
    proba = predicted[[f"proba_{c}" for c in classes]].to_numpy(dtype=np.float64)
    y = test["y"].map({c: i for i, c in enumerate(classes)}).to_numpy()
    expected = task_metrics(manifest["data"]["task"], y, proba)
    got = run.metrics["test"]
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert got != split["sample"]["test"]  # ~300 rows against the sample's ~60
    (finding,) = [f for f in run.findings if f.id == "streaming-sample"]
    assert f"come from all {len(test)} test rows" in finding.message
    report = (run.path / "report.html").read_text()
    assert f"Test metrics over all {len(test)} test rows of the file" in report
    assert "do not reproduce metrics.json" not in report  # checked against the sample's
    card = (run.path / "model_card.md").read_text()
    assert f"The metrics are over all {len(test)} test rows of the file" in card
