"""Removable hooks that read what training does and hand plain numbers to a :class:`Doctor`.

Probes only read: they work on detached tensors, never write to a tensor, never draw a
random number and never return a value from a hook (a returned value would replace the
module output or the optimizer's arguments). The loss is read every step, the total gradient
norm every few steps (every step while it is high or the loss is not finite), per-layer
statistics only on the doctor's heavy steps.

Under ``torch.compile`` the hooks return at once while Dynamo traces (``is_compiling()`` is a
constant there): tracing the doctor's bookkeeping would break the graph or crash Dynamo
("... is already tracked for mutation"). A compiled module is then seen from outside: its
output (the ``OptimizedModule`` wrapper's hook runs eagerly), its loss and its gradients.
"""

from __future__ import annotations

import math
import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch.compiler import is_compiling
from torch.nn.modules import module as module_hooks
from torch.nn.modules.loss import _Loss
from torch.optim import optimizer as optimizer_hooks
from torch.utils.hooks import RemovableHandle

from trainwell.doctor import stats

if TYPE_CHECKING:
    from trainwell.doctor.doctor import Doctor

_DEAD_PRONE = (torch.nn.ReLU, torch.nn.ReLU6)
_SATURATING = (torch.nn.Sigmoid, torch.nn.Tanh)
_MODE_LAYERS = (torch.nn.modules.dropout._DropoutNd, torch.nn.modules.batchnorm._BatchNorm)


def _first_tensor(value: Any) -> torch.Tensor | None:
    """``value`` or its first item, if it is a dense tensor the checks can read.

    A sparse, nested or other non-strided tensor (a GCN's sparse feature matrix) is not
    read: ``mean``, ``std`` and row hashing have no kernel for it, and raising inside the
    script's forward pass would end a run that is fine without the doctor.
    """
    if isinstance(value, (tuple, list)) and value:
        value = value[0]
    if isinstance(value, torch.Tensor) and value.layout is torch.strided and not value.is_nested:
        return value
    return None


# What the post-hook does with a module's output, decided once per module (the hooks run for
# every module call, so the isinstance chain is not repeated).
_OTHER, _DEAD, _SATURATE = 0, 1, 2


