"""Epoch checkpoints with everything needed to resume exactly (TW-T11)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trainwell.errors import RunDirError
from trainwell.run_files import path_in_run
from trainwell.train.callback import Callback
from trainwell.train.checkpoint import (
    CHECKPOINT_RE,
    checkpoint_path,
    load_state,
    save_state,
    tensors_sha256,
)
from trainwell.train.precision import Precision
from trainwell.train.state import TrainState


def capture(
    state: TrainState, callbacks: Sequence[Callback], precision: Precision
) -> dict[str, Any]:
    """Everything a resumed run needs to continue bit-for-bit from the end of this epoch.

    The loop's only randomness is torch's (dropout) and the shuffling order, which is a
    function of the epoch; so torch's RNG states are all the randomness saved. The model's
    ``state.constant`` entries (a backbone frozen for good, rebuilt from its pre-trained
    file on ``--resume``) are left out, with their SHA-256 to check the rebuilt ones against.
    """
    return {
        "constant": {"entries": len(state.constant), "sha256": constant_sha256(state)}
        if state.constant
        else None,
        "epoch": state.epoch + 1,  # the next epoch to run
        "step": state.step,
        "history": state.history,
        "stop": state.stop,
        "stop_reason": state.stop_reason,
        "model": state.varying_state(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict() if state.scheduler is not None else None,
        "precision": precision.state_dict(),
        "callbacks": {type(cb).__name__: cb.state_dict() for cb in callbacks},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }


def restore(
    path: Path, state: TrainState, callbacks: Sequence[Callback], precision: Precision
) -> None:
    """Load a checkpoint written by :class:`Checkpointing` into a freshly built run."""
    saved = load_state(path)
    where = f"checkpoint {str(path)!r}"
    try:
        CheckpointState.model_validate(saved)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RunDirError(f"{where} is malformed: {field}: {first['msg']}") from None
    kept = saved.get("constant")  # None: the checkpoint holds the whole model
    if kept and (not state.constant or kept.get("sha256") != constant_sha256(state)):
        raise RunDirError(
            f"{where} does not fit this run: it was trained on other frozen pre-trained "
            "weights (or on none); resume with the model.pretrained the run started with"
        )
    try:
        state.load_varying_state(saved["model"])
        state.optimizer.load_state_dict(saved["optimizer"])
        if state.scheduler is not None and saved["scheduler"] is not None:
            state.scheduler.load_state_dict(saved["scheduler"])
        precision.load_state_dict(saved["precision"])
        for cb in callbacks:
            if type(cb).__name__ in saved["callbacks"]:
                cb.load_state_dict(saved["callbacks"][type(cb).__name__])
        torch.set_rng_state(saved["rng"]["torch"])
        if saved["rng"]["cuda"]:
            torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as err:
        line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RunDirError(f"{where} does not fit this run: {line}") from None
    state.epoch, state.step = saved["epoch"], saved["step"]
    state.history = saved["history"]
    state.stop, state.stop_reason = saved["stop"], saved["stop_reason"]


def constant_sha256(state: TrainState) -> str:
    """SHA-256 over the model's ``state.constant`` entries (names, dtypes, shapes, bytes),
    computed once per run (they do not change)."""
    known = state.extras.get("constant_sha256")
    if known is None:
        current = state.model.state_dict()
        constant = {name: current[name] for name in state.constant}
        known = state.extras["constant_sha256"] = tensors_sha256(constant)
    return str(known)


class CheckpointState(BaseModel):
    """The JSON side of a checkpoint as :func:`restore` reads it (tensors are checked by
    ``load_state_dict``). Bounds keep a tampered file from steering the loop."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)
    epoch: int = Field(ge=0, le=10_000_000)
    step: int = Field(ge=0)
    history: list[dict[str, Any]] = Field(max_length=10_000_000)
    stop: bool
    stop_reason: str | None
    model: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    precision: dict[str, Any] | None
    callbacks: dict[str, Any]
    rng: dict[str, Any]


class Checkpointing(Callback):
    """Write ``checkpoints/epoch-NNNN.safetensors`` atomically after every epoch, keeping the
    newest ``keep``. Put it after the callbacks whose state it saves."""

    def __init__(
        self, folder: Path, callbacks: Sequence[Callback], precision: Precision, keep: int = 2
    ) -> None:
        self.folder = folder
        self.callbacks = callbacks
        self.precision = precision
        self.keep = keep

    def on_fit_start(self, state: TrainState) -> None:
        # A process killed mid-write leaves only a temporary file; it was never a checkpoint.
        self._check_folder()
        if self.folder.is_dir():
            for stale in self.folder.glob(".epoch-*.tmp-*"):
                stale.unlink()

    def _check_folder(self) -> None:
        # Never write or delete through a symlinked checkpoints/ (it may point anywhere).
        path_in_run(self.folder.parent, self.folder.name, kind="dir", must_exist=False)

    def on_epoch_end(self, state: TrainState) -> None:
        self._check_folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        save_state(
            checkpoint_path(self.folder, state.epoch + 1),
            capture(state, self.callbacks, self.precision),
        )
        found = sorted(p for p in self.folder.iterdir() if CHECKPOINT_RE.match(p.name))
        for old in found[: -self.keep]:
            old.unlink()
