"""Root cause first: a finding that explains others is reported with them as its symptoms.

An output/loss mismatch makes the curve odd and the units look dead; a scheduler stepped
every batch makes the LR look too low; a huge weight decay makes the updates look too large.
Reporting those symptoms as findings of their own sends the user after the wrong fix, so
once a cause is out, the findings it explains are attached to it
(``evidence["symptoms"]``) instead of being reported.
"""

from __future__ import annotations

from trainwell.findings import Finding

_CURVE = frozenset({"divergence", "loss-spike", "oscillation", "lr-too-low", "updates-too-large"})
_UNITS = frozenset({"dead-units", "saturated-units", "vanishing-gradients", "zero-gradients"})

#: cause id -> the finding ids it explains
EXPLAINS: dict[str, frozenset[str]] = {
    "output-loss-mismatch": _CURVE | _UNITS | {"loss-at-init", "exploding-gradients"},
    "loss-broadcast": _CURVE | _UNITS,
    "softmax-over-batch": _CURVE | _UNITS | {"loss-at-init"},
    "rnn-batch-first": _CURVE,
    # Divergence and non-finite values stay findings of their own: they call the fit loop's
    # remedy (restore, lower the LR), which is the right fix here too.
    "lr-too-high": frozenset({"exploding-gradients", "loss-spike", "oscillation"})
    | {"updates-too-large"}
    | _UNITS,
    # Batches read in label order: each batch comes from a new region of the targets, so the
    # loss rises and jumps with the order, not with the LR. (trainwell's own loop always
    # shuffles, so the fit loop's divergence remedy never waits on this cause.)
    "batches-not-shuffled": frozenset({"divergence", "loss-spike", "oscillation"}),
    "lr-decayed-away": frozenset({"lr-too-low", "still-improving"}),
    "weight-decay-too-strong": _CURVE | _UNITS,
    "regularization-too-strong": frozenset({"val-better-than-train", "lr-too-low"}),
    "same-batch": frozenset({"overfitting", "val-better-than-train", "still-improving"}),
    "labels-unlearnable": frozenset({"lr-too-low", "oscillation", "still-improving"}),
    "majority-class": frozenset({"lr-too-low", "oscillation", "still-improving"}),
    "nonfinite-weights": _CURVE | _UNITS,
    # A forgotten zero_grad(): the gradients grow as the sum of every batch so far, so the
    # loss diverges (lowering the LR, the divergence remedy, would only hide it) and the
    # gradient norms look exploding or the LR too high.
    "gradients-not-reset": _CURVE | _UNITS | {"exploding-gradients", "lr-too-high"},
}


class Attribution:
    """Remembers the causes reported so far and files later findings under them.

    Example:
        >>> a = Attribution()
        >>> cause = Finding(id="lr-decayed-away", practice="TW-T03", severity="error",
        ...                 stage="train", message="m", fix="f")
        >>> a.absorb(cause)
        False
        >>> low = Finding(id="lr-too-low", practice="TW-X06", severity="warning",
        ...               stage="train", message="stuck", fix="f", step=60)
        >>> a.absorb(low), cause.evidence["symptoms"][0]["id"]
        (True, 'lr-too-low')
    """

    def __init__(self) -> None:
        self.causes: list[Finding] = []

    def absorb(self, finding: Finding) -> bool:
        """True when an earlier cause explains ``finding`` (now attached to that cause);
        otherwise ``finding`` is remembered if it is a cause itself."""
        for cause in self.causes:
            if finding.id in EXPLAINS[cause.id]:
                symptom = {"id": finding.id, "step": finding.step, "message": finding.message}
                cause.evidence.setdefault("symptoms", []).append(symptom)
                return True
        if finding.id in EXPLAINS:
            self.causes.append(finding)
        return False

    def explained(self, finding_id: str) -> bool:
        """An earlier cause explains findings with this id (checks may skip computing them)."""
        return any(finding_id in EXPLAINS[c.id] for c in self.causes)
