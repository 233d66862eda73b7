"""Raw columns in: the table's encoding folded into the exported ONNX graph (TW-P01, D09).

An exported table model takes the same raw columns ``trainwell predict`` takes, one named
graph input per column, instead of the encoded tensors:

* a numeric column: ``float32 [N, 1]``, NaN where missing (±inf are missing too, as the
  encoder reads them);
* a categorical column: ``string [N, 1]``, the value as text (``str``); a value the training
  split never had, or missing (any text outside the vocabulary, e.g. ``""``), is code 0;
* a boolean column: ``float32 [N, 1]``, the column's truth values as numbers (1 true,
  0 false, NaN missing: a numpy bool array cast to float32). A column of words is read into
  them in Python (``true/yes/y/t`` are 1, compared after stripping and lowering): the input
  stays numeric so that a bool column passes straight in (ONNX's string operators could
  read the words, through a second, string input per column, which is not built);
* a datetime column: ``int64 [N, 1]``, nanoseconds since 1970-01-01 UTC (numpy's
  ``datetime64[ns]`` viewed as int64; NaT is missing). Parsing a date's text is not
  expressible in ONNX and stays in Python (:data:`~trainwell.export.calendar.PARSED_OUTSIDE`);
  the six calendar parts the encoder expands it into are computed in the graph
  (:mod:`trainwell.export.calendar`).

In the graph, after these inputs: the category vocabularies (``ai.onnx.ml`` ``LabelEncoder``,
text to code), the dates' calendar parts, ±inf to NaN, then the network (median imputation,
missing indicators, standardization, one-hot and embeddings) or the LightGBM trees. The
encoding graph is written with the ``onnx.helper`` API and joined to the network's graph with
``onnx.compose.merge_models`` (the network's names are prefixed ``net/`` so that no column
name can clash with them).

A wide series' gap fill is in its graph too (:mod:`trainwell.export.gaps`). Other
modalities' raw inputs are files or long tables (images decoded and resized, texts
normalized and tokenized, series grouped, ordered and resampled, sounds decoded): none of it
is arithmetic on tensors, so their graphs take the encoded tensors and the exact encoding
travels beside the file (``export.json``); ``trainwell predict`` on the exported file still
takes the raw data for every modality.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd

from trainwell.errors import RunError
from trainwell.export.calendar import PARSED_OUTSIDE, date_stamps, onnx_date_parts
from trainwell.preprocess import FeatureEncoder

ML_DOMAIN = "ai.onnx.ml"
ML_OPSET = 3  # LabelEncoder-2 (string keys to int64 values); ONNX Runtime runs it
PREFIX = "net/"
MIN_OPSET = 15  # the encoding graph's operators (IsInf: 10) in the opset LightGBM is asked for


class RawGraph(Protocol):
    """A modality whose raw inputs an ONNX graph can take: the encoding graph joined in front
    of the exported one, and raw data turned into that graph's named inputs."""

    def fold(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        """The exported graph ``data`` (encoded tensors in) with the encoding in front."""
        ...

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> dict[str, np.ndarray]:
        """Raw rows as the folded graph's named inputs."""
        ...

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        """The folded graph's inputs: name, kind, element type, width."""
        ...

    def outside(self, encoding: dict[str, Any]) -> str:
        """What of the encoding stays in Python, before the folded graph's inputs."""
        ...


def table_encoder(encoding: dict[str, Any]) -> FeatureEncoder:
    return FeatureEncoder.from_json(encoding["encoder"])


def _graph_inputs(encoder: FeatureEncoder) -> list[dict[str, Any]]:
    """The exported graph's inputs, one per raw column: name, kind, element type and width
    (what ``export.json`` records under ``raw_inputs``)."""
    dtypes = {"categorical": "string", "datetime": "int64"}
    return [
        {"name": col.name, "kind": col.kind, "dtype": dtypes.get(col.kind, "float32"), "width": 1}
        for col in encoder.columns
    ]


def table_outside(encoder: FeatureEncoder) -> str:
    """What of a table's encoding stays in Python before an exported file's inputs."""
    kinds = {col.kind for col in encoder.columns}
    steps = ["text in a numeric column is read as a number or refused (pandas.to_numeric)"]
    if "boolean" in kinds:
        steps.append(
            "a boolean column's words (true/yes/y/t after strip and lower-case: 1, other "
            "words 0) are read into float32 1/0/NaN, the file's boolean input, which takes "
            "a bool column's values as they are (reading words in the file would need a "
            "second, string input per column; not done)"
        )
    if "datetime" in kinds:
        steps.append(PARSED_OUTSIDE)
    return "; ".join(steps)


def _encoding_graph(encoder: FeatureEncoder, opset: int, ir_version: int, lightgbm: bool) -> Any:
    """The ONNX graph from raw columns to the encoded tensors: outputs ``num`` (float32
    ``[N, numeric width]``) and ``cat`` (int64 ``[N, categorical columns]``), or for LightGBM
    one float32 matrix ``matrix`` (``num`` then the codes, as ``lightgbm_matrix``)."""
    from onnx import TensorProto, helper

    nodes: list[Any] = []
    inputs: list[Any] = []
    numeric: list[str] = []
    codes: list[str] = []
    for i, col in enumerate(encoder.columns):
        if col.kind == "datetime":
            inputs.append(helper.make_tensor_value_info(col.name, TensorProto.INT64, ["N", 1]))
            onnx_date_parts(nodes, col.name, f"raw/parts{i}", f"raw/date{i}")
            numeric.append(f"raw/parts{i}")
            continue
        if col.kind == "categorical":
            inputs.append(helper.make_tensor_value_info(col.name, TensorProto.STRING, ["N", 1]))
            out = f"raw/code{i}"
            vocab = encoder.vocab[col.name]
            nodes.append(
                helper.make_node(
                    "LabelEncoder",
                    [col.name],
                    [out],
                    domain=ML_DOMAIN,
                    keys_strings=vocab or [""],
                    values_int64s=list(range(1, len(vocab) + 1)) or [0],
                    default_int64=0,
                    name=f"raw/vocabulary{i}",
                )
            )
            codes.append(out)
        else:
            inputs.append(helper.make_tensor_value_info(col.name, TensorProto.FLOAT, ["N", 1]))
            numeric.append(col.name)
    first = inputs[0].name
    # The batch size as a [1] tensor (Shape then Gather: valid in every opset the graphs use).
    index = helper.make_tensor("raw/index", TensorProto.INT64, [1], [0])
    nodes += [
        helper.make_node("Shape", [first], ["raw/shape_all"]),
        helper.make_node("Constant", [], ["raw/first"], value=index),
        helper.make_node("Gather", ["raw/shape_all", "raw/first"], ["raw/shape"], axis=0),
    ]

    def joined(names: list[str], out: str, dtype: int) -> None:
        if names:
            nodes.append(helper.make_node("Concat", names, [out], axis=1))
            return
        # No column of this kind: a [N, 0] tensor, so the network's input still exists.
        zero = helper.make_tensor("raw/zero", TensorProto.INT64, [1], [0])
        nodes.append(helper.make_node("Constant", [], [out + "/width"], value=zero))
        nodes.append(
            helper.make_node("Concat", ["raw/shape", out + "/width"], [out + "/dims"], axis=0)
        )
        value = helper.make_tensor("raw/fill", dtype, [1], [0])
        nodes.append(helper.make_node("ConstantOfShape", [out + "/dims"], [out], value=value))

    joined(numeric, "raw/num_in", TensorProto.FLOAT)
    # ±inf (and values float32 cannot hold, which the cast made inf) are missing.
    nan = helper.make_tensor("raw/nan", TensorProto.FLOAT, [], [float("nan")])
    nodes += [
        helper.make_node("IsInf", ["raw/num_in"], ["raw/inf"]),
        helper.make_node("Constant", [], ["raw/nan"], value=nan),
        helper.make_node("Where", ["raw/inf", "raw/nan", "raw/num_in"], ["num"]),
    ]
    joined(codes, "cat", TensorProto.INT64)
    if lightgbm:
        nodes += [
            helper.make_node("Cast", ["cat"], ["raw/cat_float"], to=TensorProto.FLOAT),
            helper.make_node("Concat", ["num", "raw/cat_float"], ["matrix"], axis=1),
        ]
        outputs = [helper.make_tensor_value_info("matrix", TensorProto.FLOAT, ["N", None])]
    else:
        outputs = [
            helper.make_tensor_value_info("num", TensorProto.FLOAT, ["N", None]),
            helper.make_tensor_value_info("cat", TensorProto.INT64, ["N", None]),
        ]
    graph = helper.make_graph(nodes, "trainwell_table_encoding", inputs, outputs)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(ML_DOMAIN, ML_OPSET)],
    )
    model.ir_version = ir_version
    return model


