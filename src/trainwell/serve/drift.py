"""Data drift: a window of served values against the training split's profile (TW-P06).

Each input feature, and the predictions, are tested with scipy: the two-sample
Kolmogorov–Smirnov test for numbers (``scipy.stats.ks_2samp``) and the chi-square test of a
2×k contingency table for categories (``scipy.stats.chi2_contingency``), plus the population
stability index (PSI; Siddiqi, *Credit Risk Scorecards*, 2006), which says how large a
shift is where the p-value only says it is not chance. A feature has drifted when both hold:
the p-value is below :data:`ALPHA` and the PSI at least :data:`PSI_DRIFT` (0.2, the usual
"significant shift" threshold). Needing both keeps a large window from flagging a trivially
small shift, and a small one from flagging noise. A window with fewer than :data:`MIN_ROWS`
values is not judged.

PSI is a few lines of numpy: scipy has no PSI, and Evidently (which has) would be a large
dependency for one formula.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from trainwell.serve.profile import OTHER, feature_values, is_numeric

ALPHA = 0.01
PSI_DRIFT = 0.2
MIN_ROWS = 100
WINDOW = 500  # served values per feature that the live server keeps
BINS = 10
EPS = 1e-4  # floor of a bin's share in PSI, so an empty bin is a large term, not infinite
PREDICTION = "(prediction)"  # the name the prediction distribution goes by


@dataclass
class Drift:
    """One feature's drift test: ``test`` is ``ks`` or ``chi2``; ``drifted`` is None when
    the window is too small to judge."""

    feature: str
    test: str
    rows: int
    statistic: float | None
    p_value: float | None
    psi: float | None
    drifted: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins:
    ``sum((a - e) * ln(a / e))``, with shares floored at :data:`EPS`."""
    e = np.maximum(expected / max(expected.sum(), 1), EPS)
    a = np.maximum(actual / max(actual.sum(), 1), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_drift(name: str, reference: np.ndarray, live: np.ndarray) -> Drift:
    """KS test and PSI over the reference's deciles."""
    if len(live) < MIN_ROWS or len(reference) == 0:
        return Drift(name, "ks", len(live), None, None, None, None)
    result = stats.ks_2samp(reference, live)
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, BINS + 1)))
    # Open outer bins: live values beyond the training range land in the first or last bin.
    inner = edges[1:-1]
    if len(edges) == 1:  # a constant reference (every training image 8 px wide): its value
        # is a bin of its own, so live values below or above it are not binned with it
        inner = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    ref_bins = np.bincount(
        np.searchsorted(inner, reference, side="right"), minlength=len(inner) + 1
    )
    live_bins = np.bincount(np.searchsorted(inner, live, side="right"), minlength=len(inner) + 1)
    score = psi(ref_bins.astype(float), live_bins.astype(float))
    p = float(result.pvalue)
    return Drift(name, "ks", len(live), float(result.statistic), p, score, verdict(p, score))


def categorical_drift(name: str, reference: Mapping[str, int], live: pd.Series) -> Drift:
    """Chi-square test of the 2×k table (reference counts, live counts) and PSI."""
    if len(live) < MIN_ROWS or not reference:
        return Drift(name, "chi2", len(live), None, None, None, None)
    known = set(reference)
    mapped = live.where(live.isin(known), OTHER) if OTHER in known else live
    counts = mapped.value_counts()
    levels = sorted(known | set(counts.index))
    table = np.array(
        [[reference.get(k, 0) for k in levels], [int(counts.get(k, 0)) for k in levels]],
        dtype=float,
    )
    score = psi(table[0], table[1])
    if len(levels) < 2:
        return Drift(name, "chi2", len(live), 0.0, 1.0, score, False)
    chi2, p, _, _ = stats.chi2_contingency(table)
    return Drift(name, "chi2", len(live), float(chi2), float(p), score, verdict(float(p), score))


def verdict(p_value: float, score: float) -> bool:
    return p_value < ALPHA and score >= PSI_DRIFT


def compare(name: str, reference: Mapping[str, Any], live: Iterable[Any]) -> Drift:
    """Test ``live`` raw values of one feature against its profile entry ``reference``."""
    kind = reference["kind"]
    values = feature_values(kind, pd.Series(list(live), dtype=object))
    if is_numeric(kind):
        return numeric_drift(name, np.asarray(reference["sample"], dtype=float), values.to_numpy())
    return categorical_drift(name, reference["counts"], values)


def drift_report(profile: Mapping[str, Any], columns: Mapping[str, list[Any]]) -> list[Drift]:
    """Every profiled feature (and :data:`PREDICTION`) that ``columns`` holds values for."""
    references = {**profile["features"], PREDICTION: profile["prediction"]}
    return [compare(name, ref, columns.get(name, [])) for name, ref in references.items()]


class DriftWindow:
    """The last ``size`` served values of every feature and of the predictions, thread-safe
    (the batch worker appends, the metrics endpoint reads)."""

    def __init__(self, profile: Mapping[str, Any], size: int = WINDOW) -> None:
        self.profile = profile
        names = [*profile["features"], PREDICTION]
        self._values: dict[str, deque[Any]] = {n: deque(maxlen=size) for n in names}
        self._lock = threading.Lock()

    def add(self, columns: Mapping[str, Iterable[Any]], predictions: Iterable[Any]) -> None:
        """Append served values (feature → one raw value per row) and their predictions."""
        with self._lock:
            for name in self.profile["features"]:
                self._values[name].extend(columns.get(name, ()))
            self._values[PREDICTION].extend(predictions)

    def report(self) -> list[Drift]:
        with self._lock:
            columns = {name: list(values) for name, values in self._values.items()}
        return drift_report(self.profile, columns)
