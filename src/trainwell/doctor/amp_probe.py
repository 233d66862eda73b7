"""Gradient clipping on scaled gradients under a mixed-precision ``GradScaler`` (TW-T06).

``scaler.scale(loss).backward()`` leaves every gradient multiplied by the scale (65536 at
the start); ``scaler.step(optimizer)`` divides it out before stepping, unless
``scaler.unscale_(optimizer)`` already did. A ``clip_grad_norm_(params, max_norm)`` between
the two clips the scaled norm, so the optimizer gets a gradient of norm ``max_norm / scale``
at nearly every step, whatever the true one (``clip_grad_value_`` alike). PyTorch's AMP
examples ("Working with Unscaled Gradients",
https://docs.pytorch.org/docs/stable/notes/amp_examples.html) call ``unscale_`` first;
pytorch/examples' ``distributed/minGPT-ddp`` trainer clips before it.

The probe wraps ``GradScaler.scale``, ``.unscale_`` and ``.update`` to know, for each
scaler, whether the gradients made since its last ``scale`` were unscaled, and the two
clipping functions of ``torch.nn.utils`` to ask that when a clip runs. Wrapping is the only
way in: neither has a hook. Nothing is read inside ``torch.compile``.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch.nn.utils as nn_utils
from torch.amp import GradScaler
from torch.compiler import is_compiling
from torch.nn.utils import clip_grad

from trainwell.findings import Finding

if TYPE_CHECKING:
    from trainwell.doctor.doctor import Doctor

_CLIPS = ("clip_grad_norm_", "clip_grad_value_")


class ScaledClipProbe:
    """Reports gradient clipping that runs on gradients still multiplied by a GradScaler's scale.

    Args:
        doctor: the doctor that gets the finding (at its current step).
    """

    def __init__(self, doctor: Doctor) -> None:
        self.doctor = doctor
        # scaler -> True while gradients scaled since its last scale() are not unscaled
        self._pending: weakref.WeakKeyDictionary[GradScaler, bool] = weakref.WeakKeyDictionary()
        self._saved: list[tuple[Any, str, Any]] = []

    def attach(self) -> ScaledClipProbe:
        probe = self

        def scale(orig: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(orig)
            def wrapper(scaler: GradScaler, *args: Any, **kwargs: Any) -> Any:
                if scaler.is_enabled():
                    probe._pending[scaler] = True
                return orig(scaler, *args, **kwargs)

            return wrapper

        def settle(orig: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(orig)
            def wrapper(scaler: GradScaler, *args: Any, **kwargs: Any) -> Any:
                probe._pending[scaler] = False
                return orig(scaler, *args, **kwargs)

            return wrapper

        def clip(name: str, orig: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(orig)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                if not is_compiling():
                    probe._check(name, args, kwargs)
                return orig(*args, **kwargs)

            return wrapper

        self._patch(GradScaler, "scale", scale(GradScaler.scale))
        self._patch(GradScaler, "unscale_", settle(GradScaler.unscale_))
        self._patch(GradScaler, "update", settle(GradScaler.update))
        for name in _CLIPS:
            wrapped = clip(name, getattr(clip_grad, name))
            self._patch(clip_grad, name, wrapped)
            self._patch(nn_utils, name, wrapped)
        return self

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def remove(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()

    def _check(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        scalers = [s for s, pending in self._pending.items() if pending and s.is_enabled()]
        if not scalers:
            return
        scale = float(scalers[0].get_scale())
        limit = args[1] if len(args) > 1 else kwargs.get("max_norm", kwargs.get("clip_value"))
        what = "norm" if name == "clip_grad_norm_" else "largest value"
        gets = (
            f"a gradient {what} of {float(limit) / scale:.3g} ({limit:g} / {scale:g})"
            if isinstance(limit, (int, float)) and not isinstance(limit, bool)
            else f"a gradient {what} of the limit divided by the scale"
        )
        self.doctor.emit(
            Finding(
                id="clip-before-unscale",
                practice="TW-T06",
                severity="warning",
                stage="train",
                step=self.doctor.step,
                message=f"{name} ran on gradients still multiplied by the GradScaler's scale "
                f"({scale:g}), before unscale_: when clipping binds, the optimizer gets {gets}, "
                "whatever the true gradient.",
                evidence={"clip": name, "scale": scale, "limit": limit},
                fix="Call scaler.unscale_(optimizer) after backward and before clipping "
                "(PyTorch's AMP examples, 'Working with Unscaled Gradients'); "
                "scaler.step() then does not unscale again.",
            )
        )
