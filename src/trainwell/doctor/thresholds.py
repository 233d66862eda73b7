"""Every number the doctor decides with, in one place, each with where it comes from.

Starting values are the published defaults collected in ``research/doctor-thresholds.md``
(AutoTrainer, DeepDiagnosis, UMLAUT, Cockpit, Karpathy's recipe); where a value differs from
the published one, the comment says why. They were tuned on ``benchmarks/doctor/``
(faulty scripts, their corrected twins and healthy runs), not on single tests.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """The doctor's decision thresholds and sampling cadence.

    Example:
        >>> Thresholds().heavy_every
        16
        >>> Thresholds(heavy_every=32).heavy_every
        32
    """

    # Cadence (Cockpit: cheap norms every step, per-layer statistics every >= 16 steps).
    heavy_every: int = 16
    heavy_first: int = 3  # the first steps are sampled too: preflight problems show there
    # The total gradient norm is read every grad_every steps, and every step while it is high
    # or the loss is not finite (reading it is a pass over all gradients: ~2% of an MLP step).
    # A NaN gradient on a step in between shows as a non-finite loss one step later, traced to
    # the first layer whose output went bad, instead of as a nonfinite-gradients finding.
    grad_every: int = 4

    # TW-A07 loss at init: Karpathy's recipe expects ln K; we flag only a clear excess.
    init_loss_ratio: float = 3.0

    # TW-D08 inputs: AutoTrainer flags mean |activation| >= 10; UMLAUT's [-1, 1] rule is
    # noisy (it fires on most healthy models), so only the scale of 10 is used.
    input_scale: float = 10.0
    # ... unless the layer feeds a batch/instance norm, which removes one common scale and every
    # per-feature offset: then only features whose stds differ by more than this factor
    # (median over the non-constant ones to the largest), or a scale so large that float32
    # loses the signal's digits, still make the inputs a fault.
    input_norm_spread: float = 10.0
    input_norm_max_scale: float = 1e4

    # TW-D12 label order: within-batch label diversity relative to what random batches of
    # the same size would show (1.0 = as shuffled).
    label_order_ratio: float = 0.5
    label_order_min_batches: int = 8

    # TW-X03 exploding gradients: AutoTrainer's ||g_first|| / ||g_last|| > 70, and a
    # step-to-step jump of the total norm against its recent median.
    explode_layer_ratio: float = 70.0
    grad_spike_factor: float = 50.0
    loss_spike_factor: float = 5.0
    # ... for this many steps in a row, each undoing this fraction of the first loss. One
    # hard batch is not a spike: with batch 16 a single confidently wrong example lifted one
    # step to 0.49-0.51 over a median of 0.01-0.03 in healthy breast_cancer fits.
    spike_steps: int = 2
    spike_rise: float = 0.5
    spike_window: int = 20
    spike_warmup: int = 10
    grad_spike_warmup: int = 3
    grad_spike_floor: float = 5.0  # a jump must also reach 5x the starting norm
    grad_spike_steps: int = 2  # ... on this many consecutive measured steps
    grad_growth_before_nan: float = 10.0  # NaN after 10x growth counts as an explosion

    # TW-X04 vanishing gradients (AutoTrainer beta1) and dead / saturated units.
    vanish_layer_ratio: float = 1e-3
    vanish_first_norm: float = 1e-4
    dead_fraction: float = 0.7  # AutoTrainer gamma / DeepDiagnosis: >= 70 % of units
    # ... a fault (warning) when (nearly) all are dead, or when the training loss has not
    # fallen by dead_learning_fall from its start within dead_wait_steps; a mostly dead layer
    # in a run whose loss falls that much is capacity left unused (an info note).
    dead_all_fraction: float = 0.9
    dead_learning_fall: float = 0.25
    dead_wait_steps: int = 48  # three heavy samples at the default cadence
    saturated_fraction: float = 0.5  # DeepDiagnosis: > 50 % of |pre-activation| >= 5
    saturation_level: float = 5.0
    layer_samples: int = 2  # heavy samples in a row a layer must show the problem

    # TW-X05 learning rate too high: divergence and oscillation.
    diverge_factor: float = 2.0
    diverge_window: int = 10
    # ... and, once `diverge_past_min` losses precede the recent window, above the median of
    # the `diverge_past` losses before it by their own scatter: their 90th percentile over
    # their median, at least 3x and at most 6x (check_divergence explains the bounds).
    diverge_past: int = 50
    diverge_past_min: int = 20
    diverge_noise_quantile: float = 0.9
    diverge_noise_min: float = 3.0
    diverge_noise_max: float = 6.0
    oscillation_window: int = 40
    oscillation_swing: float = 0.3
    high_update_ratio: float = 0.1  # DeepDiagnosis: effective update outside [1e-5, 1e-1]

    # TW-X06 learning rate too low: tiny ||dW|| / ||W|| while the loss stays near its start.
    low_update_ratio: float = 1e-5
    plateau_min_steps: int = 50
    plateau_progress: float = 0.9

    # TW-X08 parameters that never get a gradient or never change.
    dead_param_samples: int = 3

    # Validation-based checks, per epoch.
    overfit_epochs: int = 3  # epochs of rising validation loss after its minimum (TW-X07)
    overfit_rise: float = 0.1  # each of those epochs >= 10 % above the best ...
    overfit_range: float = 0.1  # ... and the rise >= 10 % of the drop from epoch 0 to best
    # ... and validation has stayed above its best for more epochs than an early-stopping
    # patience lets it (usual patience 3-10 epochs; Prechelt 1998, "Early stopping - but
    # when?"): a script that stops itself after its patience is early stopping at work.
    overfit_patience: int = 10
    val_better_ratio: float = 0.5  # val loss < half the train loss (TW-D06)
    val_better_min_epoch: int = 2
    val_better_floor: float = 0.05  # ... while train loss is above 5 % of epoch 0's
    still_improving: float = 0.01  # last epoch improved validation loss by > 1 % (TW-T04)
    early_stop_epochs: int = 3
    # ... unless validation rose gently (to at most this times its best) for 2+ epochs while
    # training loss fell each epoch: early stopping catching overfitting as it begins.
    early_stop_overfit_rise: float = 1.5

    # Model left in eval mode: training steps seen with every dropout / norm layer in eval.
    eval_mode_steps: int = 3
