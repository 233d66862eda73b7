"""Tiny datasets for every registered modality, laid out as a user lays them out.

Every modality in :data:`trainwell.modalities.registry.REGISTRY` must have a factory here
(``test_every_registered_modality_has_contract_data`` fails otherwise), so a new modality
cannot be registered without running the contract battery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from modality_data import make_reviews, make_sensors, write_digits, write_tones


@dataclass
class ContractData:
    """One modality's data: what ``fit`` takes, its options, new data for ``predict``, and a
    column for ``--groups`` (None: the modality must refuse ``--groups`` with a reason)."""

    data: object
    options: dict[str, str]
    new: object
    groups: str | None = None
    # Keys beyond the defaults that keep the network tiny for this modality.
    overrides: list[str] = field(default_factory=list)


def _table(folder: Path) -> ContractData:
    rng = np.random.default_rng(0)
    n = 240
    x = rng.normal(size=(n, 3))
    region = rng.choice(["north", "south"], size=n)
    label = np.where(x[:, 0] + 0.5 * x[:, 1] + (region == "north") > 0.3, "yes", "no")
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2], "region": region, "y": label})
    frame.to_csv(folder / "table.csv", index=False)
    return ContractData(
        folder / "table.csv", {"target": "y"}, frame.drop(columns="y").head(7), "region"
    )


def _image(folder: Path) -> ContractData:
    photos = write_digits(folder / "photos", range(3), per_class=14)
    new = write_digits(folder / "new", range(3), per_class=2, skip=40)
    return ContractData(photos, {"target": "label"}, new)


def _text(folder: Path) -> ContractData:
    frame = make_reviews(160)
    frame["source"] = np.where(np.arange(len(frame)) % 2 == 0, "web", "shop")
    frame.to_csv(folder / "reviews.csv", index=False)
    return ContractData(
        folder / "reviews.csv",
        {"target": "sentiment", "text": "review"},
        frame.drop(columns="sentiment").head(5),
        "source",
        ["model.name=bag_of_embeddings"],
    )


def _series(folder: Path) -> ContractData:
    frame = make_sensors(60, length=24)
    frame.to_csv(folder / "sensors.csv", index=False)
    new = make_sensors(4, length=24, seed=9).drop(columns="activity")
    return ContractData(
        folder / "sensors.csv", {"target": "activity", "series": "id", "time": "t"}, new
    )


def _wide_series(folder: Path) -> ContractData:
    """Wide series: one row per example, columns t0 ... t31 one signal (TW-A01)."""
    rng = np.random.default_rng(1)
    rows, labels = [], []
    t = np.arange(32)
    for i in range(90):
        kind = ["sine", "square", "ramp"][i % 3]
        wave = np.sin(2 * np.pi * t / rng.uniform(8, 14) + rng.uniform(0, 6))
        if kind == "square":
            wave = np.sign(wave)
        elif kind == "ramp":
            wave = (t / 32.0) * 2 - 1 + 0.2 * wave
        rows.append(wave + rng.normal(0, 0.2, len(t)))
        labels.append(kind)
    frame = pd.DataFrame(np.array(rows), columns=[f"t{i}" for i in t])
    frame["shape"] = labels
    frame.to_csv(folder / "wide.csv", index=False)
    return ContractData(
        folder / "wide.csv", {"target": "shape"}, frame.drop(columns="shape").head(4)
    )


def _audio(folder: Path) -> ContractData:
    sounds = write_tones(folder / "sounds", per_class=12)
    new = write_tones(folder / "new", per_class=2, seed=5, labelled=False)
    return ContractData(sounds, {"target": "label"}, new)


FACTORIES: dict[str, Callable[[Path], ContractData]] = {
    "audio": _audio,
    "table": _table,
    "image": _image,
    "text": _text,
    "series": _series,
    "wide_series": _wide_series,
}
