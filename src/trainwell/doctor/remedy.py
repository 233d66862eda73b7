"""The record of a remedy the fit loop applied after divergence or NaN (TW-X05, TW-X02)."""

from __future__ import annotations

from trainwell.findings import Finding


def remedy_finding(
    cause: Finding,
    *,
    restored_step: int,
    old_lr: float,
    new_lr: float,
    clip_grad_norm: float | None,
    step: int | None = None,
    epoch: int | None = None,
) -> Finding:
    """Describe what the loop did about ``cause`` (the doctor reports; the loop acts).

    Example:
        >>> cause = Finding(id="divergence", practice="TW-X05", severity="error",
        ...                 stage="train", message="Training diverges.", fix="Lower the LR.")
        >>> f = remedy_finding(cause, restored_step=100, old_lr=1e-2, new_lr=1e-3,
        ...                    clip_grad_norm=1.0, step=130)
        >>> print(f.message)  # doctest: +NORMALIZE_WHITESPACE
        Recovered from divergence at step 130: restored the checkpoint of step 100,
        lowered the learning rate 0.01 -> 0.001 and enabled gradient clipping at 1.
    """
    clip = f" and enabled gradient clipping at {clip_grad_norm:g}" if clip_grad_norm else ""
    at = step if step is not None else cause.step
    return Finding(
        id="remedy-applied",
        practice=cause.practice,
        severity="warning",
        stage="train",
        step=at,
        epoch=epoch if epoch is not None else cause.epoch,
        message=f"Recovered from {cause.id} at step {at}: restored the checkpoint of step "
        f"{restored_step}, lowered the learning rate {old_lr:g} -> {new_lr:g}{clip}.",
        evidence={
            "cause": cause.id,
            "restored_step": restored_step,
            "old_lr": old_lr,
            "new_lr": new_lr,
            "clip_grad_norm": clip_grad_norm,
        },
        fix=f"Start the next run at lr={new_lr:g}"
        + (f" with train.clip_grad_norm={clip_grad_norm:g}" if clip_grad_norm else "")
        + " so it needs no rescue.",
    )
