"""A/B tests of a candidate model against the served one (TW-P07).

Routing is sticky: a request's key (the ``X-Trainwell-Key`` header or the body's ``key``
field; a user or session id) is hashed with sha256, and the same key always lands on the same
variant, so one user never flips between models. Without a key a request goes to a random
variant. In shadow mode the candidate sees every request but answers none.

The verdict is a fixed-horizon test (chosen over a sequential one because its error rates hold
without a spending plan, as long as nobody stops early): nothing is said until both variants
have ``horizon`` labelled predictions; then Fisher's exact test (``scipy.stats.fisher_exact``)
on the 2×2 table of right and wrong answers for classification, or Welch's t-test
(``scipy.stats.ttest_ind``) on absolute errors for regression, at ``alpha``. Peeking before
the horizon only ever reads "too early to say".
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

CONTROL, CANDIDATE = "A", "B"
HORIZON = 200  # labelled predictions per variant before the test is read
ALPHA = 0.05


def route(key: str | None, split: float) -> str:
    """The variant answering a request: ``B`` for a ``split`` share of keys, else ``A``."""
    if split <= 0:
        return CONTROL
    if key is None:
        return CANDIDATE if random.random() < split else CONTROL  # routing, not security
    digest = hashlib.sha256(key.encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return CANDIDATE if share < split else CONTROL


@dataclass
class Verdict:
    """``verdict``: ``better`` / ``worse`` (the candidate, B, against A), ``no difference
    detected``, ``too early to say`` or ``no feedback``."""

    verdict: str
    reason: str
    n: dict[str, int]
    score: dict[str, float | None]  # accuracy (classification) or mean absolute error
    p_value: float | None
    horizon: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_right(prediction: Any, label: Any) -> bool:
    """A classification prediction equals its label (compared as text: JSON may give
    ``1`` for the class ``"1"``)."""
    return str(prediction) == str(label)


def ab_verdict(
    pairs: Iterable[tuple[str, Any, Any]],
    *,
    regression: bool,
    horizon: int = HORIZON,
    alpha: float = ALPHA,
) -> Verdict:
    """The A/B verdict from (variant, prediction, label) triples of labelled predictions."""
    scores: dict[str, list[float]] = {CONTROL: [], CANDIDATE: []}
    for variant, prediction, label in pairs:
        if variant not in scores:
            continue
        if regression:
            scores[variant].append(abs(float(prediction) - float(label)))
        else:
            scores[variant].append(float(is_right(prediction, label)))
    a, b = np.asarray(scores[CONTROL]), np.asarray(scores[CANDIDATE])
    n = {CONTROL: len(a), CANDIDATE: len(b)}
    score = {k: (float(v.mean()) if len(v) else None) for k, v in ((CONTROL, a), (CANDIDATE, b))}
    if not len(a) and not len(b):
        return Verdict("no feedback", "no labelled predictions yet", n, score, None, horizon)
    if min(n.values()) < horizon:
        return Verdict(
            "too early to say",
            f"{n[CONTROL]} and {n[CANDIDATE]} labelled predictions for A and B; the test is "
            f"read at {horizon} each",
            n,
            score,
            None,
            horizon,
        )
    if regression:
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        b_better = score[CANDIDATE] is not None and score[CANDIDATE] < score[CONTROL]  # type: ignore[operator]
        what = "mean absolute error"
    else:
        table = [[a.sum(), len(a) - a.sum()], [b.sum(), len(b) - b.sum()]]
        p = float(stats.fisher_exact(table).pvalue)
        b_better = score[CANDIDATE] is not None and score[CANDIDATE] > score[CONTROL]  # type: ignore[operator]
        what = "accuracy"
    if math.isnan(p) or p >= alpha:
        return Verdict(
            "no difference detected",
            f"{what} A {score[CONTROL]:.3f} vs B {score[CANDIDATE]:.3f}, p = {p:.3g} ≥ {alpha}",
            n,
            score,
            p,
            horizon,
        )
    return Verdict(
        "better" if b_better else "worse",
        f"{what} A {score[CONTROL]:.3f} vs B {score[CANDIDATE]:.3f}, p = {p:.3g} < {alpha}",
        n,
        score,
        p,
        horizon,
    )
