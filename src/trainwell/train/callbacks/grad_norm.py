"""Gradient clipping (TW-T06) and gradient-norm monitoring (TW-M03).

The norm and the clip are PyTorch's public pieces of ``clip_grad_norm_`` (torch >= 2.6):
``torch.nn.utils.get_total_norm`` and ``torch.nn.utils.clip_grads_with_norm_``, so a clipped
step equals one clipped by ``clip_grad_norm_`` bit for bit.

When every gradient is a plain tensor on one CPU or CUDA device with one dtype (the usual
case) the same three ops are called directly: those functions first group the tensors by
device and dtype through Python wrappers, which on a small model cost about as much as the
norm itself (~12 us of a ~23 us ``get_total_norm`` per step on the 455-row benchmark MLP;
``benchmarks/loop_overhead.md``). With one group their result is exactly these ops' result,
so the values stay bit-identical (``tests/test_loop.py`` checks against ``clip_grad_norm_``);
any other case goes through torch's functions.
"""

from __future__ import annotations

import torch
from torch.nn.utils import clip_grads_with_norm_, get_total_norm

from trainwell.train.callback import Callback
from trainwell.train.state import TrainState


class GradientNorm(Callback):
    """Clip the total gradient norm to ``max_norm``, or (``max_norm=None``) only measure it.

    Clipping needs the norm every step anyway; without clipping the norm is measured every
    ``every`` steps, which is all the logging uses. ``state.grad_norm`` holds the norm before
    clipping (what the doctor and the logs want to see).
    """

    def __init__(self, max_norm: float | None, every: int = 10) -> None:
        self.max_norm = max_norm
        self.every = every
        self.params: list[torch.nn.Parameter] = []
        self._one_group: bool | None = None  # decided at the first norm (see the module doc)

    def on_fit_start(self, state: TrainState) -> None:
        self.params = [p for p in state.model.parameters() if p.requires_grad]
        self._one_group = None

    def on_before_optimizer_step(self, state: TrainState) -> None:
        if self.max_norm is None and state.step % self.every:
            return
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return
        if self._one_group is None:
            self._one_group = _one_foreach_group(self.params)
        if not self._one_group:
            self._torch_clip(state, grads)
            return
        with torch.no_grad():
            # get_total_norm's ops for one group (its .to(first_device) is a no-op here)
            state.grad_norm = torch.linalg.vector_norm(
                torch.stack(torch._foreach_norm(grads, 2.0)), 2.0
            )
            if self._skip_clip(state.grad_norm, grads[0]):
                return
            assert self.max_norm is not None
            # clip_grads_with_norm_'s ops for one group (its .to(device) is a no-op here)
            coef = torch.clamp(float(self.max_norm) / (state.grad_norm + 1e-6), max=1.0)
            torch._foreach_mul_(grads, coef)

    def _skip_clip(self, norm: torch.Tensor, grad: torch.Tensor) -> bool:
        # On CPU, skip the multiply when no clipping is needed: a multiply by the clamped
        # coefficient 1.0 changes nothing, and it was ~60% of clip_grad_norm_'s cost on a
        # small model. On an accelerator that check would force a sync, so always clip there.
        if self.max_norm is None:
            return True
        return grad.device.type == "cpu" and float(norm) + 1e-6 <= self.max_norm

    def _torch_clip(self, state: TrainState, grads: list[torch.Tensor]) -> None:
        state.grad_norm = get_total_norm(grads)
        if not self._skip_clip(state.grad_norm, grads[0]):
            assert self.max_norm is not None
            clip_grads_with_norm_(
                [p for p in self.params if p.grad is not None], self.max_norm, state.grad_norm
            )


def _one_foreach_group(params: list[torch.nn.Parameter]) -> bool:
    """True when all ``params`` (so their gradients) are plain tensors on one CPU or CUDA
    device with one dtype: then torch's grouping by device and dtype makes a single group."""
    if not params:
        return False
    device, dtype = params[0].device, params[0].dtype
    return device.type in ("cpu", "cuda") and all(
        type(p) in (torch.nn.Parameter, torch.Tensor) and p.device == device and p.dtype == dtype
        for p in params
    )
