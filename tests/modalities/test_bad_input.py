"""Bad image, text and series input: one clear line on stderr, exit code 2, no run left."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FAST, run_cli
from modality_data import make_reviews, make_sensors, write_digits


def fit(data: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", str(data), "--out", str(out), *extra, *FAST]


def assert_user_error(code: int, err: str, out: Path, *expected: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trainwell: error: ")
    for text in expected:
        assert text in lines[0], lines[0]
    assert not out.exists()  # no half-written run


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return write_digits(tmp_path / "photos", classes=range(3), per_class=12)


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "photos").mkdir()
    code, _, err = run_cli(fit(tmp_path / "photos", tmp_path / "run"), capsys)
    assert_user_error(code, err, tmp_path / "run", "no class sub-folders with images")


def test_one_class_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos = write_digits(tmp_path / "photos", classes=range(1), per_class=20)
    code, _, err = run_cli(fit(photos, tmp_path / "run", "--target", "label"), capsys)
    assert_user_error(code, err, tmp_path / "run", "one class only", "'0'")


def test_unreadable_image_names_its_path(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = photos / "1" / "broken.png"
    broken.write_bytes(b"not a png at all")
    code, _, err = run_cli(fit(photos, tmp_path / "run", "--target", "label"), capsys)
    assert_user_error(
        code, err, tmp_path / "run", "unreadable-images", str(broken), "--allow unreadable-images"
    )


def test_missing_text_column_suggests_the_closest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(path, index=False)
    args = fit(path, tmp_path / "run", "--target", "sentiment", "--text", "reveiw")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "'reveiw' is not in the data", "'review'")


def test_missing_series_column_and_a_label_changing_within_a_series(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = make_sensors(30)
    path = tmp_path / "sensors.csv"
    frame.to_csv(path, index=False)
    args = fit(path, tmp_path / "run", "--target", "activity", "--series", "sid", "--time", "t")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "--series column 'sid'", "'id'")
    frame.loc[frame.index[:3], "activity"] = ["walk", "run", "sit"]
    frame.to_csv(path, index=False)
    args = fit(path, tmp_path / "run", "--target", "activity", "--series", "id", "--time", "t")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "changes within series")


def test_missing_weight_file_is_one_line_not_a_download(
    photos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = fit(photos, tmp_path / "run", "--target", "label", "model.pretrained=nope.safetensors")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "'nope.safetensors' not found offline")


def test_unknown_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "sensors.csv"
    make_sensors(30).to_csv(path, index=False)
    args = fit(path, tmp_path / "run", "--target", "activity", "--series", "id", "model.name=lstn")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "model.name='lstn'", "'lstm'")


def test_text_and_series_together(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(path, index=False)
    args = fit(path, tmp_path / "run", "--target", "sentiment", "--text", "review", "--series", "x")
    code, _, err = run_cli(args, capsys)
    assert_user_error(code, err, tmp_path / "run", "either --text or --series")


def test_text_encoder_not_on_this_machine_is_one_line_not_a_download(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    path = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(path, index=False)
    args = fit(
        path, tmp_path / "run", "--target", "sentiment", "--text", "review",
        "model.name=distilbert-base-uncased",
    )  # fmt: skip
    code, _, err = run_cli(args, capsys)
    assert_user_error(
        code, err, tmp_path / "run", "'distilbert-base-uncased' not found offline",
        "model.download=true",
    )  # fmt: skip
