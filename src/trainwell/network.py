"""Training the network: model, optimizer, schedule and callbacks put around the loop."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from trainwell.baselines import Arrays, Candidate, set_target_scaling
from trainwell.config import FitConfig, Task
from trainwell.doctor import DoctorCallback, overfit_one_batch
from trainwell.findings import Finding
from trainwell.model import Objective, TabularNet, init_output_bias, mlp_spec, n_outputs, size_mlp
from trainwell.preprocess import TabularInput
from trainwell.train.callback import Callback
from trainwell.train.callbacks import (
    Checkpointing,
    EarlyStopping,
    GradientNorm,
    ProgressBar,
    TensorBoardLogger,
)
from trainwell.train.callbacks.checkpointing import restore
from trainwell.train.callbacks.history import TrainingLog
from trainwell.train.callbacks.mlflow_logger import MLflowLogger
from trainwell.train.callbacks.remedy import Remedy
from trainwell.train.callbacks.tensorboard import flatten as flatten_hparams
from trainwell.train.loop import InMemoryData, train
from trainwell.train.lr_find import DEFAULT_LR, LRChoice, RangeTest, choose_lr, lr_range_test
from trainwell.train.memory import BatchPlan, fit_batch_to_memory, step_probe
from trainwell.train.precision import Mode, Precision, resolve_precision
from trainwell.train.schedule import build_schedule
from trainwell.train.state import TrainState


def choose_batch_size(n_train: int, requested: int | None) -> tuple[int, str]:
    """A batch size for ``n_train`` rows and why (TW-T07): 16-128 is the typical range, with
    at least ~15 steps per epoch so early stopping and the schedule have steps to work with."""
    if requested is not None:
        return requested, "set in config"
    size = int(np.clip(2 ** math.floor(math.log2(max(1, n_train / 15))), 16, 128))
    size = min(size, max(1, n_train))
    return size, f"{n_train} training rows: {size} keeps >= 15 steps per epoch (16-128 range)"


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only; biases, norms and embeddings are not decayed
    (decaying them shrinks offsets and scales without regularizing anything) (TW-T05)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            is_matrix = name == "weight" and isinstance(module, torch.nn.Linear)
            (decay if is_matrix else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(
    model: torch.nn.Module, cfg: FitConfig, lr: float | None = None
) -> torch.optim.Optimizer:
    """AdamW (or SGD) over :func:`param_groups` at ``lr``: by default ``train.lr``, or 1e-3
    when that is left to the LR range test (which then sets the real one)."""
    lr = lr if lr is not None else (cfg.train.lr or DEFAULT_LR)
    groups = param_groups(model, cfg.train.weight_decay)
    if cfg.train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=cfg.train.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=lr)  # TW-T01


@dataclass
class NetworkResult:
    candidate: Candidate
    state: TrainState
    details: dict[str, Any]
    findings: list[Finding]  # the doctor's: preflight and training


def validation_scores(
    objective: Objective, out: torch.Tensor, y: torch.Tensor, task: Task, target_std: torch.Tensor
) -> dict[str, float]:
    """Validation loss (the training objective, on CPU) and one readable metric: accuracy, or
    RMSE in the target's own units for regression."""
    result = {"val_loss": float(objective(out, y))}
    if task == "regression":
        rmse = torch.sqrt(torch.mean((out[:, 0] - y) ** 2)) * target_std.cpu()
        result["val_rmse"] = float(rmse)
    else:
        pred = (out[:, 0] > 0).long() if task == "binary" else out.argmax(1)
        result["val_accuracy"] = float((pred == y).float().mean())
    return result


class Validator:
    """Validation loss (the training objective) and one readable metric, in eval mode."""

    def __init__(self, objective: Objective, val: Arrays, y: torch.Tensor, task: Task) -> None:
        # A CPU copy: moving the training objective would strand its class weights off GPU.
        self.objective = copy.deepcopy(objective).cpu()
        self.num = torch.from_numpy(val.num)
        self.cat = torch.from_numpy(val.cat)
        self.y = y
        self.task = task

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        assert isinstance(model, TabularNet)
        model.eval()
        device = next(model.parameters()).device
        out = model(self.num.to(device), self.cat.to(device)).float().cpu()
        return validation_scores(self.objective, out, self.y, self.task, model.target_std)


