"""Audio: a folder of sound files with one sub-folder per class (``sounds/dog/1.wav``).

Reading: soundfile decodes each file (WAV, FLAC, OGG, AIFF), channels are averaged to mono,
librosa resamples every clip to :data:`SAMPLE_RATE` and crops or end-pads it with silence to
one duration (the median clip length, at most :data:`MAX_SECONDS`). The log-mel spectrogram
(librosa: :data:`N_MELS` bands, 32 ms windows, 10 ms hop, power in dB) is computed at read
time; the network reads it as ``(n, 1, N_MELS, frames)`` and standardizes each band with
training statistics inside itself (TW-D08, D09).

Augmentation (TW-D10) happens on the waveform, where time stretch and pitch shift are
defined: time shift, time stretch and pitch shift (audiomentations, with every parameter
drawn from the generator the training loop gives, so a resumed run replays it exactly) and
Gaussian noise at a random signal-to-noise ratio; the batch's spectrograms are then
recomputed. For that the waveform travels as a second input tensor (16-bit PCM,
``(n, samples)``) beside the spectrogram; the network ignores it. Validation, test and
predict inputs are never augmented (they never pass through :class:`AugmentedData`).

The audit (TW-D01, D06): unreadable files (blocking, with their paths), mixed sample rates,
clips of very different lengths, and validation or test clips that nearly copy a training
clip (a 64-bit fingerprint of the log-mel, confirmed on its values). The baselines (TW-A08)
are the class prior and a logistic regression on pooled MFCCs (mean and standard deviation
over time).
"""

from __future__ import annotations

import hashlib
import importlib
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.config import AugmentConfig, FitConfig, Task
from trainwell.errors import ConfigError, DataError, RunError
from trainwell.findings import Finding
from trainwell.modalities.base import Augment, DataSource, Inputs, Read, Samples
from trainwell.modalities.common import (
    NETWORK_OPTIONS,
    BaseModality,
    backbone_network,
    check_weights_file,
    hashed_near_copies,
    keyed_predictions,
    rows_dataset,
    write_served_files,
)
from trainwell.models import Choice, build_backbone
from trainwell.split import Splits

SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff"})
PATH, LABEL = "path", "label"
# 16 kHz keeps speech and most environmental sound (up to 8 kHz) at a third of CD's cost.
SAMPLE_RATE = 16_000
N_MELS, N_FFT, HOP = 64, 512, 160  # 64 bands, 32 ms windows, 10 ms hop at 16 kHz
MAX_SECONDS = 10.0  # the automatic clip duration (median length) is capped here
MIN_SECONDS = 0.1
FLOOR_DB = -100.0  # power floor (amin=1e-10): a fixed floor, the same for every batch
LENGTH_RATIO = 2.0  # clips longer than this many times the shortest: a finding
# Near-copies: 64-bit log-mel fingerprints at most HASH_BITS apart, confirmed when the
# spectrograms differ by at most DB_TOLERANCE dB on average.
HASH_BITS = 4
DB_TOLERANCE = 1.0
MAX_BYTES = 4 << 30
# Augmentation (TW-D10): each applied with probability AUGMENT_P, parameters drawn uniformly.
AUGMENT_P = 0.5
SHIFT_FRACTION = 0.1  # time shift by up to 10% of the clip (silence fills the gap)
STRETCH_RATE = (0.9, 1.1)
PITCH_SEMITONES = (-2.0, 2.0)
NOISE_SNR_DB = (20.0, 40.0)


def import_audio(name: str) -> Any:
    """``librosa``, ``soundfile`` or ``audiomentations``, or a one-line install hint.

    Raises:
        ConfigError: the package is not installed.
    """
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigError(
            f"audio data needs {name}, which is not installed; "
            'install it with: pip install "trainwell[audio]"'
        ) from None


def audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def is_audio_folder(folder: Path) -> bool:
    """Whether most files under ``folder`` are sound files."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    audio = sum(p.suffix.lower() in SUFFIXES for p in files)
    return audio > 0 and 2 * audio > len(files)


def scan(folder: Path, target: str) -> pd.DataFrame:
    """One row per sound file: its path and its class (the name of its sub-folder).

    Raises:
        DataError: no class sub-folders with sound files, or only one.
    """
    classes = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    rows = [(str(p), d.name) for d in classes for p in audio_files(d)]
    filled = sorted({label for _, label in rows})
    if not filled:
        raise DataError(
            f"folder {str(folder)!r} has no class sub-folders with sound files "
            f"({', '.join(sorted(SUFFIXES))}); put each class in its own sub-folder: "
            f"{folder}/CLASS/CLIP.wav"
        )
    if len(filled) < 2:
        raise DataError(
            f"folder {str(folder)!r} has sound files of one class only ({filled[0]!r}); "
            "classification needs at least two class sub-folders"
        )
    return pd.DataFrame({PATH: [r[0] for r in rows], target: [r[1] for r in rows]})


def decode(path: str) -> tuple[np.ndarray, int] | str:
    """The file's samples averaged to mono (float32 in [-1, 1]) and its sample rate, or why
    it cannot be read."""
    sf = import_audio("soundfile")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, OSError, ValueError, EOFError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        return f"{type(err).__name__}: {first}"
    if len(data) == 0:
        return "the file holds no samples"
    return data.mean(axis=1), int(rate)


def log_mel(waves: np.ndarray) -> np.ndarray:
    """Log-mel spectrograms ``(n, N_MELS, frames)`` in dB of waves ``(n, samples)`` at
    :data:`SAMPLE_RATE` (librosa; a fixed floor, so each clip's values depend on it alone)."""
    librosa = import_audio("librosa")
    power = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(waves, dtype=np.float32), sr=SAMPLE_RATE, n_fft=N_FFT,
        hop_length=HOP, n_mels=N_MELS,
    )  # fmt: skip
    return np.asarray(
        librosa.power_to_db(power, ref=1.0, amin=10 ** (FLOOR_DB / 10), top_db=None),
        dtype=np.float32,
    )


def rms_dbfs(wave: np.ndarray) -> float:
    """A clip's root-mean-square level in dB relative to full scale (floored at
    :data:`FLOOR_DB` for silence)."""
    rms = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64))))
    return max(20 * np.log10(max(rms, 1e-12)), FLOOR_DB)


def sound_suffix(data: bytes) -> str:
    """The file suffix of a sound file's bytes, by its magic number (the reader lists files
    by suffix; libsndfile itself reads the header): ``.flac``, ``.ogg``, ``.aiff`` or
    ``.wav`` (also for anything else, which the reader then refuses with one line)."""
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    if data[:4] == b"FORM" and data[8:12] in {b"AIFF", b"AIFC"}:
        return ".aiff"
    return ".wav"


def fingerprints(spec: torch.Tensor) -> np.ndarray:
    """A 64-bit fingerprint per clip: its log-mel averaged to 8x8 cells, each bit whether a
    cell is above the clip's median cell (a perceptual hash of the spectrogram)."""
    cells = torch.nn.functional.adaptive_avg_pool2d(spec.float(), 8).reshape(len(spec), 64)
    bits = (cells > cells.median(dim=1, keepdim=True).values).numpy()
    return np.packbits(bits, axis=1).view(">u8").ravel().astype(np.uint64)


def _unreadable(paths: list[str], errors: list[str], limit: int) -> Finding:
    return Finding(
        id="unreadable-audio",
        practice="TW-D01",
        severity="error",
        stage="audit",
        message=f"{len(paths)} sound files cannot be read, e.g. {paths[0]!r} ({errors[0]}).",
        evidence={"files": paths[:limit], "errors": errors[:limit], "count": len(paths)},
        fix="Delete or re-export the corrupt files; to train without them: "
        "--allow unreadable-audio",
    )


