"""``trainwell compress RUN_DIR``: smaller and faster variants of the shipped network, each
scored on the validation split, timed and sized, in one table (TW-P02-P04, P08).

Variants (all from the run's shipped network; a run that ships a baseline has none):

* ``fp32 eager``: the shipped network in PyTorch, the reference.
* ``fp32 onnx``: the same network exported to ONNX (:mod:`trainwell.export.formats`), run
  by ONNX Runtime.
* ``int8 onnx``: dynamic int8 quantization of the ONNX export (ONNX Runtime's
  ``quantize_dynamic``: int8 weights, activations quantized per batch at run time; TW-P02).
* ``pruned NN%``: global magnitude pruning (``torch.nn.utils.prune.global_unstructured``,
  L1) of every Linear, Conv and Embedding weight to NN% zeros, then fine-tuned briefly
  through the run's trainer (:func:`trainwell.trainer.setup_trainer`, the run's config, a
  tenth of its learning rate) with the mask kept (TW-P03). Its file stores the pruned
  weights sparse (non-zero values and a bit mask, :mod:`trainwell.export.sparse`): ``bytes``
  is that file, ``dense_bytes`` the same weights stored dense. The variant is scored from the
  network loaded back from the sparse file. It runs dense: neither PyTorch nor ONNX Runtime
  has a CPU kernel that makes unstructured sparsity faster, so only storage is saved.
* ``student``: a smaller network of the same modality trained through the same trainer on
  the shipped network's soft labels (temperature 2, Hinton et al. 2015, "Distilling the
  Knowledge in a Neural Network"; TW-P04). Tables: quarter width, one block fewer
  (``model.width``, ``model.depth``). Images, series, text and sounds: the same backbone with
  its size arguments cut (:func:`smaller_backbone`: widths to a quarter, one stage, block or
  layer fewer), its standardization fitted on the training split. A pre-trained backbone
  (timm, Hugging Face) has no size arguments: its row says so and no student is trained.

Scoring uses the training split (fine-tuning, distillation) and the validation split
(metrics, early stopping); the test split is never opened (TW-D07). The metric is accuracy
(classification) or R² (regression), in points (x100); a variant that loses more than
``tolerance`` points against ``fp32 eager`` is listed but never marked Pareto-best.
Latency is the median and 95th percentile of repeated calls at batch 1 and 64 on this
machine's CPU, throughput rows per second at batch 64; peak memory is the process's resident
memory growth while scoring the validation split, sampled every millisecond (Linux only).
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainwell.candidates import NetworkCandidate
from trainwell.errors import ConfigError, RunError
from trainwell.evaluate import task_metrics
from trainwell.export.data import reopen
from trainwell.export.exporter import export_folder
from trainwell.export.formats import OnnxCandidate, onnx_of_network
from trainwell.export.sparse import load_sparse, sparse_bytes
from trainwell.files import atomic_write_bytes, write_json
from trainwell.modalities.base import AugmentedData, DataSource, Inputs, Samples, predict_outputs
from trainwell.modalities.common import backbone_network
from trainwell.models import build_backbone
from trainwell.models.tabular import Objective
from trainwell.pipeline import Prepared, class_weights_for
from trainwell.report import write_report
from trainwell.reproducibility import reproducible
from trainwell.run import Run
from trainwell.trainer import make_optimizer, setup_trainer, train_network

VARIANTS_JSON = "variants.json"
SPARSITIES = (0.5, 0.75, 0.9)
TEMPERATURE = 2.0
FINE_TUNE_EPOCHS = 3
PRUNABLE = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Embedding)
Runner = Callable[[Inputs], np.ndarray]


@dataclass
class Variant:
    """One compressed (or reference) model: how to run it and what it weighs."""

    name: str
    method: str
    runner: Runner
    data: bytes  # the stored file (ONNX, or safetensors of the state dict)
    file: str
    parameters: int | None = None
    zeros: int | None = None
    notes: str = ""
    dense_bytes: int | None = None  # the same weights stored dense (pruned variants)
    row: dict[str, Any] = field(default_factory=dict)


def metric_points(task: str, y: np.ndarray, outputs: np.ndarray) -> tuple[str, float]:
    """The variant table's metric: accuracy or R², in points (x100)."""
    scores = task_metrics(task, y, outputs)  # type: ignore[arg-type]
    name = "r2" if task == "regression" else "accuracy"
    value = scores[name]
    return name, 100.0 * float(value if value is not None else float("nan"))


