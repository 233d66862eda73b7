"""Export and compression of a run's shipped model (TW-P01-P04, P08).

``trainwell export RUN_DIR --format onnx|torchscript`` writes ``RUN_DIR/export/model.onnx``
(or ``model.pt``) and ``RUN_DIR/export/export.json``; ``trainwell predict
RUN_DIR/export/model.onnx new.csv`` then predicts with ONNX Runtime, the same table as
``trainwell predict RUN_DIR new.csv``.

What the exported file holds, and what travels beside it:

* A table's ONNX file takes the raw columns, one named input per column (numbers and
  booleans as float32, dates as int64 nanoseconds, categories as strings;
  :mod:`trainwell.export.raw`): the category vocabularies (``ai.onnx.ml`` LabelEncoder), the
  dates' calendar parts (:mod:`trainwell.export.calendar`), imputation, missing indicators,
  standardization, one-hot and embeddings are all in the graph, in front of the network or
  the LightGBM trees. Its TorchScript file takes the same columns as
  ``forward(columns: Dict[str, Tensor], categories: Dict[str, List[str]])``, the vocabulary
  lookup scripted inside (:mod:`trainwell.export.script`). What neither can express stays in
  Python and ``export.json`` says so under ``raw_inputs.outside``: parsing a date's text, a
  boolean column's words (yes/no).
* A wide series' files take the row's values with their gaps (NaN) and fill them inside
  (:mod:`trainwell.export.gaps`).
* Other modalities' files take the encoded tensors and hold the numeric preprocessing the
  network carries (the image and series standardization): decoding images, tokenizing texts,
  grouping and resampling series is not arithmetic on tensors, so the exact encoding travels
  beside the file as JSON in ``export.json`` (its ``model.json``), and ``export.json`` says
  under ``raw_inputs`` what stays outside the graph. A tokenizer's files are copied beside
  the export, listed with their sha256. ``trainwell predict`` on the exported file takes raw
  data for every modality. Which modalities take raw inputs, per format:
  :mod:`trainwell.export.inputs`.
* A shipped linear baseline exports like a network (:mod:`trainwell.export.linear`) when its
  features can be computed by torch from the input tensors (pooled pixels, series
  statistics); a text's TF-IDF cannot, and its export is refused with why.

Every export is checked on the validation split (never the test split) before it is kept:
the largest absolute output difference and the prediction agreement with the run's model are
recorded, and an export beyond the tolerance (:data:`~trainwell.export.exporter.ATOL`) is
refused with the numbers. Loading checks the file's sha256 (a changed file is refused).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainwell.export.exporter import ATOL, RTOL, Parity, check_parity, export_run
    from trainwell.export.load import load_exported

__all__ = ["ATOL", "RTOL", "Parity", "check_parity", "export_run", "load_exported"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the report imports trainwell.export.report, and the exporter
    # imports the pipeline, which imports the report.
    if name == "load_exported":
        from trainwell.export import load

        return load.load_exported
    if name in __all__:
        from trainwell.export import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'trainwell.export' has no attribute {name!r}")
