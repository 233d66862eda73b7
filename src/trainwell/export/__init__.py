"""Export and compression of a run's shipped model (TW-P01-P04, P08).

``trainwell export RUN_DIR --format onnx|torchscript`` writes ``RUN_DIR/export/model.onnx``
(or ``model.pt``) and ``RUN_DIR/export/export.json``; ``trainwell predict
RUN_DIR/export/model.onnx new.csv`` then predicts with ONNX Runtime, the same table as
``trainwell predict RUN_DIR new.csv``.

What the exported file holds, and what travels beside it:

* In the graph: the network's ``predict`` with every fitted preprocessing step the network
  carries (a table's median imputation, missing indicators, standardization, one-hot and
  embeddings of category codes; the image and series standardization), ending in
  probabilities or values in the target's units. A LightGBM model is converted by
  onnxmltools and reads the encoded columns as one float32 matrix.
* Beside it, as JSON in ``export.json`` (the exported model's ``model.json``): the exact
  encoding from raw data to the graph's input tensors, the same one ``trainwell predict``
  applies. It is not folded into the graph, because it is not arithmetic on tensors: a
  table's category vocabularies map strings to codes, booleans and dates are parsed, images
  are decoded from files, texts tokenized, long-format series grouped and windowed. ONNX can
  express only a fraction of that (string label encoders), so the file takes the encoded
  tensors and the recorded encoding produces them, in Python, exactly as for the run's model.
  A tokenizer's files are copied beside the export, listed with their sha256.

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
