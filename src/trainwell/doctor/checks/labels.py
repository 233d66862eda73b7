"""Labels that do not belong to their inputs: the same batch every step, a loss stuck at
what the label frequencies alone give, the target among the input features, validation rows
taken from the training set."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainwell.findings import Finding


def check_same_batch(
    labels: Sequence[np.ndarray], step: int | None = None, dataset_rows: int | None = None
) -> Finding | None:
    """The last 8 batches have identical labels, in the same order, while the data loader
    holds more rows than one batch (TW-X09): the loop feeds one batch again and again
    (``next(iter(loader))`` outside the loop, a slice that never moves).

    ``dataset_rows`` is the largest dataset a DataLoader iterated; without it (full-batch
    training on tensors looks the same) nothing is reported.
    """
    recent = list(labels[-8:])
    if len(recent) < 8 or dataset_rows is None:
        return None
    first = recent[0]
    if first.size < 4 or len(np.unique(first)) < 2 or dataset_rows <= first.shape[0]:
        return None
    if not all(a.shape == first.shape and np.array_equal(a, first) for a in recent[1:]):
        return None
    return Finding(
        id="same-batch",
        practice="TW-X09",
        severity="error",
        stage="train",
        step=step,
        message=f"The same batch is trained on every step: the last {len(recent)} batches have "
        f"identical labels in identical order, though the data loader holds {dataset_rows} "
        f"rows ({first.shape[0]} per batch).",
        evidence={"batches": len(recent), "batch_rows": int(first.shape[0]), "rows": dataset_rows},
        fix="Draw a new batch each step: iterate `for x, y in loader:` inside the epoch loop "
        "(not a `next(iter(loader))` taken once), and advance the slice index.",
    )


# A loss that fell this share of its level over the second half of the steps so far is still on
# its way down, not settled at the label baseline (see check_stuck_at_baseline).
STILL_FALLING = 0.02
# Settled at the label baseline: within this factor of it over the second quarter of the steps.
SETTLED = 1.03


def check_stuck_at_baseline(
    step: int,
    level: float,
    baseline: float,
    majority: float,
    classification: bool,
    epoch: int | None = None,
    earlier: float | None = None,
    quarter: float | None = None,
) -> Finding | None:
    """The loss settled at what the label frequencies alone give (TW-X09 / TW-D11).

    ``level`` is the recent training loss; ``earlier`` the loss half the steps ago (both
    medians of a window of steps); ``quarter`` the median loss over the second quarter of the
    steps so far; ``baseline`` the loss of predicting the class frequencies
    (cross-entropy: their entropy, in nats) or the mean (MSE: the target variance);
    ``majority`` the share of the largest class. Reported when the level is within 5 % of
    the baseline or above it.

    With a dominant class (>= 75 %) the model is no better than predicting that class: fix
    the imbalance (class weights, resampling); judged at once, as a loss on its way down to
    the prior's entropy (a weak signal, a small LR: ``imbalance-fraud-oversample`` in
    ``benchmarks/doctor``, 0.23 against 0.165 at step 152, still falling) is what such a
    model does, and the fix helps it either way.

    Otherwise the error says the inputs carry nothing about the labels (shuffled or indexed
    apart), a claim about the data that a loss still falling cannot support: a model on many
    classes first learns their frequencies and only then the inputs (a word-level language
    model sits near the unigram entropy for an epoch or two while its loss keeps falling).
    So a level that still fell ``STILL_FALLING`` of ``earlier`` since then is judged once the
    descent stops, under the baseline too: the language model crosses it on its way down
    (6.275 against 6.28 at step 256 of pytorch/examples' ``word_language_model``, 5.5-5.7 in
    epoch 5), while labels shuffled apart from their inputs drift under it only by
    memorizing, slowly (``benchmarks/doctor``'s labels cases: reported at steps 152-172).

    Settled also means it was there before: ``quarter`` within ``SETTLED`` of the baseline.
    Predicting the label frequencies takes only the output layer's bias, so labels apart from
    their inputs bring the loss there early and keep it there (the labels cases above: their
    second quarters at 0.99-1.011 of the baseline). A model that arrives only now is learning
    slowly, not stuck: the PyTorch seq2seq tutorial's ``train()`` (one pair per step, SGD at
    lr 0.01; ``benchmarks/doctor/scripts/healthy-seq2seq-summed.py``) sits flat 6% above the
    tokens' entropy through step 200, reaches it near step 700 (where its medians of 20 steps
    scatter by +-2%, so the fall alone cannot tell), and is 9% under it by step 1,400.
    """
    if not (baseline > 0) or level < 0.95 * baseline:
        return None
    if classification and majority >= 0.75:
        return Finding(
            id="majority-class",
            practice="TW-D11",
            severity="warning",
            stage="train",
            step=step,
            epoch=epoch,
            message=f"The model predicts the majority class: {majority:.0%} of labels are one "
            f"class and the loss ({level:.3g}) sits at the {baseline:.3g} of predicting the "
            "class frequencies for every input.",
            evidence={"loss": level, "baseline": baseline, "majority_share": majority},
            fix="Counter the class imbalance: CrossEntropyLoss(weight=...) with inverse class "
            "frequencies (pos_weight for BCEWithLogitsLoss) or a WeightedRandomSampler, and "
            "judge by balanced accuracy / F1, not accuracy.",
        )
    if quarter is not None and quarter > SETTLED * baseline:
        return None
    if earlier is not None and earlier - level >= STILL_FALLING * earlier:
        return None
    what = "class frequencies" if classification else "mean target"
    return Finding(
        id="labels-unlearnable",
        practice="TW-X09",
        severity="error",
        stage="train",
        step=step,
        epoch=epoch,
        message=f"After {step} steps the loss ({level:.3g}) is no better than predicting the "
        f"{what} for every input ({baseline:.3g}): the inputs carry no information about "
        "their labels.",
        evidence={"loss": level, "baseline": baseline},
        fix="Check that inputs and labels stay paired: shuffle them with one permutation "
        "(or through one Dataset), index both with the same ids, and look at a few "
        "(input, label) pairs.",
    )


def check_target_in_features(columns: Sequence[int], layer: str) -> Finding | None:
    """An input column determines the target exactly: the target (or a copy) was left among
    the features (TW-D06). Fix: drop it from the inputs."""
    if not columns:
        return None
    return Finding(
        id="target-in-features",
        practice="TW-D06",
        severity="error",
        stage="preflight",
        step=0,
        message=f"Input feature{'s' if len(columns) > 1 else ''} "
        f"{', '.join(map(str, columns))} of {layer} determine the target exactly: the target "
        "(or a copy of it) is among the input features.",
        evidence={"columns": list(columns), "layer": layer},
        fix="Drop the target column from the features (X = df.drop(columns=[target])) before "
        "building the inputs.",
    )


# Validation rows expected to be new (absent from training) without a leak, below which a leak
# cannot be told from chance: with none of 8 expected new rows new, p = e^-8 < 0.001 (Poisson).
_MIN_NEW_ROWS = 8


def check_val_overlap(
    overlap: float, n_val: int, step: int | None = None, chance: float = 0.0
) -> Finding | None:
    """Most validation rows are copies of training rows, beyond what the training rows' own
    repeats explain: validation is drawn from the training set, so it measures memorization
    (TW-D06).

    ``overlap``: the share of validation rows seen in training; ``chance``: the share a
    held-out sample of the same data would show (:func:`trainwell.doctor.signals.chance_overlap`,
    0 for continuous features). With ``overlap = leaked + (1 - leaked) * chance``, at least
    half the validation rows must be leaked copies. Data whose rows repeat by nature (one
    scalar per time step, few distinct values) overlaps by chance; where fewer than
    ``_MIN_NEW_ROWS`` validation rows would be new even without a leak, a copy cannot be told
    from chance and nothing is reported.
    """
    if n_val < 16 or overlap < 0.5 or n_val * (1.0 - chance) < _MIN_NEW_ROWS:
        return None
    leaked = (overlap - chance) / (1.0 - chance)
    if leaked < 0.5:
        return None
    by_chance = f" ({chance:.0%} would match by chance: training rows repeat)" if chance else ""
    return Finding(
        id="validation-overlaps-train",
        practice="TW-D06",
        severity="error",
        stage="train",
        step=step,
        message=f"{overlap:.0%} of the {n_val} validation rows are identical to training rows"
        f"{by_chance}: the validation set is drawn from the training set.",
        evidence={
            "overlap": overlap,
            "validation_rows": n_val,
            "chance_overlap": chance,
            "leaked_share": leaked,
        },
        fix="Split before training and validate on held-out rows only (random_split / "
        "train_test_split once; build the validation loader from the held-out part).",
    )
