"""One trainer setup for every modality: network, objective, optimizer, batches, schedule and
callbacks around the one training loop (:func:`trainwell.train.loop.train`).

``fit``, ``lr-find`` (and tuning and multi-process training after them) all build their
network through :func:`setup_trainer`, so the same config trains the same way whatever the
data: the optimizer named by ``train.optimizer`` (TW-T01), discriminative learning rates
when fine-tuning (TW-A04), the batch plan (TW-T07-T10), precision (TW-T09). The network's
initial weights come from their own random stream (the run's seed and the stage's name), so
``lr-find`` previews exactly the weights ``fit`` starts from, whatever ran before (TW-R01).

Nothing here needs a run directory: with ``paths=None`` a config is trained and scored in
memory (what a tuning trial does); with paths, the checkpoints, TensorBoard events, training
log, LR range test and batch plan are kept there for ``--resume``.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from rich.console import Console

from trainwell import distributed
from trainwell.config import FitConfig, SGDOptions, Task
from trainwell.doctor import DoctorCallback, overfit_one_batch
from trainwell.doctor.plan import TrainingPlan, unfreezing_groups
from trainwell.findings import Finding
from trainwell.modalities.base import AugmentedData, Inputs, Modality, Samples, predict_outputs
from trainwell.models import Choice, use_checkpointing
from trainwell.models.tabular import Objective
from trainwell.models.transfer import (
    GradualUnfreezing,
    discriminative_groups,
    fine_tune_decision,
    linear_probe_head,
)
from trainwell.streaming import StreamedData
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
from trainwell.train.callbacks.time_budget import TimeBudget
from trainwell.train.compile import compile_network, uncompile
from trainwell.train.feature_cache import FeatureCache
from trainwell.train.loop import train
from trainwell.train.memory import BatchPlan, fit_batch_to_memory, step_probe
from trainwell.train.precision import Mode, Precision, resolve_precision
from trainwell.train.range_test import (
    DEFAULT_LR,
    LRChoice,
    RangeTest,
    check_lr_choice,
    choose_lr,
    lr_range_test,
)
from trainwell.train.schedule import build_schedule
from trainwell.train.state import TrainState
from trainwell.train.threads import choose_threads, step_flops, torch_threads

# The doctor's overfit-one-batch check copies the network and trains it 200 steps on one
# batch: done for networks up to this size (seconds); for larger (pre-trained) ones it is
# skipped.
OVERFIT_CHECK_MAX_PARAMS = 2_000_000
OVERFIT_FULL_BATCH_MAX_PARAMS = 200_000
MAX_AUTO_BATCH = 1024  # the largest batch chosen from the data size (TW-T07)
FROZEN_NO_AUGMENT = (
    "the pre-trained backbone stays frozen for the whole run, so each example's features are "
    "computed once and reused every epoch (feature extraction, as Keras' transfer-learning "
    "guide does it); augmenting the inputs would need the backbone again on every step. "
    "model.fine_tune=true trains the backbone, with augmentation"
)


def stream_seed(seed: int, stage: str) -> int:
    """A seed of its own for one stage's random draws (network init, training), derived from
    the run's seed, so one stage's draws never depend on what ran before it."""
    digest = hashlib.sha256(f"{seed}:{stage}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def choose_batch_size(n_train: int, requested: int | None) -> tuple[int, str]:
    """A batch size for ``n_train`` examples and why (TW-T07).

    The power of two at or below ``n_train / steps``, with ``steps = max(15, sqrt(n_train) / 2)``
    steps per epoch, between 16 and 1024: small data keeps the typical 16-128 and at least ~15
    steps per epoch (so early stopping and the schedule have steps to use); large data gets
    larger batches, whose per-step costs (Python, kernel launches, the doctor's probes) are
    paid fewer times per epoch, while the steps per epoch still grow with the data. 455 rows
    give 16, 10,000 give 128, 100,000 give 512, a million 1024. The learning rate follows the
    batch: the LR range test (TW-T02) runs at this batch, so a larger batch gets the larger
    rate it tolerates (Smith, "A disciplined approach to neural network hyper-parameters",
    2018), and warmup (TW-T03) stays one epoch.
    """
    if requested is not None:
        return requested, "set in config"
    steps = max(15.0, math.sqrt(n_train) / 2)
    size = int(np.clip(2 ** math.floor(math.log2(max(1, n_train / steps))), 16, MAX_AUTO_BATCH))
    size = min(size, max(1, n_train))
    return size, (
        f"{n_train} training examples: {size} gives {math.ceil(n_train / size)} steps per "
        f"epoch (>= max(15, sqrt(n)/2), 16-{MAX_AUTO_BATCH} range)"
    )


def make_optimizer(param_groups: list[dict[str, Any]], cfg: FitConfig) -> torch.optim.Optimizer:
    """AdamW (TW-T01), or SGD with Nesterov momentum, over ``param_groups`` (their LRs).

    AdamW runs its multi-tensor ("foreach") implementation on every device: torch picks it by
    default on CUDA but falls back to a Python loop over the parameters on the CPU (the
    ``foreach`` argument of ``torch.optim.AdamW``). The same arithmetic, element by element,
    so the weights are bit-identical (``tests/test_loop.py``), in fewer, larger kernels:
    5-10% less CPU per optimizer step for a 128 x 2 or 256 x 3 table network at batch 512.
    """
    chosen = cfg.train.optimizer
    if isinstance(chosen, SGDOptions):
        return torch.optim.SGD(param_groups, momentum=chosen.momentum, nesterov=True)
    return torch.optim.AdamW(param_groups, foreach=True)


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
    """Validation loss and accuracy (or RMSE) on unaugmented inputs, in eval mode."""

    def __init__(self, objective: Objective, inputs: Inputs, y: torch.Tensor, task: Task):
        # A CPU copy: moving the training objective would strand its class weights off GPU.
        self.objective = copy.deepcopy(objective).cpu()
        self.inputs, self.y, self.task = inputs, y, task

    def __call__(self, model: torch.nn.Module) -> dict[str, float]:
        out = predict_outputs(model, self.inputs, raw=True)
        std = cast(torch.Tensor, model.target_std)
        return validation_scores(self.objective, out, self.y, self.task, std)


def targets(net: torch.nn.Module, task: Task, y: np.ndarray) -> torch.Tensor:
    """The objective's targets: class indices, or the regression target scaled as the
    network's output is (TW-D08)."""
    if task == "regression":
        mean, std = float(cast(Any, net).target_mean), float(cast(Any, net).target_std)
        return torch.from_numpy(((y - mean) / std).astype(np.float32))
    return torch.from_numpy(y.astype(np.int64))


@dataclass
class TrainPaths:
    """Where a run keeps its training state; None for training without a run directory."""

    checkpoints: Path
    tensorboard: Path
    training_log: Path
    lr_find: Path
    batch_plan: Path

    @classmethod
    def of(cls, run: Path) -> TrainPaths:
        return cls(
            run / "checkpoints",
            run / "tensorboard",
            run / "training_log.json",
            run / "lr_find.json",
            run / "batch_size.json",
        )


@dataclass
class Trainer:
    """The network for the data and everything its training steps use, before training."""

    device: torch.device
    net: torch.nn.Module
    task: Task
    choice: Choice
    transfer: dict[str, Any]
    objective: Objective
    mode: Mode
    precision: Precision
    groups: list[torch.nn.Module]  # layer groups, input side first, the head last
    fine_tune: bool
    probe: float | None
    decay: float
    optimizer: torch.optim.Optimizer
    unfreeze: GradualUnfreezing | None
    plan: BatchPlan
    augment_info: dict[str, Any]
    data: AugmentedData | StreamedData
    checkpointing: bool
    checkpoint_reason: str
    # The network as the training steps call it: in DistributedDataParallel under N processes
    # (trainwell.distributed), ``net`` itself in one.
    model: torch.nn.Module | None = None
    # A backbone frozen for the whole run: its features, each example's computed once
    features: FeatureCache | None = None

    def frozen_features(self) -> AbstractContextManager[None]:
        """While open, a frozen-for-good backbone serves each example's features from the
        :class:`~trainwell.train.feature_cache.FeatureCache` (a no-op otherwise)."""
        return self.features.active() if self.features is not None else nullcontext()

    def range_test(self, cfg: FitConfig) -> RangeTest:
        """The LR range test (TW-T02) on the training batches, as training sees them; the
        weights, optimizer state and random generators are restored afterwards. Its random
        draws (dropout) come from a stream of their own, so ``lr-find`` and ``fit`` sweep
        identically (and on the same threads)."""
        with (
            torch.random.fork_rng(devices=[]),
            torch_threads(self.plan.threads),
            self.frozen_features(),
        ):
            torch.manual_seed(stream_seed(cfg.seed, "range_test"))
            return self._sweep(cfg)

    def _sweep(self, cfg: FitConfig) -> RangeTest:
        return lr_range_test(
            self.net, self.optimizer, self.objective, self.data.whole(),
            steps=cfg.train.lr_find_steps,
            accumulate=self.plan.accumulate, precision=self.precision,
            clip_grad_norm=cfg.train.clip_grad_norm, method=cfg.train.lr_find_method,
        )  # fmt: skip


def setup_trainer(
    modality: Modality,
    train_samples: Samples,
    y_train: np.ndarray,
    choice: Choice,
    task: Task,
    n_classes: int,
    class_weights: np.ndarray | None,
    cfg: FitConfig,
    *,
    batch_plan: Path | None = None,
) -> Trainer:
    """Build the network (its own random stream; pre-trained weights loaded, head probed when
    fine-tuning), objective, optimizer with per-group learning rates, batch plan and the
    training batches.

    ``batch_plan``: where the batch plan is kept; read back when it exists, so a resumed run
    keeps its batch.
    """
    device = distributed.device()  # this rank's GPU under N processes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(stream_seed(cfg.seed, "network"))
        net, transfer = modality.build_network(
            train_samples, choice, task, n_classes, y_train, class_weights is not None, cfg
        )
    backbone = getattr(net, "backbone", None)
    checkpointing, checkpoint_reason = (
        use_checkpointing(cfg.model.gradient_checkpointing, backbone)
        if backbone is not None
        else (False, "the network has no backbone to checkpoint")
    )
    if checkpointing:
        cast(Any, backbone).set_grad_checkpointing(True)
    net.to(device)
    weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float32)
    objective = Objective(task, weights).to(device)
    mode = resolve_precision(cfg.train.precision, device)
    precision = Precision(mode, device.type)

    # Layer groups from the input side to the head (fine-tuning unfreezes them from the top);
    # a network without them (the tabular MLP) is one group.
    groups: list[torch.nn.Module] = (
        cast(Any, net).layer_groups() if hasattr(net, "layer_groups") else [net]
    )
    fine_tune = transfer.get("pretrained") is not None
    probe = None
    unfreeze = None
    features = None
    if fine_tune:
        unfreezes, frozen_reason = fine_tune_decision(
            modality.name, device.type, cfg.model.fine_tune
        )
        freeze_epochs = cfg.model.freeze_epochs if unfreezes else cfg.train.max_epochs + 1
        unfreeze = GradualUnfreezing(groups[:-1], freeze_epochs, cfg.model.unfreeze_every)
        unfreeze.apply(0)  # the range test and the first epochs see the frozen backbone
        if not unfreezes:  # frozen for good: a head on the backbone's features, each once
            transfer = {**transfer, "frozen": frozen_reason}
            features = FeatureCache(cast(torch.nn.Module, backbone), variant=mode)
        # TW-A03/A04: linear probe, then fine-tune (LP-FT); its pass fills the cache
        with features.active() if features is not None else nullcontext():
            probe = linear_probe_head(net, train_samples.inputs, y_train, class_weights)
    decay = cfg.model.layer_lr_decay if fine_tune else 1.0  # TW-A04
    param_groups = discriminative_groups(
        groups, cfg.train.lr or DEFAULT_LR, decay, cfg.train.weight_decay
    )
    optimizer = make_optimizer(param_groups, cfg)

    target = targets(net, task, y_train)

    def plan_batch() -> BatchPlan:
        if batch_plan is not None and batch_plan.is_file():
            return BatchPlan.load(batch_plan)  # a resumed run keeps its batch
        rows = len(target) if train_samples.stream is None else train_samples.stream.n_train
        made = _batch_plan(
            net, optimizer, objective, train_samples.inputs, target, precision, cfg, rows
        )
        if batch_plan is not None:
            made.save(batch_plan)
        return made

    # Under N processes rank 0 plans the global batch and every rank takes 1/N of it.
    plan = distributed.on_main(plan_batch, asdict, lambda d: BatchPlan(**d))
    per_rank, _ = distributed.local_batch(plan.batch_size, cfg.train.batch_size is not None)
    here = distributed.ranks()
    augment, augment_info = modality.augmenter(train_samples, cfg)
    if features is not None and augment is not None:
        augment, augment_info = None, {"enabled": False, "reason": FROZEN_NO_AUGMENT}
    data: AugmentedData | StreamedData = (
        AugmentedData(
            train_samples.inputs, target, per_rank, augment, seed=cfg.seed, device=device,
            shard=(here.rank, here.world),
        )
        if train_samples.stream is None
        else train_samples.stream.batches(  # a table larger than memory (trainwell.streaming)
            lambda y: targets(net, task, y), per_rank, seed=cfg.seed, device=device,
            shard=(here.rank, here.world),
        )
    )  # fmt: skip
    return Trainer(
        device, net, task, choice, transfer, objective, mode, precision, groups, fine_tune,
        probe, decay, optimizer, unfreeze, plan, augment_info, data, checkpointing,
        checkpoint_reason, distributed.wrap(net, unfreezes=unfreeze is not None), features,
    )  # fmt: skip


