"""``ensemble.size=K`` (TW-H04): seeds averaged into one shipped model, kept only when it beats
the best single network on validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from trainwell.config import options_config
from trainwell.ensemble import (
    EnsembleCandidate,
    SnapshotTaker,
    build_ensemble,
    keep_or_not,
    snapshot_callbacks,
    train_members,
)
from trainwell.errors import ConfigError
from trainwell.evaluate import task_metrics
from trainwell.pipeline import Prepared, prepare, train_and_validate
from trainwell.predictor import load_predictor, save_predictor
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

FAST = ["train.max_epochs=2", "logging.progress=false", "train.lr=0.01", "model.width=16",
        "doctor.overfit_batch=false", "ensemble.size=2"]  # fmt: skip


@pytest.fixture(scope="module")
def trained(data_dir: Path) -> tuple[Prepared, list[torch.nn.Module]]:
    prepared = prepare(str(data_dir / "wine.csv"), options_config(None, FAST, target="target"))
    first = train_and_validate(prepared)
    return prepared, train_members(prepared, first)


def test_members_differ_by_seed(trained: tuple[Prepared, list[torch.nn.Module]]) -> None:
    _, members = trained
    assert len(members) == 2
    first = [p.detach() for p in members[0].parameters()]
    second = [p.detach() for p in members[1].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_saved_ensemble_reproduces_its_metrics(
    trained: tuple[Prepared, list[torch.nn.Module]], tmp_path: Path
) -> None:
    prepared, members = trained
    ds = prepared.dataset
    ensemble = EnsembleCandidate("ensemble", members, {"task": ds.task})
    validation, y = prepared.split("validation")
    expected = ensemble.outputs(validation)
    folder = tmp_path / "model"
    folder.mkdir()
    encoding, _ = prepared.modality.export(prepared.samples.encoding, folder)
    save_predictor(
        folder, ensemble, modality=prepared.modality.name, task=ds.task, target=ds.target,
        classes=list(ds.classes) if ds.classes is not None else None, encoding=encoding,
    )  # fmt: skip
    loaded = load_predictor(folder)
    assert loaded.spec.kind == "ensemble"
    raw = ds.frame.iloc[prepared.splits.validation].drop(columns=[ds.target])
    table = loaded.predict(raw)
    proba = table[[f"proba_{c}" for c in ds.classes]].to_numpy()
    np.testing.assert_allclose(proba, expected, atol=1e-6)
    assert task_metrics(ds.task, y, proba) == pytest.approx(task_metrics(ds.task, y, expected))
    # The saved labels are the average's, not any one member's.
    assert list(table["prediction"]) == [ds.classes[i] for i in expected.argmax(axis=1)]


def test_identical_members_are_not_kept(trained: tuple[Prepared, list[torch.nn.Module]]) -> None:
    prepared, members = trained
    validation, y = prepared.split("validation")
    task = prepared.dataset.task
    ensemble, finding = keep_or_not(task, [members[0], members[0]], validation, y, None)
    assert ensemble is None  # the average of one network twice is that network: no gain
    assert finding.id == "ensemble-not-kept"
    assert "did not beat" in finding.message


def test_the_decision_follows_the_validation_scores(
    trained: tuple[Prepared, list[torch.nn.Module]],
) -> None:
    prepared, members = trained
    validation, y = prepared.split("validation")
    ensemble, finding = keep_or_not(prepared.dataset.task, members, validation, y, None)
    scores = finding.evidence["validation"]
    beats = scores["ensemble"] < min(v for k, v in scores.items() if k != "ensemble")
    assert (ensemble is not None) == beats
    assert finding.id == ("ensemble-kept" if beats else "ensemble-not-kept")


# ensemble.method=snapshot (TW-H05): one training under cosine restarts of one epoch each.
SNAPSHOT = [*FAST, "train.max_epochs=4", "train.schedule=cosine_restarts",
            "train.schedule.cycle_epochs=1", "train.schedule.cycle_mult=1", "train.patience=10",
            "ensemble.size=3", "ensemble.method=snapshot"]  # fmt: skip


class EpochEnds(Callback):
    """The weights at each epoch's end (here each cosine cycle's end)."""

    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, state: TrainState) -> None:
        self.weights.append({k: v.clone() for k, v in state.model.state_dict().items()})


def test_snapshots_are_the_last_cycle_ends_and_face_the_run_network(data_dir: Path) -> None:
    prepared = prepare(str(data_dir / "wine.csv"), options_config(None, SNAPSHOT, target="target"))
    takers = snapshot_callbacks(prepared.cfg)
    ends = EpochEnds()
    result = train_and_validate(prepared, callbacks=[*takers, ends])
    (taker,) = takers
    assert isinstance(taker, SnapshotTaker)
    assert taker.cycles == 4  # one per epoch
    assert len(taker.snapshots) == 3  # the last ensemble.size of them
    for snapshot, end in zip(taker.snapshots, ends.weights[1:], strict=True):
        assert all(torch.equal(snapshot[k], end[k]) for k in end)
    ensemble, finding = build_ensemble(prepared, result, takers, None)
    assert finding.practice == "TW-H05"
    assert finding.evidence["members"] == 3
    scores = finding.evidence["validation"]
    assert "single_0" in scores  # the run's early-stopped network is a rival too
    beats = scores["ensemble"] < min(v for k, v in scores.items() if k != "ensemble")
    assert (ensemble is not None) == beats
    assert finding.id == ("ensemble-kept" if beats else "ensemble-not-kept")


def test_no_finished_cycle_means_no_snapshot_ensemble(data_dir: Path) -> None:
    cfg = options_config(None, [*SNAPSHOT, "train.schedule.cycle_epochs=5"], target="target")
    prepared = prepare(str(data_dir / "wine.csv"), cfg)
    takers = snapshot_callbacks(prepared.cfg)
    result = train_and_validate(prepared, callbacks=takers)
    ensemble, finding = build_ensemble(prepared, result, takers, None)
    assert ensemble is None
    assert finding.id == "ensemble-not-kept"
    assert finding.practice == "TW-H05"
    assert "after 0 finished cosine cycle(s)" in finding.message


def test_snapshot_ensemble_needs_warm_restarts() -> None:
    with pytest.raises(ConfigError, match=r"set train\.schedule=cosine_restarts"):
        options_config(None, ["ensemble.size=3", "ensemble.method=snapshot"], target="y")
    with pytest.raises(ConfigError, match="set by `trainwell tune --ensemble K`"):
        options_config(None, ["ensemble.size=3", "ensemble.method=trials"], target="y")


def test_members_of_different_widths_save_and_load(
    trained: tuple[Prepared, list[torch.nn.Module]], tmp_path: Path
) -> None:
    """Top tune trials may differ in architecture: each member keeps its own network spec."""
    from trainwell.models.tabular import TabularNet

    prepared, members = trained
    spec = members[0].spec()  # type: ignore[operator]
    wider = {**spec, "head": {**spec["head"], "width": spec["head"]["width"] * 2}}
    torch.manual_seed(1)
    other = TabularNet.from_spec(wider).eval()
    ensemble = EnsembleCandidate("ensemble", [members[0], other], {"task": "multiclass"})
    validation, _ = prepared.split("validation")
    folder = tmp_path / "model"
    folder.mkdir()
    encoding, _ = prepared.modality.export(prepared.samples.encoding, folder)
    ds = prepared.dataset
    save_predictor(
        folder, ensemble, modality=prepared.modality.name, task=ds.task, target=ds.target,
        classes=list(ds.classes) if ds.classes is not None else None, encoding=encoding,
    )  # fmt: skip
    loaded = load_predictor(folder)
    assert loaded.spec.network is not None
    widths = [m["spec"]["head"]["width"] for m in loaded.spec.network["member_networks"]]
    assert widths == [spec["head"]["width"], spec["head"]["width"] * 2]
    np.testing.assert_allclose(
        loaded.candidate.outputs(validation), ensemble.outputs(validation), atol=1e-6
    )
