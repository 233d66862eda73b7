"""Find the training loss however the script computes it.

Loss *modules* (``nn.CrossEntropyLoss()``) are seen by :class:`~.probes.ForwardProbe`. This
probe sees the rest:

* functional losses (``F.cross_entropy``, ``F.nll_loss``, ``F.mse_loss`` ...): the functions
  in ``torch.nn.functional`` are wrapped by pass-through functions that hand the output, the
  target and the loss to the doctor and return the loss untouched (a loss module's own call
  into ``torch.nn.functional`` is left to the module hook while the forward hooks are on, and
  reported here on the steps they are off: see :meth:`Doctor.watch_forward`);
* any other loss (a plain function, a Hugging Face model output's ``.loss``): the scalar whose
  ``.backward()`` runs is the training loss. When it adds terms of its own to the loss
  functions' losses (``policy_loss + F.smooth_l1_loss(...)``, a KL term, a hand-written
  penalty; found from its autograd graph on the first backward passes,
  :func:`~.stats.reaches_parameter_around`), the curve stays the loss functions' (the fit
  to the labels) and the whole is checked for non-finite values. ``Tensor.backward`` is
  wrapped, which also tells a forward pass under ``model.eval()`` *without* ``no_grad``
  (validation that forgot it, whose loss nobody back-propagates) from training in eval mode
  (whose loss is back-propagated);
* ``DataLoader.__iter__`` and ``Module.train``: a loader's size (the same-batch check) and
  whether its sampler draws rows in random order (the label-order check), and the start of a
  pass or an ``eval()`` turns the forward hooks on for an evaluation's rows.

``torch.overrides.TorchFunctionMode`` would see the same, but runs Python for every tensor
operation of the model (a per-op cost on the hot path); wrapping a handful of functions costs
one Python call per loss. Inside ``torch.compile`` the wrappers call straight through.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch.compiler import is_compiling as _compiling  # a constant True while Dynamo traces
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

if TYPE_CHECKING:
    from trainwell.doctor.doctor import Doctor

#: ``torch.nn.functional`` loss -> the loss module that calls it (checks know losses by name).
FUNCTIONAL_LOSSES = {
    "cross_entropy": "CrossEntropyLoss",
    "nll_loss": "NLLLoss",
    "mse_loss": "MSELoss",
    "l1_loss": "L1Loss",
    "smooth_l1_loss": "SmoothL1Loss",
    "huber_loss": "HuberLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
}
_LOSS_MODULES = "torch.nn.modules.loss"
_RANDOM_SAMPLERS = (RandomSampler, SubsetRandomSampler, WeightedRandomSampler)


def draws_in_random_order(loader: DataLoader[Any]) -> bool:
    """Whether ``loader`` yields its rows in a random order (``shuffle=True`` or a random
    sampler under the standard batching); False when the order is unknown (a custom batch
    sampler, an ``IterableDataset``) or sequential.

    Example:
        >>> from torch.utils.data import TensorDataset
        >>> data = TensorDataset(torch.arange(8))
        >>> draws_in_random_order(DataLoader(data, shuffle=True))
        True
        >>> draws_in_random_order(DataLoader(data))
        False
    """
    batches = loader.batch_sampler
    if batches is not None and type(batches) is not BatchSampler:
        return False  # batches made by the script's own sampler: their order is its own
    sampler = batches.sampler if batches is not None else loader.sampler
    if isinstance(sampler, DistributedSampler):
        return bool(sampler.shuffle)
    return isinstance(sampler, _RANDOM_SAMPLERS)


class LossProbe:
    """Pass-through wrappers around the functional losses and ``Tensor.backward``.

    Args:
        doctor: receives the losses (:meth:`Doctor.on_functional_loss`,
            :meth:`Doctor.on_backward`).

    Only one probe can be attached at a time (the wrappers are process-wide); a second
    :meth:`attach` while one is active is a no-op for the second probe.
    """

    _active: LossProbe | None = None

    def __init__(self, doctor: Doctor) -> None:
        self.doctor = doctor
        #: While True the wrappers pass every call straight through (a flag check each).
        #: Cheaper than :meth:`remove` and :meth:`attach` around a stretch: swapping
        #: ``Tensor.backward`` and the ``torch.nn.functional`` functions changes a type and a
        #: module, which drops the interpreter's cached lookups for all code using them.
        self.paused = False
        self._originals: dict[str, Callable[..., Any]] = {}
        self._backward: Callable[..., Any] | None = None
        self._iter: Callable[..., Any] | None = None
        self._train: Callable[..., Any] | None = None

    def attach(self) -> LossProbe:
        if LossProbe._active is not None:
            return self
        LossProbe._active = self
        for name, label in FUNCTIONAL_LOSSES.items():
            original = getattr(F, name, None)
            if original is not None:
                self._originals[name] = original
                setattr(F, name, self._wrap(original, label))
        self._backward = torch.Tensor.backward
        torch.Tensor.backward = self._wrap_backward(self._backward)  # type: ignore[method-assign]
        self._iter = DataLoader.__iter__
        DataLoader.__iter__ = self._wrap_iter(self._iter)  # type: ignore[method-assign]
        self._train = torch.nn.Module.train
        torch.nn.Module.train = self._wrap_train(self._train)  # type: ignore[method-assign]
        self.doctor.sees_backward = True
        return self

    def remove(self) -> None:
        if LossProbe._active is not self:
            return
        for name, original in self._originals.items():
            setattr(F, name, original)
        if self._backward is not None:
            torch.Tensor.backward = self._backward  # type: ignore[method-assign]
        if self._iter is not None:
            DataLoader.__iter__ = self._iter  # type: ignore[method-assign]
        if self._train is not None:
            torch.nn.Module.train = self._train  # type: ignore[method-assign]
        self._originals, self._backward, self._iter, self._train = {}, None, None, None
        self.doctor.sees_backward = False
        LossProbe._active = None

    def _wrap(self, original: Callable[..., Any], label: str) -> Callable[..., Any]:
        doctor = self.doctor
        probe = self

        @functools.wraps(original)
        def loss(input: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            if (
                probe.paused
                or _compiling()
                or not (isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor))
            ):  # traced code
                return original(input, target, *args, **kwargs)
            if sys._getframe(1).f_globals.get("__name__") == _LOSS_MODULES:
                # A loss module: its own forward hook reports it while the forward hooks are
                # on; on the steps they are off, this call does (same name, same numbers).
                if doctor.forward_watched:
                    return original(input, target, *args, **kwargs)
            else:
                # Paired before the call: binary_cross_entropy raises on values outside
                # [0, 1], and the finding must be out before the script dies.
                doctor.before_functional_loss(label, input, target)
            result = original(input, target, *args, **kwargs)
            if isinstance(result, torch.Tensor):
                mean = kwargs.get("reduction", "mean") == "mean"
                doctor.on_functional_loss(label, target, result, mean)
            return result

        return loss

    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        doctor = self.doctor
        probe = self

        @functools.wraps(original)
        def backward(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if probe.paused or _compiling():
                return original(self, *args, **kwargs)
            doctor.on_backward(self)
            result = original(self, *args, **kwargs)
            if doctor.after_backward is not None:
                doctor.after_backward(self)  # the gradients are whole here
            return result

        return backward

    def _wrap_train(self, original: Callable[..., Any]) -> Callable[..., Any]:
        doctor = self.doctor
        probe = self

        @functools.wraps(original)
        def train(self: torch.nn.Module, mode: bool = True) -> Any:
            # model.eval(): an evaluation may follow, whose rows are read
            if not (mode or probe.paused or _compiling()):
                doctor.on_loader_iter()
            return original(self, mode)

        return train

    def _wrap_iter(self, original: Callable[..., Any]) -> Callable[..., Any]:
        doctor = self.doctor
        probe = self

        @functools.wraps(original)
        def iterate(self: DataLoader[Any]) -> Any:
            if probe.paused:
                return original(self)
            # How many rows the loader holds: one batch again and again is a bug only when
            # there are more (the same-batch check).
            try:
                rows = len(self.dataset)  # type: ignore[arg-type]
            except TypeError:
                rows = None
            if rows is not None and (doctor.dataset_rows is None or rows > doctor.dataset_rows):
                doctor.dataset_rows = rows
            # Targets drawn from here are in random order whatever their values: a target that
            # is constant within each batch is then the script's (a GAN's real/fake labels).
            doctor.loader_shuffled = draws_in_random_order(self)
            doctor.on_loader_iter()
            return original(self)

        return iterate