@dataclass
class TrainingSetup:
    """The network for the data and everything its training steps use, before any training.

    ``target`` turns a split's labels into the objective's targets (scaled for regression).
    """

    device: torch.device
    net: TabularNet
    objective: Objective
    target: Callable[[Arrays], torch.Tensor]
    width: int
    depth: int
    mode: Mode
    precision: Precision
    optimizer: torch.optim.Optimizer
    plan: BatchPlan
    data: InMemoryData

    def range_test(self, cfg: FitConfig) -> RangeTest:
        """The LR range test (TW-T02) on this network, trained as fit trains it; the network,
        optimizer and RNGs are left exactly as they were."""
        return lr_range_test(
            self.net,
            self.optimizer,
            self.objective,
            self.data,
            steps=cfg.train.lr_find_steps,
            accumulate=self.plan.accumulate,
            precision=self.precision,
            clip_grad_norm=cfg.train.clip_grad_norm,
            method=cfg.train.lr_find_method,
        )


def setup_training(
    task: Task,
    train_arrays: Arrays,
    levels: list[int],
    class_weights: np.ndarray | None,
    cfg: FitConfig,
    *,
    record_dir: Path | None = None,
) -> TrainingSetup:
    """Build the network, objective, optimizer and batches that ``fit`` trains with.

    The batch plan (size, accumulation, reason) is saved to ``record_dir/batch_size.json``
    and read back from there when it exists, so a resumed run keeps its batch.
    """
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    n_classes = len(class_weights) if class_weights is not None else int(train_arrays.y.max()) + 1
    inputs = TabularInput.fit(
        train_arrays.num,
        train_arrays.cat,
        levels,
        embedding_threshold=cfg.model.embedding_threshold,
    )
    width, depth = size_mlp(len(train_arrays), cfg.model)
    head = mlp_spec(inputs.out_features, n_outputs(task, n_classes), width, depth, cfg.model)
    net = TabularNet(inputs, head, task)
    if task == "regression":
        set_target_scaling(net, train_arrays.y)
    init_output_bias(net, train_arrays.y, weighted=class_weights is not None)
    net.to(device)

    def target(arrays: Arrays) -> torch.Tensor:
        if task == "regression":
            scaled = (arrays.y - float(net.target_mean)) / float(net.target_std)
            return torch.from_numpy(scaled.astype(np.float32))
        return torch.from_numpy(arrays.y.astype(np.int64))

    weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    objective = Objective(task, weights).to(device)
    mode = resolve_precision(cfg.train.precision, device)
    precision = Precision(mode, device.type)
    optimizer = make_optimizer(net, cfg)
    train_inputs = (torch.from_numpy(train_arrays.num), torch.from_numpy(train_arrays.cat))
    # TW-T08-T10: the batch for the data size, shrunk to fit memory on CUDA (accumulation
    # keeping the effective batch); a resumed run keeps the batch it recorded.
    plan_path = record_dir / "batch_size.json" if record_dir is not None else None
    if plan_path is not None and plan_path.is_file():
        plan = BatchPlan.load(plan_path)
    else:
        size, why = choose_batch_size(len(train_arrays), cfg.train.batch_size)
        plan = BatchPlan(size, cfg.train.accumulate, why)
        if cfg.train.batch_size is None:
            probe = step_probe(
                net, optimizer, objective, train_inputs, target(train_arrays), precision
            )
            plan = fit_batch_to_memory(size, cfg.train.accumulate, probe, device, why)
        if plan_path is not None:
            plan.save(plan_path)
    data = InMemoryData(
        train_inputs, target(train_arrays), plan.batch_size, seed=cfg.seed, device=device
    )
    return TrainingSetup(
        device, net, objective, target, width, depth, mode, precision, optimizer, plan, data
    )


