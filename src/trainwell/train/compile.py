"""``train.compile=true``: the network's forward compiled with ``torch.compile`` for the
training loop (TW-T13), where this platform can.

``nn.Module.compile()`` compiles the module's call in place, so its parameters, state dict
and checkpoints keep their names; it is switched on just around the training loop (after the
doctor's checks copied the network, which a compiled module would not survive: the copy's
compiled call would still run the original) and off again before the network is scored and
shipped, so evaluation, export and prediction run the same eager network either way. The
compiled step computes the same function with fused kernels; results agree with eager
training within float32 rounding (1e-6 on losses and predictions in
``tests/export/test_export.py``; dropout draws from torch's generator, see below).

Inductor, torch.compile's default backend, writes C++ (CPU) or Triton (CUDA) kernels and
needs a C++ compiler or Triton; where either is missing, or Dynamo does not support this
Python, training runs uncompiled and says why in one line.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings

import torch


def compile_support(device: torch.device) -> str | None:
    """None when ``torch.compile`` can compile for ``device`` here, else why not."""
    import torch._dynamo

    if not torch._dynamo.is_dynamo_supported():
        version = ".".join(map(str, sys.version_info[:2]))
        return f"torch {torch.__version__} does not support torch.compile on Python {version}"
    if device.type == "cuda":
        if importlib.util.find_spec("triton") is None:
            return "torch.compile on CUDA needs Triton, which is not installed"
        return None
    if device.type != "cpu":
        return f"torch.compile is not set up for {device.type} devices here"
    from torch._inductor import config as inductor

    candidates = [os.environ.get("CXX"), *inductor.cpp.cxx]
    if not any(c and shutil.which(c) for c in candidates):
        names = ", ".join(c for c in candidates if c)
        return f"torch.compile on CPU needs a C++ compiler ({names}), and none is on PATH"
    return None


def compile_network(net: torch.nn.Module, device: torch.device) -> tuple[bool, str]:
    """Compile ``net``'s forward in place; (compiled, what happened in one line)."""
    reason = compile_support(device)
    if reason is not None:
        return False, f"train.compile=true: {reason}; training runs uncompiled"
    with warnings.catch_warnings():
        # Inductor imports torch.utils.mkldnn, whose TorchScript methods warn that
        # torch.jit is deprecated (torch 2.13); importing it once here keeps that quiet.
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.utils.mkldnn  # noqa: F401
    from torch._inductor import config as inductor

    # Dropout through torch's own generator, not inductor's: the compiled run then draws
    # the masks the eager run draws (TW-R01), so the two train alike.
    inductor.fallback_random = True
    net.compile()
    return True, "torch.compile (inductor) on the network's forward for training"


def uncompile(net: torch.nn.Module) -> None:
    """Back to the eager forward (``nn.Module.compile`` keeps the compiled call in
    ``_compiled_call_impl``; PyTorch has no public inverse)."""
    net._compiled_call_impl = None