def _with_raw_columns(data: bytes, encoding: dict[str, Any]) -> bytes:
    """An exported table graph (inputs ``input0`` numeric and ``input1`` codes, or LightGBM's
    ``input``) with the encoding graph in front: raw columns in, the same outputs out.

    Raises:
        RunError: the graphs cannot be joined (an input the encoding does not produce).
    """
    import onnx
    from onnx import compose, version_converter

    encoder = table_encoder(encoding)
    if not encoder.columns:
        raise RunError("the table model has no input columns to export")
    net = onnx.load_from_string(data)
    if {o.domain: o.version for o in net.opset_import}.get("", 0) < MIN_OPSET:
        # onnxmltools writes the lowest opset its trees need (9); IsInf needs 10.
        net = version_converter.convert_version(net, MIN_OPSET)
    names = [i.name for i in net.graph.input]
    lightgbm = names == ["input"]
    opsets = {o.domain: o.version for o in net.opset_import}
    pre = _encoding_graph(encoder, opsets.get("", 20), net.ir_version, lightgbm)
    if lightgbm:
        io_map = [("matrix", PREFIX + "input")]
    else:
        produced = {"input0": "num", "input1": "cat"}
        unknown = [n for n in names if n not in produced]
        if unknown:
            raise RunError(f"the exported graph reads {unknown}, which no table column gives")
        io_map = [(produced[n], PREFIX + n) for n in names]
    net = compose.add_prefix(net, PREFIX)
    # Both graphs must import one ml opset: LightGBM's trees (onnxmltools writes ml opset 1)
    # are the same operators in ml opset 3, which LabelEncoder's string keys need.
    for entry in net.opset_import:
        if entry.domain == ML_DOMAIN and entry.version < ML_OPSET:
            entry.version = ML_OPSET
    merged = compose.merge_models(pre, net, io_map=io_map)
    _rename_outputs(merged, {i.name for i in merged.graph.input})
    onnx.checker.check_model(merged)
    return bytes(merged.SerializeToString())


