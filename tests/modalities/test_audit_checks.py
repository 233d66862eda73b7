"""The modality checks in the audit (TW-D01, TW-D06): each planted fault is found with its
evidence, and clean data stays silent."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from modality_data import make_reviews, make_sensors, write_digits
from PIL import Image

from trainwell.config import build_config
from trainwell.errors import LeakageError
from trainwell.pipeline import prepare


def ids(data: object, kind: str, **options: str) -> dict[str, dict]:
    cfg = build_config(**{f"data__{k}": v for k, v in options.items()})
    prepared = prepare(data, cfg, block=False)  # type: ignore[arg-type]
    assert prepared.modality.name == kind
    return {f.id: f.to_dict() for f in prepared.findings if f.id != "class-imbalance"}


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("clean") / "photos", per_class=40)


def test_clean_images_have_no_findings(photos: Path) -> None:
    assert ids(photos, "image", target="label") == {}


def test_copied_images_across_splits_block_the_run(photos: Path, tmp_path: Path) -> None:
    copy = tmp_path / "photos"
    shutil.copytree(photos, copy)
    for path in list(copy.rglob("*.png")):  # every image twice, one re-encoded as JPEG
        Image.open(path).convert("L").save(path.with_name(f"copy-{path.stem}.jpg"), quality=95)
    found = ids(copy, "image", target="label")
    dup = found["near-duplicate-across-splits"]
    assert dup["severity"] == "error"
    assert dup["evidence"]["signature"] == "perceptual hash"
    pair = dup["evidence"]["test"]["pairs"][0]
    assert (
        Path(pair[0]).name.removeprefix("copy-")[:4] == Path(pair[1]).name.removeprefix("copy-")[:4]
    )
    with pytest.raises(LeakageError, match="--allow near-duplicate-across-splits"):
        prepare(copy, build_config(data__target="label"))


def test_mixed_sizes_channels_and_unreadable_files(photos: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "photos"
    shutil.copytree(photos, mixed)
    Image.new("L", (12, 10)).save(mixed / "3" / "big.png")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(mixed / "4" / "colour.png")
    (mixed / "5" / "empty.png").write_bytes(b"")
    found = ids(mixed, "image", target="label")
    assert found["inconsistent-image-sizes"]["evidence"]["converted_to"] == "8x8"
    assert found["inconsistent-image-channels"]["evidence"]["converted_to"] == "RGB"
    unreadable = found["unreadable-images"]
    assert unreadable["severity"] == "error"
    assert unreadable["evidence"]["files"] == [str(mixed / "5" / "empty.png")]


def test_audit_command_reads_an_image_folder(
    photos: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(["audit", str(photos), "--target", "label"], capsys)
    assert code == 0, err
    assert "No findings" in out or "class-imbalance" not in out


def test_texts_clean_then_empty_and_copied() -> None:
    reviews = make_reviews(200)
    assert ids(reviews, "text", target="sentiment", text="review") == {}
    planted = reviews.copy()
    planted.loc[:9, "review"] = ["", "   ", "!!", *planted.loc[3:9, "review"]]
    copies = planted.sample(80, random_state=1).copy()
    copies["review"] = copies["review"].str.upper() + " !"  # re-typed: case and punctuation
    found = ids(
        pd.concat([planted, copies], ignore_index=True), "text", target="sentiment", text="review"
    )
    assert found["empty-texts"]["evidence"]["count"] >= 3
    dup = found["near-duplicate-across-splits"]
    assert dup["severity"] == "error"
    assert all(similarity >= 0.9 for *_, similarity in dup["evidence"]["test"]["pairs"])


def test_series_clean_then_uneven_lengths_and_sampling() -> None:
    sensors = make_sensors(45)
    assert ids(sensors, "series", target="activity", series="id", time="t") == {}
    uneven = sensors.loc[~((sensors["id"] == "s003") & (sensors["t"] >= 30))].copy()
    stretched = uneven["id"] == "s004"
    uneven.loc[stretched, "t"] = uneven.loc[stretched, "t"] * 2
    found = ids(uneven, "series", target="activity", series="id", time="t")
    lengths = found["inconsistent-series-lengths"]["evidence"]
    assert (lengths["min"], lengths["max"], lengths["used"]) == (30, 40, 40)
    assert lengths["shortest"][0] == "s003"
    assert found["inconsistent-series-sampling"]["evidence"]["series"] == ["s004"]


def test_series_values_are_ordered_by_time_and_padded() -> None:
    sensors = make_sensors(30)
    short = sensors.loc[~((sensors["id"] == "s000") & (sensors["t"] >= 35))]
    cfg = build_config(data__target="activity", data__series="id", data__time="t")
    prepared = prepare(short, cfg, block=False)
    samples = prepared.samples
    row = int(np.flatnonzero(samples.frame["id"] == "s000")[0])
    values = samples.inputs[0][row].numpy()
    expected = short.loc[short["id"] == "s000"].sort_values("t")[["ax", "ay"]].to_numpy()
    np.testing.assert_allclose(values[:35], expected, rtol=1e-6)
    np.testing.assert_allclose(values[35:], np.repeat(expected[-1:], 5, axis=0), rtol=1e-6)