def _mixed_rates(rates: Counter[int], limit: int) -> Finding:
    shown = {str(k): v for k, v in rates.most_common(limit)}
    return Finding(
        id="inconsistent-sample-rates",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"The clips have {len(rates)} different sample rates ({shown} Hz: clips); "
        f"all were resampled to {SAMPLE_RATE} Hz.",
        evidence={"sample_rates": shown, "resampled_to": SAMPLE_RATE},
        fix="Nothing to do if resampling is right; recordings from different devices can "
        "differ in more than the rate, so check that the classes do not differ by source.",
    )


def _mixed_lengths(frame: pd.DataFrame, seconds: np.ndarray, used: float, limit: int) -> Finding:
    order = np.argsort(seconds)
    return Finding(
        id="inconsistent-clip-lengths",
        practice="TW-D01",
        severity="warning",
        stage="audit",
        message=f"Clip lengths range from {seconds.min():.2f} s to {seconds.max():.2f} s "
        f"(median {np.median(seconds):.2f} s); {int((seconds > used).sum())} were cropped and "
        f"{int((seconds < used).sum())} padded with silence to {used:.2f} s.",
        evidence={
            "min_seconds": round(float(seconds.min()), 4),
            "max_seconds": round(float(seconds.max()), 4),
            "median_seconds": round(float(np.median(seconds)), 4),
            "used_seconds": round(used, 4),
            "shortest": frame[PATH].iloc[order[:limit]].tolist(),
            "longest": frame[PATH].iloc[order[::-1][:limit]].tolist(),
        },
        fix="Trim or segment the recordings into clips of one length (e.g. fixed windows), "
        "so the cropped ones do not lose the sound that names their class.",
    )


def load(folder: Path, cfg: FitConfig, *, for_predict: dict[str, Any] | None = None) -> Samples:
    """Decode the sound files of ``folder`` into a :class:`Samples` (nothing written).

    ``for_predict`` (a trained model's encoding) reads any folder of sound files (sub-folders
    optional) or one file, and converts them as at training time.

    Returns:
        Samples with inputs ``(log-mel (n, 1, N_MELS, frames) float32 dB, waves (n, samples)
        int16)``.

    Raises:
        DataError: no sound files, one class, an unreadable file at predict time, or too
            much audio to hold in memory.
    """
    librosa = import_audio("librosa")
    target = cfg.data.target or LABEL
    if for_predict is None:
        frame = scan(folder, target)
    else:
        files = [folder] if folder.is_file() else audio_files(folder)
        if not files:
            raise DataError(f"{str(folder)!r} holds no sound files to predict")
        frame = pd.DataFrame({PATH: [str(p) for p in files]})
    decoded = [decode(path) for path in frame[PATH]]
    findings: list[Finding] = []
    limit = cfg.audit.evidence_limit
    bad = [(p, d) for p, d in zip(frame[PATH], decoded, strict=True) if isinstance(d, str)]
    if bad:
        if for_predict is not None:
            raise DataError(f"cannot read sound file {bad[0][0]!r}: {bad[0][1]}")
        findings.append(_unreadable([b[0] for b in bad], [b[1] for b in bad], limit))
        keep = [not isinstance(d, str) for d in decoded]
        frame = frame.loc[keep].reset_index(drop=True)
        decoded = [d for d in decoded if not isinstance(d, str)]
        if frame[target].nunique() < 2:
            raise DataError(f"no readable sound files of two classes in {str(folder)!r}")
    clips = [d for d in decoded if not isinstance(d, str)]
    rates = np.array([rate for _, rate in clips])
    seconds = np.array([len(wave) / rate for wave, rate in clips])
    # Each clip's RMS level in dB below full scale, as recorded (before cropping or padding).
    rms = np.array([rms_dbfs(wave) for wave, _ in clips], dtype=np.float64)
    if for_predict is not None:
        n_samples = int(for_predict["samples"])
    else:
        used = float(np.clip(np.median(seconds), MIN_SECONDS, MAX_SECONDS))
        n_samples = round(used * SAMPLE_RATE)
        if len(set(rates.tolist())) > 1:
            findings.append(_mixed_rates(Counter(rates.tolist()), limit))
        if seconds.max() > LENGTH_RATIO * seconds.min():
            findings.append(_mixed_lengths(frame, seconds, n_samples / SAMPLE_RATE, limit))
    frames = 1 + n_samples // HOP
    if len(clips) * (2 * n_samples + 4 * N_MELS * frames) > MAX_BYTES:
        raise DataError(
            f"{len(clips)} clips of {n_samples / SAMPLE_RATE:.1f} s do not fit in memory; "
            "cut the recordings into fewer or shorter clips"
        )
    waves = np.zeros((len(clips), n_samples), dtype=np.float32)
    for i, (wave, rate) in enumerate(clips):
        if rate != SAMPLE_RATE:
            wave = librosa.resample(wave, orig_sr=rate, target_sr=SAMPLE_RATE)
        waves[i] = librosa.util.fix_length(np.clip(wave, -1.0, 1.0), size=n_samples)
    # The spectrogram is that of the stored 16-bit waveform, as the augmenter recomputes it.
    pcm = np.round(waves * 32767).astype(np.int16)
    spec = torch.from_numpy(log_mel(pcm / np.float32(32767)))[:, None]
    encoding = {
        "modality": "audio", "sample_rate": SAMPLE_RATE, "samples": n_samples,
        "n_mels": N_MELS, "n_fft": N_FFT, "hop_length": HOP, "floor_db": FLOOR_DB,
    }  # fmt: skip
    return Samples(
        kind="audio",
        frame=frame,
        key=PATH,
        inputs=(spec, torch.from_numpy(pcm)),
        encoding=encoding,
        info={"clips": len(clips), "seconds": n_samples / SAMPLE_RATE, "frames": frames},
        findings=findings,
        extras={"fingerprint": fingerprints(spec), "seconds": seconds, "rms_dbfs": rms},
    )


