"""Run every audit check on a dataset (and its splits) and present the findings.

``run_audit`` is what ``trainwell audit`` and ``trainwell fit`` call; ``audit_steps`` exposes
the same checks one by one, so the speed benchmark can time each.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pandas as pd

from trainwell.audit import columns, labels, leakage, privacy, quality, shift, target_leakage
from trainwell.audit._common import as_float, columns_of_kind, model_matrix, natural_repeats
from trainwell.audit.signatures import ExactRowSignature, RoundedRowSignature
from trainwell.config import AuditConfig, TrainConfig
from trainwell.data import Dataset
from trainwell.errors import LeakageError
from trainwell.findings import Finding, sort_findings
from trainwell.split import Splits

Step = tuple[str, Callable[[], list[Finding]]]


def _some(*found: Finding | None) -> list[Finding]:
    return [f for f in found if f is not None]


def _quality_steps(dataset: Dataset, cfg: AuditConfig, train: TrainConfig, seed: int) -> list[Step]:
    frame, limit = dataset.frame, cfg.evidence_limit
    features = columns_of_kind(dataset)
    numeric = columns_of_kind(dataset, "numeric")
    text = columns_of_kind(dataset, "categorical")
    steps: list[Step] = [
        (
            "duplicate-rows",
            lambda: _some(
                quality.check_duplicate_rows(
                    frame, limit, natural=natural_repeats(dataset, across_splits=False)
                )
            ),
        ),
        (
            "missing-values",
            lambda: _some(
                quality.check_missing_values(frame, features, cfg.missing_warn_fraction, limit)
            ),
        ),
        (
            "constant-columns",
            lambda: _some(
                columns.check_constant_columns(frame, features),
                columns.check_near_constant_columns(
                    frame,
                    features,
                    cfg.near_constant_ratio,
                    cfg.near_constant_unique_fraction,
                    limit,
                ),
            ),
        ),
        ("id-like-column", lambda: _some(columns.check_id_like_columns(frame, numeric + text))),
        (
            "high-cardinality",
            lambda: _some(columns.check_high_cardinality(frame, text, cfg.high_cardinality, limit)),
        ),
        ("outliers", lambda: _some(quality.check_outliers(frame, numeric, cfg.outlier_z, limit))),
        (
            "personal-data",
            lambda: _some(
                privacy.check_personal_data(frame, features, text, cfg.personal_data_fraction)
            ),
        ),
    ]
    if dataset.is_classification:
        assert dataset.classes is not None
        classes = dataset.classes
        steps += [
            (
                "class-imbalance",
                lambda: _some(
                    labels.check_class_imbalance(
                        dataset.y, classes, train.class_weights, train.imbalance_ratio
                    )
                ),
            ),
            (
                "label-errors",
                lambda: _some(
                    labels.check_label_errors(
                        model_matrix(frame, dataset, features),
                        dataset.y,
                        classes,
                        max_rows=cfg.label_error_max_rows,
                        warn_fraction=cfg.label_error_warn_fraction,
                        limit=limit,
                        seed=seed,
                    )
                ),
            ),
        ]
    return steps


def _near_frame(dataset: Dataset, features: list[str]) -> pd.DataFrame:
    """Feature columns with numbers as floats, so numbers read from text round like numbers."""
    kinds = {c.name: c.kind for c in dataset.features}
    return pd.DataFrame(
        {
            c: as_float(dataset.frame[c]) if kinds[c] == "numeric" else dataset.frame[c]
            for c in features
        },
        index=dataset.frame.index,
    )


def _duplicates_across(dataset: Dataset, splits: Splits, cfg: AuditConfig) -> list[Finding]:
    features = columns_of_kind(dataset)
    natural = natural_repeats(dataset, across_splits=True)
    exact, masks = leakage.check_rows_across_splits(
        dataset.frame[features],
        splits,
        ExactRowSignature(),
        error_fraction=cfg.shared_rows_error_fraction,
        limit=cfg.evidence_limit,
        natural=natural,
    )
    near, _ = leakage.check_rows_across_splits(
        _near_frame(dataset, features),
        splits,
        RoundedRowSignature(cfg.near_duplicate_digits),
        exclude=[masks[name] for name in leakage.HELD_OUT],
        error_fraction=cfg.shared_rows_error_fraction,
        limit=cfg.evidence_limit,
        natural=natural,
    )
    return _some(exact, near)


def _groups_across(dataset: Dataset, splits: Splits, cfg: AuditConfig) -> list[Finding]:
    frame, limit = dataset.frame, cfg.evidence_limit
    if dataset.group is not None:
        return _some(
            leakage.check_groups_across_splits(
                frame[dataset.group], splits, declared=True, limit=limit
            ),
            leakage.check_few_groups_per_split(frame[dataset.group], splits),
        )
    candidates = [
        c
        for c in columns_of_kind(dataset, "numeric", "categorical")
        if leakage.looks_like_group_key(frame[c], c)
    ]
    return _some(
        *(
            leakage.check_groups_across_splits(frame[c], splits, declared=False, limit=limit)
            for c in candidates
        )
    )


def _shift(dataset: Dataset, splits: Splits) -> list[Finding]:
    return _some(
        shift.check_label_shift(dataset.y, dataset.classes, splits),
        shift.check_feature_shift(
            dataset.frame,
            columns_of_kind(dataset, "numeric"),
            columns_of_kind(dataset, "categorical", "boolean"),
            splits,
        ),
    )


def _target_leakage(
    dataset: Dataset, splits: Splits | None, cfg: AuditConfig, seed: int
) -> list[Finding]:
    # The sealed test split is never looked at for fitting anything, not even these trees.
    rows = (
        np.sort(np.concatenate([splits.train, splits.validation]))
        if splits is not None
        else np.arange(dataset.n_rows)
    )
    features = model_matrix(dataset.frame.iloc[rows], dataset, columns_of_kind(dataset))
    return _some(
        target_leakage.check_target_leakage(
            features,
            dataset.y[rows],
            dataset.task,
            skill=cfg.target_leakage_skill,
            r2=cfg.target_leakage_r2,
            rank=cfg.target_leakage_rank,
            max_rows=cfg.target_leakage_max_rows,
            seed=seed,
        )
    )


def audit_steps(
    dataset: Dataset,
    splits: Splits | None = None,
    *,
    config: AuditConfig | None = None,
    train: TrainConfig | None = None,
    seed: int = 0,
) -> list[Step]:
    """The audit's checks as ``(name, run)`` pairs, in the order :func:`run_audit` runs them.

    Split checks (rows, groups and time across splits) are left out when ``splits`` is None.
    """
    cfg = config or AuditConfig()
    steps = _quality_steps(dataset, cfg, train or TrainConfig(), seed)
    steps.append(("target-leakage", lambda: _target_leakage(dataset, splits, cfg, seed)))
    if splits is None:
        return steps
    steps += [
        ("duplicates-across-splits", lambda: _duplicates_across(dataset, splits, cfg)),
        ("groups-across-splits", lambda: _groups_across(dataset, splits, cfg)),
        ("shift-between-splits", lambda: _shift(dataset, splits)),
    ]
    if dataset.time is not None:
        time_column = dataset.time
        steps.append(
            (
                "time-order",
                lambda: _some(
                    leakage.check_time_order(
                        dataset.frame[time_column], splits, limit=cfg.evidence_limit
                    )
                ),
            )
        )
    return steps


def run_audit(
    dataset: Dataset,
    splits: Splits | None = None,
    *,
    config: AuditConfig | None = None,
    train: TrainConfig | None = None,
    seed: int = 0,
) -> list[Finding]:
    """Audit the data (TW-D01, D02, D11, R03) and, given splits, leakage between them (TW-D06).

    Args:
        dataset: the typed dataset from ``build_dataset``; its own findings (e.g.
            ``missing-target``) come first in the result.
        splits: the actual train/validation/test split; without it only the data checks and
            target leakage run (``trainwell audit`` before splitting).
        config: audit thresholds (``FitConfig.audit``).
        train: the training config, for how class imbalance is handled (``FitConfig.train``).
        seed: seeds sampling and the small models inside the checks.

    Returns:
        Every finding, errors first, then warnings, then info.

    Example:
        >>> from sklearn.datasets import load_wine
        >>> from trainwell.config import DataConfig
        >>> from trainwell.data import build_dataset
        >>> frame = load_wine(as_frame=True).frame
        >>> data = build_dataset(frame, DataConfig(target="target"), "wine", "-")
        >>> [f.id for f in run_audit(data) if f.severity != "info"]
        []
    """
    findings = list(dataset.findings)
    for _, run in audit_steps(dataset, splits, config=config, train=train, seed=seed):
        findings.extend(run())
    return sort_findings(findings)


def stop_on_errors(findings: list[Finding], allow: list[str]) -> None:
    """Stop the run at an error finding the user has not allowed (``--allow ID``).

    Raises:
        LeakageError: one line naming the first blocking finding, its fix and the ``--allow``
            options that would let the run proceed.
    """
    blocking = [f for f in findings if f.severity == "error" and f.id not in allow]
    if not blocking:
        return
    first = blocking[0]
    ids = sorted({f.id for f in blocking})
    # A fix that already names its --allow is not told it again.
    missing = [i for i in ids if f"--allow {i}" not in first.fix]
    raise LeakageError(
        f"the audit stopped the run: {first.id} ({first.practice}): {first.message} "
        f"Fix: {first.fix.rstrip('.')}."
        + (" To proceed knowingly: " + " ".join(f"--allow {i}" for i in missing) if missing else "")
        + (
            f" ({len(blocking)} blocking findings; see `trainwell audit`)"
            if len(blocking) > 1
            else ""
        )
    )


def format_findings_table(findings: list[Finding], width: int = 120) -> str:
    """The findings as a plain-text table for the terminal (no colour codes).

    Example:
        >>> print(format_findings_table([]))
        No findings: the audit found nothing to report.
    """
    if not findings:
        return "No findings: the audit found nothing to report."
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True, expand=False)
    table.add_column("severity", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("practice", no_wrap=True)
    table.add_column("message", ratio=3)
    table.add_column("fix", ratio=2)
    for f in findings:
        table.add_row(f.severity, f.id, f.practice, f.message, f.fix)
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(table)
    return buffer.getvalue().rstrip("\n")
