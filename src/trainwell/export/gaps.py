"""A wide series' gap fill inside the exported file, ONNX and TorchScript (TW-P01).

A wide-series run (:mod:`trainwell.modalities.wide_series`) reads one row's time-step
columns as one signal and fills a missing step from its neighbours: a forward fill along the
row (the last value seen), then a backward fill for the steps before the first value (they
take the first value), then 0 for a row with no value at all (``_values``: pandas'
``ffill(axis=1).bfill(axis=1).fillna(0)``). The exported file takes the row's values with the
gaps still in them, ``signal``: float32 ``[N, length]`` in the recorded column order, NaN
where a step is missing, and fills them itself:

* ONNX has no cumulative maximum, so the forward fill is written without one: the positions
  of the present values, in order, are the first ``k`` indices of ``TopK`` (smallest first)
  over ``position`` for a present value and ``position + length`` for a gap; ``CumSum`` of
  the present flags counts the values seen up to each step, ``c``; the filled step is the
  ``max(c - 1, 0)``-th present value (``GatherElements`` twice). ``c = 0`` (before the first
  value) picks the first value, which is the backward fill; a row with no value picks a NaN,
  then 0. Cost: a sort of ``length`` keys per row.
* TorchScript has ``torch.cummax``: the index of the last present value up to each step,
  then the first present value for the steps before it.

Only reading the columns as numbers stays in Python (``pandas.to_numeric``, text is missing).
±inf is a value, not a gap, as in pandas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.errors import DataError, RunError
from trainwell.export.raw import PREFIX, _rename_outputs
from trainwell.export.script import ScriptFeeds, script_around

INPUT = "signal"
OUTSIDE = (
    "reading the signal's columns as numbers (pandas.to_numeric; text is a gap) into one "
    "float32 [N, length] input in the recorded column order; the gap fill (forward fill along "
    "the row, then backward fill before the first value, then 0 for an empty row) is in the "
    "file"
)


def signal_values(frame: pd.DataFrame, encoding: dict[str, Any]) -> np.ndarray:
    """The exported file's input: ``(n, length)`` float32, NaN where a step is missing.

    Raises:
        DataError: the data lacks some of the signal's columns (as ``predict``).
    """
    columns = encoding["columns"]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"the data lacks {len(missing)} of the signal's columns the model was trained "
            f"on: {', '.join(map(repr, missing[:10]))}"
        )
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    return values.to_numpy(dtype=np.float32, na_value=np.nan, copy=True)


def _fill_graph(length: int, opset: int, ir_version: int) -> Any:
    """ONNX graph ``signal`` ``[N, length]`` → ``filled`` ``[N, length, 1]`` (see the module
    docstring for the method)."""
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: Any) -> Any:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value))

    i64 = np.int64
    nodes = [
        const("gap/position", np.arange(length, dtype=i64)),
        const("gap/length", np.array(length, dtype=i64)),
        const("gap/k", np.array([length], dtype=i64)),
        const("gap/axis", np.array(1, dtype=i64)),
        const("gap/one", np.array(1, dtype=i64)),
        const("gap/zero", np.array(0, dtype=i64)),
        const("gap/zero_value", np.array(0.0, dtype=np.float32)),
        const("gap/last", np.array([2], dtype=i64)),
        helper.make_node("IsNaN", [INPUT], ["gap/missing"]),
        helper.make_node("Not", ["gap/missing"], ["gap/present"]),
        helper.make_node("Add", ["gap/position", "gap/length"], ["gap/late"]),
        helper.make_node("Where", ["gap/present", "gap/position", "gap/late"], ["gap/key"]),
        helper.make_node(
            "TopK", ["gap/key", "gap/k"], ["gap/keys", "gap/order"], axis=1, largest=0, sorted=1
        ),
        helper.make_node("GatherElements", [INPUT, "gap/order"], ["gap/compact"], axis=1),
        helper.make_node("Cast", ["gap/present"], ["gap/counted"], to=TensorProto.INT64),
        helper.make_node("CumSum", ["gap/counted", "gap/axis"], ["gap/seen"]),
        helper.make_node("Sub", ["gap/seen", "gap/one"], ["gap/previous"]),
        helper.make_node("Max", ["gap/previous", "gap/zero"], ["gap/pick"]),
        helper.make_node("GatherElements", ["gap/compact", "gap/pick"], ["gap/filled"], axis=1),
        helper.make_node("IsNaN", ["gap/filled"], ["gap/empty"]),
        helper.make_node("Where", ["gap/empty", "gap/zero_value", "gap/filled"], ["gap/row"]),
        helper.make_node("Unsqueeze", ["gap/row", "gap/last"], ["filled"]),
    ]
    graph = helper.make_graph(
        nodes,
        "trainwell_wide_series_gap_fill",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", length])],
        [helper.make_tensor_value_info("filled", TensorProto.FLOAT, ["N", length, 1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def _with_gap_fill(data: bytes, encoding: dict[str, Any]) -> bytes:
    """An exported wide-series graph (input ``input0``, ``[N, length, 1]``) with the gap fill
    in front: the row's values with gaps in, the same outputs out.

    Raises:
        RunError: the graph does not read one ``input0``.
    """
    import onnx
    from onnx import compose

    net = onnx.load_from_string(data)
    names = [i.name for i in net.graph.input]
    if names != ["input0"]:
        raise RunError(f"the exported series graph reads {names}, not one signal tensor")
    opsets = {o.domain: o.version for o in net.opset_import}
    pre = _fill_graph(int(encoding["length"]), max(opsets.get("", 13), 13), net.ir_version)
    net = compose.add_prefix(net, PREFIX)
    merged = compose.merge_models(pre, net, io_map=[("filled", PREFIX + "input0")])
    _rename_outputs(merged, {INPUT})
    onnx.checker.check_model(merged)
    return bytes(merged.SerializeToString())


def _inputs(encoding: dict[str, Any]) -> list[dict[str, Any]]:
    columns = list(encoding["columns"])
    return [
        {
            "name": INPUT,
            "kind": "wide_series",
            "dtype": "float32",
            "width": len(columns),
            "columns": columns,
        }
    ]


class WideSeriesGaps:
    """Wide series: the ONNX graph takes the row's values with gaps (a ``RawGraph``)."""

    def fold(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        return _with_gap_fill(data, encoding)

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> dict[str, np.ndarray]:
        return {INPUT: signal_values(frame, encoding)}

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        return _inputs(encoding)

    def outside(self, encoding: dict[str, Any]) -> str:
        return OUTSIDE


def torch_gap_fill(signal: torch.Tensor) -> torch.Tensor:
    """``(n, length)`` with NaN gaps → ``(n, length, 1)`` filled (TorchScript-compatible)."""
    present = ~torch.isnan(signal)
    position = torch.arange(signal.shape[1], device=signal.device).expand_as(signal)
    last, _ = torch.cummax(torch.where(present, position, torch.zeros_like(position)), dim=1)
    forward = torch.gather(signal, 1, last)
    first = torch.gather(signal, 1, present.to(torch.int64).argmax(dim=1, keepdim=True))
    filled = torch.where(torch.isnan(forward), first.expand_as(forward), forward)
    return torch.where(torch.isnan(filled), torch.zeros_like(filled), filled).unsqueeze(2)


class GapFilledSeries(torch.nn.Module):
    """``signal`` with gaps → :func:`torch_gap_fill` → the traced network's ``predict``."""

    def __init__(self, net: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.net = net

    def forward(
        self, columns: dict[str, torch.Tensor], categories: dict[str, list[str]]
    ) -> torch.Tensor:
        return self.net(torch_gap_fill(columns["signal"].to(torch.float32)))


class WideSeriesGapsScript:
    """Wide series: the TorchScript module takes the row's values with gaps (a
    :class:`~trainwell.export.script.RawScript`; ``columns["signal"]``, no categories)."""

    def wrap(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        return script_around(data, GapFilledSeries, "the series' gap fill")

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> ScriptFeeds:
        return {INPUT: torch.from_numpy(signal_values(frame, encoding))}, {}

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**row, "argument": "columns"} for row in _inputs(encoding)]

    def outside(self, encoding: dict[str, Any]) -> str:
        return OUTSIDE
