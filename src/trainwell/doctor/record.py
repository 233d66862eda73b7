"""The signals the probes collect, as plain numbers the checks read.

Probes write here; checks read from here; nothing in this module touches a tensor. Keeping
the history as floats makes every check a pure function of numbers, testable without a model.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch: mean training loss and validation loss (either may be unknown)."""

    epoch: int
    train_loss: float | None
    val_loss: float | None


@dataclass
class LayerSample:
    """Heavy per-layer statistics of one sampled step (names are parameter or module names)."""

    step: int
    grad_norms: dict[str, float] = field(default_factory=dict)  # weights (ndim >= 2), in order
    zero_grad_rows: dict[str, float] = field(default_factory=dict)  # fraction of dead rows
    update_ratios: dict[str, float] = field(default_factory=dict)  # ||dW|| / ||W||
    no_grad: list[str] = field(default_factory=list)  # None or all-zero gradient, in order
    dead_units: dict[str, float] = field(default_factory=dict)  # activation modules
    saturated: dict[str, float] = field(default_factory=dict)  # sigmoid / tanh modules

    def median_update_ratio(self) -> float | None:
        # Read many times per check step and fixed once the step's updates are in: cached
        # with the count it was computed from (outside the dataclass fields, so not saved).
        n = len(self.update_ratios)
        cached = self.__dict__.get("_median")
        if cached is not None and cached[0] == n:
            return cached[1]
        values = [v for v in self.update_ratios.values() if math.isfinite(v)]
        median = statistics.median(values) if values else None
        self.__dict__["_median"] = (n, median)
        return median


class LossCurve:
    """Per-step training losses with the few running summaries the curve checks need.

    Example:
        >>> curve = LossCurve(window=3)
        >>> for v in [4.0, 3.0, 2.0, 1.0, 1.0, 1.0]:
        ...     curve.append(v)
        >>> curve.start, curve.best_smoothed
        (2.0, 1.0)
    """

    def __init__(self, window: int = 10, start_steps: int = 5) -> None:
        self.window = window
        self.start_steps = start_steps
        self.values: list[float] = []
        self.best_smoothed = math.inf
        self._start: float | None = None
        self._scanned = 0  # values[:_scanned] were checked for non-finite ones ...
        self._nonfinite = 0  # ... and this many were

    def _any_nonfinite(self) -> bool:
        values = self.values
        if self._scanned > len(values):  # the list was replaced (a resumed run)
            self._scanned = self._nonfinite = 0
        for v in values[self._scanned :]:
            if not math.isfinite(v):
                self._nonfinite += 1
        self._scanned = len(values)
        return self._nonfinite > 0

    def append(self, loss: float) -> None:
        values = self.values
        if self._scanned == len(values):  # counted here, so recent() need not scan again
            self._scanned += 1
            if not math.isfinite(loss):
                self._nonfinite += 1
        values.append(loss)
        if len(values) % 2:  # every other step is enough for a smoothed minimum
            return
        clean = self._scanned == len(values) and not self._nonfinite
        recent = values[-self.window :] if clean else self.recent(self.window)
        if len(recent) == self.window:
            self.best_smoothed = min(self.best_smoothed, statistics.median(recent))

    def recent(self, n: int) -> list[float]:
        """The last ``n`` finite losses (fewer if fewer exist)."""
        tail = self.values[-n:]
        if not self._any_nonfinite() or all(map(math.isfinite, tail)):  # the usual case
            return tail
        out: list[float] = []
        for v in reversed(self.values):
            if math.isfinite(v):
                out.append(v)
                if len(out) == n:
                    break
        out.reverse()
        return out

    def past(self, skip: int, n: int) -> list[float]:
        """The ``n`` finite losses before the last ``skip`` steps (fewer if fewer exist)."""
        end = len(self.values) - skip
        window = self.values[max(0, end - n) : max(0, end)]
        return window if not self._any_nonfinite() else [v for v in window if math.isfinite(v)]

    @property
    def start(self) -> float | None:
        """Median of the first finite losses: the level training started from."""
        if self._start is not None and len(self.values) >= self.start_steps:
            return self._start  # fixed once the first steps are in (read every step)
        first = [v for v in self.values[: self.start_steps] if math.isfinite(v)]
        self._start = statistics.median(first) if first else None
        return self._start

    def __len__(self) -> int:
        return len(self.values)
