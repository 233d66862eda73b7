"""Training the image, text or series network: the architecture chosen for the task, transfer
learning, augmentation on the training split, and the same loop and callbacks as tables.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from rich.console import Console

from trainwell.config import FitConfig, Task
from trainwell.doctor import overfit_one_batch
from trainwell.findings import Finding
from trainwell.modalities import image, series, text
from trainwell.modalities.base import Augment, AugmentedData, Inputs, Samples, predict_outputs
from trainwell.model import Objective
from trainwell.models import Choice, ModalityNet, Standardize, build_backbone, use_checkpointing
from trainwell.models.text import HFEncoder
from trainwell.models.transfer import (
    GradualUnfreezing,
    discriminative_groups,
    fine_tune_decision,
    linear_probe_head,
    load_weights,
)
from trainwell.models.vision import TimmBackbone
from trainwell.network import (
    choose_batch_size,
    loop_callbacks,
    loop_details,
    validation_scores,
)
from trainwell.train.callback import Callback
from trainwell.train.callbacks.checkpointing import restore
from trainwell.train.loop import train
from trainwell.train.lr_find import RangeTest, choose_lr, lr_range_test
from trainwell.train.memory import BatchPlan, fit_batch_to_memory, step_probe
from trainwell.train.precision import Mode, Precision, resolve_precision
from trainwell.train.schedule import build_schedule
from trainwell.train.state import TrainState

# The doctor's overfit-one-batch check copies the network and trains it 200 steps: done for
# networks up to this size (seconds); for larger (pre-trained) ones it is skipped.
OVERFIT_CHECK_MAX_PARAMS = 2_000_000


@dataclass
class ModalResult:
    net: ModalityNet
    state: TrainState
    details: dict[str, Any]
    findings: list[Finding]


def build_network(
    samples: Samples, choice: Choice, task: Task, n_classes: int, cfg: FitConfig
) -> tuple[ModalityNet, dict[str, Any]]:
    """The chosen architecture with its pre-trained weights, if any (TW-A01, TW-A03)."""
    transfer: dict[str, Any] = {"pretrained": None}
    x = samples.inputs[0]
    if samples.kind == "image":
        channels = int(x.shape[1])
        if choice.name == "small_cnn":
            # TW-A02: capacity for the image size: each stage halves the side (down to 4px).
            side = int(max(x.shape[2:]))
            width, stages = (16, 2) if side <= 16 else (32, 3) if side <= 32 else (32, 4)
            backbone: torch.nn.Module = build_backbone(
                {"name": "small_cnn", "in_channels": channels, "width": width, "stages": stages}
            )
        else:
            hub = cfg.model.download and choice.pretrained is None
            backbone = TimmBackbone(choice.name, channels, hub_weights=hub)
            if hub:
                transfer = {"pretrained": f"timm hub: {choice.name}"}
        if choice.pretrained is not None:
            transfer = {
                "pretrained": choice.pretrained,
                **load_weights(backbone, choice.pretrained),
            }
    elif samples.kind == "text":
        if choice.name == "bag_of_embeddings":
            backbone = build_backbone(
                {"name": "bag_of_embeddings", "vocab_size": len(samples.encoding["vocab"]) + 2}
            )
        else:
            assert choice.pretrained is not None
            backbone = HFEncoder.from_pretrained(choice.pretrained, download=cfg.model.download)
            transfer = {"pretrained": choice.pretrained}
    else:
        channels, length = int(x.shape[2]), int(x.shape[1])
        spec: dict[str, Any] = {"name": choice.name, "channels": channels}
        if choice.name == "transformer":
            spec["length"] = length
        backbone = build_backbone(spec)
        if choice.pretrained is not None:
            transfer = {
                "pretrained": choice.pretrained,
                **load_weights(backbone, choice.pretrained),
            }
    return ModalityNet(backbone, task, n_classes, cfg.model.dropout), transfer


def augmenter(samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
    if samples.kind == "image":
        return image.augmenter(cfg.augment, samples)
    if samples.kind == "text":
        return text.augmenter(cfg.augment)
    return series.augmenter(cfg.augment, samples)


class Validator:
    """Validation loss and accuracy (or RMSE) on unaugmented inputs, in eval mode."""

    def __init__(self, objective: Objective, inputs: Inputs, y: torch.Tensor, task: Task):
        self.objective = copy.deepcopy(objective).cpu()  # the training one stays on its device
        self.inputs, self.y, self.task = inputs, y, task

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        assert isinstance(model, ModalityNet)
        out = predict_outputs(model, self.inputs, raw=True)
        return validation_scores(self.objective, out, self.y, self.task, model.target_std)


def _targets(net: ModalityNet, y: np.ndarray) -> torch.Tensor:
    if net.task == "regression":
        scaled = (y - float(net.target_mean)) / float(net.target_std)
        return torch.from_numpy(scaled.astype(np.float32))
    return torch.from_numpy(y.astype(np.int64))


@dataclass
class ModalSetup:
    """The network for the data and everything its training steps use, before any training
    (shared by ``fit`` and ``trainwell lr-find``)."""

    device: torch.device
    net: ModalityNet
    transfer: dict[str, Any]
    objective: Objective
    mode: Mode
    precision: Precision
    groups: list[torch.nn.Module]  # layer groups, input side first, the head last
    fine_tune: bool
    probe: float | None
    decay: float
    optimizer: torch.optim.Optimizer
    unfreeze: GradualUnfreezing
    plan: BatchPlan
    augment_info: dict[str, Any]
    data: AugmentedData
    checkpointing: bool
    checkpoint_reason: str

    def range_test(self, cfg: FitConfig) -> RangeTest:
        """TW-T02 on the training batches (augmented, as training sees them); the weights,
        optimizer state and random generators are restored afterwards."""
        return lr_range_test(
            self.net, self.optimizer, self.objective, self.data, steps=cfg.train.lr_find_steps,
            accumulate=self.plan.accumulate, precision=self.precision,
            clip_grad_norm=cfg.train.clip_grad_norm, method=cfg.train.lr_find_method,
        )  # fmt: skip


def setup_modality(
    samples: Samples,
    choice: Choice,
    task: Task,
    rows: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    n_classes: int,
    class_weights: np.ndarray | None,
    cfg: FitConfig,
) -> ModalSetup:
    """Build the network (pre-trained weights loaded, head probed when fine-tuning), objective,
    optimizer with per-group learning rates, batch plan and augmented training batches."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net, transfer = build_network(samples, choice, task, n_classes, cfg)
    train_inputs = samples.select(rows["train"])
    for module in net.modules():  # TW-D08: input statistics of the training split only
        if isinstance(module, Standardize):
            module.fit(train_inputs[0])
    net.init_output(y["train"])
    checkpointing, checkpoint_reason = use_checkpointing(
        cfg.model.gradient_checkpointing, net.backbone
    )
    if checkpointing:
        cast(Any, net.backbone).set_grad_checkpointing(True)
    net.to(device)
    weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    objective = Objective(task, weights).to(device)
    mode = resolve_precision(cfg.train.precision, device)
    precision = Precision(mode, device.type)

    groups = net.layer_groups()
    fine_tune = transfer["pretrained"] is not None
    probe = None
    if fine_tune:  # TW-A03/A04: linear probe, then fine-tune (LP-FT)
        probe = linear_probe_head(net, train_inputs, y["train"], class_weights)
    decay = cfg.model.layer_lr_decay if fine_tune else 1.0  # TW-A04
    optimizer = torch.optim.AdamW(
        discriminative_groups(groups, cfg.train.lr or 1e-3, decay, cfg.train.weight_decay)
    )  # TW-T01
    unfreezes, frozen_reason = fine_tune_decision(samples.kind, device.type, cfg.model.fine_tune)
    if fine_tune and not unfreezes:  # frozen for good: head on the encoder's embeddings
        transfer["frozen"] = frozen_reason
    freeze_epochs = cfg.model.freeze_epochs if unfreezes else cfg.train.max_epochs + 1
    unfreeze = GradualUnfreezing(groups[:-1], freeze_epochs, cfg.model.unfreeze_every)
    if fine_tune:
        unfreeze.apply(0)  # the range test and the first epochs see the frozen backbone

    target = _targets(net, y["train"])
    plan = _batch_plan(net, optimizer, objective, train_inputs, target, precision, cfg, device)
    augment, augment_info = augmenter(samples, cfg)
    data = AugmentedData(
        train_inputs, target, plan.batch_size, augment, seed=cfg.seed, device=device
    )
    return ModalSetup(
        device, net, transfer, objective, mode, precision, groups, fine_tune, probe, decay,
        optimizer, unfreeze, plan, augment_info, data, checkpointing, checkpoint_reason,
    )  # fmt: skip