def check_near_duplicates(
    samples: Samples, splits: Splits, error_fraction: float, limit: int
) -> Finding | None:
    """Validation and test clips that nearly copy a training clip (TW-D06): log-mel
    fingerprints at most :data:`HASH_BITS` bits apart, confirmed by spectrograms at most
    :data:`DB_TOLERANCE` dB apart on average."""
    hashes = samples.extras["fingerprint"]
    spec = samples.inputs[0].reshape(len(hashes), -1)

    def same(a: int, b: int) -> bool:
        return float((spec[a] - spec[b]).abs().mean()) <= DB_TOLERANCE

    return hashed_near_copies(
        hashes, same, splits, samples.frame[PATH].tolist(), max_bits=HASH_BITS, noun="clip",
        signature="log-mel fingerprint", error_fraction=error_fraction, limit=limit,
        fix="Remove the copies before training (keep one of each); to proceed knowingly: "
        "--allow near-duplicate-across-splits",
    )  # fmt: skip


def augmenter(cfg: AugmentConfig, samples: Samples) -> tuple[Augment | None, dict[str, Any]]:
    """Time shift, time stretch, pitch shift and noise on the training waveforms (TW-D10),
    then the spectrograms recomputed; every random draw comes from the generator given."""
    if not cfg.enabled:
        return None, {"enabled": False}
    am = import_audio("audiomentations")
    # The transforms' own draws use the global `random` module; their parameters are frozen
    # and set per clip from the loop's generator instead, so a resumed run replays them.
    shift = am.Shift(min_shift=-SHIFT_FRACTION, max_shift=SHIFT_FRACTION, rollover=False, p=1.0)
    stretch = am.TimeStretch(
        min_rate=STRETCH_RATE[0], max_rate=STRETCH_RATE[1], leave_length_unchanged=True, p=1.0
    )
    pitch = am.PitchShift(min_semitones=PITCH_SEMITONES[0], max_semitones=PITCH_SEMITONES[1], p=1.0)
    for transform in (shift, stretch, pitch):
        transform.freeze_parameters()

    def between(low: float, high: float, u: float) -> float:
        return low + (high - low) * u

    def augment(inputs: Inputs, gen: torch.Generator) -> Inputs:
        _, pcm = inputs
        n, length = pcm.shape
        use = (torch.rand(n, 4, generator=gen) < AUGMENT_P).numpy()
        u = torch.rand(n, 4, generator=gen, dtype=torch.float64).numpy()
        noise = torch.randn(n, length, generator=gen).numpy()
        waves = pcm.numpy() / np.float32(32767)
        for i in range(n):
            y = waves[i]
            if use[i, 0]:
                shift.parameters = {"should_apply": True, "shift_amount": between(
                    -SHIFT_FRACTION, SHIFT_FRACTION, u[i, 0])}  # fmt: skip
                y = shift(y, SAMPLE_RATE)
            if use[i, 1]:
                stretch.parameters = {"should_apply": True, "rate": between(*STRETCH_RATE, u[i, 1])}
                y = stretch(y, SAMPLE_RATE)
            if use[i, 2]:
                pitch.parameters = {
                    "should_apply": True, "num_semitones": between(*PITCH_SEMITONES, u[i, 2])
                }  # fmt: skip
                y = pitch(y, SAMPLE_RATE)
            if use[i, 3]:
                rms = float(np.sqrt(np.mean(y**2)))
                y = y + noise[i] * rms * 10 ** (-between(*NOISE_SNR_DB, u[i, 3]) / 20)
            waves[i] = y[:length] if len(y) >= length else np.pad(y, (0, length - len(y)))
        return (torch.from_numpy(log_mel(waves))[:, None], pcm)

    return augment, {
        "domain": "waveform (audiomentations), log-mel recomputed per batch",
        "probability": AUGMENT_P,
        "time_shift_fraction": SHIFT_FRACTION,
        "time_stretch_rate": list(STRETCH_RATE),
        "pitch_shift_semitones": list(PITCH_SEMITONES),
        "noise_snr_db": list(NOISE_SNR_DB),
    }