def _state_bytes(net: torch.nn.Module) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})


def _torch_runner(net: torch.nn.Module) -> Runner:
    net.eval()

    @torch.no_grad()
    def run(inputs: Inputs) -> np.ndarray:
        return net.predict(*inputs).double().numpy()  # type: ignore[operator]

    return run


def _prunable(net: torch.nn.Module) -> list[tuple[torch.nn.Module, str]]:
    return [(m, "weight") for m in net.modules() if isinstance(m, PRUNABLE)]


def count_zeros(net: torch.nn.Module) -> tuple[int, int]:
    """(zero, total) entries of the prunable weights."""
    weights = [getattr(m, name) for m, name in _prunable(net)]
    return int(sum(int((w == 0).sum()) for w in weights)), int(sum(w.numel() for w in weights))


class DistillObjective(Objective):
    """Soft-label loss for training batches, the run's objective for hard labels.

    Soft targets are float (binary: ``(n,)`` teacher probabilities; multiclass ``(n, K)``)
    at temperature ``T``, scaled by T² (Hinton et al. 2015); hard targets (the validation
    split's class indices, int64) and regression targets go to the run's objective, so early
    stopping watches the real validation loss.
    """

    def __init__(self, base: Objective, temperature: float) -> None:
        super().__init__(base.task, base.class_weights)
        self.t = temperature

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.task == "regression" or not y.is_floating_point():
            return super().forward(out, y)
        out = out.float() / self.t
        if self.task == "binary":
            loss = F.binary_cross_entropy_with_logits(out[:, 0], y)
        else:
            loss = -(y * F.log_softmax(out, dim=1)).sum(dim=1).mean()
        return loss * self.t**2


def soft_targets(teacher: torch.nn.Module, inputs: Inputs, task: str, student: Any) -> torch.Tensor:
    """The teacher's soft labels at temperature T (classification), or its predictions in the
    student's scaled units (regression)."""
    logits = predict_outputs(teacher, inputs, raw=True)
    if task == "binary":
        return torch.sigmoid(logits[:, 0] / TEMPERATURE)
    if task == "multiclass":
        return torch.softmax(logits / TEMPERATURE, dim=1)
    values = predict_outputs(teacher, inputs)
    return ((values - float(student.target_mean)) / float(student.target_std)).float()


class _Fitter:
    """Trains a given network (pruned, or a student) through the run's trainer setup."""

    def __init__(self, prepared: Prepared, network: dict[str, Any], epochs: int) -> None:
        self.prepared, self.network = prepared, network
        self.train, self.y_train = prepared.split("train")
        self.validation, self.y_validation = prepared.split("validation")
        self.weights, _ = class_weights_for(prepared.dataset, self.y_train, prepared.cfg)
        self.lr = float(network.get("lr") or 1e-3)
        self.batch_size = int(network.get("batch_size") or 64)
        self.epochs = epochs

    def cfg(self, model: dict[str, Any] | None = None, lr: float | None = None) -> Any:
        cfg = self.prepared.cfg
        updates = {
            "train": cfg.train.model_copy(
                update={"max_epochs": self.epochs, "lr": lr, "batch_size": self.batch_size}
            ),
            "doctor": cfg.doctor.model_copy(update={"enabled": False}),
            "logging": cfg.logging.model_copy(
                update={"tensorboard": False, "mlflow": None, "progress": False}
            ),
        }
        if model:
            updates["model"] = cfg.model.model_copy(update=model)
        return cfg.model_copy(update=updates)

    def fit(
        self,
        cfg: Any,
        net: torch.nn.Module | None = None,
        soft: Callable[[torch.nn.Module], torch.Tensor] | None = None,
    ) -> torch.nn.Module:
        """Build the trainer (``setup_trainer``); train ``net`` in it if given, else the
        network it builds; ``soft`` gives training targets (distillation)."""
        p = self.prepared
        trainer = setup_trainer(
            p.modality, self.train, self.y_train, p.choice, p.dataset.task, p.n_classes,
            self.weights, cfg,
        )  # fmt: skip
        if net is not None:
            groups = [net]
            from trainwell.models.transfer import discriminative_groups

            param_groups = discriminative_groups(groups, cfg.train.lr, 1.0, cfg.train.weight_decay)
            trainer = replace(
                trainer, net=net, groups=groups, optimizer=make_optimizer(param_groups, cfg),
                unfreeze=None, fine_tune=False,
            )  # fmt: skip
        if soft is not None:
            target = soft(trainer.net)
            trainer = replace(
                trainer,
                objective=DistillObjective(trainer.objective, TEMPERATURE),
                data=AugmentedData(
                    self.train.inputs, target, trainer.plan.batch_size, trainer.data.augment,
                    seed=cfg.seed,
                ),
            )  # fmt: skip
        result = train_network(trainer, self.validation, self.y_validation, cfg)
        return result.net


