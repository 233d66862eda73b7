"""The doctor's checks: pure functions from numbers to a :class:`~trainwell.findings.Finding`.

Each check takes the signal it needs (plain numbers, never a model) and returns a finding or
``None``; its docstring says what the finding means and how to fix it. Grouped by when they
can run: :mod:`.preflight` (first steps), :mod:`.numerics` (every step), :mod:`.layers`
(sampled per-layer statistics), :mod:`.curve` (loss over steps), :mod:`.epochs` (per epoch and
after training).
"""

from trainwell.doctor.checks.curve import (
    check_divergence,
    check_lr_too_low,
    check_oscillation,
    check_updates_too_large,
)
from trainwell.doctor.checks.epochs import (
    check_overfitting,
    check_still_improving,
    check_stopped_early,
    check_val_better_than_train,
)
from trainwell.doctor.checks.layers import (
    check_dead_units,
    check_no_grad_params,
    check_saturation,
    check_unchanged_params,
    check_vanishing,
)
from trainwell.doctor.checks.numerics import (
    check_grad_spike,
    check_layer_explosion,
    check_loss_spike,
    check_nonfinite_grads,
    check_nonfinite_loss,
    check_nonfinite_weights,
)
from trainwell.doctor.checks.preflight import (
    OutputSummary,
    check_eval_mode,
    check_frozen_in_optimizer,
    check_input_scale,
    check_label_order,
    check_loss_at_init,
    check_not_in_optimizer,
    check_output_loss_mismatch,
)

__all__ = [
    "OutputSummary",
    "check_dead_units",
    "check_divergence",
    "check_eval_mode",
    "check_frozen_in_optimizer",
    "check_grad_spike",
    "check_input_scale",
    "check_label_order",
    "check_layer_explosion",
    "check_loss_at_init",
    "check_loss_spike",
    "check_lr_too_low",
    "check_no_grad_params",
    "check_nonfinite_grads",
    "check_nonfinite_loss",
    "check_nonfinite_weights",
    "check_not_in_optimizer",
    "check_oscillation",
    "check_output_loss_mismatch",
    "check_overfitting",
    "check_saturation",
    "check_still_improving",
    "check_stopped_early",
    "check_unchanged_params",
    "check_updates_too_large",
    "check_val_better_than_train",
    "check_vanishing",
]