class PooledMFCC:
    """MFCCs of each clip's log-mel (librosa), their mean and standard deviation over time,
    standardized with training statistics: the linear baseline's features (TW-A08, D08).

    ``fit`` learns ``mean_`` and ``std_``; ``transform`` gives ``(n, 2 * n_mfcc)``.
    """

    def __init__(self, n_mfcc: int = 20) -> None:
        self.n_mfcc = n_mfcc
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def _pooled(self, samples: Samples) -> np.ndarray:
        librosa = import_audio("librosa")
        spec = samples.inputs[0][:, 0].numpy().astype(np.float64)
        mfcc = librosa.feature.mfcc(S=spec, n_mfcc=self.n_mfcc)  # (n, n_mfcc, frames)
        return np.concatenate([mfcc.mean(axis=2), mfcc.std(axis=2)], axis=1)

    def fit(self, samples: Samples) -> PooledMFCC:
        x = self._pooled(samples)
        self.mean_, self.std_ = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-6)
        return self

    def _stats(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("PooledMFCC is not fitted; call fit(training samples) first")
        return self.mean_, self.std_

    def transform(self, samples: Samples) -> np.ndarray:
        mean, std = self._stats()
        return (self._pooled(samples) - mean) / std

    def to_json(self) -> dict[str, Any]:
        mean, std = self._stats()
        return {
            "name": "pooled_mfcc",
            "n_mfcc": self.n_mfcc,
            "mean": mean.tolist(),
            "std": std.tolist(),
        }

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> PooledMFCC:
        features = cls(int(spec["n_mfcc"]))
        features.mean_ = np.asarray(spec["mean"], dtype=np.float64)
        features.std_ = np.asarray(spec["std"], dtype=np.float64)
        return features


def folder_sha256(folder: Path, paths: pd.Series) -> str:
    """The folder's content: each file's name relative to it, then its bytes' sha256."""
    from trainwell.data.load import file_sha256

    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(Path(path).relative_to(folder)).encode())
        digest.update(bytes.fromhex(file_sha256(Path(path))))
    return digest.hexdigest()