def _time(run: Runner, inputs: Inputs, batch: int, repeats: int) -> list[float]:
    n = len(inputs[0])
    rows = torch.arange(batch) % n
    x = tuple(t[rows] for t in inputs)
    run(x)  # warm-up: lazy initialization, allocator
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        seconds.append(time.perf_counter() - start)
    return seconds


def _rss() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            import os

            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_memory(run: Runner, inputs: Inputs) -> int | None:
    """Growth of the process's resident memory while ``run`` scores ``inputs`` (bytes),
    sampled every millisecond; None where /proc is not available."""
    before = _rss()
    if before is None:
        return None
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            value = _rss()
            if value is not None:
                peak[0] = max(peak[0], value)
            done.wait(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        run(inputs)
    finally:
        done.set()
        thread.join()
    return max(0, peak[0] - before)


def measure(
    variant: Variant, task: str, validation: Samples, y: np.ndarray, repeats: int
) -> dict[str, Any]:
    """The variant's row: validation metric, latency, throughput, size, memory."""
    outputs = np.concatenate(
        [
            variant.runner(tuple(x[s : s + 1024] for x in validation.inputs))
            for s in range(0, len(validation), 1024)
        ]
    )
    metric, value = metric_points(task, y, outputs)
    one = _time(variant.runner, validation.inputs, 1, repeats)
    many = _time(variant.runner, validation.inputs, 64, max(3, repeats // 4))
    p50_64 = float(np.percentile(many, 50))
    return {
        "variant": variant.name,
        "method": variant.method,
        "metric": metric,
        "validation": round(value, 3),
        "latency_ms": {
            "batch_1": {
                "p50": 1e3 * float(np.percentile(one, 50)),
                "p95": 1e3 * float(np.percentile(one, 95)),
            },
            "batch_64": {"p50": 1e3 * p50_64, "p95": 1e3 * float(np.percentile(many, 95))},
        },
        "throughput_rows_per_s": 64 / p50_64 if p50_64 > 0 else None,
        "file": variant.file,
        "bytes": len(variant.data),
        "dense_bytes": variant.dense_bytes
        if variant.dense_bytes is not None
        else len(variant.data),
        "compressed_bytes": len(zlib.compress(variant.data, 6)),
        "parameters": variant.parameters,
        "zero_weights": variant.zeros,
        "peak_memory_bytes": peak_memory(variant.runner, validation.inputs),
        "notes": variant.notes,
    }


def mark_pareto(rows: list[dict[str, Any]], tolerance: float) -> None:
    """``within_tolerance``: metric at most ``tolerance`` points below the reference (the
    first row); ``pareto``: within tolerance and no other such row is at least as good on
    metric, batch-64 latency and file size and better on one. Rows beyond the tolerance are
    never Pareto-best."""
    reference = rows[0]["validation"]
    for row in rows:
        row["drop"] = round(reference - row["validation"], 3)
        row["within_tolerance"] = bool(row["drop"] <= tolerance)

    def key(row: dict[str, Any]) -> tuple[float, float, float]:
        return (-row["validation"], row["latency_ms"]["batch_64"]["p50"], row["bytes"])

    kept = [r for r in rows if r["within_tolerance"]]
    for row in rows:
        mine = key(row)
        row["pareto"] = row["within_tolerance"] and not any(
            all(o <= m for o, m in zip(key(other), mine, strict=True)) and key(other) != mine
            for other in kept
            if other is not row
        )


def compress_run(
    run_dir: str | Path,
    *,
    tolerance: float = 0.5,
    sparsities: Sequence[float] = SPARSITIES,
    epochs: int = FINE_TUNE_EPOCHS,
    repeats: int = 100,
    data: DataSource | None = None,
) -> list[dict[str, Any]]:
    """Compress a complete run's shipped network; write ``RUN_DIR/export/variants.json``
    (and the variants' files under ``RUN_DIR/export/variants/``).

    Args:
        tolerance: metric points (accuracy or R², x100) a variant may lose against the
            shipped network and still be chosen.
        sparsities: fractions of the prunable weights set to zero, one variant each.
        epochs: fine-tuning epochs of pruned networks (and the student's epoch budget x2).
        repeats: timed calls at batch 1 (a quarter of them at batch 64).
        data: the run's data, for a run trained from a DataFrame.

    Returns:
        The table's rows (``variants.json``'s ``variants``).

    Raises:
        ConfigError: a bad tolerance or sparsity; RunError: the run is not complete or does
            not ship a network.
    """
    if tolerance < 0:
        raise ConfigError(f"--tolerance must be >= 0 metric points, not {tolerance}")
    if any(not 0 < s < 1 for s in sparsities):
        raise ConfigError(f"sparsities must lie strictly between 0 and 1, not {list(sparsities)}")
    run = Run(run_dir)
    predictor = run.model
    # The dummy and linear baselines are NetworkCandidates too (a one-layer net holding the
    # scikit-learn model's weights); only the trained network is compressed.
    if not isinstance(predictor.candidate, NetworkCandidate) or predictor.name != "network":
        raise RunError(
            f"run {str(run.path)!r} ships its {predictor.name} baseline, not a network; "
            "compress works on networks (ship one with baselines.ship=network)"
        )
    teacher = predictor.candidate.model
    prepared = reopen(run, data)
    validation, y_validation = prepared.split("validation")
    train, _ = prepared.split("train")
    task = prepared.dataset.task
    fitter = _Fitter(prepared, run.manifest.get("network") or {}, epochs)

    n_params = sum(p.numel() for p in teacher.parameters())
    zeros, _ = count_zeros(teacher)
    variants = [
        Variant(
            "fp32 eager", "the shipped network, PyTorch eager", _torch_runner(teacher),
            _state_bytes(teacher), "fp32.safetensors", n_params, zeros,
        )
    ]  # fmt: skip
    onnx_bytes = onnx_of_network(teacher, validation.inputs)
    onnx = OnnxCandidate("fp32 onnx", onnx_bytes, task, "network")
    variants.append(
        Variant("fp32 onnx", "ONNX export, ONNX Runtime", onnx.run, onnx_bytes, "fp32.onnx",
                n_params, zeros)
    )  # fmt: skip
    int8 = _quantize(onnx_bytes)
    variants.append(
        Variant(
            "int8 onnx", "dynamic int8 quantization (onnxruntime.quantization.quantize_dynamic)",
            OnnxCandidate("int8 onnx", int8, task, "network").run, int8, "int8.onnx", n_params,
        )
    )  # fmt: skip
    with reproducible(prepared.cfg.seed, prepared.cfg.train.deterministic):  # TW-R01
        variants += [_pruned(teacher, sparsity, fitter) for sparsity in sparsities]
        variants.append(_student(teacher, prepared, fitter, train, n_params))

    measured = [v for v in variants if v.data]
    rows = [measure(v, task, validation, y_validation, repeats) for v in measured]
    for variant, row in zip(measured, rows, strict=True):
        row["sha256"] = hashlib.sha256(variant.data).hexdigest()
    rows += [_unavailable(v) for v in variants if not v.data]
    mark_pareto([r for r in rows if "validation" in r], tolerance)
    folder = export_folder(run)
    stored = folder / "variants"
    stored.mkdir(exist_ok=True)
    for variant in measured:
        atomic_write_bytes(stored / variant.file, variant.data)
    record = {
        "split": "validation",
        "examples": len(validation),
        "tolerance_points": tolerance,
        "reference": "fp32 eager",
        "machine": {"torch_threads": torch.get_num_threads()},
        "variants": rows,
    }
    write_json(folder / VARIANTS_JSON, record)
    atomic_write_bytes(folder / "variants.md", (variants_table(record) + "\n").encode())
    write_report(run.dir)  # the table joins the report's cost section
    return rows


def _unavailable(variant: Variant) -> dict[str, Any]:
    return {"variant": variant.name, "method": variant.method, "notes": variant.notes}


def _quantize(onnx_bytes: bytes) -> bytes:
    import tempfile

    from onnxruntime.quantization import (  # type: ignore[import-untyped]
        QuantType,
        quantize_dynamic,
    )

    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(onnx_bytes)
        # The quantizer logs a hint (pre-processing by shape inference) on the root logger
        # at WARNING; it changes nothing for dynamic quantization of these graphs.
        logging.disable(logging.WARNING)
        try:
            quantize_dynamic(source, target, weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        return target.read_bytes()


def _pruned(teacher: torch.nn.Module, sparsity: float, fitter: _Fitter) -> Variant:
    from torch.nn.utils import prune

    net = copy.deepcopy(teacher)
    targets = _prunable(net)
    prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=sparsity)
    net = fitter.fit(fitter.cfg(lr=fitter.lr / 10), net=net)
    for module, name in targets:
        prune.remove(module, name)  # the mask made permanent: plain weights with zeros
    zeros, total = count_zeros(net)
    label = f"pruned {round(100 * sparsity)}%"
    # Stored sparse (values + bit mask, trainwell.export.sparse); the variant is scored from
    # the network loaded back from those bytes, so the stored file is what was measured.
    names = {n for n, p in net.named_parameters() if n.endswith("weight") and _is_pruned(net, n)}
    data = sparse_bytes(dict(net.state_dict()), names)
    dense = len(_state_bytes(net))
    stored = copy.deepcopy(net)
    stored.load_state_dict(load_sparse(data))
    return Variant(
        label,
        f"global L1 magnitude pruning to {sparsity:.0%} zeros, fine-tuned "
        f"{fitter.epochs} epochs (lr {fitter.lr / 10:.3g})",
        _torch_runner(stored),
        data,
        f"pruned-{round(100 * sparsity)}.safetensors",
        sum(p.numel() for p in net.parameters()),
        zeros,
        f"{zeros} of {total} prunable weights are zero; stored sparse (values + bit mask): "
        f"{len(data)} bytes vs {dense} dense ({1 - len(data) / dense:.0%} saved); runs dense "
        "(no faster CPU kernel for unstructured sparsity)",
        dense_bytes=dense,
    )


def _is_pruned(net: torch.nn.Module, name: str) -> bool:
    """Whether parameter ``name`` is the weight of a prunable layer."""
    module = net.get_submodule(name.rpartition(".")[0]) if "." in name else net
    return isinstance(module, PRUNABLE)


def _student(
    teacher: torch.nn.Module, prepared: Prepared, fitter: _Fitter, train: Samples, n_params: int
) -> Variant:
    task = prepared.dataset.task
    if "model.width" in prepared.modality.options:  # the modality sizes its network (tables)
        width = max(4, int(fitter.network.get("width") or 64) // 4)
        depth = max(0, int(fitter.network.get("depth") or 1) - 1)
        cfg = fitter.cfg({"width": width, "depth": depth})
        size, net = f"width {width} depth {depth}", None
    else:  # a backbone network: the same architecture with its size arguments cut
        cfg = fitter.cfg(lr=fitter.lr)  # the run's learning rate (no LR search for a given net)
        smaller = smaller_backbone(teacher)
        if isinstance(smaller, str):
            return Variant(
                "student", "distillation", _torch_runner(teacher), b"", "",
                notes=f"not available: {smaller}",
            )  # fmt: skip
        backbone = build_backbone(smaller)
        y_train = fitter.y_train
        net, _ = backbone_network(
            backbone, prepared.choice, train, task, prepared.n_classes, y_train, cfg,
            {"pretrained": None},
        )  # fmt: skip
        size = ", ".join(f"{k} {v}" for k, v in smaller.items() if k in SIZE_ARGUMENTS)
    cfg = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"max_epochs": 2 * fitter.epochs})}
    )
    student = fitter.fit(
        cfg, net=net, soft=lambda net: soft_targets(teacher, train.inputs, task, net)
    )
    params = sum(p.numel() for p in student.parameters())
    zeros, _ = count_zeros(student)
    return Variant(
        "student",
        f"distilled on the shipped network's soft labels (T={TEMPERATURE:g}), {size}",
        _torch_runner(student),
        _state_bytes(student),
        "student.safetensors",
        params,
        zeros,
        f"{params} parameters vs {n_params}",
    )