def _rename_outputs(model: Any, taken: set[str]) -> None:
    """``net/output`` back to ``output`` (and LightGBM's ``net/label``, ``net/probabilities``)
    unless a column already has that name."""
    for out in model.graph.output:
        plain = out.name.removeprefix(PREFIX)
        if plain == out.name or plain in taken:
            continue
        for node in model.graph.node:
            node.output[:] = [plain if o == out.name else o for o in node.output]
            node.input[:] = [plain if o == out.name else o for o in node.input]
        out.name = plain


def _raw_feeds(frame: pd.DataFrame, encoding: dict[str, Any]) -> dict[str, np.ndarray]:
    """Raw rows as the graph's named inputs (see the module docstring for each kind).

    Raises:
        DataError: a column is missing, or a numeric column holds text (as ``predict``).
    """
    encoder = table_encoder(encoding)
    encoder.check_columns(frame)
    frame = frame.reset_index(drop=True)
    feeds: dict[str, np.ndarray] = {}
    for col in encoder.columns:
        values = frame[col.name]
        if col.kind == "categorical":
            text = values.astype("string").fillna("")
            feeds[col.name] = text.to_numpy(dtype=object).reshape(-1, 1)
        elif col.kind == "datetime":
            feeds[col.name] = date_stamps(values)
        else:
            feeds[col.name] = encoder.column(col, values).astype(np.float32)
    return feeds


class TableColumns:
    """Tables: one graph input per raw column (:class:`RawGraph`)."""

    def fold(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        return _with_raw_columns(data, encoding)

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> dict[str, np.ndarray]:
        return _raw_feeds(frame, encoding)

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        return _graph_inputs(table_encoder(encoding))

    def outside(self, encoding: dict[str, Any]) -> str:
        return table_outside(table_encoder(encoding))


# What stays outside the graph for the modalities without raw inputs in their exported
# files (trainwell.export.inputs), shipped beside it as the exact encoding.
OUTSIDE_THE_GRAPH: dict[str, str] = {
    "image": "decoding the image files and resizing them (the graph takes the pixel tensor "
    "[N, channels, height, width] and standardizes it)",
    "text": "normalizing and tokenizing the texts (the graph takes token ids and their mask); "
    "the tokenizer's files are copied beside the export",
    "series": "grouping the long table's rows by series, ordering by time and resampling to "
    "the trained length (the graph takes [N, length, channels] and standardizes it)",
    "audio": "decoding the sound files and computing their spectrograms",
}


def outside_the_graph(modality: str) -> str:
    """What of ``modality``'s encoding the exported graph does not hold (for export.json and
    the export message)."""
    return OUTSIDE_THE_GRAPH.get(
        modality, f"the {modality} encoding (the graph takes the encoded tensors)"
    )
