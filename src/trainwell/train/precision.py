"""Mixed precision on CUDA (TW-T09): autocast, and loss scaling for fp16."""

from __future__ import annotations

import contextlib
from typing import Any, Literal

import torch

Mode = Literal["fp32", "bf16", "fp16"]


def resolve_precision(requested: str, device: torch.device) -> Mode:
    """``auto`` is bf16 on CUDA GPUs that support it, fp16 on older ones, fp32 on the CPU.

    The CPU stays in fp32: CPU autocast speeds up few ops and costs accuracy.
    """
    if requested != "auto":
        return requested  # type: ignore[return-value]
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


class Precision:
    """Wraps forward in autocast and backward/step in a GradScaler when fp16 needs one."""

    def __init__(self, mode: Mode, device_type: str = "cpu") -> None:
        self.mode = mode
        self.device_type = device_type
        self.dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]
        self.scaler = torch.amp.GradScaler(device_type) if mode == "fp16" else None

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def backward(self, loss: torch.Tensor) -> None:
        if self.scaler is None:
            loss.backward()
        else:
            self.scaler.scale(loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Make gradients true-sized before callbacks clip or measure them."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
