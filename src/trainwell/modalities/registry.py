"""The registered modalities, and the one that claims a given dataset.

Adding a kind of data is one module implementing :class:`~trainwell.modalities.base.Modality`
and one line here. The registry asks each modality in order whether it claims the data
(a folder of images, ``--text``, ``--series``, ...); tables claim whatever is left.
"""

from __future__ import annotations

from trainwell.config import FitConfig
from trainwell.modalities.audio import AudioModality
from trainwell.modalities.base import DataSource, Modality
from trainwell.modalities.image import ImageModality
from trainwell.modalities.series import SeriesModality
from trainwell.modalities.table import TableModality
from trainwell.modalities.text import TextModality
from trainwell.modalities.wide_series import WideSeriesModality

# Asked in this order; the table is the fallback and stays last.
REGISTRY: dict[str, Modality] = {
    "audio": AudioModality(),
    "image": ImageModality(),
    "text": TextModality(),
    "series": SeriesModality(),
    "wide_series": WideSeriesModality(),
    "table": TableModality(),
}


def modality_for(data: DataSource, cfg: FitConfig) -> Modality:
    """The modality that claims ``data`` under ``cfg`` (``--text`` and ``--series`` together
    are refused by :class:`~trainwell.config.DataConfig`)."""
    for modality in REGISTRY.values():
        if modality.claims(data, cfg):
            return modality
    raise AssertionError("the table modality claims any data")  # pragma: no cover
