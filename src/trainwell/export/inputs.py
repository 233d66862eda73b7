"""Which modalities' exported files take raw inputs, per format, by registry name.

A modality listed here has its encoding (or the part of it that ONNX or TorchScript can
express) inside the exported file; the others' files take the encoded tensors, and
:func:`trainwell.export.raw.outside_the_graph` says what stays beside them.
"""

from __future__ import annotations

from trainwell.export.gaps import WideSeriesGaps, WideSeriesGapsScript
from trainwell.export.raw import RawGraph, TableColumns
from trainwell.export.script import RawScript, TableScript

RAW_GRAPHS: dict[str, RawGraph] = {"table": TableColumns(), "wide_series": WideSeriesGaps()}
RAW_SCRIPTS: dict[str, RawScript] = {"table": TableScript(), "wide_series": WideSeriesGapsScript()}