def _batch_plan(
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    inputs: Inputs,
    target: torch.Tensor,
    precision: Precision,
    cfg: FitConfig,
    rows: int,
) -> BatchPlan:
    """TW-T07: the batch for the data size (``rows`` training rows, streamed ones included);
    on CUDA shrunk to fit memory (accumulating)."""
    size, why = choose_batch_size(rows, cfg.train.batch_size)
    device = next(net.parameters()).device
    if cfg.train.batch_size is not None:
        plan = BatchPlan(size, cfg.train.accumulate, why)
    else:
        probe = step_probe(net, optimizer, objective, inputs, target, precision)
        plan = fit_batch_to_memory(size, cfg.train.accumulate, probe, device, why)
    threads, threads_why = choose_threads(step_flops(net, inputs, plan.batch_size), device)
    return replace(plan, threads=threads, threads_reason=threads_why)


@dataclass
class NetworkResult:
    """The trained network (best validation weights, on the CPU) and how it was trained."""

    net: torch.nn.Module
    state: TrainState
    details: dict[str, Any]
    findings: list[Finding]  # the doctor's: preflight and training
    lr_choice: LRChoice


def train_network(
    trainer: Trainer,
    validation: Samples,
    y_validation: np.ndarray,
    cfg: FitConfig,
    *,
    paths: TrainPaths | None = None,
    resume_from: Path | None = None,
    callbacks: Sequence[Callback] = (),
    console: Console | None = None,
    split_plan: TrainingPlan | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> NetworkResult:
    """Pick the starting LR, train with every default on, return the best network.

    ``paths`` None trains without a run directory (nothing is written). The doctor is told
    the plan: the split (``split_plan``: what the audit verified of it) and the planned
    freezing when fine-tuning (TW-A04), so neither is reported as a fault. Everything runs
    on the batch plan's CPU threads (:mod:`trainwell.train.threads`). ``on_finding`` is
    called with each of the doctor's findings as it is made (a tuning trial prunes on NaN).
    """
    with torch_threads(trainer.plan.threads), trainer.frozen_features():
        return _train_network(
            trainer, validation, y_validation, cfg, paths=paths, resume_from=resume_from,
            callbacks=callbacks, console=console, split_plan=split_plan, on_finding=on_finding,
        )  # fmt: skip


def _train_network(
    trainer: Trainer,
    validation: Samples,
    y_validation: np.ndarray,
    cfg: FitConfig,
    *,
    paths: TrainPaths | None,
    resume_from: Path | None,
    callbacks: Sequence[Callback],
    console: Console | None,
    split_plan: TrainingPlan | None,
    on_finding: Callable[[Finding], None] | None,
) -> NetworkResult:
    net, optimizer, plan, data = trainer.net, trainer.optimizer, trainer.plan, trainer.data
    cfg = distributed.single_process_only(cfg)  # under N processes: no per-rank remedy
    here = distributed.ranks()
    # TW-T02: the LR range test picks the starting LR (unless train.lr is set), restoring
    # the weights, optimizer and RNGs; a resumed run reuses the curve it recorded. Under N
    # processes rank 0 sweeps the whole split at the global batch and tells the others.
    lr_choice = distributed.on_main(
        lambda: choose_lr(
            cfg.train.lr, lambda: trainer.range_test(cfg), paths.lr_find if paths else None
        ),
        LRChoice.to_dict,
        lambda d: LRChoice(**d),
    )
    top = float(optimizer.param_groups[-1]["lr"])
    for group in optimizer.param_groups:  # keep the discriminative ratios
        group["lr"] = lr_choice.lr * float(group["lr"]) / top
    if console is not None:
        console.print(f"learning rate {lr_choice.lr:.3g}: {lr_choice.reason}", highlight=False)
    schedule = build_schedule(optimizer, cfg.train, math.ceil(len(data) / plan.accumulate))

    findings: list[Finding] = []
    n_params = sum(p.numel() for p in net.parameters())
    check_overfit = cfg.doctor.enabled and cfg.doctor.overfit_batch and here.main
    if check_overfit and n_params <= OVERFIT_CHECK_MAX_PARAMS:
        # TW-X01 on a copy of the freshly built network (the same on --resume, before the
        # checkpoint is loaded), so training itself is untouched.
        inputs, target_batch = next(iter(data.whole().epoch(0)))
        # The whole first batch for a small network (memorizing 16 rows proves little); 16
        # examples for a large one, where 200 steps on a full batch would cost minutes.
        n = len(target_batch) if n_params <= OVERFIT_FULL_BATCH_MAX_PARAMS else 16
        small = (tuple(x[:n] for x in inputs), target_batch[:n])
        failed = overfit_one_batch(net, small, trainer.objective)
        if failed is not None:
            findings.append(failed)
            if console is not None:
                console.print(f"doctor: {failed.message}", highlight=False)

    frozen = (
        unfreezing_groups(
            net, trainer.groups[:-1], trainer.unfreeze.trainable, cfg.train.max_epochs
        )
        if trainer.unfreeze is not None
        else ()
    )
    doctor_plan = TrainingPlan(frozen, split_plan.split if split_plan is not None else None)
    sync = distributed.RankSync()  # keeps N processes in step (only added under N)
    train_seed = stream_seed(cfg.seed, "train" if here.main else f"train:{here.rank}")
    loop = loop_callbacks(
        cfg,
        trainer.precision,
        console,
        schedule_callbacks=schedule.callbacks,
        paths=paths,
        first=[
            *([trainer.unfreeze] if trainer.unfreeze is not None else []),
            *([distributed.RankGenerators(train_seed)] if here.parallel else []),
        ],
        extra=[*callbacks, sync] if here.parallel else callbacks,
        doctor_plan=doctor_plan,
        on_finding=on_finding,
    )
    if here.parallel and loop.doctor is not None:
        sync.needs_stop = loop.doctor.needs_remedy  # a NaN on any rank stops every rank
    state = TrainState(net, optimizer, schedule.scheduler, max_epochs=cfg.train.max_epochs)
    if trainer.features is not None:  # frozen for good: left out of weight copies
        state.constant = frozenset(
            f"{prefix}.{name}" if prefix else name
            for prefix, module in net.named_modules()
            if module is trainer.features.backbone
            for name in module.state_dict()
        )
    if resume_from is not None:  # under N processes each rank's stream: RankGenerators
        restore(resume_from, state, loop.stateful, trainer.precision)
    else:  # the training draws (dropout) from a stream of their own (TW-R01), one per rank
        torch.manual_seed(train_seed)
    validate = Validator(
        trainer.objective,
        validation.inputs,
        targets(net, trainer.task, y_validation),
        trainer.task,
    )
    compiled = {"on": False, "reason": "train.compile=false"}
    if cfg.train.compile:  # TW-T13: around the loop only (trainwell.train.compile)
        on, why = compile_network(net, trainer.device)
        compiled = {"on": on, "reason": why}
        if not on and console is not None:
            console.print(why, highlight=False)
    try:
        state = train(
            trainer.model if trainer.model is not None else net, optimizer, trainer.objective,
            data, max_epochs=cfg.train.max_epochs, scheduler=schedule.loop_scheduler,
            callbacks=loop.all, validate=lambda _: validate(net),  # each rank: the whole split
            accumulate=plan.accumulate, precision=trainer.precision, state=state,
        )  # fmt: skip
    finally:
        uncompile(net)
    net.cpu().eval()
    findings.extend(loop.doctor_findings(lr_choice))
    if loop.budget is not None:
        findings.extend(loop.budget.findings(loop.early.best_epoch + 1))
        if console is not None and loop.budget.stopped is not None:
            console.print(f"network: {state.stop_reason}", highlight=False)
    findings = distributed.gather_findings(findings)  # every rank's, naming the ranks
    distributed.part()  # the last collective: only rank 0 goes on
    details = {
        "architecture": trainer.choice.name,
        "architecture_reason": trainer.choice.reason
        + (f"; {trainer.transfer['frozen']}" if trainer.transfer.get("frozen") else ""),
        "parameters": n_params,
        **{k: v for k, v in trainer.transfer.items() if k in {"width", "depth"}},
        "transfer": _transfer_details(trainer, lr_choice, cfg),
        "augmentation": trainer.augment_info,
        "gradient_checkpointing": {
            "on": trainer.checkpointing,
            "reason": trainer.checkpoint_reason,
        },
        "optimizer": cfg.train.optimizer.name,
        "compile": compiled,
        **loop_details(plan, lr_choice, schedule.description, trainer, state, loop.early, cfg),
    }
    return NetworkResult(net, state, details, findings, lr_choice)


def _transfer_details(trainer: Trainer, lr: LRChoice, cfg: FitConfig) -> dict[str, Any]:
    groups, optimizer = trainer.groups, trainer.optimizer
    layer_lrs = (
        [float(g["initial_lr"]) for g in optimizer.param_groups[::2]]
        if "initial_lr" in optimizer.param_groups[0]
        else [lr.lr * trainer.decay ** (len(groups) - 1 - i) for i in range(len(groups))]
    )
    return {
        "pretrained": trainer.transfer.get("pretrained"),
        **{k: v for k, v in trainer.transfer.items() if k in {"loaded", "skipped", "of", "frozen"}},
        "freeze_epochs": cfg.model.freeze_epochs if trainer.fine_tune else None,
        "head_start": None
        if trainer.probe is None
        else f"linear probe, train score {trainer.probe:.3f}",
        "layer_groups": len(groups) - 1,
        "layer_lrs": layer_lrs,
        "unfreezing": trainer.unfreeze.log if trainer.unfreeze is not None else None,
        "feature_cache": None
        if trainer.features is None
        else {
            "examples_computed": trainer.features.computed,
            "examples_reused": trainer.features.reused,
        },
    }


@dataclass
class LoopCallbacks:
    """The callbacks every trainwell fit puts around the loop, and the ones read afterwards."""

    all: list[Callback]
    stateful: list[Callback]  # what checkpoints carry besides the training state
    early: EarlyStopping
    doctor: DoctorCallback | None
    show: Callable[[Finding], None] | None = None  # prints a finding in the run's output
    budget: TimeBudget | None = None  # train.time_budget

    def doctor_findings(self, lr: LRChoice | None = None) -> list[Finding]:
        """The doctor's findings in fit's context; with ``lr``, also whether the doctor
        contradicted the LR the range test chose (TW-T02), shown as the run's output."""
        if self.doctor is None:
            return []
        found = [_in_context(f, self.early) for f in self.doctor.findings]
        contradicted = check_lr_choice(lr, found) if lr is not None else []
        for finding in contradicted:
            if self.show is not None:
                self.show(finding)
        return found + contradicted


def loop_callbacks(
    cfg: FitConfig,
    precision: Precision,
    console: Console | None,
    *,
    schedule_callbacks: Sequence[Callback] = (),
    paths: TrainPaths | None = None,
    first: Sequence[Callback] = (),
    extra: Sequence[Callback] = (),
    doctor_plan: TrainingPlan | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> LoopCallbacks:
    """Gradient clipping and norm, early stopping, the training log, the schedule's steps, the
    doctor and its remedy, checkpoints, TensorBoard and the progress bar, in the order they
    must run (``first`` before them all, their state checkpointed with the others'; the
    caller's ``extra`` after). They talk through the training state, never by calling each
    other."""
    early = EarlyStopping("val_loss", patience=cfg.train.patience)
    grad_norm = GradientNorm(cfg.train.clip_grad_norm)
    # After GradientNorm (it reads this step's norm) and EarlyStopping (its best epoch).
    log = TrainingLog(paths.training_log if paths else None)  # TW-M01, M03: the curves
    all_callbacks: list[Callback] = [*first, grad_norm, early, log, *schedule_callbacks]
    stateful: list[Callback] = [*first, early, log]
    # After EarlyStopping: an epoch it stops is not also reported as the budget's stop.
    budget = TimeBudget(cfg.train.time_budget) if cfg.train.time_budget else None
    if budget is not None:
        all_callbacks.append(budget)
    doctor = None
    if cfg.doctor.enabled:
        doctor = DoctorCallback(on_finding=_both(_live(console), on_finding), plan=doctor_plan)
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
    if paths is not None:
        all_callbacks.append(
            Checkpointing(paths.checkpoints, stateful, precision, keep=cfg.train.checkpoint_keep)
        )
        if cfg.logging.tensorboard:
            hparams = flatten_hparams(
                cfg.model_dump(mode="json", include={"seed", "split", "model", "train"})
            )
            all_callbacks.append(
                TensorBoardLogger(
                    paths.tensorboard,
                    every=cfg.logging.log_every,
                    histogram_every=cfg.logging.histogram_every,
                    hparams=hparams,
                )
            )
    if cfg.logging.mlflow:  # TW-M05, for users who already track their runs in MLflow
        all_callbacks.append(
            MLflowLogger(
                cfg.logging.mlflow,
                params=flatten_hparams(cfg.model_dump(mode="json", exclude={"logging"})),
                run_name=paths.checkpoints.parent.name if paths is not None else None,
            )
        )
    if console is not None and cfg.logging.progress:
        all_callbacks.append(ProgressBar(console))
    all_callbacks.extend(extra)
    return LoopCallbacks(all_callbacks, stateful, early, doctor, _live(console), budget)


def loop_details(
    plan: BatchPlan,
    lr: LRChoice,
    schedule: str,
    trainer: Trainer,
    state: TrainState,
    early: EarlyStopping,
    cfg: FitConfig,
) -> dict[str, Any]:
    """What the manifest records of how the network was trained."""
    return {
        "batch_size": plan.batch_size,
        "batch_size_reason": plan.reason,
        "accumulate": plan.accumulate,
        "effective_batch_size": plan.effective,
        "threads": plan.threads,
        "threads_reason": plan.threads_reason,
        "lr": lr.lr,
        "lr_source": lr.source,
        "lr_reason": lr.reason,
        "schedule": schedule,
        "precision": trainer.mode,
        "device": str(trainer.device),
        **distributed.details(trainer.data.batch_size),
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


def _both(
    first: Callable[[Finding], None] | None, second: Callable[[Finding], None] | None
) -> Callable[[Finding], None] | None:
    if first is None or second is None:
        return first or second

    def call(finding: Finding) -> None:
        first(finding)
        second(finding)

    return call
