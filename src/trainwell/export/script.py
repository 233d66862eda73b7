"""Raw columns in: a table's TorchScript file takes the columns ``trainwell predict`` takes
(TW-P01).

The exported module is scripted (``torch.jit.script``) around the traced network (see
:mod:`trainwell.export.formats`) and its ``forward`` takes two dictionaries::

    module(columns: Dict[str, Tensor], categories: Dict[str, List[str]]) -> Tensor

* ``columns``: every numeric and boolean column as a float tensor ``[N]`` or ``[N, 1]`` (NaN
  missing; ±inf and values float32 cannot hold are missing too), every date column as int64
  nanoseconds since 1970-01-01 UTC (NaT, INT64_MIN, missing; its calendar parts are computed
  inside, :func:`~trainwell.export.calendar.torch_date_parts`);
* ``categories``: every categorical column as a list of strings; the category vocabularies
  are ``Dict[str, int]`` attributes of the module and the lookup runs inside (a value the
  training split never had, or ``""`` for missing, is code 0).

Why two dictionaries rather than one: TorchScript types a dictionary's values, and a tensor
and a list of strings share no type but ``Any``, which a scripted function cannot index.
Strings cannot be tensors, so they travel as ``List[str]``, which TorchScript does support
as an argument, and the lookup is a scripted loop over the rows (the interpreter's speed:
fine for scoring, the price of keeping the vocabulary inside the file). What stays in Python
is the same as for the ONNX file (:func:`trainwell.export.raw.table_outside`).
"""

import io
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from trainwell.errors import RunError
from trainwell.export.calendar import torch_date_parts
from trainwell.export.raw import (
    _graph_inputs,
    _raw_feeds,
    table_encoder,
    table_outside,
)
from trainwell.preprocess import FeatureEncoder

ScriptFeeds = tuple[dict[str, torch.Tensor], dict[str, list[str]]]
SIGNATURE = "forward(columns: Dict[str, Tensor], categories: Dict[str, List[str]]) -> Tensor"


class RawScript(Protocol):
    """A modality whose raw inputs a TorchScript module can take: the encoding scripted
    around the traced network, and raw data turned into that module's arguments."""

    def wrap(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        """The traced network ``data`` (encoded tensors in) scripted with the encoding in
        front."""
        ...

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> ScriptFeeds:
        """Raw rows as the wrapped module's arguments."""
        ...

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        """The wrapped module's inputs: name, kind, element type, width."""
        ...

    def outside(self, encoding: dict[str, Any]) -> str:
        """What of the encoding stays in Python, before the module's inputs."""
        ...


class RawTable(torch.nn.Module):
    """Raw columns → the table encoder's ``(num, cat)`` → the traced network's ``predict``."""

    names: list[str]
    kinds: list[str]
    vocab: dict[str, dict[str, int]]

    def __init__(self, encoder: FeatureEncoder, net: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.net = net
        self.names = [c.name for c in encoder.columns]
        self.kinds = [c.kind for c in encoder.columns]
        self.vocab = {
            name: {level: i + 1 for i, level in enumerate(levels)}
            for name, levels in encoder.vocab.items()
        }

    def forward(
        self, columns: dict[str, torch.Tensor], categories: dict[str, list[str]]
    ) -> torch.Tensor:
        numeric: list[torch.Tensor] = []
        codes: list[torch.Tensor] = []
        rows = 0
        for i in range(len(self.names)):
            name, kind = self.names[i], self.kinds[i]
            if kind == "categorical":
                index = self.vocab[name]
                values = categories[name]
                rows = len(values)
                codes.append(
                    torch.tensor([index.get(v, 0) for v in values], dtype=torch.long).reshape(-1, 1)
                )
            elif kind == "datetime":
                stamp = columns[name].reshape(-1, 1)
                rows = stamp.shape[0]
                numeric.append(torch_date_parts(stamp))
            else:
                x = columns[name].reshape(-1, 1).to(torch.float32)
                rows = x.shape[0]
                numeric.append(torch.where(torch.isinf(x), torch.full_like(x, float("nan")), x))
        num = torch.cat(numeric, dim=1) if len(numeric) > 0 else torch.zeros(rows, 0)
        cat = torch.cat(codes, dim=1) if len(codes) > 0 else torch.zeros(rows, 0, dtype=torch.long)
        return self.net(num, cat)


def script_around(
    data: bytes, wrapper: Callable[[torch.jit.ScriptModule], torch.nn.Module], what: str
) -> bytes:
    """The traced network ``data`` loaded, wrapped by ``wrapper`` and scripted; the saved
    module's bytes.

    Raises:
        RunError: TorchScript cannot script the wrapper (``what`` names it).
    """
    from trainwell.export.formats import _quiet_exporter

    buffer = io.BytesIO()
    try:
        with _quiet_exporter():
            net = torch.jit.load(io.BytesIO(data), map_location="cpu")
            torch.jit.save(torch.jit.script(wrapper(net).eval()), buffer)
    except Exception as err:  # torch.jit raises many kinds; the user gets one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(f"torch.jit.script cannot script {what}: {first}") from None
    return buffer.getvalue()


def _script_feeds(frame: pd.DataFrame, encoding: dict[str, Any]) -> ScriptFeeds:
    """Raw rows as :class:`RawTable`'s two arguments (the ONNX feeds, as tensors and lists).

    Raises:
        DataError: a column is missing, or a numeric column holds text (as ``predict``).
    """
    columns: dict[str, torch.Tensor] = {}
    categories: dict[str, list[str]] = {}
    for name, values in _raw_feeds(frame, encoding).items():
        if values.dtype == object:
            categories[name] = [str(v) for v in values[:, 0]]
        else:
            columns[name] = torch.from_numpy(np.array(values, copy=True))
    return columns, categories


class TableScript:
    """Tables: the TorchScript module takes the raw columns (:class:`RawScript`)."""

    def wrap(self, data: bytes, encoding: dict[str, Any]) -> bytes:
        encoder = table_encoder(encoding)
        if not encoder.columns:
            raise RunError("the table model has no input columns to export")
        return script_around(data, lambda net: RawTable(encoder, net), "the table's encoding")

    def feeds(self, frame: pd.DataFrame, encoding: dict[str, Any]) -> ScriptFeeds:
        return _script_feeds(frame, encoding)

    def inputs(self, encoding: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {**row, "argument": "categories" if row["dtype"] == "string" else "columns"}
            for row in _graph_inputs(table_encoder(encoding))
        ]

    def outside(self, encoding: dict[str, Any]) -> str:
        return table_outside(table_encoder(encoding))