class AudioModality(BaseModality):
    """A folder with one sub-folder per class of sound files (``sounds/dog/1.wav``)."""

    name = "audio"
    served_files = True
    options = NETWORK_OPTIONS

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        return isinstance(data, str | Path) and Path(data).is_dir() and is_audio_folder(Path(data))

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        check_weights_file(cfg)
        if cfg.report.groups:
            raise ConfigError(
                "--groups needs columns beside the examples; a folder of sound files has none "
                "(per-group metrics work on tables and text)"
            )
        if cfg.model.name not in {"auto", "audio_cnn"}:
            raise ConfigError(
                f"unknown audio architecture model.name={cfg.model.name!r}; the audio "
                "architecture is audio_cnn"
            )
        folder = Path(str(data))
        if not cfg.data.target:
            cfg.data.target = LABEL
        samples = load(folder, cfg)
        sha = folder_sha256(folder, samples.frame[PATH])
        return Read(
            rows_dataset(samples.frame, cfg, str(data), sha, samples.key),
            samples,
            str(folder.resolve()),
        )

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        assert read.samples is not None
        seconds = read.samples.info["seconds"]
        return Choice(
            "audio_cnn",
            f"log-mel spectrograms of {seconds:.2f} s clips ({N_MELS} mel bands): a small "
            f"residual CNN, the standard from-scratch model for {len(splits.train)} training "
            "clips (TW-A01, A02); no pre-trained audio weights ship with trainwell",
            cfg.model.pretrained,
        )

    def audit_checks(
        self, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding | None]:
        share, limit = cfg.audit.shared_rows_error_fraction, cfg.audit.evidence_limit
        return [check_near_duplicates(samples, splits, share, limit)]

    def build_network(
        self,
        samples: Samples,
        choice: Choice,
        task: Task,
        n_classes: int,
        y_train: np.ndarray,
        weighted: bool,
        cfg: FitConfig,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        # TW-A02: a narrower network for few clips.
        width = 16 if len(samples) < 2000 else 32
        backbone = build_backbone(
            {"name": "audio_cnn", "n_mels": int(samples.inputs[0].shape[2]), "width": width}
        )
        return backbone_network(backbone, choice, samples, task, n_classes, y_train, cfg)

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        return augmenter(cfg.augment, samples)

    def baseline_features(self, train: Samples) -> PooledMFCC:
        return PooledMFCC().fit(train)

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        front = {"sample_rate": SAMPLE_RATE, "n_mels": N_MELS, "n_fft": N_FFT, "hop_length": HOP}
        if any(encoding.get(k) != v for k, v in front.items()):
            raise RunError(
                f"{str(folder)!r} was trained with another audio front end "
                f"({ {k: encoding.get(k) for k in front} }); predict with that trainwell version"
            )
        if isinstance(data, pd.DataFrame) or not Path(data).exists():
            raise DataError("an audio model predicts a folder of sound files (or one file)")
        return load(Path(data), FitConfig(), for_predict=encoding)

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str]:
        """One example is one sound file's bytes (WAV, FLAC, OGG, AIFF), base64-encoded."""
        return {"audio": "audio"}

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        """The sounds written into ``scratch`` as files named in the examples' order, each
        with its type's suffix (the folder ``predict`` reads, with this modality's reader).

        Raises:
            DataError: an example is not base64.
        """
        return write_served_files(examples, "audio", scratch, "sound", sound_suffix)

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """Each clip's duration (seconds, as recorded) and RMS level (dB below full scale):
        longer or shorter recordings, a louder or quieter microphone move these."""
        return {
            "duration": ("numeric", pd.Series(samples.extras["seconds"], dtype=float)),
            "rms dbfs": ("numeric", pd.Series(samples.extras["rms_dbfs"], dtype=float)),
        }

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        return keyed_predictions(samples, predictions)

    def load_features(self, spec: dict[str, Any]) -> PooledMFCC:
        return PooledMFCC.from_json(spec)