def train_network(
    task: Task,
    train_arrays: Arrays,
    val_arrays: Arrays,
    levels: list[int],
    class_weights: np.ndarray | None,
    cfg: FitConfig,
    *,
    checkpoints: Path | None,
    tensorboard: Path | None,
    training_log: Path | None = None,
    record_dir: Path | None = None,
    resume_from: Path | None = None,
    callbacks: Sequence[Callback] = (),
    console: Console | None = None,
) -> NetworkResult:
    """Build the network for the data, train it with every default on, return the best one."""
    setup = setup_training(task, train_arrays, levels, class_weights, cfg, record_dir=record_dir)
    device, net, objective, target = setup.device, setup.net, setup.objective, setup.target
    width, depth, mode, precision = setup.width, setup.depth, setup.mode, setup.precision
    optimizer, data, plan = setup.optimizer, setup.data, setup.plan
    accumulate = plan.accumulate
    # TW-T02: the LR range test picks the starting LR (unless train.lr is set), restoring
    # the weights, optimizer and RNGs; a resumed run reuses the curve it recorded.
    lr_choice = choose_lr(
        cfg.train.lr,
        lambda: setup.range_test(cfg),
        record_dir / "lr_find.json" if record_dir is not None else None,
    )
    for group in optimizer.param_groups:
        group["lr"] = lr_choice.lr
    if console is not None:
        console.print(f"learning rate {lr_choice.lr:.3g}: {lr_choice.reason}", highlight=False)
    schedule = build_schedule(optimizer, cfg.train, math.ceil(len(data) / accumulate))  # TW-T03
    scheduler = schedule.scheduler

    findings: list[Finding] = []
    if cfg.doctor.enabled and cfg.doctor.overfit_batch:
        # TW-X01, on a copy of the freshly built network (the same on --resume, before the
        # checkpoint is loaded), so training itself is untouched.
        first = next(iter(data.epoch(0)))
        failed = overfit_one_batch(net, first, objective)
        if failed is not None:
            findings.append(failed)
            if console is not None:
                console.print(f"doctor: {failed.message}", highlight=False)

    loop = loop_callbacks(
        cfg,
        precision,
        console,
        schedule_callbacks=schedule.callbacks,
        checkpoints=checkpoints,
        tensorboard=tensorboard,
        training_log=training_log,
        extra=callbacks,
    )
    early, stateful, all_callbacks = loop.early, loop.stateful, loop.all
    state = TrainState(net, optimizer, scheduler, max_epochs=cfg.train.max_epochs)
    if resume_from is not None:
        restore(resume_from, state, stateful, precision)
    state = train(
        net,
        optimizer,
        objective,
        data,
        max_epochs=cfg.train.max_epochs,
        scheduler=schedule.loop_scheduler,
        callbacks=all_callbacks,
        validate=Validator(objective, val_arrays, target(val_arrays), task),
        accumulate=accumulate,
        precision=precision,
        state=state,
    )
    net.cpu().eval()
    details = {
        "width": width,
        "depth": depth,
        "parameters": sum(p.numel() for p in net.parameters()),
        **loop_details(plan, lr_choice, schedule.description, mode, device, state, early, cfg),
    }
    findings.extend(loop.doctor_findings())
    return NetworkResult(Candidate("network", net, {"task": task}), state, details, findings)


@dataclass
class LoopCallbacks:
    """The callbacks every trainwell fit puts around the loop, and the ones read afterwards."""

    all: list[Callback]
    stateful: list[Callback]  # what checkpoints carry besides the training state
    early: EarlyStopping
    doctor: DoctorCallback | None

    def doctor_findings(self) -> list[Finding]:
        if self.doctor is None:
            return []
        return [_in_context(f, self.early) for f in self.doctor.findings]


