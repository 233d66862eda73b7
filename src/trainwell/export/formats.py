"""Writing a shipped candidate as an ONNX or TorchScript file, and running such a file.

The exported graph is the network's ``predict`` (probabilities, or values in the target's
units): the numeric preprocessing the network carries inside it (imputation, standardization,
one-hot and embeddings of category codes, the image and series standardization) is in the
graph. A table's files also take the raw columns (:mod:`trainwell.export.raw` joined in
front of the ONNX graph, :mod:`trainwell.export.script` scripted around the traced module),
a wide series' files the values with gaps (:mod:`trainwell.export.gaps`); other modalities'
encodings (reading image files, tokenizing, windowing series) stay the modality's, shipped
beside the file as the exact JSON encoding ``predict`` uses (see :mod:`trainwell.export`).

Networks go through ``torch.onnx.export(dynamo=True)`` (the ``torch.export`` based exporter:
the legacy TorchScript-based one is deprecated since PyTorch 2.9 and warns that it will be
removed; the dynamo one exports every trainwell network on torch 2.13 with a dynamic batch
dimension) and ``torch.jit.trace`` (``torch.jit.script`` rejects the networks' annotations;
tracing records the one path ``predict`` takes, and the parity check proves it on the
validation split). LightGBM boosters go through onnxmltools' LightGBM converter
(``ai.onnx.ml`` tree ensembles, float32 thresholds).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from trainwell.candidates import Kind, lightgbm_matrix
from trainwell.errors import RunError
from trainwell.export.raw import RawGraph
from trainwell.export.script import RawScript
from trainwell.files import atomic_write_bytes
from trainwell.modalities.base import Inputs, Samples

Format = Literal["onnx", "torchscript"]
FILES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.pt"}
# What the exported graph reads: the network's input tensors, or LightGBM's one matrix.
GraphInputs = Literal["network", "lightgbm"]
BATCH = 1024  # rows per call when scoring an exported model


class PredictGraph(torch.nn.Module):
    """The network's ``predict`` as ``forward``: what the exported file computes."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net.predict(*inputs)  # type: ignore[operator]


