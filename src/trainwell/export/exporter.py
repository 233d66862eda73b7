"""``trainwell export RUN_DIR --format onnx|torchscript``: the shipped model as a file an
inference runtime runs, proved equal to the run's model on the validation split (TW-P01)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwell.candidates import LIGHTGBM, WEIGHTS, Candidate
from trainwell.data.load import file_sha256
from trainwell.errors import ConfigError, RunError
from trainwell.export.data import reopen
from trainwell.export.formats import (
    FILES,
    Format,
    GraphInputs,
    OnnxCandidate,
    TorchScriptCandidate,
    onnx_of_lightgbm,
    onnx_of_network,
    torchscript_of_network,
)
from trainwell.export.inputs import RAW_GRAPHS, RAW_SCRIPTS
from trainwell.export.linear import linear_graph
from trainwell.export.load import EXPORT_JSON, read_record
from trainwell.export.raw import outside_the_graph
from trainwell.export.script import SIGNATURE
from trainwell.files import atomic_write_bytes, write_json
from trainwell.modalities.base import DataSource, Samples
from trainwell.predictor import MODEL_JSON, ModelFile, Predictor, member
from trainwell.run import Run

EXPORT_DIR = "export"
# Parity tolerance: |exported - run| <= ATOL + RTOL * max|run output| on every validation
# output. Both runtimes compute in float32; their differences (operator order, fused
# kernels) are ~1e-7 of the output's scale, so 1e-4 leaves three orders of margin while a
# wrong graph (a changed weight, a dropped layer) misses it by far.
ATOL = 1e-4
RTOL = 1e-4


@dataclass
class Parity:
    """How far an exported model's outputs are from the run's on the validation split.

    Attributes:
        examples: validation examples compared.
        max_abs_diff: the largest absolute difference of any output (probability, or value
            in the target's units).
        agreement: share of examples with the same predicted class (classification), or
            whose value is within ``tolerance`` (regression).
        tolerance: the largest ``max_abs_diff`` accepted.
        passed: ``max_abs_diff <= tolerance``.
    """

    examples: int
    max_abs_diff: float
    agreement: float
    tolerance: float
    passed: bool


def check_parity(
    task: str, reference: np.ndarray, exported: np.ndarray, atol: float = ATOL, rtol: float = RTOL
) -> Parity:
    """Compare outputs ``(n, K)`` probabilities or ``(n,)`` values of the run's model
    (``reference``) and an exported one. Passing means every output is within
    ``atol + rtol * max|reference|``; predicted classes may then differ only where the
    reference's two best classes are closer than that (a tie), which ``agreement`` shows."""
    if reference.shape != exported.shape:
        return Parity(len(reference), float("inf"), 0.0, atol, False)
    tolerance = atol + rtol * float(np.abs(reference).max(initial=0.0))
    diff = np.abs(reference - exported)
    biggest = float(diff.max(initial=0.0)) if np.isfinite(diff).all() else float("inf")
    if task == "regression":
        agreement = float(np.mean(diff <= tolerance)) if len(diff) else 1.0
    else:
        same = reference.argmax(axis=1) == exported.argmax(axis=1)
        agreement = float(np.mean(same)) if len(same) else 1.0
    return Parity(len(reference), biggest, agreement, tolerance, biggest <= tolerance)


def network_to_export(predictor: Predictor) -> torch.nn.Module:
    """The module whose ``predict`` the exported graph computes: the shipped network, or the
    shipped linear baseline as a :class:`~trainwell.export.linear.LinearGraph` (the parity
    test plants a changed copy here).

    Raises:
        RunError: a linear baseline whose features torch cannot compute (text's TF-IDF).
    """
    if predictor.spec.kind == "linear":
        return linear_graph(predictor.candidate)
    return predictor.candidate.model  # type: ignore[attr-defined]


def exported_candidate(
    predictor: Predictor, fmt: Format, validation: Samples
) -> tuple[OnnxCandidate | TorchScriptCandidate, GraphInputs]:
    """The shipped model written as ``fmt`` (bytes in memory) and loaded back by its runtime.

    Raises:
        RunError: the shipped model has no export in that format, or the exporter fails.
    """
    kind = predictor.spec.kind
    inputs: GraphInputs
    if kind in {"torch", "linear"}:
        net = network_to_export(predictor)
        if fmt == "torchscript":
            data = torchscript_of_network(net, validation.inputs)
            # Raw data in where TorchScript can hold the encoding (trainwell.export.script).
            script = RAW_SCRIPTS.get(predictor.spec.modality)
            if script is not None:
                data = script.wrap(data, predictor.spec.encoding)
            scripted = TorchScriptCandidate(
                predictor.name, data, predictor.task, raw=script, encoding=predictor.spec.encoding
            )
            return scripted, "network"
        data, inputs = onnx_of_network(net, validation.inputs), "network"
    elif kind == "lightgbm":
        if fmt != "onnx":
            raise RunError(
                "the run ships LightGBM, which exports to ONNX only (onnxmltools' converter); "
                "use --format onnx"
            )
        booster = predictor.candidate.booster  # type: ignore[attr-defined]
        n_features = sum(int(x.shape[1]) for x in validation.inputs)
        data, inputs = onnx_of_lightgbm(booster, n_features), "lightgbm"
    else:
        raise RunError(f"the run ships a {kind} model, which has no ONNX or TorchScript export")
    # Raw data in where the modality's encoding is expressible in ONNX (trainwell.export.raw).
    raw = RAW_GRAPHS.get(predictor.spec.modality)
    if raw is not None:
        data = raw.fold(data, predictor.spec.encoding)
    candidate = OnnxCandidate(
        predictor.name, data, predictor.task, inputs, raw=raw, encoding=predictor.spec.encoding
    )
    return candidate, inputs


def export_run(
    run_dir: str | Path,
    fmt: str = "onnx",
    *,
    data: DataSource | None = None,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> dict[str, Any]:
    """Export a complete run's shipped model to ``RUN_DIR/export/`` and record it.

    The exported file is checked on the validation split against the run's model before it
    is written (:func:`check_parity`); ``export.json`` records the file's ``model.json``
    (sha256 included) and the parity numbers. Files are written atomically, the model file
    before the record that lists it.

    Args:
        run_dir: a complete run directory.
        fmt: ``onnx`` or ``torchscript``.
        data: the run's data, for a run trained from a DataFrame.
        atol, rtol: the parity tolerance (see :data:`ATOL`).

    Returns:
        The format's entry of ``export.json``.

    Raises:
        ConfigError: an unknown format; RunError: the run is not complete, its model cannot
            be exported in that format, or the export disagrees with the run (the numbers
            in the message; nothing is written).
    """
    if fmt not in FILES:
        raise ConfigError(f"--format must be onnx or torchscript, not {fmt!r}")
    run = Run(run_dir)
    predictor = run.model
    prepared = reopen(run, data)
    validation, _ = prepared.split("validation")
    candidate, inputs = exported_candidate(predictor, fmt, validation)  # type: ignore[arg-type]
    parity = check_parity(
        predictor.task,
        predictor.candidate.outputs(validation),
        candidate.outputs(validation),
        atol,
        rtol,
    )
    if not parity.passed:
        raise RunError(
            f"export refused: the {fmt} model disagrees with the run's model on the "
            f"validation split: max |difference| {parity.max_abs_diff:.3g} > tolerance "
            f"{parity.tolerance:.3g}, predictions agree on {parity.agreement:.1%} of "
            f"{parity.examples} examples"
        )
    folder = export_folder(run)
    raw_inputs = _raw_inputs(predictor, fmt)
    files = _write_files(candidate, predictor, folder)
    spec = ModelFile(
        **{
            **predictor.spec.model_dump(),
            "kind": fmt,
            "files": files,
            "network": None,
            "features": None,
            "info": {**predictor.spec.info, "inputs": inputs, "raw_inputs": raw_inputs},
        }
    )
    entry = {
        "file": FILES[fmt],
        "sha256": files[FILES[fmt]],
        "bytes": (folder / FILES[fmt]).stat().st_size,
        "exported_from": {"kind": predictor.spec.kind, "name": predictor.name},
        "exporter": _exporter(fmt, inputs),
        "raw_inputs": raw_inputs,
        "parity": {"split": "validation", **asdict(parity)},
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": spec.model_dump(mode="json"),
    }
    record = read_record(folder)
    record.setdefault("formats", {})[fmt] = entry
    write_json(folder / EXPORT_JSON, record)
    return entry


def export_folder(run: Run) -> Path:
    """``RUN_DIR/export/``, created; never a link.

    Raises:
        RunError: it is a link or not a folder.
    """
    folder = run.path / EXPORT_DIR
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise RunError(f"{str(folder)!r} is a link or not a folder; refusing to write there")
    folder.mkdir(exist_ok=True)
    return folder


def _write_files(candidate: Candidate, predictor: Predictor, folder: Path) -> dict[str, str]:
    """The exported file and the model's extra files (a tokenizer's), copied after their
    sha256 is checked; {name: sha256}."""
    _, paths = candidate.save(folder)
    files = {p.name: file_sha256(p) for p in paths}
    for name in predictor.spec.files:
        if name in {WEIGHTS, LIGHTGBM, MODEL_JSON}:
            continue
        source = member(predictor.folder, name, predictor.spec.files)
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, source.read_bytes())
        files[name] = predictor.spec.files[name]
    return files


def _raw_inputs(predictor: Predictor, fmt: str) -> dict[str, Any]:
    """What the exported file takes: raw columns (in the graph) or encoded tensors, and what
    of the encoding stays beside it."""
    modality, encoding = predictor.spec.modality, predictor.spec.encoding
    beside = "export.json (model.encoding)"
    if fmt == "onnx" and modality in RAW_GRAPHS:
        graph = RAW_GRAPHS[modality]
        return {
            "in_graph": True,
            "inputs": graph.inputs(encoding),
            "outside": graph.outside(encoding),
            "beside": beside,
        }
    if fmt == "torchscript" and modality in RAW_SCRIPTS:
        script = RAW_SCRIPTS[modality]
        return {
            "in_graph": True,
            "signature": SIGNATURE,
            "inputs": script.inputs(encoding),
            "outside": script.outside(encoding),
            "beside": beside,
        }
    return {"in_graph": False, "outside": outside_the_graph(modality), "beside": beside}


def _exporter(fmt: str, inputs: GraphInputs) -> str:
    if inputs == "lightgbm":
        import onnxmltools  # type: ignore[import-untyped]

        return f"onnxmltools {onnxmltools.__version__} convert_lightgbm (opset 15)"
    if fmt == "onnx":
        return f"torch {torch.__version__} torch.onnx.export(dynamo=True)"
    return (
        f"torch {torch.__version__} torch.jit.trace (the network; torch.jit.script around it "
        "where it takes raw columns)"
    )