def train_modality(
    samples: Samples,
    choice: Choice,
    task: Task,
    rows: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    n_classes: int,
    class_weights: np.ndarray | None,
    cfg: FitConfig,
    *,
    run_path: Path | None,
    resume_from: Path | None = None,
    callbacks: Sequence[Callback] = (),
    console: Console | None = None,
) -> ModalResult:
    """Build, (fine-)tune and return the network with its best validation weights."""
    setup = setup_modality(samples, choice, task, rows, y, n_classes, class_weights, cfg)
    device, net, transfer, objective = setup.device, setup.net, setup.transfer, setup.objective
    mode, precision, groups, fine_tune = setup.mode, setup.precision, setup.groups, setup.fine_tune
    probe, decay, optimizer, unfreeze = setup.probe, setup.decay, setup.optimizer, setup.unfreeze
    plan, augment_info, data = setup.plan, setup.augment_info, setup.data
    checkpointing, checkpoint_reason = setup.checkpointing, setup.checkpoint_reason
    record = _in_run(run_path, "lr_find.json")
    lr_choice = choose_lr(cfg.train.lr, lambda: setup.range_test(cfg), record)  # TW-T02
    top = float(optimizer.param_groups[-1]["lr"])
    for group in optimizer.param_groups:  # keep the discriminative ratios
        group["lr"] = lr_choice.lr * float(group["lr"]) / top
    if console is not None:
        console.print(f"learning rate {lr_choice.lr:.3g}: {lr_choice.reason}", highlight=False)
    schedule = build_schedule(optimizer, cfg.train, math.ceil(len(data) / plan.accumulate))

    findings: list[Finding] = []
    n_params = sum(p.numel() for p in net.parameters())
    if cfg.doctor.enabled and cfg.doctor.overfit_batch and n_params <= OVERFIT_CHECK_MAX_PARAMS:
        inputs, target_batch = next(iter(data.epoch(0)))
        # TW-X01 on 16 examples: memorizing them is the same test at a quarter of the cost.
        small = (tuple(x[:16] for x in inputs), target_batch[:16])
        failed = overfit_one_batch(net, small, objective)
        if failed is not None:
            findings.append(failed)

    loop = loop_callbacks(
        cfg,
        precision,
        console,
        schedule_callbacks=schedule.callbacks,
        checkpoints=_in_run(run_path, "checkpoints"),
        tensorboard=_in_run(run_path, "tensorboard"),
        training_log=_in_run(run_path, "training_log.json"),
        first=[unfreeze] if fine_tune else [],
        extra=callbacks,
    )
    state = TrainState(net, optimizer, schedule.scheduler, max_epochs=cfg.train.max_epochs)
    if resume_from is not None:
        restore(resume_from, state, loop.stateful, precision)
    val_inputs = samples.select(rows["validation"])
    state = train(
        net, optimizer, objective, data, max_epochs=cfg.train.max_epochs,
        scheduler=schedule.loop_scheduler, callbacks=loop.all,
        validate=Validator(objective, val_inputs, _targets(net, y["validation"]), task),
        accumulate=plan.accumulate, precision=precision, state=state,
    )  # fmt: skip
    net.cpu().eval()
    findings.extend(loop.doctor_findings())
    details = {
        "modality": samples.kind,
        "architecture": choice.name,
        "architecture_reason": choice.reason
        + (f"; {transfer['frozen']}" if transfer.get("frozen") else ""),
        "parameters": n_params,
        "transfer": {
            **transfer,
            "freeze_epochs": cfg.model.freeze_epochs if fine_tune else None,
            "head_start": None if probe is None else f"linear probe, train score {probe:.3f}",
            "layer_groups": len(groups) - 1,
            "layer_lrs": [float(g["initial_lr"]) for g in optimizer.param_groups[::2]]
            if "initial_lr" in optimizer.param_groups[0]
            else [lr_choice.lr * decay ** (len(groups) - 1 - i) for i in range(len(groups))],
            "unfreezing": unfreeze.log if fine_tune else None,
        },
        "augmentation": augment_info,
        "gradient_checkpointing": {"on": checkpointing, "reason": checkpoint_reason},
        **loop_details(plan, lr_choice, schedule.description, mode, device, state, loop.early, cfg),
    }
    return ModalResult(net, state, details, findings)


def _in_run(run_path: Path | None, name: str) -> Path | None:
    return run_path / name if run_path is not None else None


def _batch_plan(
    net: ModalityNet,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    inputs: Inputs,
    target: torch.Tensor,
    precision: Precision,
    cfg: FitConfig,
    device: torch.device,
) -> BatchPlan:
    """TW-T07: the batch for the data size; on CUDA shrunk to fit memory (accumulating)."""
    size, why = choose_batch_size(len(target), cfg.train.batch_size)
    if cfg.train.batch_size is not None:
        return BatchPlan(size, cfg.train.accumulate, why)
    probe = step_probe(net, optimizer, objective, inputs, target, precision)
    return fit_batch_to_memory(size, cfg.train.accumulate, probe, device, why)
