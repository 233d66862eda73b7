"""Small image, text and series datasets, laid out as users lay them out (tests/modalities)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_digits

POSITIVE = [
    "good",
    "great",
    "excellent",
    "lovely",
    "superb",
    "wonderful",
    "fine",
    "pleasant",
    "brilliant",
    "happy",
]
NEGATIVE = [
    "bad",
    "awful",
    "terrible",
    "poor",
    "horrible",
    "dreadful",
    "nasty",
    "sad",
    "broken",
    "boring",
]
FILLER = [
    "the",
    "a",
    "this",
    "that",
    "product",
    "item",
    "service",
    "movie",
    "book",
    "it",
    "was",
    "is",
    "really",
    "quite",
    "very",
    "and",
    "overall",
    "i",
    "we",
    "found",
    "thought",
    "felt",
    "delivery",
    "price",
]


def write_digits(
    folder: Path,
    classes: range = range(10),
    per_class: int | None = None,
    *,
    skip: int = 0,
    name: Callable[[int], str] = str,
) -> Path:
    """sklearn's 8x8 digits as PNG files, one sub-folder per class (``name(digit)``); the
    first ``skip`` images of each digit are left out, so two calls can take disjoint sets."""
    digits = load_digits()
    seen: dict[int, int] = {}
    for i, (img, y) in enumerate(zip(digits.images, digits.target, strict=True)):
        if y not in classes:
            continue
        seen[y] = seen.get(y, 0) + 1
        if seen[y] <= skip or (per_class is not None and seen[y] > skip + per_class):
            continue
        (folder / name(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray((img * 255 / 16).astype(np.uint8)).save(folder / name(y) / f"{i:04d}.png")
    return folder


def make_reviews(n: int, seed: int = 0) -> pd.DataFrame:
    """Short reviews whose sentiment words say the label (5% of labels flipped)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        label = rng.choice(["negative", "positive"])
        words = list(rng.choice(FILLER, size=rng.integers(4, 9)))
        cue = POSITIVE if label == "positive" else NEGATIVE
        for _ in range(rng.integers(1, 3)):
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(cue)))
        if rng.random() < 0.05:
            label = "positive" if label == "negative" else "negative"
        rows.append({"review": " ".join(words), "sentiment": label})
    return pd.DataFrame(rows)


def make_sensors(n_series: int, length: int = 40, seed: int = 0) -> pd.DataFrame:
    """Two-channel series of three activities (sine, square, sawtooth of random phase and
    period, plus noise), one row per time step."""
    rng = np.random.default_rng(seed)
    rows = []
    for sid in range(n_series):
        activity = ["walk", "run", "sit"][sid % 3]
        t = np.arange(length)
        phase, period = rng.uniform(0, 2 * np.pi), rng.uniform(8, 14)
        wave = np.sin(2 * np.pi * t / period + phase)
        if activity == "run":
            wave = np.sign(wave)
        elif activity == "sit":
            wave = ((t / period + phase) % 1.0) * 2 - 1
        a = wave + rng.normal(0, 0.3, length)
        b = 0.5 * wave + rng.normal(0, 0.3, length)
        rows += [
            {"id": f"s{sid:03d}", "t": int(i), "ax": a[i], "ay": b[i], "activity": activity}
            for i in t
        ]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # rows in any order


CLASSES = ("low", "high", "chirp")


def tone(kind: str, rng: np.random.Generator, seconds: float, rate: int) -> np.ndarray:
    """One clip of class ``kind``: a low sine (250-400 Hz), a high sine (1.5-2.5 kHz) or a
    rising chirp (300 Hz to 3 kHz), at a random level, phase and onset, over faint noise."""
    t = np.arange(round(seconds * rate)) / rate
    phase = rng.uniform(0, 2 * np.pi)
    if kind == "chirp":
        f0, f1 = rng.uniform(250, 400), rng.uniform(2500, 3200)
        wave = np.sin(phase + 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds)))
    else:
        low, high = (250, 400) if kind == "low" else (1500, 2500)
        wave = np.sin(phase + 2 * np.pi * rng.uniform(low, high) * t)
    onset = rng.uniform(0, 0.2)
    envelope = (t >= onset * seconds) & (t <= (onset + rng.uniform(0.6, 0.8)) * seconds)
    noise = rng.normal(0, rng.uniform(0.003, 0.02), len(t))
    return (rng.uniform(0.2, 0.8) * wave * envelope + noise).astype(np.float32)


def write_tones(
    folder: Path,
    per_class: int,
    *,
    seed: int = 0,
    seconds: float = 0.5,
    rate: int = 16_000,
    classes: tuple[str, ...] = CLASSES,
    labelled: bool = True,
) -> Path:
    """``folder/CLASS/NN.wav`` (or ``folder/CLASS-NN.wav`` unlabelled), 16-bit PCM."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    for kind in classes:
        target = folder / kind if labelled else folder
        target.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            name = f"{i:02d}.wav" if labelled else f"{kind}-{i:02d}.wav"
            sf.write(target / name, tone(kind, rng, seconds, rate), rate, subtype="PCM_16")
    return folder
