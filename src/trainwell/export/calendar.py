"""A date's calendar parts computed inside an exported file, from an integer timestamp
(TW-P01).

The table encoder (:func:`trainwell.preprocess._datetime_parts`) expands a date column into
six numbers: days since 1970-01-01 (with the time of day as a fraction), year, month, day,
weekday (Monday 0) and hour. Parsing the text of a date (ISO 8601, time zones) has no ONNX
operator and no TorchScript equivalent, so that one step stays in Python: an exported table
file takes a date as ``int64`` nanoseconds since 1970-01-01 UTC (what numpy's
``datetime64[ns]`` holds; NaT, ``INT64_MIN``, is missing). The six parts are integer
arithmetic on that number, so the exported graph computes them: this module writes the same
arithmetic twice, as ONNX nodes (:func:`onnx_date_parts`) and as a TorchScript function
(:func:`torch_date_parts`), each proved equal to pandas' parts by the tests.

Year, month and day come from the day number by Howard Hinnant's ``civil_from_days``
("chrono-Compatible Low-Level Date Algorithms", https://howardhinnant.github.io/date_algorithms.html),
valid for every date numpy's nanoseconds hold (1677-2262). No library offers it as ONNX
nodes, hence written here. Floor division is ``(a - mod(a, b)) / b`` with ``mod`` taking the
divisor's sign (ONNX ``Mod`` with ``fmod=0``, ``torch.remainder``), so dates before 1970 are
exact too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.preprocess import DATETIME_PARTS, _to_datetime

NAT = np.iinfo(np.int64).min  # numpy's NaT as int64: a missing date
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday 0, as pandas' day_of_week)
# What stays in Python, for export.json and the export message.
PARSED_OUTSIDE = (
    "a date's text is parsed in Python (pandas.to_datetime, ISO 8601, time zones converted "
    "to UTC) into int64 nanoseconds since 1970-01-01 UTC (NaT = INT64_MIN = missing), "
    "because neither ONNX nor TorchScript has a date parser; the file computes the calendar "
    f"parts ({', '.join(DATETIME_PARTS)}) from that number"
)


def date_stamps(values: pd.Series) -> np.ndarray:
    """A date column as the exported file's input: ``(n, 1)`` int64 nanoseconds since
    1970-01-01 UTC, :data:`NAT` where missing or not a date (as the encoder reads it)."""
    stamps = _to_datetime(values).astype("datetime64[ns]")
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64).reshape(-1, 1).copy()


def torch_date_parts(stamp: torch.Tensor) -> torch.Tensor:
    """``(n, 1)`` int64 nanoseconds → ``(n, 6)`` float32 parts, NaN where missing
    (TorchScript-compatible: TorchScript reads no module-level constants, so the values of
    :data:`NAT`, :data:`DAY_NS`, :data:`HOUR_NS` and :data:`EPOCH_WEEKDAY` are written out)."""
    missing = stamp == -9_223_372_036_854_775_807 - 1  # the literal INT64_MIN overflows
    ns = torch.where(missing, torch.zeros_like(stamp), stamp)
    time_of_day = torch.remainder(ns, 86_400_000_000_000)
    days = torch.div(ns - time_of_day, 86_400_000_000_000, rounding_mode="trunc")
    hour = torch.div(time_of_day, 3_600_000_000_000, rounding_mode="trunc")
    weekday = torch.remainder(days + 3, 7)
    # civil_from_days (Hinnant): every quantity below is >= 0, so division truncates = floors.
    z = days + 719_468
    doe = torch.remainder(z, 146_097)
    era = torch.div(z - doe, 146_097, rounding_mode="trunc")
    yoe = torch.div(
        doe
        - torch.div(doe, 1_460, rounding_mode="trunc")
        + torch.div(doe, 36_524, rounding_mode="trunc")
        - torch.div(doe, 146_096, rounding_mode="trunc"),
        365,
        rounding_mode="trunc",
    )
    doy = doe - (
        365 * yoe
        + torch.div(yoe, 4, rounding_mode="trunc")
        - torch.div(yoe, 100, rounding_mode="trunc")
    )
    mp = torch.div(5 * doy + 2, 153, rounding_mode="trunc")
    day = doy - torch.div(153 * mp + 2, 5, rounding_mode="trunc") + 1
    month = mp + 3 - 12 * (mp >= 10).to(torch.int64)
    year = yoe + era * 400 + (month <= 2).to(torch.int64)
    epoch_days = ns.to(torch.float64) / 86_400_000_000_000.0
    whole = torch.cat([year, month, day, weekday, hour], dim=1).to(torch.float64)
    parts = torch.cat([epoch_days, whole], dim=1).to(torch.float32)
    return torch.where(missing, torch.full_like(parts, float("nan")), parts)


class _Nodes:
    """ONNX nodes appended to ``nodes`` under a name prefix (one date column's)."""

    def __init__(self, nodes: list[Any], prefix: str) -> None:
        self.nodes, self.prefix, self.count = nodes, prefix, 0

    def add(self, op: str, *inputs: str, **attrs: Any) -> str:
        self.count += 1
        out = f"{self.prefix}/{op.lower()}{self.count}"
        from onnx import helper

        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out

    def const(self, value: float | int, dtype: str = "int64") -> str:
        from onnx import numpy_helper

        return self.add("Constant", value=numpy_helper.from_array(np.array(value, dtype=dtype)))

    def div(self, a: str, b: int) -> str:  # both >= 0: truncation is floor division
        return self.add("Div", a, self.const(b))

    def mod(self, a: str, b: int) -> str:  # fmod=0: the divisor's sign, a floor modulo
        return self.add("Mod", a, self.const(b), fmod=0)


def onnx_date_parts(nodes: list[Any], stamp: str, out: str, prefix: str) -> None:
    """Append to ``nodes`` the ONNX nodes from ``stamp`` (int64 ``[N, 1]`` nanoseconds) to
    ``out`` (float32 ``[N, 6]`` parts, NaN where missing): :func:`torch_date_parts` as a
    graph (opset >= 13)."""
    from onnx import TensorProto

    g = _Nodes(nodes, prefix)
    missing = g.add("Equal", stamp, g.const(NAT))
    ns = g.add("Where", missing, g.const(0), stamp)
    time_of_day = g.mod(ns, DAY_NS)
    days = g.div(g.add("Sub", ns, time_of_day), DAY_NS)
    hour = g.div(time_of_day, HOUR_NS)
    weekday = g.mod(g.add("Add", days, g.const(EPOCH_WEEKDAY)), 7)
    z = g.add("Add", days, g.const(719_468))
    doe = g.mod(z, 146_097)
    era = g.div(g.add("Sub", z, doe), 146_097)
    yoe = g.div(
        g.add(
            "Sub",
            g.add("Add", g.add("Sub", doe, g.div(doe, 1_460)), g.div(doe, 36_524)),
            g.div(doe, 146_096),
        ),
        365,
    )
    year_days = g.add(
        "Sub", g.add("Add", g.add("Mul", yoe, g.const(365)), g.div(yoe, 4)), g.div(yoe, 100)
    )
    doy = g.add("Sub", doe, year_days)
    mp = g.div(g.add("Add", g.add("Mul", doy, g.const(5)), g.const(2)), 153)
    day_start = g.div(g.add("Add", g.add("Mul", mp, g.const(153)), g.const(2)), 5)
    day = g.add("Add", g.add("Sub", doy, day_start), g.const(1))
    late = g.add("Cast", g.add("GreaterOrEqual", mp, g.const(10)), to=TensorProto.INT64)
    month = g.add("Sub", g.add("Add", mp, g.const(3)), g.add("Mul", late, g.const(12)))
    early = g.add("Cast", g.add("LessOrEqual", month, g.const(2)), to=TensorProto.INT64)
    year = g.add("Add", g.add("Add", yoe, g.add("Mul", era, g.const(400))), early)
    epoch_days = g.add(
        "Div",
        g.add("Cast", ns, to=TensorProto.DOUBLE),
        g.const(float(DAY_NS), "float64"),
    )
    whole = g.add(
        "Cast", g.add("Concat", year, month, day, weekday, hour, axis=1), to=TensorProto.DOUBLE
    )
    parts = g.add("Cast", g.add("Concat", epoch_days, whole, axis=1), to=TensorProto.FLOAT)
    nan = g.const(float("nan"), "float32")
    from onnx import helper

    nodes.append(helper.make_node("Where", [missing, nan, parts], [out], name=f"{prefix}/out"))
