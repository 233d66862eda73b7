"""Session fixtures: the generated image, text and series datasets on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from modality_data import make_reviews, make_sensors, write_digits


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_digits(tmp_path_factory.mktemp("photos") / "digits")


@pytest.fixture(scope="session")
def reviews_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "reviews.csv"
    make_reviews(240).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def sensors_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("series") / "sensors.csv"
    make_sensors(150).to_csv(path, index=False)
    return path
