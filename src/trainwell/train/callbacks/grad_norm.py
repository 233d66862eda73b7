"""Gradient clipping (TW-T06) and gradient-norm monitoring (TW-M03)."""

from __future__ import annotations

import torch

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

    def on_before_optimizer_step(self, state: TrainState) -> None:
        if self.max_norm is not None:
            params = [p for p in state.model.parameters() if p.grad is not None]
            state.grad_norm = torch.nn.utils.clip_grad_norm_(params, self.max_norm)
        elif state.step % self.every == 0:
            grads = [p.grad for p in state.model.parameters() if p.grad is not None]
            state.grad_norm = torch.nn.utils.get_total_norm(grads)
