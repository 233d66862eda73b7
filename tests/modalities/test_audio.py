"""Audio end to end: a folder of sound files, one sub-folder per class (trainwell.modalities.audio).

Every sound is made offline: synthesized tones and chirps (numpy, written with soundfile) cover
every test; words spoken by espeak-ng in several voices and speeds add real speech where
espeak-ng is installed (``apt-get install espeak-ng``), and that test skips, saying so, where
it is not. Clips are 0.5 s and runs train for 5 epochs, so each fit takes seconds on a CPU.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import InterruptAfter, run_cli
from modality_data import CLASSES, write_tones
from safetensors.torch import load_file

import trainwell
from trainwell.config import FitConfig
from trainwell.modalities.audio import SAMPLE_RATE, augmenter, load, log_mel
from trainwell.modalities.base import AugmentedData
from trainwell.modalities.registry import modality_for

sf = pytest.importorskip("soundfile", reason='audio needs pip install "trainwell[audio]"')
pytest.importorskip("librosa", reason='audio needs pip install "trainwell[audio]"')
pytest.importorskip("audiomentations", reason='audio needs pip install "trainwell[audio]"')

QUICK = [
    "train.max_epochs=5",
    "train.lr=0.003",
    "train.batch_size=8",
    "logging.progress=false",
    "report.energy=false",
]


def fit_cli(args: list[str]) -> Path:
    from trainwell.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--quiet"])
    assert exit_info.value.code in (0, None)
    return Path(args[args.index("--out") + 1])


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tones(tmp_path_factory.mktemp("sounds") / "tones", per_class=40)


@pytest.fixture(scope="module")
def network_run(tones: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "network"
    args = ["fit", str(tones), "--target", "label", "--out", str(out), "baselines.ship=network"]
    return fit_cli([*args, *QUICK])


@pytest.fixture(scope="module")
def linear_run(tones: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "linear"
    quick = [o for o in QUICK if not o.startswith("train.max_epochs")]
    args = ["fit", str(tones), "--out", str(out), "baselines.ship=linear", "train.max_epochs=1"]
    return fit_cli([*args, "doctor.overfit_batch=false", *quick])


def audit_json(data: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict]:
    code, out, err = run_cli(["audit", str(data), "--format", "json", *extra], capsys)
    assert code == 0, err
    findings: list[dict] = json.loads(out)
    return findings


def ids(findings: list[dict]) -> set[str]:
    return {f["id"] for f in findings}


def test_a_folder_of_sounds_is_audio_and_a_folder_of_images_stays_image(
    tones: Path, tmp_path: Path
) -> None:
    from PIL import Image

    photos = tmp_path / "photos" / "cat"
    photos.mkdir(parents=True)
    Image.new("L", (8, 8)).save(photos / "1.png")
    cfg = FitConfig()
    assert modality_for(tones, cfg).name == "audio"
    assert modality_for(tmp_path / "photos", cfg).name == "image"
    (tmp_path / "empty").mkdir()
    assert modality_for(tmp_path / "empty", cfg).name == "image"  # says it lacks images


def test_a_missing_audio_package_is_one_line_with_the_install_hint(
    tones: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "soundfile", None)  # as if not installed
    code, _, err = run_cli(["audit", str(tones)], capsys)
    assert code == 2, err
    assert err.strip() == (
        "trainwell: error: audio data needs soundfile, which is not installed; "
        'install it with: pip install "trainwell[audio]"'
    )


def test_a_fit_on_tones_learns_well_above_chance(network_run: Path) -> None:
    run = trainwell.load(network_run)
    assert run.manifest["status"] == "complete"
    assert run.manifest["modality"]["kind"] == "audio"
    assert run.manifest["modality"]["encoding"]["sample_rate"] == SAMPLE_RATE
    assert run.manifest["network"]["architecture"] == "audio_cnn"
    for name in ("report.html", "model_card.md", "metrics.json", "findings.json"):
        assert (network_run / name).is_file(), name
    assert "- Network: audio_cnn, " in (network_run / "model_card.md").read_text()
    assert "audio_cnn" in (network_run / "report.html").read_text()
    metrics = run.metrics
    # Three classes: chance is 1/3. Tones are easy; the network after 5 epochs and the
    # MFCC baseline must both be far above it.
    assert metrics["test"]["accuracy"] >= 0.75, metrics
    assert metrics["baselines"]["linear"]["test"]["accuracy"] >= 0.75, metrics
    assert metrics["shipped"] == "network"


def test_the_audit_of_clean_tones_is_silent(tones: Path, network_run: Path) -> None:
    found = ids([f.to_dict() for f in trainwell.load(network_run).findings])
    quiet = {
        "unreadable-audio",
        "inconsistent-sample-rates",
        "inconsistent-clip-lengths",
        "near-duplicate-across-splits",
    }
    assert not found & quiet, found


def test_predict_a_new_folder_gives_one_row_per_file(network_run: Path, tmp_path: Path) -> None:
    new = write_tones(tmp_path / "new", per_class=4, seed=7, labelled=False)
    result = trainwell.load(network_run).predict(new)
    assert len(result) == 12
    assert list(result.columns[:2]) == ["path", "prediction"]
    assert {f"proba_{c}" for c in CLASSES} <= set(result.columns)
    truth = result["path"].map(lambda p: Path(p).name.split("-")[0])
    assert (result["prediction"] == truth).mean() >= 0.75
    # Predict never augments: the same files give the same probabilities twice.
    again = trainwell.load(network_run).predict(new)
    assert np.array_equal(result["proba_low"].to_numpy(), again["proba_low"].to_numpy())


def test_predict_from_the_command_line(
    network_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = write_tones(tmp_path / "new", per_class=2, seed=3, labelled=False)
    code, out, err = run_cli(["predict", str(network_run), str(new)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("path,prediction,proba_")
    assert len(lines) == 1 + 6
    assert str(new / "chirp-00.wav") in out


def test_the_linear_baseline_ships_and_predicts(linear_run: Path, tmp_path: Path) -> None:
    run = trainwell.load(linear_run)
    assert run.metrics["shipped"] == "linear"
    model = json.loads((linear_run / "model" / "model.json").read_text())
    assert model["kind"] == "linear"
    assert model["features"]["name"] == "pooled_mfcc"
    assert len(model["features"]["mean"]) == 40  # 20 MFCCs: mean and std over time
    new = write_tones(tmp_path / "new", per_class=4, seed=11, labelled=False)
    result = run.predict(new)
    assert len(result) == 12
    truth = result["path"].map(lambda p: Path(p).name.split("-")[0])
    assert (result["prediction"] == truth).mean() >= 0.75


def test_an_unreadable_file_blocks_fit_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sounds = write_tones(tmp_path / "sounds", per_class=12)
    broken = sounds / "high" / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    out = tmp_path / "run"
    code, _, err = run_cli(["fit", str(sounds), "--out", str(out), *QUICK], capsys)
    assert code == 2, err
    line = err.strip().splitlines()
    assert len(line) == 1, err
    assert line[0].startswith("trainwell: error: ")
    assert "unreadable-audio" in line[0], line[0]
    assert str(broken) in line[0], line[0]
    assert not out.exists()


def test_mixed_sample_rates_and_lengths_are_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sounds = write_tones(tmp_path / "sounds", per_class=6, classes=("low", "high"))
    write_tones(tmp_path / "other", per_class=3, seed=5, rate=8000, seconds=1.5)
    for kind in ("low", "high"):
        for i, path in enumerate(sorted((tmp_path / "other" / kind).iterdir())):
            shutil.move(path, sounds / kind / f"slow-{i}.wav")
    findings = {f["id"]: f for f in audit_json(sounds, capsys)}
    rates = findings["inconsistent-sample-rates"]
    assert rates["practice"] == "TW-D01"
    assert rates["evidence"]["sample_rates"] == {"16000": 12, "8000": 6}
    lengths = findings["inconsistent-clip-lengths"]
    assert lengths["evidence"]["max_seconds"] == pytest.approx(1.5)
    assert lengths["evidence"]["used_seconds"] == pytest.approx(0.5)
    assert all("slow-" in p for p in lengths["evidence"]["longest"][:6])


def test_near_copies_across_splits_are_found(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sounds = write_tones(tmp_path / "sounds", per_class=10, classes=("low", "high"))
    for path in sorted(sounds.rglob("*.wav")):  # every clip twice, the copy a little louder
        wave, rate = sf.read(path)
        sf.write(path.with_name("copy-" + path.name), wave * 1.05, rate, subtype="PCM_16")
    findings = {f["id"]: f for f in audit_json(sounds, capsys)}
    near = findings["near-duplicate-across-splits"]
    assert near["practice"] == "TW-D06"
    assert near["severity"] == "error"
    pair = near["evidence"].get("test", near["evidence"].get("validation"))["pairs"][0]
    assert Path(pair[0]).name.removeprefix("copy-") == Path(pair[1]).name.removeprefix("copy-")


def test_augmentation_changes_training_batches_only_and_replays(tones: Path) -> None:
    cfg = FitConfig()
    cfg.data.target = "label"
    samples = load(tones, cfg)
    spec, pcm = samples.inputs
    # Read time: the spectrogram is the plain log-mel of the (unaugmented) waveform.
    assert torch.allclose(
        spec[:4, 0], torch.from_numpy(log_mel(pcm[:4].numpy() / np.float32(32767))), atol=1e-4
    )
    augment, info = augmenter(cfg.augment, samples)
    assert augment is not None
    assert info["pitch_shift_semitones"] == [-2.0, 2.0]
    batch = (spec[:8], pcm[:8])
    first = augment(batch, torch.Generator().manual_seed(1))
    replay = augment(batch, torch.Generator().manual_seed(1))
    other = augment(batch, torch.Generator().manual_seed(2))
    assert first[0].shape == spec[:8].shape
    assert (first[0] - spec[:8]).abs().mean() > 0.5  # dB: the batch changed
    assert torch.equal(first[0], replay[0])  # seeded by the generator given: resume replays
    assert not torch.equal(first[0], other[0])
    assert torch.equal(batch[0], spec[:8])  # the stored inputs are untouched
    # Only the training loader augments; with augmentation off it yields the inputs as stored.
    cfg.augment.enabled = False
    assert augmenter(cfg.augment, samples) == (None, {"enabled": False})
    data = AugmentedData((spec[:8], pcm[:8]), torch.zeros(8), batch_size=8, augment=None)
    (inputs, _), *_ = list(data.epoch(0))
    assert torch.equal(inputs[0].sort(dim=0).values, spec[:8].sort(dim=0).values)


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    """The augmentation replays exactly on resume: its draws come from the loop's generator."""
    sounds = write_tones(tmp_path / "sounds", per_class=12, seed=4)
    settings = [
        "train.max_epochs=3", "train.patience=100", "train.lr=0.003", "train.batch_size=8",
        "baselines.ship=network", "doctor.overfit_batch=false", "logging.progress=false",
        "report.energy=false",
    ]  # fmt: skip
    full = trainwell.fit(sounds, out=tmp_path / "full", overrides=settings, quiet=True)
    with pytest.raises(KeyboardInterrupt):
        trainwell.fit(
            sounds, out=tmp_path / "cut", overrides=settings, quiet=True,
            callbacks=[InterruptAfter(1)],
        )  # fmt: skip
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert resumed.manifest["resumed"] == [{"checkpoint": "epoch-0001.safetensors"}]
    a = load_file(str(full.path / "model" / "weights.safetensors"))
    b = load_file(str(resumed.path / "model" / "weights.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.metrics == full.metrics


def _espeak() -> str | None:
    return shutil.which("espeak-ng")


@pytest.mark.skipif(
    _espeak() is None, reason="espeak-ng is not installed (apt-get install espeak-ng)"
)
def test_spoken_words_in_several_voices(tmp_path: Path) -> None:
    words, voices, speeds = (
        ("yes", "no", "stop"),
        ("en", "en-us", "en+f3", "en+m7"),
        (120, 150, 180, 210, 240),
    )
    sounds = tmp_path / "words"
    for word in words:
        (sounds / word).mkdir(parents=True)
        for voice in voices:
            for speed in speeds:
                path = sounds / word / f"{voice.replace('+', '_')}-{speed}.wav"
                subprocess.run(
                    [_espeak(), "-v", voice, "-s", str(speed), "-w", str(path), word],
                    check=True,
                    capture_output=True,
                )
    assert modality_for(sounds, FitConfig()).name == "audio"
    out = fit_cli(["fit", str(sounds), "--out", str(tmp_path / "run"), *QUICK])
    run = trainwell.load(out)
    assert run.manifest["status"] == "complete"
    found = {f.id for f in run.findings}
    # espeak-ng writes 22.05 kHz: resampled, and every clip the same rate (no finding); at
    # 120 to 240 words a minute the clips' lengths differ by more than 2x (a finding).
    assert "inconsistent-sample-rates" not in found
    assert "inconsistent-clip-lengths" in found
    linear = run.metrics["baselines"]["linear"]
    assert linear["validation"]["accuracy"] + linear["test"]["accuracy"] >= 2 * 0.6