# A backbone's size arguments (its spec(), trainwell.models): widths are cut to a quarter
# (at least 4; a transformer's d_model stays a multiple of its 4 heads), depths by one (at
# least 1): the table's student rule (quarter width, one block fewer) for every backbone.
WIDTHS = ("width", "hidden", "d_model", "dim")
DEPTHS = ("stages", "blocks", "layers")
SIZE_ARGUMENTS = WIDTHS + DEPTHS


def smaller_backbone(teacher: torch.nn.Module) -> dict[str, Any] | str:
    """The spec of a smaller backbone of the teacher's architecture, or why there is none
    (a pre-trained backbone from timm or Hugging Face: its size is its checkpoint's)."""
    backbone = getattr(teacher, "backbone", None)
    spec = backbone.spec() if backbone is not None and hasattr(backbone, "spec") else None
    if not isinstance(spec, dict):
        return "the network has no backbone spec to build a smaller one from"
    sizes = [k for k in SIZE_ARGUMENTS if isinstance(spec.get(k), int)]
    if not sizes:
        return (
            f"the {spec.get('name')} backbone has no size arguments ({', '.join(WIDTHS)}; "
            f"{', '.join(DEPTHS)}): a pre-trained model's size is its checkpoint's"
        )
    smaller = dict(spec)
    for key in sizes:
        value = int(spec[key])
        smaller[key] = max(4, value // 4 // 4 * 4) if key in WIDTHS else max(1, value - 1)
    if smaller == spec:
        return f"the {spec.get('name')} backbone is already at its smallest size"
    return smaller


def variants_table(record: dict[str, Any]) -> str:
    """The variants as a Markdown table (Pareto-best marked ``*``; ``x``: beyond the
    tolerance, never chosen)."""
    lines = [
        f"Variants of the shipped network, scored on the validation split "
        f"({record['examples']} examples); tolerance {record['tolerance_points']} points.",
        "",
        "| variant | metric | drop | p50/p95 ms @1 | p50/p95 ms @64 | rows/s | bytes | "
        "compressed | params | zeros | peak MB | |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["variants"]:
        if "validation" not in r:
            lines.append(f"| {r['variant']} | – | | | | | | | | | | {r['notes']} |")
            continue
        b1, b64 = r["latency_ms"]["batch_1"], r["latency_ms"]["batch_64"]
        mark = "*" if r["pareto"] else ("" if r["within_tolerance"] else "x")
        memory = r["peak_memory_bytes"]
        lines.append(
            f"| {r['variant']} | {r['metric']} {r['validation']:.2f} | {r['drop']:.2f} | "
            f"{b1['p50']:.3f}/{b1['p95']:.3f} | {b64['p50']:.3f}/{b64['p95']:.3f} | "
            f"{r['throughput_rows_per_s']:.0f} | {r['bytes']} | {r['compressed_bytes']} | "
            f"{r['parameters']} | {r['zero_weights'] if r['zero_weights'] is not None else '–'}"
            f" | {'–' if memory is None else f'{memory / 2**20:.1f}'} | {mark} |"
        )
    lines += ["", "`*` Pareto-best within the tolerance; `x` beyond the tolerance (never chosen)."]
    return "\n".join(lines)