class ForwardProbe:
    """Global module forward hooks: loss values, layer outputs, activation statistics.

    Args:
        doctor: receives the numbers.
        modules: ids of the modules to watch; ``None`` watches every module (no-code-change
            mode). Loss modules (``torch.nn.modules.loss._Loss``) are always watched.

    The pre-hook only checks that output and loss fit together before the first loss runs
    (BCELoss raises on values outside [0, 1], and the finding must be out before the script
    dies); once an optimizer step has finished it is removed, and a loss module first used
    later is checked by the post-hook.
    """

    def __init__(self, doctor: Doctor, modules: set[int] | None = None) -> None:
        self.doctor = doctor
        self.modules = modules
        self.handles: list[RemovableHandle] = []
        self._pre_handle: RemovableHandle | None = None
        self._post_handle: RemovableHandle | None = None
        self._attached = False
        # id(module) -> (the module, weakly; activation kind; mode layer). The weak reference
        # tells a freed module's reused id apart; a plain dict's get is a C call, a
        # WeakKeyDictionary's a Python one (this is read on every module call).
        self._kinds: dict[int, tuple[weakref.ref[torch.nn.Module], int, bool]] = {}

    def attach(self) -> ForwardProbe:
        """Register the hooks; the post-hook only if the doctor wants this step's forward
        passes (:attr:`Doctor.forward_wanted`), and it follows the doctor's switch after."""
        self._attached = True
        self.handles = []
        self._post_handle = None
        if self.doctor.forward_wanted:
            self._register_post()
        if self.doctor.step == 0:
            self._pre_handle = module_hooks.register_module_forward_pre_hook(self._pre)
            self.handles.append(self._pre_handle)
        self.doctor._forward_switch = self.set_active
        return self

    def _register_post(self) -> None:
        self._post_handle = module_hooks.register_module_forward_hook(self._post)
        self.handles.append(self._post_handle)
        self.doctor.forward_watched = True

    def set_active(self, active: bool) -> None:
        """Watch the next forward passes or not (the pre-hook is left alone).

        A global forward hook sends every module call down PyTorch's slower hooked path, so a
        loop that hands the doctor its loss (:class:`DoctorCallback`) keeps the hook only on
        the steps that need it (:attr:`Doctor.wants_forward`).
        """
        handle = self._post_handle
        if active and handle is None and self._attached:
            self._register_post()
        elif not active and handle is not None:
            handle.remove()
            self.handles.remove(handle)
            self._post_handle = None
            self.doctor.forward_watched = False

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self._pre_handle = None
        self._post_handle = None
        self._attached = False
        self.doctor.forward_watched = False
        if self.doctor._forward_switch == self.set_active:
            self.doctor._forward_switch = None

    def _pre(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        if is_compiling():
            return
        doctor = self.doctor
        if doctor.step > 0 and self._pre_handle is not None:
            self._pre_handle.remove()  # safe: PyTorch iterates over a copy of the hooks
            self._pre_handle = None
            return
        if self.modules is not None and not doctor.saw_forward:
            return
        if isinstance(module, _Loss) and torch.is_grad_enabled() and len(args) >= 2:
            self._pair(module, args)

    def _pair(self, module: torch.nn.Module, args: tuple[Any, ...]) -> None:
        out, target = _first_tensor(args[0]), _first_tensor(args[1])
        if out is not None and target is not None:
            self.doctor.on_loss_inputs(module, out, target)

    def _kind(self, module: torch.nn.Module, args: tuple[Any, ...] = ()) -> tuple[int, bool]:
        # First call of this module: the layout and settings the shape checks read.
        if isinstance(module, torch.nn.RNNBase) and args and isinstance(args[0], torch.Tensor):
            self.doctor.on_rnn_input(module, args[0])
        elif isinstance(module, torch.nn.modules.dropout._DropoutNd):
            self.doctor.on_dropout(module)
        kind = _DEAD if isinstance(module, _DEAD_PRONE) else _OTHER
        if isinstance(module, _SATURATING):
            kind = _SATURATE
        mode_layer = isinstance(module, _MODE_LAYERS)
        self._kinds[id(module)] = (weakref.ref(module), kind, mode_layer)
        return kind, mode_layer

    def _post(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if is_compiling():
            return
        doctor = self.doctor
        if isinstance(module, _Loss):
            self._post_loss(module, args, output)
            return
        if self.modules is not None and id(module) not in self.modules:
            return
        if module is doctor.input_module and doctor._rows_open and args:
            x = _first_tensor(args[0])  # rows for the validation-overlap check
            if x is not None and x.dim() >= 2:
                doctor.on_model_input(x, module.training)
        if not torch.is_grad_enabled():
            return
        # inline: this runs for every module call while the hooks are on
        out = (
            output
            if isinstance(output, torch.Tensor)
            and output.layout is torch.strided
            and not output.is_nested
            else _first_tensor(output)
        )
        if out is None:
            return
        doctor.on_output(module, out)
        # The first layer that learns judges the inputs: a parameter-free module ahead of it
        # (trainwell's own standardizing input layer, say) is preprocessing, not the model.
        if not doctor.input_checked and _has_own_parameters(module):
            x = _first_tensor(args[0]) if args else None
            if x is not None and x.is_floating_point():
                doctor.on_first_input(module, x)
        known = self._kinds.get(id(module))
        if known is not None and known[0]() is module:
            kind, mode_layer = known[1], known[2]
        else:
            kind, mode_layer = self._kind(module, args)
        if mode_layer:
            doctor.on_mode_layer(module)
        if kind and doctor.heavy:
            if kind == _DEAD:
                doctor.on_activation(module, "dead", stats.dead_unit_fraction(out))
                if args and isinstance(args[0], torch.Tensor):
                    doctor.on_units_fed(module, args[0])
            elif args and isinstance(args[0], torch.Tensor):
                level = doctor.t.saturation_level
                doctor.on_activation(module, "saturated", stats.saturated_fraction(args[0], level))

    def _post_loss(self, module: torch.nn.Module, args: tuple[Any, ...], output: Any) -> None:
        doctor = self.doctor
        # Watching one model, a training loss counts only if that model just ran forward.
        if self.modules is not None and torch.is_grad_enabled() and not doctor.saw_forward:
            return
        if (
            self._pre_handle is None
            and doctor.keeps_outputs  # the producer of its input must be known
            and torch.is_grad_enabled()
            and len(args) >= 2
        ):
            self._pair(module, args)  # a loss module first used after the first step
        if isinstance(output, torch.Tensor) and output.numel() == 1:
            target = _first_tensor(args[1]) if len(args) >= 2 else None
            doctor.on_loss(module, output, target)


class OptimizerProbe:
    """Optimizer step pre/post hooks: gradient norms on the doctor's cadence
    (:meth:`Doctor.wants_gradients`), updates on heavy steps.

    Args:
        doctor: receives the numbers.
        optimizer: the optimizer to watch, or ``None`` to use PyTorch's global optimizer
            hooks (no-code-change mode; the first optimizer that steps is the one watched).
        external: a framework integration says when the gradients are whole and unclipped
            by calling :meth:`gradients_ready` once per optimizer step; the step hooks then
            never read gradients (inside a framework they run too early or after clipping).
    """

    def __init__(
        self,
        doctor: Doctor,
        optimizer: torch.optim.Optimizer | None = None,
        *,
        external: bool = False,
    ) -> None:
        self.doctor = doctor
        self.optimizer = optimizer
        self.external = external
        self._ready_done = False  # external mode: this step's gradients were offered
        self.handles: list[RemovableHandle] = []
        self._before: list[torch.Tensor] | None = None
        self._params: list[torch.Tensor] | None = None  # this step's, from pre to post hook
        self._wants = False  # the doctor wants this step's gradients
        self._grads_read = False

    def attach(self) -> OptimizerProbe:
        if self.optimizer is not None:
            self.handles = [
                self.optimizer.register_step_pre_hook(self._pre),
                self.optimizer.register_step_post_hook(self._post),
            ]
        else:
            self.handles = [
                optimizer_hooks.register_optimizer_step_pre_hook(self._pre),
                optimizer_hooks.register_optimizer_step_post_hook(self._post),
            ]
        return self

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    @staticmethod
    def params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        return [p for group in optimizer.param_groups for p in group["params"]]

    def _pre(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        doctor = self.doctor
        if is_compiling() or (
            optimizer is not doctor._optimizer and not doctor.watching(optimizer)
        ):
            return
        if not doctor.stale_grads.done:
            doctor.stale_grads.before_step()
        self._wants = not self.external and doctor.wants_gradients()
        if not (doctor.heavy or self._wants):
            self._params = None  # a light step: nothing to read or snapshot
            return
        params = self._params = self.params(optimizer)
        if doctor.heavy:
            self._before = [p.detach().clone() for p in params]  # detached: no graph
        # With a closure (Lightning, LBFGS) gradients appear only inside step(): read them in
        # the post-hook instead; step() leaves .grad alone and the parameters are snapshotted.
        self._grads_read = any(p.grad is not None for p in params)
        if self._grads_read and self._wants:
            self._read_gradients(params)

    def gradients_ready(self, norms: dict[int, float] | None = None) -> None:
        """External mode: this optimizer step's gradients are complete (every accumulated
        micro-batch) and not yet clipped; read them now, on the doctor's cadence, once a step.

        Args:
            norms: the L2 norm of each parameter's gradient by ``id(param)``, when the caller
                measured them before a clipping that has already happened; ``None`` reads
                ``param.grad`` now.
        """
        optimizer = self.optimizer
        if self._ready_done or optimizer is None or not self.doctor.watching(optimizer):
            return
        self._ready_done = True
        if self.doctor.wants_gradients():
            self._read_gradients(self.params(optimizer), norms)

    def _read_gradients(
        self, params: list[torch.Tensor], known: dict[int, float] | None = None
    ) -> None:
        read_gradients(self.doctor, params, known)

    def _post(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        doctor = self.doctor
        if is_compiling() or (
            optimizer is not doctor._optimizer and not doctor.watching(optimizer)
        ):
            return
        params, self._params = self._params, None
        self._ready_done = False
        if not doctor.stale_grads.done and doctor.sees_backward:
            # the first few steps only: a forgotten zero_grad() (:mod:`.stale_grads`)
            doctor.stale_grads.after_step(params or self.params(optimizer))
        if params is None:  # a light step
            doctor.on_step_end()
            return
        if not self._grads_read and self._wants:
            self._read_gradients(params)
        if self._before is not None:
            if len(params) == len(self._before):
                now = [p.detach() for p in params]
                # fused: one in-place subtraction into the snapshot (no new tensors), one
                # norm kernel over the moves and the weights, one copy out
                torch._foreach_sub_(self._before, now)
                norms = stats.norm_values([*self._before, *now])
                deltas, weights = norms[: len(now)], norms[len(now) :]
                doctor.on_updates(params, deltas, weights)
            self._before = None
        doctor.on_step_end()


def read_gradients(
    doctor: Doctor, params: list[torch.Tensor], known: dict[int, float] | None = None
) -> None:
    """Hand one step's gradients of ``params`` to ``doctor``: the total norm every time, the
    per-layer norms on heavy steps and whenever the total is not finite.

    Args:
        doctor: receives the numbers (:meth:`Doctor.on_gradients`,
            :meth:`Doctor.on_layer_gradients`).
        params: the parameters stepped (an optimizer's, or a model's for a hand-written update).
        known: the L2 norm of each parameter's gradient by ``id(param)``, measured earlier;
            ``None`` reads ``param.grad`` now.
    """
    if known is None:
        with_grad = [p for p in params if p.grad is not None]
        norms = stats.norm_values([p.grad for p in with_grad])  # type: ignore[misc]
    else:
        with_grad = [p for p in params if p.grad is not None and id(p) in known]
        norms = [known[id(p)] for p in with_grad]
    total = stats.combined_norm(norms) if norms else None
    doctor.on_gradients(params, total)
    if not doctor.heavy and (total is None or math.isfinite(total)):
        return
    by_param = dict(zip(map(id, with_grad), norms, strict=True))
    doctor.on_layer_gradients(params, by_param)


def _has_own_parameters(module: torch.nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None
