"""Drift beyond tables (TW-P06), and audio serving.

Each modality measures drift on features that describe its examples
(``Modality.drift_features``): a text's length and unknown-word share, a series' level and
spread per channel, an image's size and brightness, a sound's duration and loudness. The fit
profiles them on the training split (``train_profile.json``), the server on live inputs. A
stream shifted in one respect (much longer texts, a level shift in one channel, brighter
images, quieter sounds) drifts on that feature only; an unshifted stream (the clean control)
drifts on none. Audio runs serve base64 sound files (WAV or FLAC) and answer as
``trainwell predict`` does on the same files."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli
from modality_data import make_reviews, make_sensors, write_digits, write_tones
from PIL import Image
from serve.conftest import fresh_copy, running

from trainwell.serve.drift import PREDICTION, Drift
from trainwell.serve.service import ServeOptions, Service

STREAM = 120  # served examples per stream (drift is judged from 100)


def serve_offline(run: Path, examples: list[dict[str, Any]]) -> dict[str, Drift]:
    """Serve ``examples`` in batches of 40 through the service (no HTTP: the batches run as
    the batcher would run them); the drift of the last :data:`STREAM` rows by feature."""
    service = Service(ServeOptions(run, window=STREAM))
    for start in range(0, len(examples), 40):
        service.run_batch("A", [(e, None) for e in examples[start : start + 40]])
    service.log.close()
    return {d.feature: d for d in service.drift["A"].report()}


def moved(drift: dict[str, Drift]) -> set[str]:
    """The input features that drifted (the predictions may follow them)."""
    return {name for name, d in drift.items() if d.drifted} - {PREDICTION}


def both_streams(
    run: Path, tmp_path: Path, clean: list[dict[str, Any]], shifted: list[dict[str, Any]]
) -> tuple[dict[str, Drift], dict[str, Drift], Path]:
    shifted_run = fresh_copy(run, tmp_path, "shifted")
    return (
        serve_offline(fresh_copy(run, tmp_path, "clean"), clean),
        serve_offline(shifted_run, shifted),
        shifted_run,
    )


def profile_features(run: Path) -> set[str]:
    return set(json.loads((run / "train_profile.json").read_text())["features"])


def test_longer_texts_drift_on_their_length_only(
    text_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profile_features(text_run) == {"characters", "words", "unknown words"}
    texts = make_reviews(STREAM, seed=21)["review"]
    clean, shifted, run = both_streams(
        text_run,
        tmp_path,
        [{"review": t} for t in texts],
        [{"review": " ".join([t] * 4)} for t in texts],  # the same words, four times as long
    )
    assert all(d.drifted is False for d in clean.values()), clean
    assert moved(shifted) == {"characters", "words"}
    words = shifted["words"]
    assert (words.test, words.rows) == ("ks", STREAM)
    assert (words.p_value or 1) < 0.01
    assert (words.psi or 0) >= 0.2
    # The served log keeps the features, so the monitor tests them without the texts.
    line = json.loads((run / "serve" / "log.jsonl").read_text().splitlines()[0])
    assert set(line["features"]) == {"characters", "words", "unknown words"}
    code, out, err = run_cli(["monitor", str(run), "--window", str(STREAM)], capsys)
    assert code == 0, err
    assert "drift on characters (PSI" in out
    assert ", words (PSI" in out
    assert "unknown words (PSI" not in out
    assert "retraining advised" in out


def test_unknown_words_drift_when_the_vocabulary_changes(text_run: Path, tmp_path: Path) -> None:
    texts = make_reviews(STREAM, seed=22)["review"]
    foreign = [" ".join(w[::-1] for w in t.split()) for t in texts]  # same lengths, new words
    drift = serve_offline(fresh_copy(text_run, tmp_path), [{"review": t} for t in foreign])
    assert moved(drift) == {"unknown words"}


def test_a_constant_training_feature_still_drifts_when_it_changes() -> None:
    """Every training image 8 px wide: the PSI bins keep 8 apart from other widths."""
    from trainwell.serve.drift import numeric_drift

    reference = np.full(40, 8.0)
    assert numeric_drift("width", reference, np.full(STREAM, 16.0)).drifted is True
    assert numeric_drift("width", reference, np.full(STREAM, 8.0)).drifted is False


def sensor_examples(seed: int, shift: float = 0.0) -> list[dict[str, Any]]:
    frame = make_sensors(STREAM, length=16, seed=seed)
    return [
        {"ax": (rows["ax"] + shift).tolist(), "ay": rows["ay"].tolist()}
        for _, rows in frame.sort_values(["id", "t"]).groupby("id", sort=True)
    ]


def test_a_level_shift_in_one_channel_drifts_on_its_mean_only(
    series_run: Path, tmp_path: Path
) -> None:
    assert profile_features(series_run) == {"ax mean", "ax std", "ay mean", "ay std", "length"}
    clean, shifted, _ = both_streams(
        series_run, tmp_path, sensor_examples(31), sensor_examples(31, shift=3.0)
    )
    assert all(d.drifted is False for d in clean.values()), clean
    assert moved(shifted) == {"ax mean"}


def png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_brighter_images_drift_on_brightness_in_metrics_and_page(
    image_run: Path, tmp_path: Path
) -> None:
    assert profile_features(image_run) == {"width", "height", "brightness"}
    folder = write_digits(tmp_path / "new", range(3), per_class=STREAM // 3, skip=14)
    pixels = [np.asarray(Image.open(p)) for p in sorted(folder.rglob("*.png"))]
    clean = serve_offline(
        fresh_copy(image_run, tmp_path, "clean"), [{"image": png(p)} for p in pixels]
    )
    assert all(d.drifted is False for d in clean.values()), clean
    brighter = [
        {"image": png(np.clip(p.astype(int) + 90, 0, 255).astype(np.uint8))} for p in pixels
    ]
    run = fresh_copy(image_run, tmp_path, "shifted")
    with running(ServeOptions(run, window=STREAM, max_delay_ms=0)) as (client, _):
        for start in range(0, len(brighter), 40):
            answer = client.post("/predict", json={"rows": brighter[start : start + 40]})
            assert answer.status_code == 200, answer.text
        stats = client.get("/stats").json()
        metrics = client.get("/metrics").text
    drift = {d["feature"]: d for d in stats["drift"]["A"]}
    assert {f for f, d in drift.items() if d["drifted"]} - {PREDICTION} == {"brightness"}
    assert drift["width"]["drifted"] is False
    assert drift["height"]["drifted"] is False
    assert 'trainwell_drift_detected{feature="brightness",variant="A"} 1.0' in metrics
    assert 'trainwell_drift_detected{feature="width",variant="A"} 0.0' in metrics


def sound(path: Path, gain: float = 1.0, format: str = "WAV") -> str:
    import soundfile as sf

    wave, rate = sf.read(path, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, wave * gain, rate, format=format, subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_audio_run_serves_wav_and_flac_as_trainwell_predict_answers(
    audio_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import soundfile as sf

    new = write_tones(tmp_path / "new", per_class=2, seed=7, labelled=False)
    flac = new / "low-00.wav"  # one file as FLAC: predict reads it by its own reader too
    wave, rate = sf.read(flac, dtype="float32")
    sf.write(new / "low-00.flac", wave, rate, subtype="PCM_16")
    flac.unlink()
    code, out, err = run_cli(["predict", str(audio_run), str(new)], capsys)
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(out))
    sounds = [base64.b64encode(Path(p).read_bytes()).decode() for p in expected["path"]]
    assert any(p.endswith(".flac") for p in expected["path"])
    with running(ServeOptions(fresh_copy(audio_run, tmp_path, "served"))) as (client, _):
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Row"]
        answer = client.post("/predict", json={"rows": [{"audio": s} for s in sounds]})
        not_sound = client.post(
            "/predict", json={"rows": [{"audio": base64.b64encode(b"plain text").decode()}]}
        )
        not_base64 = client.post("/predict", json={"rows": [{"audio": "%%%"}]})
        up = client.get("/health").status_code
    assert schema["required"] == ["audio"]
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert [p["prediction"] for p in got] == expected["prediction"].tolist()
    for cls in ("chirp", "high", "low"):
        np.testing.assert_allclose(
            [p["proba"][cls] for p in got], expected[f"proba_{cls}"], rtol=1e-6, atol=1e-7
        )
    assert not_sound.status_code == 422
    assert "cannot read sound file" in not_sound.json()["detail"][0]["msg"]
    assert not_base64.status_code == 422
    assert "sound 0 is not base64-encoded bytes" in not_base64.json()["detail"][0]["msg"]
    assert up == 200


def test_quieter_sounds_drift_on_their_level_only(audio_run: Path, tmp_path: Path) -> None:
    assert profile_features(audio_run) == {"duration", "rms dbfs"}
    files = sorted(write_tones(tmp_path / "new", per_class=STREAM // 3, seed=13).rglob("*.wav"))
    clean, shifted, _ = both_streams(
        audio_run,
        tmp_path,
        [{"audio": sound(p)} for p in files],
        [{"audio": sound(p, gain=0.05)} for p in files],  # 26 dB quieter
    )
    assert all(d.drifted is False for d in clean.values()), clean
    assert moved(shifted) == {"rms dbfs"}