def example_inputs(inputs: Inputs) -> Inputs:
    """A few rows to trace or export with (at least 2: ``torch.export`` specializes a
    batch of 1)."""
    rows = torch.arange(min(8, len(inputs[0])))
    if len(rows) < 2:
        rows = torch.zeros(2, dtype=torch.long)
    return tuple(x[rows] for x in inputs)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporters' progress lines and deprecation notices kept off the user's screen.

    ``torch.onnx.export`` prints its steps to stdout and logs missing torchvision kernels;
    ``torch.jit`` warns that it is deprecated (PyTorch 2.13) and the tracer that shape checks
    become constants (they are: a network's column layout is fixed once fitted).
    """
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            yield
    finally:
        logger.setLevel(level)


def onnx_of_network(net: torch.nn.Module, inputs: Inputs) -> bytes:
    """The network's ``predict`` as an ONNX model (inputs ``input0``..., output ``output``,
    the batch dimension dynamic).

    Raises:
        RunError: the exporter cannot express the network.
    """
    from torch.export import Dim

    graph = PredictGraph(net).eval()
    example = example_inputs(inputs)
    names = [f"input{i}" for i in range(len(example))]
    try:
        with _quiet_exporter():
            program = torch.onnx.export(
                graph,
                example,
                dynamo=True,
                dynamic_shapes=(tuple({0: Dim.DYNAMIC} for _ in example),),
                input_names=names,
                output_names=["output"],
            )
    except Exception as err:  # the exporter raises many kinds; the user gets one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(f"torch.onnx.export cannot export this network: {first}") from None
    assert program is not None
    return bytes(program.model_proto.SerializeToString())


def onnx_of_lightgbm(booster: Any, n_features: int) -> bytes:
    """A LightGBM booster as an ONNX model through onnxmltools (input ``input``: the encoded
    numeric columns then the category codes, float32; probabilities without ZipMap).

    Raises:
        RunError: the converter cannot express the booster.
    """
    from onnxmltools import convert_lightgbm  # type: ignore[import-untyped]
    from onnxmltools.convert.common.data_types import (  # type: ignore[import-untyped]
        FloatTensorType,
    )

    try:
        with _quiet_exporter():
            model = convert_lightgbm(
                booster,
                initial_types=[("input", FloatTensorType([None, n_features]))],
                zipmap=False,
                target_opset=15,
            )
    except Exception as err:  # onnxmltools raises many kinds; the user gets one line
        raise RunError(f"onnxmltools cannot convert this LightGBM model: {err}") from None
    return bytes(model.SerializeToString())


def torchscript_of_network(net: torch.nn.Module, inputs: Inputs) -> bytes:
    """The network's ``predict`` traced into TorchScript (``torch.jit.trace``).

    Raises:
        RunError: the network cannot be traced.
    """
    graph = PredictGraph(net).eval()
    buffer = io.BytesIO()
    try:
        with _quiet_exporter(), torch.no_grad():
            traced = torch.jit.trace(graph, example_inputs(inputs), check_trace=False)
            torch.jit.save(traced, buffer)
    except Exception as err:  # the tracer raises many kinds; the user gets one line
        raise RunError(f"torch.jit.trace cannot trace this network: {err}") from None
    return buffer.getvalue()


def _session(data: bytes) -> Any:
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only (the tree converter's label shape is 1)
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ONNX Runtime raises its own kinds for invalid models
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunError(f"ONNX Runtime cannot load the exported model: {first}") from None


ORT_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)", "string": "tensor(string)"}


def _check_raw_inputs(session: Any, expected: list[dict[str, Any]]) -> None:
    """Refuse a graph whose inputs are not the raw inputs this version feeds (a file
    exported by an older trainwell, e.g. dates as 6 calendar parts).

    Raises:
        RunError: the names or element types differ.
    """
    have = [(i.name, i.type) for i in session.get_inputs()]
    want = [(row["name"], ORT_TYPES[row["dtype"]]) for row in expected]
    if have != want:
        differ = next((h, w) for h, w in zip([*have, None], [*want, None], strict=False) if h != w)
        raise RunError(
            f"the exported ONNX file takes {differ[0]}, where this trainwell feeds {differ[1]}: "
            "it was exported by another version; export the run again (`trainwell export "
            "RUN_DIR`)"
        )


@dataclass
class OnnxCandidate:
    """An exported ONNX model run by ONNX Runtime (CPU), as a
    :class:`~trainwell.candidates.Candidate`: the same ``outputs`` as the model it came from."""

    name: str
    data: bytes
    task: str
    inputs: GraphInputs
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "onnx"
    file: str = FILES["onnx"]
    # The graph takes raw columns (trainwell.export.raw): the modality's RawGraph and the
    # encoding its feeds are built with; None: it takes the encoded tensors.
    raw: RawGraph | None = None
    encoding: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.session = _session(self.data)
        if self.raw is not None:
            _check_raw_inputs(self.session, self.raw.inputs(self.encoding))

    def _result(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        result = self.session.run(None, feeds)
        if self.inputs != "lightgbm":
            return np.asarray(result[0], dtype=np.float64)
        if self.task == "regression":
            return np.asarray(result[0], dtype=np.float64).reshape(-1)
        return np.asarray(result[1], dtype=np.float64)

    def run(self, inputs: Inputs) -> np.ndarray:
        """Outputs for a batch of input tensors, as ``outputs`` gives them (a graph that takes
        tensors)."""
        if self.inputs == "lightgbm":
            num, cat = (x.numpy() for x in inputs)
            return self._result({"input": lightgbm_matrix(num, cat).astype(np.float32)})
        names = [i.name for i in self.session.get_inputs()]
        return self._result({name: x.numpy() for name, x in zip(names, inputs, strict=True)})

    def run_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Outputs for a batch of raw rows (a graph that takes raw columns)."""
        assert self.raw is not None
        return self._result(self.raw.feeds(frame, self.encoding))

    def outputs(self, samples: Samples) -> np.ndarray:
        if self.raw is None:
            return _batched(self.run, samples.inputs)
        return _batched_frame(self.run_raw, samples.frame)

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        path = folder / self.file
        atomic_write_bytes(path, self.data)
        return {}, [path]


@dataclass
class TorchScriptCandidate:
    """An exported TorchScript module (``torch.jit.load``, only after its sha256 matched),
    as a :class:`~trainwell.candidates.Candidate`."""

    name: str
    data: bytes
    task: str
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "torchscript"
    file: str = FILES["torchscript"]
    # The module takes raw columns (trainwell.export.script): the modality's RawScript and
    # the encoding its arguments are built with; None: it takes the encoded tensors.
    raw: RawScript | None = None
    encoding: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            with _quiet_exporter():
                self.module = torch.jit.load(io.BytesIO(self.data), map_location="cpu")
        except Exception as err:  # torch.jit raises its own kinds for damaged archives
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RunError(f"the TorchScript file does not load: {first}") from None
        self.module.eval()

    @torch.no_grad()
    def run(self, inputs: Inputs) -> np.ndarray:
        return self.module(*inputs).double().numpy()

    @torch.no_grad()
    def run_raw(self, frame: pd.DataFrame) -> np.ndarray:
        """Outputs for a batch of raw rows (a module that takes raw columns)."""
        assert self.raw is not None
        return self.module(*self.raw.feeds(frame, self.encoding)).double().numpy()

    def outputs(self, samples: Samples) -> np.ndarray:
        if self.raw is None:
            return _batched(self.run, samples.inputs)
        return _batched_frame(self.run_raw, samples.frame)

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        path = folder / self.file
        atomic_write_bytes(path, self.data)
        return {}, [path]


def _batched(run: Any, inputs: Inputs) -> np.ndarray:
    chunks = [
        run(tuple(x[start : start + BATCH] for x in inputs))
        for start in range(0, len(inputs[0]), BATCH)
    ]
    return np.concatenate(chunks)


def _batched_frame(run: Any, frame: pd.DataFrame) -> np.ndarray:
    chunks = [run(frame.iloc[start : start + BATCH]) for start in range(0, len(frame), BATCH)]
    return np.concatenate(chunks)
