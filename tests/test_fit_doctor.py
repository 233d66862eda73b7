"""The doctor inside `trainwell fit`: observes without perturbing, stays quiet on healthy
data, runs the overfit-one-batch check, and rescues a diverging run (doctor.remedy)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers import FAST, InterruptAfter
from test_resume import assert_same_weights

import trainwell
from trainwell.train.checkpoint import latest_checkpoint, load_state

DIVERGING = ["train.lr=30", "train.clip_grad_norm=null", "baselines.ship=network"]
SHORT = ["train.max_epochs=8", "train.patience=5", "logging.progress=false"]


def doctor_findings(run: Path) -> list[dict[str, object]]:
    found = json.loads((run / "findings.json").read_text())
    return [f for f in found if f["stage"] in ("preflight", "train")]


def network_tensors(run: Path) -> dict[str, torch.Tensor]:
    """The last epoch's weights and the best epoch's, from the run's newest checkpoint."""
    checkpoint = latest_checkpoint(run / "checkpoints")
    assert checkpoint is not None
    saved = load_state(checkpoint)
    best = saved["callbacks"]["EarlyStopping"]["best_weights"]
    return {**saved["model"], **{f"best.{k}": v for k, v in best.items()}}


@pytest.fixture(scope="module")
def with_and_without(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("doctor-fit")
    runs = []
    for name, flag in (("on", "true"), ("off", "false")):
        run = trainwell.fit(
            data_dir / "breast_cancer.csv",
            "target",
            out=root / name,
            quiet=True,
            overrides=[*FAST, f"doctor.enabled={flag}"],
        )
        runs.append(run.path)
    return runs


def test_doctor_on_or_off_trains_bit_identical_weights(with_and_without: list[Path]) -> None:
    on, off = with_and_without
    a, b = network_tensors(on), network_tensors(off)
    assert a.keys() == b.keys()
    assert a  # the checkpoint does hold the network's weights
    for key in a:
        assert torch.equal(a[key], b[key]), key
    metrics_on = json.loads((on / "metrics.json").read_text())["network"]
    metrics_off = json.loads((off / "metrics.json").read_text())["network"]
    assert metrics_on == metrics_off


def test_doctor_is_quiet_on_a_healthy_fit(with_and_without: list[Path]) -> None:
    on, off = with_and_without
    loud = [f for f in doctor_findings(on) if f["severity"] != "info"]
    assert loud == []
    assert doctor_findings(off) == []  # off means off


def test_a_model_that_cannot_overfit_one_batch_is_reported(tmp_path: Path) -> None:
    # Random labels and a two-unit linear model: no way to memorize a batch of 128 rows.
    gen = torch.Generator().manual_seed(0)
    frame = {f"x{i}": torch.randn(800, generator=gen).tolist() for i in range(4)}
    frame["label"] = torch.randint(0, 2, (800,), generator=gen).tolist()
    import pandas as pd

    run = trainwell.fit(
        pd.DataFrame(frame),
        "label",
        out=tmp_path / "run",
        quiet=True,
        overrides=[
            *FAST,
            "train.max_epochs=2",
            "model.width=4",
            "model.depth=0",
            "train.batch_size=128",
        ],
    )
    found = [f for f in doctor_findings(run.path) if f["id"] == "overfit-one-batch"]
    assert len(found) == 1
    assert found[0]["practice"] == "TW-X01"
    assert found[0]["stage"] == "preflight"


def test_remedy_rescues_a_diverging_fit(data_dir: Path, tmp_path: Path) -> None:
    run = trainwell.fit(
        data_dir / "breast_cancer.csv",
        "target",
        out=tmp_path / "run",
        quiet=True,
        overrides=[*SHORT, *DIVERGING],
    )
    found = doctor_findings(run.path)
    rescues = [f for f in found if f["id"] == "remedy-applied"]
    assert rescues, [f["id"] for f in found]
    evidence = rescues[0]["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["new_lr"] < evidence["old_lr"]
    assert evidence["clip_grad_norm"] == 1.0
    assert evidence["cause"] in {id_ for id_ in (f["id"] for f in found)}
    assert run.manifest["status"] == "complete"
    test = run.metrics["network"]["test"]
    assert math.isfinite(test["log_loss"])
    assert test["accuracy"] > 0.85  # it learned after the rescue


def test_remedy_can_be_turned_off(data_dir: Path, tmp_path: Path) -> None:
    run = trainwell.fit(
        data_dir / "breast_cancer.csv",
        "target",
        out=tmp_path / "run",
        quiet=True,
        overrides=[*SHORT, *DIVERGING, "doctor.remedy=false"],
    )
    ids = [f["id"] for f in doctor_findings(run.path)]
    assert "remedy-applied" not in ids
    assert {"divergence", "nonfinite-loss", "nonfinite-gradients"} & set(ids)


def test_a_rescued_run_resumes_to_the_same_weights(data_dir: Path, tmp_path: Path) -> None:
    settings = [*DIVERGING, "train.max_epochs=6", "train.patience=100", "logging.progress=false"]
    data = data_dir / "breast_cancer.csv"
    full = trainwell.fit(data, "target", out=tmp_path / "full", overrides=settings, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            data,
            "target",
            out=tmp_path / "cut",
            overrides=settings,
            quiet=True,
            callbacks=[InterruptAfter(3)],
        )
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert_same_weights(full.path, resumed.path)
    rescued = [f["step"] for f in doctor_findings(full.path) if f["id"] == "remedy-applied"]
    assert rescued
    assert rescued == [
        f["step"] for f in doctor_findings(resumed.path) if f["id"] == "remedy-applied"
    ]
