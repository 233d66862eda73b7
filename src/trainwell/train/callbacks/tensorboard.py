"""TensorBoard logging as its users expect it (TW-M01-M04).

The layout follows Keras's ``TensorBoard`` callback: one run per split under the log folder,
``train/`` and ``validation/``, writing the same tags (``epoch/loss``, ``epoch/accuracy``),
so TensorBoard overlays the training and validation curves in one chart.

- ``step/lr``, ``step/loss``, ``step/grad_norm`` every ``every`` optimizer steps (train run).
  ``step/lr`` is the rate the optimizer used for that step: it is read before
  ``optimizer.step()`` and the scheduler, which moves it for the next step.
- ``epoch/<metric>`` after each validation: ``train_loss`` as ``loss`` in the train run,
  ``val_<metric>`` as ``<metric>`` in the validation run.
- per-layer weight and gradient norms (``weights/<name>``, ``gradients/<name>``) and
  histograms every ``histogram_every`` steps (0: never), read before the optimizer step
  (TW-M04). Histograms cost a copy of every parameter, so the default cadence is sparse.
- on the same steps, each leaf module's output in that step's training forward pass
  (``activations/<module>``): a histogram, its mean and standard deviation, and the fraction
  of exact zeros (``activations/<module>/zero_fraction``), the sparsity summary TensorFlow's
  guides log (``tf.math.zero_fraction``) and the number that shows dead ReLUs. Forward hooks
  are attached only for the logged step and removed after it, so other steps pay nothing;
  with gradient accumulation the last micro-batch of the step is the one shown; validation
  passes (modules in ``eval()`` mode) are never recorded. Attention maps are not logged.
- at the end, the hyperparameters and final (best-epoch) validation metrics with the hparams
  plugin (what ``SummaryWriter.add_hparams`` writes), in one events file in the log folder
  itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

HParam = bool | int | float | str


class TensorBoardLogger(Callback):
    """Log to ``folder/train`` and ``folder/validation`` (see the module docstring).

    Args:
        folder: the run's ``tensorboard/`` folder.
        every: log step scalars every this many optimizer steps.
        histogram_every: log per-layer statistics and histograms every this many optimizer
            steps; 0 turns them off.
        hparams: the hyperparameters to record (e.g. the flattened config); None records
            the optimizer's own (type, learning rate, weight decay, max epochs).
    """

    def __init__(
        self,
        folder: Path,
        every: int = 10,
        histogram_every: int = 200,
        hparams: Mapping[str, Any] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.every = every
        self.histogram_every = histogram_every
        self.hparams = dict(hparams) if hparams is not None else None
        self.train: SummaryWriter | None = None
        self.validation: SummaryWriter | None = None
        self._lr: float | None = None
        self._activations: dict[str, torch.Tensor] = {}
        self._hooks: list[torch.utils.hooks.RemovableHandle] = []

    def on_fit_start(self, state: TrainState) -> None:
        self.train = SummaryWriter(str(self.folder / "train"))
        self._watch_next_step(state)
        self.validation = SummaryWriter(str(self.folder / "validation"))
        group = state.optimizer.param_groups[0]
        # The rate training started from (a scheduler keeps it as "initial_lr"): with the
        # LR range test, the config's train.lr is null and this is the chosen one (TW-T02).
        used = {
            "optimizer": type(state.optimizer).__name__,
            "lr": float(group.get("initial_lr", group["lr"])),
            "weight_decay": float(group.get("weight_decay", 0.0)),
            "max_epochs": state.max_epochs,
        }
        self.hparams = {**(self.hparams or {}), **{f"used.{k}": v for k, v in used.items()}}

    def on_before_optimizer_step(self, state: TrainState) -> None:
        step = state.step + 1  # the step about to be taken
        if step % self.every == 0:
            self._lr = state.lr  # the scheduler moves it after this step
        if self.train is not None and self.histogram_every and step % self.histogram_every == 0:
            self._layers(state.model, step)
            self._log_activations(step)

    def _watch_next_step(self, state: TrainState) -> None:
        """Attach forward hooks if the next optimizer step is one that logs layers."""
        if not self.histogram_every or (state.step + 1) % self.histogram_every:
            return
        for name, module in state.model.named_modules():
            if name and not any(True for _ in module.children()):
                self._hooks.append(module.register_forward_hook(self._recorder(name)))

    def _recorder(self, name: str) -> Any:
        def record(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            if module.training and isinstance(output, torch.Tensor):
                self._activations[name] = output.detach()

        return record

    @torch.no_grad()
    def _log_activations(self, step: int) -> None:
        assert self.train is not None
        for handle in self._hooks:
            handle.remove()
        self._hooks.clear()
        for name, output in self._activations.items():
            values = output.float().flatten().cpu()
            if values.numel() == 0:
                continue
            tag = f"activations/{name}"
            self.train.add_histogram(tag, values, step)
            self.train.add_scalar(f"{tag}/mean", float(values.mean()), step)
            self.train.add_scalar(f"{tag}/std", float(values.std(correction=0)), step)
            self.train.add_scalar(f"{tag}/zero_fraction", float((values == 0).float().mean()), step)
        self._activations.clear()

    @torch.no_grad()
    def _layers(self, model: torch.nn.Module, step: int) -> None:
        assert self.train is not None
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            weights = param.detach().float().cpu()
            self.train.add_scalar(f"weights/{name}", float(weights.norm()), step)
            self.train.add_histogram(f"weights/{name}", weights, step)
            if param.grad is not None:
                grad = param.grad.detach().float().cpu()
                self.train.add_scalar(f"gradients/{name}", float(grad.norm()), step)
                self.train.add_histogram(f"gradients/{name}", grad, step)

    def on_step_end(self, state: TrainState) -> None:
        if self.train is None:
            return
        if self.histogram_every and (state.step + 1) % self.histogram_every == 0:
            self._watch_next_step(state)  # tested here too: a call per step is the cost
        if state.step % self.every:
            return
        if state.loss is not None:
            self.train.add_scalar("step/loss", float(state.loss), state.step)
        self.train.add_scalar("step/lr", self._lr if self._lr is not None else state.lr, state.step)
        if state.grad_norm is not None:
            self.train.add_scalar("step/grad_norm", float(state.grad_norm), state.step)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.train is None or self.validation is None:
            return
        for name, value in state.history[-1].items():
            if name == "epoch":
                continue
            if name.startswith("val_"):
                self.validation.add_scalar(f"epoch/{name[4:]}", value, state.epoch + 1)
            else:
                self.train.add_scalar(
                    f"epoch/{name.removeprefix('train_')}", value, state.epoch + 1
                )
        self.train.flush()
        self.validation.flush()

    def on_exception(self, state: TrainState) -> None:
        self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._hooks:  # a step that was watched but never taken
            handle.remove()
        self._hooks.clear()

    def on_fit_end(self, state: TrainState) -> None:
        self._remove_hooks()
        if self.train is None or self.validation is None:
            return
        self._write_hparams(state)
        for writer in (self.train, self.validation):
            writer.close()
        self.train = self.validation = None

    def _write_hparams(self, state: TrainState) -> None:
        best = _best_epoch(state.history)
        if best is None:
            return
        metrics = {
            f"hparam/{name}": float(value)
            for name, value in best.items()
            if name != "epoch" and isinstance(value, int | float)
        }
        metrics["hparam/best_epoch"] = float(best["epoch"]) + 1
        hparams = {k: _hparam_value(v) for k, v in (self.hparams or {}).items()}
        # What SummaryWriter.add_hparams writes, written by one writer: add_hparams opens a
        # second writer for a sub-run and leaves its own events file empty (88 bytes).
        experiment, session_start, session_end = hparams_summaries(hparams, metrics)
        with SummaryWriter(str(self.folder)) as writer:
            for summary in (experiment, session_start, session_end):
                writer.file_writer.add_summary(summary)
            for name, value in metrics.items():
                writer.add_scalar(name, value)


def _best_epoch(history: list[dict[str, float]]) -> dict[str, float] | None:
    """The epoch early stopping keeps (lowest val_loss), else the last one."""
    scored = [h for h in history if h.get("val_loss") is not None]
    if scored:
        return min(scored, key=lambda h: h["val_loss"])
    return history[-1] if history else None


def _hparam_value(value: Any) -> HParam:
    """The hparams plugin takes bool, number or string; anything else is shown as text."""
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """``{"train": {"lr": 0.1}}`` -> ``{"train.lr": 0.1}``, for the hparams plugin.

    Example:
        >>> flatten({"train": {"lr": 0.1, "milestones": [0.5]}, "seed": 0})
        {'train.lr': 0.1, 'train.milestones': '[0.5]', 'seed': 0}
    """
    found: dict[str, HParam] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.update(flatten(value, f"{name}."))
        elif value is not None:
            found[name] = _hparam_value(value)
    return found