def loop_callbacks(
    cfg: FitConfig,
    precision: Precision,
    console: Console | None,
    *,
    schedule_callbacks: Sequence[Callback] = (),
    checkpoints: Path | None = None,
    tensorboard: Path | None = None,
    training_log: Path | None = None,
    first: Sequence[Callback] = (),
    extra: Sequence[Callback] = (),
) -> LoopCallbacks:
    """Gradient clipping and norm, early stopping, the training log, the schedule's steps, the
    doctor and its remedy, checkpoints, TensorBoard and the progress bar, in the order they
    must run (``first`` before them all, the caller's ``extra`` after)."""
    early = EarlyStopping("val_loss", patience=cfg.train.patience)
    grad_norm = GradientNorm(cfg.train.clip_grad_norm)
    # After GradientNorm (it reads this step's norm) and EarlyStopping (its best epoch).
    log = TrainingLog(training_log)  # TW-M01, TW-M03: the curves the report draws
    all_callbacks: list[Callback] = [*first, grad_norm, early, log, *schedule_callbacks]
    stateful: list[Callback] = [early, log]
    doctor = None
    if cfg.doctor.enabled:
        doctor = DoctorCallback(on_finding=_live(console))
        all_callbacks.append(doctor)
        stateful.append(doctor)
        if cfg.doctor.remedy:
            remedy = Remedy(
                doctor,
                grad_norm,
                lr_factor=cfg.doctor.remedy_lr_factor,
                clip_grad_norm=cfg.doctor.remedy_clip_grad_norm,
                max_remedies=cfg.doctor.max_remedies,
            )
            all_callbacks.append(remedy)
            stateful.append(remedy)
    if checkpoints is not None:
        all_callbacks.append(
            Checkpointing(checkpoints, stateful, precision, keep=cfg.train.checkpoint_keep)
        )
    if tensorboard is not None and cfg.logging.tensorboard:
        all_callbacks.append(
            TensorBoardLogger(
                tensorboard,
                every=cfg.logging.log_every,
                histogram_every=cfg.logging.histogram_every,
                hparams=flatten_hparams(
                    cfg.model_dump(mode="json", include={"seed", "split", "model", "train"})
                ),
            )
        )
    if cfg.logging.mlflow:
        all_callbacks.append(
            MLflowLogger(
                cfg.logging.mlflow,
                params=flatten_hparams(cfg.model_dump(mode="json", exclude={"logging"})),
                run_name=tensorboard.parent.name if tensorboard is not None else None,
            )
        )
    if console is not None and cfg.logging.progress:
        all_callbacks.append(ProgressBar(console))
    all_callbacks.extend(extra)
    return LoopCallbacks(all_callbacks, stateful, early, doctor)


def loop_details(
    plan: BatchPlan,
    lr: LRChoice,
    schedule: str,
    mode: Mode,
    device: torch.device,
    state: TrainState,
    early: EarlyStopping,
    cfg: FitConfig,
) -> dict[str, Any]:
    """What the manifest records of how the network was trained (both tables and modalities)."""
    return {
        "batch_size": plan.batch_size,
        "batch_size_reason": plan.reason,
        "accumulate": plan.accumulate,
        "effective_batch_size": plan.effective,
        "lr": lr.lr,
        "lr_source": lr.source,
        "lr_reason": lr.reason,
        "schedule": schedule,
        "precision": mode,
        "device": str(device),
        "epochs_run": len(state.history),
        "best_epoch": early.best_epoch + 1,
        "steps": state.step,
        "stop_reason": state.stop_reason or f"reached train.max_epochs={cfg.train.max_epochs}",
    }


_HANDLED_IN_FIT = {"overfitting"}  # see _in_context


def _in_context(finding: Finding, early: EarlyStopping) -> Finding:
    """Overfitting that early stopping already undid is a note, not a warning: the shipped
    weights are those of the best epoch, before validation loss rose (TW-T04)."""
    if finding.id not in _HANDLED_IN_FIT or early.best_epoch < 0:
        return finding
    return replace(
        finding,
        severity="info",
        message=f"{finding.message} Early stopping restored the weights of the best epoch, "
        "before the rise.",
        fix="Nothing to do for this run. To get more out of the data: more regularization "
        "(model.dropout, train.weight_decay) or more data.",
    )


def _live(console: Console | None) -> Callable[[Finding], None] | None:
    """Print the doctor's warnings and errors as they are found (notes wait for the report)."""
    if console is None:
        return None

    def show(finding: Finding) -> None:
        if finding.severity != "info" and finding.id not in _HANDLED_IN_FIT:
            where = f" (step {finding.step})" if finding.step is not None else ""
            console.print(f"doctor: {finding.severity}{where}: {finding.message}", highlight=False)

    return show
