"""The Doctor: turns what the probes read into findings, at the right moments.

It keeps the signal history (:mod:`.record`), decides which steps are heavy (sampled), and
calls the pure checks in :mod:`.checks`. It never touches the model: all it gets from the
probes are numbers, plus tensors it only reads (layer outputs, loss inputs, targets).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import weakref
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.nn.modules.batchnorm import _NormBase

from trainwell.doctor import causes, checks, signals, stats
from trainwell.doctor.checks import labels, regimen, shapes
from trainwell.doctor.naming import Naming
from trainwell.doctor.plan import TrainingPlan
from trainwell.doctor.record import EpochRecord, LayerSample, LossCurve
from trainwell.doctor.stale_grads import StaleGradCheck
from trainwell.doctor.thresholds import Thresholds
from trainwell.findings import Finding

#: Findings that call for the fit loop's remedy (restore checkpoint, lower LR, clip).
REMEDY_IDS = frozenset({"nonfinite-loss", "nonfinite-gradients", "nonfinite-weights", "divergence"})
_LABEL_BATCHES = 64  # preflight looks at the labels of the first batches only
_CURVE_EVERY = 4  # loss-curve checks every few steps: cheap enough, still "within a few steps"
_TRAIN_ROWS, _EVAL_ROWS = 8192, 2048  # row fingerprints kept for the validation-overlap check
_STALE_BATCHES = 3  # training batches in a row that add no new row: the rows have all been seen
_MARK_EVERY = 8  # every 8th loss with a graph gets a mark that lives as long as its graph
_MARK_AGE = 16  # marks older than this many graph losses, still alive: losses are being kept
_TERMS_CHECKS = 3  # back-propagated losses checked for terms besides the loss functions' own
_BASELINE_STEPS = 150  # steps before a loss at the label baseline counts as stuck
_CLASSIFICATION = {"CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"}
_REGRESSION = {"MSELoss"}


class Doctor:
    """Collects training signals and reports findings.

    Usually created by :func:`trainwell.doctor.watch`, :class:`DoctorCallback` or the
    no-code-change runner, which attach the probes.

    Args:
        thresholds: decision thresholds and sampling cadence.
        on_finding: called with each new finding as soon as it is made (live output).
        roots: the models being trained, for names; discovered from the forward pass if empty.
        infer_validation: treat losses computed without gradients between training steps as
            one validation epoch (for scripts that never report validation). Integrations
            that call :meth:`log_validation` turn it off.
        plan: what the trainer planned (frozen groups, the split and what the audit
            verified), so planned choices are not reported as faults; None for a user's
            script (see :mod:`trainwell.doctor.plan`).
        scan_graphs: look for losses kept with their graphs (a walk over every Python
            object, a few times per run); off where the loop is trainwell's own, which
            reduces each loss to a number itself.
    """

    def __init__(
        self,
        thresholds: Thresholds | None = None,
        on_finding: Callable[[Finding], None] | None = None,
        roots: list[torch.nn.Module] | None = None,
        infer_validation: bool = True,
        plan: TrainingPlan | None = None,
        scan_graphs: bool = True,
    ) -> None:
        self.t = thresholds or Thresholds()
        self._scan_graphs_on = scan_graphs
        self.plan = plan
        # Parameters in the optimizer that were frozen at the first step, not by the plan:
        # a finding at the end if they never trained (frozen, then released, is fine).
        self._frozen: dict[str, torch.Tensor] = {}
        self.on_finding = on_finding
        self.naming = Naming(roots or [])
        self._discover = not roots
        self.step = 0
        self.epoch: int | None = None
        self.findings: list[Finding] = []
        self._keys: set[tuple[str, str]] = set()
        self._remedy: Finding | None = None
        self.curve = LossCurve(window=self.t.diverge_window)
        self.grad_norms: deque[float] = deque(maxlen=self.t.spike_window + 1)
        self.samples: deque[LayerSample] = deque(maxlen=8)
        self.epochs: list[EpochRecord] = []
        self.input_checked = False
        self._optimizer: torch.optim.Optimizer | None = None
        self._opt_params: set[int] = set()
        self._outputs: dict[torch.nn.Module, torch.Tensor] = {}
        self._forward_seen = False  # a watched module ran a training forward since the loss
        # A non-finite loss on a step whose outputs were not kept: the next forward pass keeps
        # them, and the finding (step, value, epoch) goes out with the layer traced there.
        self._nonfinite_pending: tuple[int, float, int | None] | None = None
        self._step_losses: list[float] = []
        self._explicit_loss: float | None = None
        self._backward_losses: list[float] = []  # scalars back-propagated (any loss)
        # The back-propagated loss adds terms of its own to the loss functions' (a policy term,
        # a KL term, a penalty written by hand), judged on the first few backward passes from
        # the graph (:func:`stats.reaches_parameter_around`): the curve stays the loss
        # functions' (the fit to the labels, which the label checks compare), and the whole is
        # checked for non-finite values.
        self._extra_terms = False
        self._terms_checked = 0
        self._named_nodes: list[Any] = []  # grad_fn of this step's loss-function losses
        # Loss terms the step's backward adds up (a sequence's tokens, an episode's steps, a
        # batch's rows under .sum()): gradients and a back-propagated curve are judged per
        # term, since their scale follows the count (_sums_calls, _summed_elements).
        self._named_calls = 0  # loss-function losses since the last backward
        self._step_items = 1
        self.sees_backward = False  # a LossProbe reports .backward() calls
        # Steps without an optimizer (:mod:`.manual_steps`): called before a training loss is
        # recorded (the step in progress may end there) and after a training backward returns.
        self.step_boundary: Callable[[], None] | None = None
        self.after_backward: Callable[[torch.Tensor], None] | None = None
        # With a LossProbe the losses come from the loss functions and .backward(); the
        # forward hooks run only on the steps that read layer outputs (forward_wanted, decided
        # at each step's end). forward_watched: the ForwardProbe's post-hook is on right now.
        self.forward_wanted = True
        self.forward_watched = False
        self._forward_switch: Callable[[bool], None] | None = None
        self._last_training = True  # mode of the module that last finished a forward pass
        self._eval_candidates: list[tuple[str, float, torch.Tensor | None]] = []
        self._rnn_inputs: list[tuple[torch.nn.Module, bool, tuple[int, ...]]] = []
        self._symptoms = causes.Attribution()
        self._signed_loss = False  # a loss went below 0: ratio-based curve checks are off
        self._loss_name: str | None = None
        self.dataset_rows: int | None = None  # largest dataset a DataLoader iterated
        self.loader_shuffled = False  # the DataLoader iterated last draws in random order
        self.input_module: torch.nn.Module | None = None
        self._first_x: torch.Tensor | None = None
        self._train_rows: set[float] = set()
        # How often each training row came in one pass over the data, over the batches that
        # brought a new row (a batch fed again, or a later pass, is not the data repeating
        # itself): the overlap a held-out sample would show by chance.
        self._row_counts: Counter[float] = Counter()
        self._train_counted = 0
        self._eval_rows: list[float] = []
        self._pending_rows: list[float] = []  # eval mode with gradients: train or validation
        self._rows_open = True
        self._stale_batches = 0  # consecutive training batches whose rows were all known
        # Training batches that brought a row not seen before, and that count as each label
        # batch was taken: new inputs under the same labels are not the same batch fed again.
        self._new_row_batches = 0
        self._label_new_rows: deque[int] = deque(maxlen=8)
        self._labels_by_position = False
        self._input_rows = 0  # rows of the last training batch the input layer saw
        self._dropout: dict[int, tuple[torch.nn.Module, float]] = {}
        self._initial_lr: float | None = None
        self._lr_low_since: int | None = None
        self._baseline: tuple[float, float] | None = None
        self._graph_scans = 0
        self._graph_losses = 0  # losses with a graph seen so far (training or evaluation)
        # (graph losses counted when marked, optimizer step it was marked in, the mark)
        self._marks: deque[tuple[int, int, weakref.ref[_Mark]]] = deque(maxlen=8)
        self._lr_cause: Finding | None = None
        self._lr_high_done = False
        self._rise_scanned, self._rose = 0, False  # see _loss_rose
        self._epoch_train: list[float] = []
        self._eval_sum, self._eval_n = 0.0, 0
        self._explicit_val = not infer_validation
        self._labels: list[np.ndarray] = []
        self._labels_shuffled: list[bool] = []  # each label batch came from a random order
        self._preflight_loss_done = False
        self._pairing_done: set[str] = set()
        # weak: a freed loss module's id is reused by the next one, which must be checked
        self._paired_modules: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()
        self._activations: dict[tuple[str, int | str], list[float]] = {}
        self._no_grad_counts: dict[str, int] = {}
        self._unchanged_counts: dict[str, int] = {}
        self._layer_samples = 0
        self._update_samples = 0
        self._history_cache: tuple[int, list[float], float | None] | None = None
        self._samples_version = 0  # bumped whenever self.samples or their updates change
        self._mode_eval: dict[int, torch.nn.Module] = {}
        self._seen: dict[int, torch.nn.Module] = {}
        self._named_seen = 0
        self._pending_input: tuple[torch.nn.Module, list[float], list[float]] | None = None
        self._act_modules: dict[int, torch.nn.Module] = {}
        # Linear/Conv layers whose output units a watched ReLU module judges (on_units_fed)
        self._fed_by: dict[int, int] = {}
        self._units_watched: set[int] = set()
        self._rows_judged_elsewhere: set[str] = set()  # those layers' weights, by name
        self._output_modules: set[int] = set()
        self._grad_start: list[float] = []
        self._grad_alert = False  # the last gradient norm read was high: read every step
        self._mode_train = False
        self._eval_streak = 0
        self._finished = False
        self._broken = False
        # A forgotten zero_grad(): gradients carried from one step into the next (the first
        # few steps only; fed by the optimizer hooks and the LossProbe's backward).
        self.stale_grads = StaleGradCheck(self)

    # ---- cadence -------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """Optimizer steps finished so far (the index of the step in progress)."""
        return self._step

    @step.setter
    def step(self, value: int) -> None:
        self._step = value
        # Decided once per step: the forward hooks ask for every module call.
        self.heavy = value < self.t.heavy_first or value % self.t.heavy_every == 0

    def read_gradients_now(self) -> None:
        """Read this step's gradients whatever the cadence (the caller saw a bad norm)."""
        self._grad_alert = True

    def wants_gradients(self) -> bool:
        """Read the gradient norms this step (cadence, or something looks wrong)."""
        if self.heavy or self._grad_alert or self._step % self.t.grad_every == 0:
            return True
        # _step_loss_finite, inline (asked on every step)
        losses = [self._explicit_loss] if self._explicit_loss is not None else self._step_losses
        if self._extra_terms and self._explicit_loss is None and self._backward_losses:
            losses = self._backward_losses
        return not all(map(math.isfinite, losses or self._backward_losses))

    @property
    def keeps_outputs(self) -> bool:
        """Layer outputs are held until the loss on heavy steps, until the first finite loss
        (preflight reads them) and while a non-finite loss waits for its trace."""
        return self.heavy or not self._preflight_loss_done or self._nonfinite_pending is not None

    @property
    def wants_forward(self) -> bool:
        """The next forward pass must be watched, when the loop hands over the loss itself
        (:class:`DoctorCallback`): heavy steps, until the first input was judged, while a
        non-finite loss waits for its trace, and in the first epoch while row fingerprints
        are collected. Between those, the forward hooks add nothing the loss does not give."""
        return (
            self.heavy
            or not self.input_checked
            or self._nonfinite_pending is not None
            or (self._rows_open and not self.epoch)
        )

    def _forward_next(self) -> bool:
        """Watch the next step's forward passes (a LossProbe gives every loss): heavy steps,
        until the first input was judged, while a non-finite loss waits for its trace, and
        while training rows are fingerprinted. A global forward hook sends every module call
        down PyTorch's slower hooked path, so on the other steps it is off."""
        return (
            self.heavy
            or not self.input_checked
            or self._nonfinite_pending is not None
            or (
                self._rows_open  # and training rows are still collected (written out: per step)
                and len(self._train_rows) < _TRAIN_ROWS
                and self.epoch is None
                and self._stale_batches < _STALE_BATCHES
            )
        )

    def watch_forward(self, on: bool) -> None:
        """Turn the forward hooks on or off from now (a no-op without a LossProbe)."""
        self.forward_wanted = on
        if self._forward_switch is not None and self.sees_backward:
            self._forward_switch(on)

    def on_loader_iter(self) -> None:
        """A DataLoader starts a pass or a model goes to ``eval()``: validation may follow,
        whose rows the overlap check reads from the forward hooks (they stay on until the
        next optimizer step)."""
        if self._rows_open and not self.forward_watched:
            self.watch_forward(True)

    @property
    def saw_forward(self) -> bool:
        """A watched module ran a training forward pass since the last loss."""
        return self._forward_seen

    @staticmethod
    def finite(value: torch.Tensor) -> bool:
        return math.isfinite(float(value))

    def watching(self, optimizer: torch.optim.Optimizer) -> bool:
        """The first optimizer that steps is the one watched; others only count for coverage."""
        if self._optimizer is None:
            self._optimizer = optimizer
        if optimizer is not self._optimizer:
            self._opt_params.update(id(p) for g in optimizer.param_groups for p in g["params"])
            return False
        return True

    # ---- findings ------------------------------------------------------------------------
    def emit(self, finding: Finding | None) -> None:
        """Record a finding once per (id, layer) and pass it to ``on_finding``."""
        if finding is None:
            return
        key = (finding.id, str(finding.evidence.get("layer", "")))
        if key in self._keys or (self._broken and finding.id not in REMEDY_IDS):
            return  # once weights are NaN every other statistic is noise
        self._keys.add(key)
        if finding.epoch is None and self.epoch is not None and finding.stage == "train":
            finding = Finding(**{**finding.to_dict(), "epoch": self.epoch})
        if self._symptoms.absorb(finding):
            return  # explained by a cause already reported: attached to it as a symptom
        if finding.id in ("nonfinite-weights", "nonfinite-gradients"):
            self._broken = True
        self.findings.append(finding)
        if finding.id in REMEDY_IDS and self._remedy is None:
            self._remedy = finding
        if self.on_finding is not None:
            self.on_finding(finding)

    @property
    def causes(self) -> list[Finding]:
        """Findings reported as causes; the findings they explain are in
        ``evidence["symptoms"]`` (:mod:`.causes`)."""
        return list(self._symptoms.causes)

    def needs_remedy(self) -> Finding | None:
        """The divergence / NaN finding that calls for a remedy, once; ``None`` otherwise.

        The fit loop calls this after each step; on a finding it restores the last good
        checkpoint, lowers the LR, enables clipping, records :func:`remedy_finding` and calls
        :meth:`acknowledge_remedy`.
        """
        cause, self._remedy = self._remedy, None
        return cause

    @property
    def divergence_detected(self) -> bool:
        return self._remedy is not None

    def acknowledge_remedy(self) -> None:
        """Forget the diverged curve so the restored run is judged afresh."""
        self.curve = LossCurve(window=self.t.diverge_window)
        self._rise_scanned, self._rose = 0, False
        self.grad_norms.clear()
        self.samples.clear()
        self._samples_version += 1
        self._keys = {k for k in self._keys if k[0] not in REMEDY_IDS}
        self._remedy = None
        self._broken = False
        self._nonfinite_pending = None  # the restored run starts clean

    # ---- loss ----------------------------------------------------------------------------
    def on_loss_inputs(
        self, loss: torch.nn.Module | str, out: torch.Tensor, target: torch.Tensor
    ) -> None:
        """What a loss module (or a functional loss, by name) received, checked once per loss."""
        done = self._pairing_done if isinstance(loss, str) else self._paired_modules
        if loss in done or out.numel() == 0 or target.numel() == 0:
            return
        done.add(loss)  # type: ignore[arg-type]
        name = loss if isinstance(loss, str) else type(loss).__name__
        # The output sigmoid saturating is a confident prediction, not a dying layer. The
        # first module (in completion order) that returned this tensor produced it; its
        # containers returned the same object.
        # A view of it (``model(x).squeeze()``, ``.view(-1)``, ``.float()``) too: walked back
        # through the graph's one-input shape-only nodes.
        chain = stats.view_chain(out.grad_fn)
        producers = [
            m for m, o in self._outputs.items() if o is out or (chain and o.grad_fn in chain)
        ]
        self._output_modules.update(id(m) for m in producers)
        producer = type(producers[0]).__name__ if producers else None
        summary = stats.summarize_loss_inputs(out, target, producer)
        self.emit(checks.check_output_loss_mismatch(name, summary))
        self.emit(shapes.check_pairing_shapes(name, signals.summarize_axes(out, target)))
        if self._rnn_inputs and target.dim() > 0:
            self._refresh_names()
            rnns = [(self.naming.module(m), bf, sh) for m, bf, sh in self._rnn_inputs]
            self.emit(shapes.check_rnn_layout(rnns, int(target.shape[0])))

    def on_loss(
        self, module: torch.nn.Module, loss: torch.Tensor, target: torch.Tensor | None
    ) -> None:
        self.on_named_loss(type(module).__name__, loss, target)

    def before_functional_loss(self, name: str, out: torch.Tensor, target: torch.Tensor) -> None:
        """A functional loss (``F.cross_entropy`` ...) is about to run on ``out``, ``target``."""
        if not torch.is_grad_enabled() or name in self._pairing_done:
            return
        if self._discover or self._forward_seen:  # watching one model: only after it ran
            self.on_loss_inputs(name, out, target)

    def on_functional_loss(
        self, name: str, target: torch.Tensor, loss: torch.Tensor, mean: bool
    ) -> None:
        """A functional loss returned ``loss``; ``mean``: it averaged over the batch."""
        if (
            torch.is_grad_enabled()
            and not self._discover
            and not self._forward_seen
            and self.forward_watched
        ):
            # watching one model: a training loss counts only if that model just ran; still a
            # loss function's output (a second task's loss on the same output), not a term
            self._note_loss_node(loss)
            return
        if loss.numel() == 1 and mean:  # a summed loss scales with the batch: not a curve
            self.on_named_loss(name, loss, target)

    def on_named_loss(self, name: str, loss: torch.Tensor, target: torch.Tensor | None) -> None:
        value = float(loss.detach())
        if not (loss.requires_grad and torch.is_grad_enabled()):
            # A loss without graph is an evaluation batch: its mean is the validation loss.
            self._add_eval(value, target)
            if self._rows_open and not self.forward_watched:
                self.watch_forward(True)  # the rest of this evaluation: its rows
            return
        if self._scan_graphs_on and self._graph_scans < 5:  # _count_graph, inline
            self._graph_losses += 1
            if not self._graph_losses % _MARK_EVERY:
                self._mark_graph(loss)
        # Whether the model trains: the last watched forward pass says, and with the forward
        # hooks off, the first learning layer's flag (written out: asked per loss).
        module = self.input_module
        training = (
            self._last_training if self.forward_watched or module is None else module.training
        )
        if self.sees_backward and not training:
            # Model in eval() with gradients on: validation that forgot no_grad, or training
            # left in eval mode. Whether .backward() runs on it tells them apart.
            self._commit_eval_candidates()
            self._eval_candidates.append((name, value, target))
            return
        if self._eval_candidates:
            self._commit_eval_candidates()
        self._train_loss(name, value, target)  # (may end the step before: manual_steps)
        self._note_loss_node(loss)

    def _note_loss_node(self, loss: torch.Tensor) -> None:
        """Keep a loss function's output node for :meth:`_check_terms` (first steps only)."""
        if self._terms_checked < _TERMS_CHECKS and len(self._named_nodes) < 64:
            self._named_nodes.append(loss.grad_fn)

    def _add_eval(self, value: float, target: torch.Tensor | None) -> None:
        n = int(target.shape[0]) if target is not None and target.dim() > 0 else 1
        self._eval_sum += value * n
        self._eval_n += n

    def _commit_pending_rows(self) -> None:
        if self._pending_rows and self._train_rows and len(self._eval_rows) < _EVAL_ROWS:
            self._eval_rows += self._pending_rows  # no backward came: validation rows
        self._pending_rows = []

    def _commit_eval_candidates(self) -> None:
        for _, value, target in self._eval_candidates:
            self._add_eval(value, target)
        self._eval_candidates = []

    def on_backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` is about to run: ``loss`` is a training loss, whatever made it."""
        if not (loss.requires_grad and loss.numel() == 1):
            return
        if not self.stale_grads.done:
            self.stale_grads.before_backward()
        if self.step_boundary is not None:
            self.step_boundary()
        candidates, self._eval_candidates = self._eval_candidates, []
        if self._pending_rows:
            rows, self._pending_rows = self._pending_rows, []
            self._add_train_rows(rows)  # back-propagated: they were training rows
        for name, value, target in candidates:  # back-propagated: they were training losses
            self._train_loss(name, value, target)
        if self._explicit_loss is not None:
            return  # the script gave this step's loss
        if self._step_losses:  # a loss module or function gave it; added terms: checked too
            calls, self._named_calls = self._named_calls, 0
            if self._named_nodes:
                self._check_terms(loss)
            if not self._extra_terms and calls < 2:
                return
            value = float(loss.detach())
            if calls >= 2 and self._sums_calls(loss, value, calls):
                self._step_items = max(self._step_items, calls)
            if not self._extra_terms:
                return
            self._backward_losses.append(value)
            if not math.isfinite(value) and all(map(math.isfinite, self._step_losses)):
                self._on_step_loss(value)  # the added terms are not finite: that is the loss
            return
        self._count_graph(loss)
        value = float(loss.detach())
        self._close_eval_phase()
        self._check_pending_input()
        items = _summed_elements(loss.grad_fn)
        self._step_items = max(self._step_items, items)
        self._backward_losses.append(value / items)
        self._on_step_loss(value)

    def _sums_calls(self, loss: torch.Tensor, value: float, calls: int) -> bool:
        """Whether the back-propagated ``value`` adds up the ``calls`` loss-function losses
        made since the last backward (``loss += criterion(out_t, y_t)`` over a sequence's
        tokens, ``torch.stack(value_losses).sum()`` over an episode) rather than averaging
        them; with terms of its own added, whether its last operation is a sum."""
        if self._extra_terms:
            node = loss.grad_fn
            return node is not None and node.name() in ("AddBackward0", "SumBackward0")
        return math.isclose(value, sum(self._step_losses[-calls:]), rel_tol=1e-3, abs_tol=1e-6)

    def _check_terms(self, loss: torch.Tensor) -> None:
        """Whether the back-propagated ``loss`` adds terms to the loss functions' losses it
        sums; from then on its value is checked for non-finite values too."""
        nodes, self._named_nodes = self._named_nodes, []
        if self._extra_terms or self._terms_checked >= _TERMS_CHECKS:
            return
        self._terms_checked += 1
        if stats.reaches_parameter_around(loss.grad_fn, nodes, self._opt_params):
            self._extra_terms = True

    def _train_loss(self, name: str, value: float, target: torch.Tensor | None) -> None:
        if self.step_boundary is not None:
            self.step_boundary()
        if self._eval_rows or self._eval_n:
            self._close_eval_phase()
        if self._pending_input is not None:
            self._check_pending_input()
        self._loss_name = self._loss_name or name
        self._named_calls += 1
        if self._rows_open and target is not None and target.dim() > 0:
            self._check_rows_are_samples(int(target.shape[0]))
        x, self._first_x = self._first_x, None
        if x is not None and target is not None and self.input_module is not None:
            columns = signals.target_like_features(x, target)
            if columns:
                self._refresh_names()
                layer = self.naming.module(self.input_module)
                self.emit(labels.check_target_in_features(columns, layer))
        self._step_losses.append(value)
        if not self._preflight_loss_done and math.isfinite(value):
            self._preflight_loss_done = True
            out = next(reversed(self._outputs.values()), None)
            n_units = out.shape[1] if out is not None and out.dim() >= 2 else 1
            self.emit(checks.check_loss_at_init(value, name, n_units, t=self.t))
        if target is not None and len(self._labels) < _LABEL_BATCHES and target.numel() <= 1 << 16:
            self._labels.append(target.detach().cpu().numpy())
            self._labels_shuffled.append(self.loader_shuffled)
            self._label_new_rows.append(self._new_row_batches)
            if len(self._labels) % 8 == 0:
                # Batches a random sampler drew are shuffled, whatever their targets look like.
                unknown = [
                    b for b, s in zip(self._labels, self._labels_shuffled, strict=True) if not s
                ]
                self.emit(checks.check_label_order(unknown, step=self._step, t=self.t))
                self._check_same_batch()
        if self._nonfinite_pending is None and math.isfinite(value):
            if self._outputs:  # _on_step_loss's usual case, inline
                self._outputs.clear()
            self._forward_seen = False
        else:
            self._on_step_loss(value)

    def _check_rows_are_samples(self, target_rows: int) -> None:
        """A training loss over fewer rows than the input layer took picks its rows from the
        output (transductive node classification: the whole graph goes in, the loss reads
        ``output[idx_train]``, validation ``output[idx_val]``): the input rows are not the
        samples, and the same rows in training and validation are no leak. Row
        fingerprints stop and are dropped."""
        if 0 < target_rows < self._input_rows:
            self._rows_open = False
            self._train_rows.clear()
            self._row_counts.clear()
            self._eval_rows, self._pending_rows = [], []

    def _check_same_batch(self) -> None:
        """Labels that repeat in one order over inputs that keep changing are set by the
        row's position (pair datasets: even index "same", odd "different"), not one batch
        fed again; once seen, the repeating labels say nothing about the batches for the rest
        of the run (the input rows are fingerprinted only early in the run)."""
        if self._labels_by_position:
            return
        finding = labels.check_same_batch(self._labels, self._step, self.dataset_rows)
        seen = self._label_new_rows
        # The first batch fingerprinted is new by definition: a new batch after it counts.
        if finding is not None and len(seen) == seen.maxlen and seen[-1] > max(seen[0], 1):
            self._labels_by_position = True
            return
        self.emit(finding)

    def log_loss(self, loss: float | torch.Tensor) -> None:
        """Give the step's training loss explicitly (when no loss module is used)."""
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
        if self._explicit_loss is None and not self._step_losses:  # a loss module reported it
            self._on_step_loss(value)
        self._explicit_loss = value

    def _on_step_loss(self, value: float) -> None:
        """TW-X02: a non-finite loss, traced to the first layer whose output was not finite.

        Layer outputs are kept only on heavy steps (holding them costs memory traffic on every
        step); on another step the trace is taken from the next forward pass, which is where
        NaN weights or a NaN-producing layer show again, and the finding keeps this step.
        """
        pending = self._nonfinite_pending
        if pending is not None:
            if self._outputs:  # a forward pass ran since, its outputs kept: the trace
                self._nonfinite_pending = None
                layer = self._first_nonfinite() if not math.isfinite(value) else None
                self.emit(checks.check_nonfinite_loss(pending[0], pending[1], layer, pending[2]))
        elif not math.isfinite(value):
            if self._outputs:
                finding = checks.check_nonfinite_loss(
                    self._step, value, self._first_nonfinite(), self.epoch
                )
                self.emit(finding)
            else:
                self._nonfinite_pending = (self._step, value, self.epoch)
                if not self.forward_watched:
                    self.watch_forward(True)  # the next forward pass gives the trace
        self._outputs.clear()
        self._forward_seen = False

    # ---- forward -------------------------------------------------------------------------
    def on_output(self, module: torch.nn.Module, out: torch.Tensor) -> None:
        # A reference, held until the loss is computed, so a non-finite loss can be traced to
        # the first layer that produced one; kept on heavy steps and while a trace is pending.
        self._forward_seen = True
        self._last_training = module.training
        if self._eval_candidates and module.training:
            self._commit_eval_candidates()  # training resumed: no backward came for them
        if self._pending_rows and module.training:
            self._commit_pending_rows()
        if self.heavy or not self._preflight_loss_done or self._nonfinite_pending is not None:
            self._outputs.pop(module, None)  # keeps_outputs, inline: once per module call
            self._outputs[module] = out
        if self._discover and self._step == 0:
            self._seen[id(module)] = module

    def _first_nonfinite(self) -> str | None:
        self._refresh_names()
        for module, out in self._outputs.items():
            if out.is_floating_point() and not bool(torch.isfinite(out).all()):
                return self.naming.module(module)
        return None

    def on_first_input(self, module: torch.nn.Module, x: torch.Tensor) -> None:
        # Judged once the forward pass is complete, when the layer can be named.
        self.input_checked = True
        self.input_module = module
        if x.dim() == 2 and x.shape[0] >= 32:
            self._first_x = x
        means, stds = stats.feature_moments(x)
        self._pending_input = (module, means, stds)

    def _check_pending_input(self) -> None:
        if self._pending_input is not None:
            module, means, stds = self._pending_input
            self._pending_input = None
            self._refresh_names()
            norm = self._normalization_after(module)
            self.emit(
                checks.check_input_scale(
                    self.naming.module(module),
                    means,
                    stds,
                    normalized_by=None if norm is None else self.naming.module(norm),
                    t=self.t,
                )
            )

    def _normalization_after(self, module: torch.nn.Module) -> torch.nn.Module | None:
        """The batch or instance norm whose input is ``module``'s output (this forward pass)."""
        out = self._outputs.get(module)
        if out is None:
            return None
        for m, o in self._outputs.items():
            if isinstance(m, _NormBase) and stats.feeds_normalization(o, out):
                return m
        return None

    def on_model_input(self, x: torch.Tensor, train_mode: bool) -> None:
        """An input batch of the first learning layer: fingerprints for the overlap check.

        With gradients on and the model in eval mode the batch is either validation without
        ``no_grad`` or training left in eval mode: it waits for a ``.backward()`` to decide.
        """
        grad = torch.is_grad_enabled()
        if grad and train_mode:
            self._input_rows = int(x.shape[0])
            if (
                len(self._train_rows) < _TRAIN_ROWS
                and self.epoch is None
                and self._stale_batches < _STALE_BATCHES
            ):
                self._add_train_rows(signals.row_fingerprints(x))
        elif not self._train_rows or len(self._eval_rows) >= _EVAL_ROWS:
            return  # nothing to compare with, or enough validation rows
        elif grad and self.sees_backward:
            self._pending_rows += signals.row_fingerprints(x)
        elif not grad:
            self._eval_rows += signals.row_fingerprints(x)

    def _add_train_rows(self, rows: list[float]) -> None:
        if len(self._train_rows) < _TRAIN_ROWS and self.epoch is None and rows:
            before = len(self._train_rows)
            self._train_rows.update(rows)
            # Full-batch training, or one batch fed again and again: every row is known
            # already, so fingerprinting more batches adds nothing (and costs every step).
            grew = len(self._train_rows) > before
            self._new_row_batches += grew
            self._stale_batches = 0 if grew else self._stale_batches + 1
            # Counted over one pass (the loader's size, where known): in a later pass, rows
            # the first pass did not fingerprint make a batch new while the rest repeat.
            counted = self._train_counted + len(rows)
            if grew and (self.dataset_rows is None or counted <= self.dataset_rows):
                self._row_counts.update(rows)
                self._train_counted = counted

    @property
    def wants_rows(self) -> bool:
        """Row fingerprints are still collected (decided per forward pass, cheaply)."""
        return self._rows_open

    def on_rnn_input(self, module: torch.nn.Module, x: torch.Tensor) -> None:
        if len(self._rnn_inputs) < 8:
            self._rnn_inputs.append(
                (module, bool(getattr(module, "batch_first", False)), tuple(x.shape))
            )

    def on_dropout(self, module: torch.nn.Module) -> None:
        p = getattr(module, "p", None)
        if isinstance(p, float):
            self._dropout[id(module)] = (module, p)

    def on_mode_layer(self, module: torch.nn.Module) -> None:
        if module.training:
            self._mode_train = True
        else:
            self._mode_eval[id(module)] = module

    def on_activation(self, module: torch.nn.Module, kind: str, fraction: float) -> None:
        self._act_modules[id(module)] = module
        self._activations.setdefault((kind, id(module)), []).append(fraction)

    def on_units_fed(self, activation: torch.nn.Module, x: torch.Tensor) -> None:
        """``activation`` (a ReLU module, watched for dead units) ran on ``x``: when ``x`` is
        the output of a Linear or Conv layer this step, that layer's zero-gradient rows are
        the same units, already judged at the activation, and are not judged again."""
        if id(activation) in self._fed_by:
            return
        for producer, out in reversed(self._outputs.items()):
            if out is x and producer is not activation:
                self._fed_by[id(activation)] = id(producer)
                self._units_watched.add(id(producer))
                return

    def _refresh_names(self) -> None:
        if self._discover and len(self._seen) != self._named_seen:
            self._named_seen = len(self._seen)
            self.naming.discover(self._seen.values())

    def _layer_name(self, key: int | str) -> str:
        return self.naming.module(self._act_modules[key]) if isinstance(key, int) else key

    # ---- optimizer -----------------------------------------------------------------------
    def on_gradients(self, params: list[torch.Tensor], total: float | None) -> None:
        if self._step == 0:
            self._refresh_names()
            self._opt_params.update(id(p) for p in params)
        # per summed loss term: a loss over 448 steps of an episode is not an explosion of
        # one over 20 (pytorch/examples' actor_critic)
        norm = total / self._step_items if total is not None else 0.0
        self.grad_norms.append(norm)
        if len(self._grad_start) < 3 and math.isfinite(norm):
            self._grad_start.append(norm)
        if not math.isfinite(norm) and self._step_loss_finite():
            names = [
                self.naming.param(p, i)
                for i, p in enumerate(params)
                if p.grad is not None and not bool(torch.isfinite(p.grad).all())
            ]
            self.emit(checks.check_nonfinite_grads(self._step, names, self.epoch))
        start = statistics.median(self._grad_start) if self._grad_start else None
        # Skip the median unless a jump is possible: the median is never below the minimum.
        factor = self.t.grad_spike_factor
        self._grad_alert = not math.isfinite(norm)
        if start is not None and not (
            norm <= factor * min(self.grad_norms) and norm <= factor * start
        ):
            self._grad_alert = True
            self.emit(
                checks.check_grad_spike(
                    self._step,
                    list(self.grad_norms),
                    start,
                    self.epoch,
                    t=self.t,
                    terms=self._step_items,
                )
            )

    def _this_step_losses(self) -> list[float]:
        losses = [self._explicit_loss] if self._explicit_loss is not None else self._step_losses
        return losses or self._backward_losses

    def _step_loss_finite(self) -> bool:
        finite = all(map(math.isfinite, self._this_step_losses()))
        if self._extra_terms and self._explicit_loss is None:
            return finite and all(map(math.isfinite, self._backward_losses))
        return finite

    def on_layer_gradients(self, params: list[torch.Tensor], by_param: dict[int, float]) -> None:
        sample = LayerSample(step=self._step)
        unit_params = self.naming.unit_params
        for name, p in zip(self.naming.param_names(params), params, strict=True):
            norm = by_param.get(id(p))
            # A frozen parameter has no gradient by design (judged at the end, see finish);
            # an all-zero Linear/Conv gradient is dead units (judged per row below), not X08.
            if (
                p.requires_grad
                and (norm is None or norm == 0.0)
                and (p.grad is None or id(p) not in unit_params)
            ):
                sample.no_grad.append(name)
            if p.grad is None or norm is None:
                continue
            if p.dim() >= 2:
                sample.grad_norms[name] = norm
                if id(p) in unit_params:
                    sample.zero_grad_rows[name] = stats.zero_row_fraction(p.grad)
                    if unit_params[id(p)] in self._units_watched:
                        self._rows_judged_elsewhere.add(name)
        self.samples.append(sample)
        self._samples_version += 1
        if not self.heavy:
            return
        self._layer_samples += 1
        for name in sample.no_grad:
            self._no_grad_counts[name] = self._no_grad_counts.get(name, 0) + 1
        grads = _primary_last_weight(sample.grad_norms)
        self.emit(checks.check_layer_explosion(self._step, grads, self.epoch, t=self.t))
        self.emit(checks.check_vanishing(self._step, grads, self.epoch, t=self.t))
        # The output layer's rows are class logits, not units that can die. A batch whose
        # loss is exactly 0 (e.g. saturated logits under cross-entropy) sends no gradient to
        # any unit: its zero rows say nothing about dead units.
        losses = self._this_step_losses()
        if not (losses and all(v == 0.0 for v in losses)):
            for name, frac in list(sample.zero_grad_rows.items())[:-1]:
                if name in self._rows_judged_elsewhere:
                    continue  # the ReLU module after this layer judges its units
                self._activations.setdefault(("dead", name), []).append(frac)
        self._check_units()
        always = [n for n, c in self._no_grad_counts.items() if c == self._layer_samples]
        self.emit(checks.check_no_grad_params(self._step, always, self._layer_samples, t=self.t))

    def _check_units(self, final: bool = False) -> None:
        """Dead and saturated units on the sampled layers; ``final``: the run ended, a dead
        layer still waiting for the loss to fall is judged now (dead units only)."""
        fall = self._loss_fall()
        for (kind, key), history in self._activations.items():
            if key in self._output_modules or (final and kind != "dead"):
                continue
            name = self._layer_name(key)
            if kind == "dead":
                self.emit(
                    checks.check_dead_units(
                        self._step, name, history, self.epoch, fall=fall, final=final, t=self.t
                    )
                )
            else:
                self.emit(checks.check_saturation(self._step, name, history, self.epoch, t=self.t))

    def _loss_fall(self) -> float | None:
        """How far the training loss fell from its start: ``1 - recent / start`` (median of
        the last 5 steps over the median of the first); None for a signed or unknown loss."""
        start, recent = self.curve.start, self.curve.recent(5)
        if self._signed_loss or start is None or not start > 0 or not recent:
            return None
        return 1.0 - statistics.median(recent) / start

    def on_updates(
        self, params: list[torch.Tensor], deltas: list[float], weights: list[float]
    ) -> None:
        sample = self.samples[-1] if self.samples and self.samples[-1].step == self._step else None
        if sample is None:
            return
        self._update_samples += 1
        self._samples_version += 1
        bad = []
        names = self.naming.param_names(params)
        for name, p, d, w in zip(names, params, deltas, weights, strict=True):
            if not (math.isfinite(w) and math.isfinite(d)):
                bad.append(name)
                continue
            # A frozen weight left in the optimizer (requires_grad=False: a pre-trained encoder
            # under a trained head) never moves; its zero says nothing about the learning rate.
            if p.dim() >= 2 and w > 0 and p.requires_grad:
                sample.update_ratios[name] = d / w
            # An all-zero gradient leaves the weight where it was by design (a loss that is
            # always 0 sends none): unchanged then says nothing about the optimizer. Read only
            # for weights that did not move, so a healthy run pays nothing.
            if (
                d == 0.0
                and p.grad is not None
                and name not in sample.no_grad
                and bool(p.grad.any())
            ):
                self._unchanged_counts[name] = self._unchanged_counts.get(name, 0) + 1
        self.emit(checks.check_nonfinite_weights(self._step, bad, self.epoch))
        self._check_lr_too_high()
        stuck = [n for n, c in self._unchanged_counts.items() if c == self._update_samples]
        self.emit(checks.check_unchanged_params(self._step, stuck, self._update_samples, t=self.t))

    def _check_lr_too_high(self) -> None:
        """Checked on every sampled update, so the cause is out before the gradient explosion
        and loss spikes it produces (which then attach to it as symptoms)."""
        opt = self._optimizer
        if self._lr_high_done or opt is None or not opt.param_groups:
            return
        ratios = self._update_history()[-self.t.layer_samples :]
        if len(ratios) < self.t.layer_samples:
            return
        finding = regimen.check_lr_too_high(
            self._step,
            type(opt).__name__,
            float(opt.param_groups[0].get("lr", 0.0)),
            ratios,
            self.t.high_update_ratio,
            self.epoch,
            loss_rose=self._loss_rose(),
        )
        if finding is not None:
            self._lr_high_done = True
            self.emit(finding)

    def _loss_rose(self) -> bool | None:
        """Whether a step's loss (this one's included) rose above the first step's; ``None``
        before two losses. The curve is scanned from where the last call stopped."""
        values = self.curve.values
        if self._rise_scanned > len(values):  # the list was replaced (a resumed run)
            self._rise_scanned, self._rose = 0, False
        if not self._rose and len(values) > max(self._rise_scanned, 1):
            first = values[0]
            # a NaN or inf counts as risen: not (v <= first)
            self._rose = any(not v <= first for v in values[max(self._rise_scanned, 1) :])
        self._rise_scanned = len(values)
        now = self._pending_step_loss()
        if values and now is not None and not now <= values[0]:
            return True
        return self._rose or (None if len(values) + (now is not None) < 2 else False)

    def _pending_step_loss(self) -> float | None:
        """The loss of the step in progress, as :meth:`on_step_end` will record it."""
        loss = self._explicit_loss
        if loss is None and self._step_losses:
            loss = sum(self._step_losses) / len(self._step_losses)
        if loss is None and self._backward_losses:  # accumulated micro-batches add up
            loss = sum(self._backward_losses)
        return loss

    def on_step_end(self, keep_forward: bool = False) -> None:
        """One optimizer step finished: update the curve and run the per-step checks.

        Args:
            keep_forward: the next step's forward pass already ran (a step without an
                optimizer ends when the next training loss comes): its layer outputs stay
                for that loss (the non-finite trace reads them).
        """
        loss = self._pending_step_loss()
        self._explicit_loss, self._step_losses, self._backward_losses = None, [], []
        self._named_calls, self._step_items = 0, 1
        if self._named_nodes:
            self._named_nodes = []  # no backward came for them: let their graphs go
        # Every step runs this: the guards are inline, so a quiet step calls few functions.
        if self._eval_candidates:
            self._commit_eval_candidates()
        if self._pending_rows:
            self._commit_pending_rows()
        if self._rows_open:  # whether rows are still collected (written out: per step)
            self._rows_open = (
                len(self._train_rows) < _TRAIN_ROWS
                and self.epoch is None
                and self._stale_batches < _STALE_BATCHES
            ) or (bool(self._train_rows) and len(self._eval_rows) < _EVAL_ROWS)
        if loss is not None:
            self.curve.append(loss)
            self._epoch_train.append(loss)
        if self._pending_input is not None:
            self._check_pending_input()
        if self._step == 1:
            self._check_optimizer_coverage()
        if self._mode_eval or self._mode_train:
            self._check_mode()
        if self._frozen and self._step % _CURVE_EVERY == 0:
            self._released()
        self._check_curve(loss)
        if not keep_forward:
            if self._outputs:
                self._outputs.clear()
            self._forward_seen = False
        self.step = self._step + 1
        if self.sees_backward:
            on = self._forward_next()
            if on != self.forward_wanted or on != self.forward_watched:
                self.watch_forward(on)

    def _check_optimizer_coverage(self) -> None:
        missing = []
        for name, p in self.naming.root_params():
            if p.requires_grad and id(p) not in self._opt_params:
                missing.append(name)
        if self._optimizer is not None:
            for i, p in enumerate(_params(self._optimizer)):
                name = self.naming.param(p, i)
                if not p.requires_grad and not (self.plan and self.plan.planned_frozen(name)):
                    self._frozen[name] = p
        self.emit(checks.check_not_in_optimizer(missing))

    def _released(self) -> None:
        """Forget frozen parameters that have been unfrozen since (gradual unfreezing)."""
        self._frozen = {n: p for n, p in self._frozen.items() if not p.requires_grad}

    def _check_mode(self) -> None:
        if not (self._mode_eval or self._mode_train):
            return  # no dropout / norm layer ran, or the forward pass was not watched
        self._eval_streak = self._eval_streak + 1 if self._mode_eval and not self._mode_train else 0
        if self._eval_streak >= self.t.eval_mode_steps:
            names = sorted(self.naming.module(m) for m in self._mode_eval.values())
            self.emit(checks.check_eval_mode(names, self._eval_streak, t=self.t))
        self._mode_eval, self._mode_train = {}, False

    def _check_curve(self, loss: float | None) -> None:
        if loss is None:
            return
        # Ratios to the start and the minimum assume a loss bounded below by 0; a loss that
        # went negative (NLLLoss on probabilities, a custom loss) makes them meaningless.
        self._signed_loss = self._signed_loss or loss < 0
        values, start = self.curve.values, self.curve.start
        window = values[-self.t.spike_window - self.t.spike_steps :]
        if not self._signed_loss and loss > self.t.loss_spike_factor * min(window):
            self.emit(checks.check_loss_spike(self._step, window, start, self.epoch, t=self.t))
        if self._step % _CURVE_EVERY:
            return
        self._check_regimen(start)
        if self._signed_loss:
            return
        recent = self.curve.recent(self.t.diverge_window)
        self.emit(
            checks.check_divergence(
                self._step,
                recent,
                start,
                self.curve.best_smoothed,
                self.epoch,
                past_losses=self.curve.past(len(recent), self.t.diverge_past),
                t=self.t,
            )
        )
        ratio = self._recent_update_ratio()
        opt = self._optimizer
        # No optimizer (a hand-written update, see manual_steps): the update rule is unknown,
        # so, as for Adam's family, a large ratio is overshoot only once the loss rose, and
        # only past the first sampled steps, where weights grow from a small init (pytorch/
        # examples' regression: 56% and 17% at steps 1-2 at lr 0.1, then under 10%, while
        # its noisy per-batch loss already rose above the first batch's).
        history = self._update_history()
        if opt is None:
            first = self.t.heavy_first
            history = [
                r
                for r in (s.median_update_ratio() for s in self.samples if s.step >= first)
                if r is not None
            ]
        self.emit(
            checks.check_updates_too_large(
                self._step,
                history,
                self.epoch,
                adaptive=opt is None or regimen.lr_family(type(opt).__name__) == "adaptive",
                loss_rose=self._loss_rose(),
                t=self.t,
            )
        )
        window = self.curve.recent(self.t.oscillation_window)
        self.emit(checks.check_oscillation(self._step, window, start, ratio, self.epoch, t=self.t))
        self.emit(checks.check_lr_too_low(self._step, window, start, ratio, self.epoch, t=self.t))

    def _check_regimen(self, start: float | None) -> None:
        """Causes checked before the LR symptoms they produce (so those attach to them)."""
        recent = self.curve.recent(20)
        level = statistics.median(recent) if recent else None
        stuck = (
            self._step >= 50
            and level is not None
            and start is not None
            and start > 0
            and level >= 0.8 * start
        )
        opt = self._optimizer
        if opt is not None and opt.param_groups:
            group = opt.param_groups[0]
            lr = float(group.get("lr", 0.0))
            if self._initial_lr is None:
                self._initial_lr = lr
            initial = self._initial_lr
            if lr <= regimen.LR_COLLAPSE * initial:
                since = self._lr_low_since = (
                    self._step if self._lr_low_since is None else self._lr_low_since
                )
                if self._step - since >= regimen.LR_COLLAPSE_STEPS and self._lr_cause is None:
                    self._lr_cause = regimen.check_lr_decayed(
                        self._step, lr, initial, since, _scheduler_of(opt), self.epoch
                    )
                    self.emit(self._lr_cause)
            else:
                self._lr_low_since = None
            wd = float(group.get("weight_decay", 0.0) or 0.0)
            if wd > 0:
                decoupled = isinstance(opt, (torch.optim.SGD, torch.optim.AdamW)) or bool(
                    group.get("decoupled_weight_decay")
                )
                self.emit(
                    regimen.check_weight_decay(
                        self._step,
                        type(opt).__name__,
                        lr,
                        wd,
                        decoupled,
                        self._recent_update_ratio(),
                        stuck,
                        self.epoch,
                    )
                )
        base = self._label_baseline()
        near_base = base is not None and level is not None and level >= 0.85 * base[0]
        if (stuck or near_base) and self._dropout and self._step >= 100:
            reason = (
                f"the training loss is still {level:.3g} (start {start:.3g}"
                + (f", label baseline {base[0]:.3g}" if base is not None else "")
                + f") after {self._step} steps"
            )
            self.emit(regimen.check_dropout(self._step, self._dropout_layers(), reason, self.epoch))
        if base is not None and level is not None:
            ratio = self._recent_update_ratio()
            if ratio is None or ratio >= self.t.low_update_ratio:  # else the LR is the cause
                half = len(self.curve) // 2
                earlier = self.curve.past(max(0, half - 10), 20)
                self.emit(
                    labels.check_stuck_at_baseline(
                        self._step,
                        level,
                        base[0],
                        base[1],
                        base[2],
                        self.epoch,
                        statistics.median(earlier) if earlier else None,
                        self._second_quarter() if level >= 0.95 * base[0] else None,
                    )
                )

    def _second_quarter(self) -> float | None:
        """Median loss over the second quarter of the steps so far (at most 256 of them,
        evenly spaced: asked every few steps of a long run)."""
        n = len(self.curve.values)
        lo, hi = n // 4, n // 2
        window = [
            v for v in self.curve.values[lo : hi : max(1, (hi - lo) // 256)] if math.isfinite(v)
        ]
        return statistics.median(window) if window else None

    def _label_baseline(self) -> tuple[float, float, bool] | None:
        """(loss of predicting the label frequencies, majority share, classification), once
        enough steps and labels are in; ``None`` for losses it does not apply to."""
        name = self._loss_name
        if self._step < _BASELINE_STEPS or len(self._labels) < 8 or name is None:
            return None
        classification = name in _CLASSIFICATION
        if not classification and name not in _REGRESSION:
            return None
        if self._baseline is None:
            try:
                self._baseline = signals.label_baseline(self._labels, classification)
            except (ValueError, TypeError):
                self._baseline = (math.nan, 0.0)
        baseline, majority = self._baseline
        return (baseline, majority, classification) if math.isfinite(baseline) else None

    def _dropout_layers(self) -> dict[str, float]:
        self._refresh_names()
        return {self.naming.module(m): p for m, p in self._dropout.values()}

    def _count_graph(self, loss: torch.Tensor) -> None:
        """A loss with a graph: every few get a mark, to learn cheaply whether their graphs
        outlive their step (:meth:`_check_marks`). Inline where it runs on every step."""
        if self._scan_graphs_on and self._graph_scans < 5:
            self._graph_losses += 1
            if not self._graph_losses % _MARK_EVERY:
                self._mark_graph(loss)

    def _mark_graph(self, loss: torch.Tensor) -> None:
        node = loss.grad_fn
        if node is None:
            return
        mark = _Mark()
        try:
            node.register_prehook(mark.hook)  # returns None: the gradients pass unchanged
        except (RuntimeError, AttributeError):
            return
        self._marks.append((self._graph_losses, self._step, weakref.ref(mark)))
        self._check_marks()

    def _check_marks(self, final: bool = False) -> None:
        """Walk the heap for losses kept with their graphs only when marked graphs outlive
        their steps: a mark lives exactly as long as the graph node that holds its hook, and
        a loop that frees each step's loss frees its marks within a step or two. The walk
        over every Python object costs ~0.1 s, so it is not run on a schedule.

        Old means both many loss calls ago and two optimizer steps ago: a step may compute
        many losses that its one backward sums (actor-critic: a value loss per time step of
        an episode, ``torch.stack(value_losses).sum()``), all alive until that step ends."""
        # At the end of the run only the last loss may still be held by the script's variable.
        old = self._graph_losses - (1 if final else _MARK_AGE)
        if any(
            n <= old and step <= self._step - 2 and ref() is not None
            for n, step, ref in self._marks
        ):
            self._marks.clear()
            self._scan_graphs()

    def _scan_graphs(self) -> None:
        if self._graph_scans >= 5 or not self._scan_graphs_on:
            return
        self._graph_scans += 1
        count, chain = signals.held_loss_graphs()
        self.emit(regimen.check_held_graphs(count, chain, self._step))

    def _update_history(self) -> list[float]:
        """Median update ratio of each kept heavy sample (fixed between heavy steps, read by
        several checks on every curve step: cached until a sample or its updates change)."""
        key = self._samples_version
        cached = self._history_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        per_sample = [s.median_update_ratio() for s in self.samples]
        history = [r for r in per_sample if r is not None]
        recent = [r for r in per_sample[-3:] if r is not None]
        self._history_cache = (key, history, statistics.median(recent) if recent else None)
        return history

    def _recent_update_ratio(self) -> float | None:
        self._update_history()
        return self._history_cache[2] if self._history_cache is not None else None

    # ---- epochs --------------------------------------------------------------------------
    def _close_eval_phase(self) -> None:
        if self._eval_rows:
            rows, self._eval_rows = self._eval_rows, []
            seen = sum(r in self._train_rows for r in rows)
            chance = signals.chance_overlap(self._row_counts, self._train_counted)
            self.emit(labels.check_val_overlap(seen / len(rows), len(rows), self._step, chance))
        if self._eval_n and not self._explicit_val:
            self._add_epoch(self._eval_sum / self._eval_n, None)
        self._eval_sum, self._eval_n = 0.0, 0

    def log_validation(
        self, val_loss: float, epoch: int | None = None, train_loss: float | None = None
    ) -> None:
        """Report one epoch's validation loss (hooks cannot tell validation from other use).

        Args:
            val_loss: mean validation loss of the epoch.
            epoch: the epoch number; counts up from 0 when omitted.
            train_loss: the epoch's mean training loss, used when the doctor saw no step
                losses; otherwise the median of the last quarter of the losses it saw since the
                previous call (at least 3), which matches the model validation ran on.
        """
        self._explicit_val = True
        self._eval_sum, self._eval_n = 0.0, 0
        self._add_epoch(float(val_loss), train_loss, epoch)

    def _add_epoch(
        self, val_loss: float, train_loss: float | None, epoch: int | None = None
    ) -> None:
        # Validation runs on the end-of-epoch model, and the epoch's mean training loss lags
        # it (early batches saw a worse model); on a fast-converging run that lag alone makes
        # validation look several times better. So training is judged by the losses of the
        # epoch's last quarter when the doctor saw them.
        late = self._epoch_train[-max(3, len(self._epoch_train) // 4) :]
        if late and all(math.isfinite(v) for v in late):
            train_loss = statistics.median(late)  # robust to the hard batches of small-batch runs
        elif train_loss is None and any(math.isfinite(v) for v in self._epoch_train):
            train_loss = statistics.fmean(v for v in self._epoch_train if math.isfinite(v))
        self._epoch_train = []
        epoch = len(self.epochs) if epoch is None else epoch
        self.epochs.append(EpochRecord(epoch, train_loss, val_loss))
        self.epoch = epoch + 1
        record = self.epochs[-1]
        if self._dropout and record.train_loss and val_loss < 0.7 * record.train_loss:
            reason = (
                f"validation loss {val_loss:.3g} (dropout off) is far below training loss "
                f"{record.train_loss:.3g} (dropout on)"
            )
            self.emit(regimen.check_dropout(self._step, self._dropout_layers(), reason, epoch))
        if len(self.epochs) <= 3:
            self._check_marks()
        self.emit(checks.check_overfitting(self.epochs, self._step, t=self.t))
        self._released()
        self.emit(
            checks.check_val_better_than_train(
                self.epochs,
                self._step,
                first_loss=self.curve.start,
                split=self.plan.split if self.plan else None,
                t=self.t,
            )
        )

    def finish(self, max_epochs: int | None = None, stopped: bool | None = None) -> list[Finding]:
        """Run the after-training checks (once) and return all findings."""
        if not self._finished:
            self._finished = True
            if self._nonfinite_pending is not None:  # no forward pass came to trace it
                step, value, epoch = self._nonfinite_pending
                self._nonfinite_pending = None
                self.emit(checks.check_nonfinite_loss(step, value, None, epoch))
            self._commit_eval_candidates()
            self._commit_pending_rows()
            self._close_eval_phase()
            self._check_marks(final=True)
            self._check_units(final=True)
            self._released()
            self.emit(checks.check_frozen_in_optimizer(list(self._frozen), self._step))
            self.emit(
                checks.check_stopped_early(self.epochs, max_epochs, stopped, self._step, t=self.t)
            )
            self.emit(checks.check_still_improving(self.epochs, self._step, t=self.t))
        return self.findings

    # ---- resume --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The checks' running state, so a run resumed from a checkpoint is judged as the
        uninterrupted run would be (TW-T11): the loss curve and its start, gradient norms,
        layer samples, epochs, counters and the findings already made. Modules are named
        (ids change between processes); long series are tensors. Taken at an epoch's end."""
        names = self.naming.modules
        activations = []
        for (kind, key), history in self._activations.items():
            if isinstance(key, int) and key not in names:
                continue
            name, how = (names[key], "id") if isinstance(key, int) else (key, "name")
            activations.append([kind, name, how, torch.tensor(history, dtype=torch.float64)])
        return {
            "step": self._step,
            "epoch": self.epoch,
            "findings": [f.to_dict() for f in self.findings],
            "keys": [list(k) for k in sorted(self._keys)],
            "curve": {
                "values": torch.tensor(self.curve.values, dtype=torch.float64),
                "best_smoothed": self.curve.best_smoothed,
                "start": self.curve._start,
            },
            "grad_norms": list(self.grad_norms),
            "grad_start": list(self._grad_start),
            "grad_alert": self._grad_alert,
            "samples": [dataclasses.asdict(s) for s in self.samples],
            "epochs": [dataclasses.asdict(e) for e in self.epochs],
            "input_checked": self.input_checked,
            "preflight_loss_done": self._preflight_loss_done,
            "labels": [torch.from_numpy(np.ascontiguousarray(a)) for a in self._labels],
            "labels_shuffled": list(self._labels_shuffled),
            "activations": activations,
            "output_modules": sorted(names[i] for i in self._output_modules if i in names),
            "no_grad_counts": dict(self._no_grad_counts),
            "unchanged_counts": dict(self._unchanged_counts),
            "layer_samples": self._layer_samples,
            "update_samples": self._update_samples,
            "eval_streak": self._eval_streak,
            "explicit_val": self._explicit_val,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (the models must be the doctor's ``roots``)."""
        by_name = {name: i for i, name in self.naming.modules.items()}
        modules = {id(m): m for root in self.naming.roots for m in root.modules()}
        self._step, self.epoch = int(state["step"]), state["epoch"]
        self.findings = [Finding.from_dict(d) for d in state["findings"]]
        self._keys = {(str(a), str(b)) for a, b in state["keys"]}
        curve = state["curve"]
        self.curve.values = [float(v) for v in curve["values"].tolist()]
        self.curve._scanned = self.curve._nonfinite = 0
        self.curve.best_smoothed = float(curve["best_smoothed"])
        self.curve._start = curve["start"]
        self.grad_norms.clear()
        self.grad_norms.extend(float(v) for v in state["grad_norms"])
        self._grad_start = [float(v) for v in state["grad_start"]]
        self._grad_alert = bool(state["grad_alert"])
        self.samples.clear()
        self._samples_version += 1
        self.samples.extend(LayerSample(**s) for s in state["samples"])
        self._samples_version += 1
        self.epochs = [EpochRecord(**e) for e in state["epochs"]]
        self.input_checked = bool(state["input_checked"])
        self._preflight_loss_done = bool(state["preflight_loss_done"])
        self._labels = [t.numpy() for t in state["labels"]]
        self._labels_shuffled = [
            bool(s) for s in state.get("labels_shuffled", [False] * len(self._labels))
        ]
        self._activations = {}
        for kind, key, how, history in state["activations"]:
            if how == "id":
                if key not in by_name or by_name[key] not in modules:
                    continue
                self._act_modules[by_name[key]] = modules[by_name[key]]
                key = by_name[key]
            self._activations[(kind, key)] = [float(v) for v in history.tolist()]
        self._output_modules = {by_name[n] for n in state["output_modules"] if n in by_name}
        self._no_grad_counts = {str(k): int(v) for k, v in state["no_grad_counts"].items()}
        self._unchanged_counts = {str(k): int(v) for k, v in state["unchanged_counts"].items()}
        self._layer_samples = int(state["layer_samples"])
        self._update_samples = int(state["update_samples"])
        self._eval_streak = int(state["eval_streak"])
        self._explicit_val = bool(state["explicit_val"])


class _Mark:
    """Lives as long as the autograd node whose pre-hook holds it (see Doctor._check_marks)."""

    __slots__ = ("__weakref__",)

    def hook(self, grad_outputs: Any) -> None:
        return None


def _summed_elements(node: Any) -> int:
    """Elements a back-propagated loss sums, when its last operation is ``.sum()`` over a
    whole tensor (``torch.cat(policy_losses).sum()``, ``((out - y) ** 2).sum()``); else 1."""
    if node is None or node.name() != "SumBackward0":
        return 1
    try:
        return max(1, math.prod(int(n) for n in node._saved_self_sym_sizes))
    except (AttributeError, RuntimeError, TypeError):
        return 1


def _primary_last_weight(grad_norms: dict[str, float]) -> dict[str, float]:
    """Weight gradient norms in forward order with the last layer represented by its primary
    weight (the first it registers: ``Linear.weight``, a graph-attention layer's ``W``), not
    a secondary tensor after it. A GAT layer's attention vector ``a`` gets ~1e-5 of gradient
    at init (row-normalized features make every score alike), 1/300 of its own ``W``'s: read
    as the last layer, it made a healthy GAT's gradients "grow 752x" towards the input.
    Other layers keep all their weights, and a network that ends in a Linear or Conv layer
    (one weight) is judged as before."""
    names = list(grad_norms)
    if not names:
        return grad_norms
    module = names[-1].rpartition(".")[0]
    firsts = [n for n in names if n.rpartition(".")[0] == module]
    if len(firsts) < 2:
        return grad_norms
    drop = set(firsts[1:])
    return {n: v for n, v in grad_norms.items() if n not in drop}


def _scheduler_of(optimizer: torch.optim.Optimizer) -> str | None:
    """The class name of an LR scheduler driving ``optimizer`` (looked up once, when needed)."""
    import gc

    kind = torch.optim.lr_scheduler.LRScheduler
    for ref in gc.get_referrers(optimizer):
        # The scheduler holds the optimizer in its attribute dict (or directly).
        holders = gc.get_referrers(ref) if isinstance(ref, dict) else [ref]
        for holder in holders:
            if isinstance(holder, kind) and getattr(holder, "optimizer", None) is optimizer:
                return type(holder).__name__
    return None


def _params(optimizer: torch.optim.Optimizer) -> list[Any]:
    """The parameters an optimizer holds, in its order."""
    return [p for group in optimizer.param_groups for p in group["params"]]
