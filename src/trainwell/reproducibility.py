"""Seeds and deterministic settings for a run (TW-R01), restored afterwards."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - for code that still draws from the global RNG
    torch.manual_seed(seed)  # also seeds every CUDA device


@contextlib.contextmanager
def reproducible(seed: int, deterministic: bool = True) -> Iterator[None]:
    """Seed everything and, if asked, force deterministic kernels for the block.

    torch's determinism switches are process-global, so they are set on entry and put back on
    exit rather than left changed for the caller's other code.
    """
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    seed_everything(seed)
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic on CUDA >= 10.2.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: on CUDA a few ops (an embedding's backward) have no deterministic kernel;
        # they warn instead of stopping the run. On the CPU every op the models use is
        # deterministic (the tests, run with warnings as errors, hold it to that).
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]
        if previous[3] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
