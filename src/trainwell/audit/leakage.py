"""Leakage between the actual splits (TW-D06): shared rows, shared groups, rows from the past.

A validation or test row that also sits in train (exactly or nearly), belongs to a group
that train has seen, or is older than the training data, makes the held-out score
optimistic. Each check is a pure function of the rows and the split indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from trainwell.audit._common import capped, name_tokens
from trainwell.audit.signatures import RowSignature, matches
from trainwell.findings import Finding, Severity
from trainwell.split import Splits

HELD_OUT = ("validation", "test")
# Words that make a column name read as the key of related rows (one patient, one user …).
GROUP_WORDS = frozenset(
    {
        "id", "uid", "uuid", "guid", "key", "patient", "subject", "user", "customer", "client",
        "session", "participant", "person", "account", "household", "device", "member",
        "player", "family", "individual", "animal", "visitor", "author", "speaker",
    }
)  # fmt: skip
# A group key repeats: on average at least this many rows per value.
MIN_ROWS_PER_GROUP = 2.0
# ... and has enough distinct values to be about individuals, not a handful of categories.
MIN_GROUPS = 10


def check_rows_across_splits(
    frame: pd.DataFrame,
    splits: Splits,
    signature: RowSignature,
    *,
    exclude: Sequence[np.ndarray] = (),
    error_fraction: float = 0.10,
    limit: int = 20,
    natural: str | None = None,
) -> tuple[Finding | None, dict[str, np.ndarray]]:
    """Validation and test rows that match a training row under ``signature``.

    An error when more than ``error_fraction`` of a held-out split matches (Deepchecks'
    TrainTestSamplesMix default), otherwise a warning; a note (info) when ``natural`` says
    why the matches are not copies (:func:`trainwell.audit._common.natural_repeats`).
    Remedy: drop the copies before splitting (``df.drop_duplicates()``), or split by the
    column that ties them with ``--group COL``; to proceed knowingly, ``--allow <finding
    id>``.

    Args:
        frame: the feature columns of every row.
        splits: the split to check.
        signature: exact or near matching (see :mod:`trainwell.audit.signatures`).
        exclude: per held-out split, a boolean mask of rows to leave out (the near check
            passes the exact matches, so each row is reported once).
        natural: why identical features are the data's nature here, if they are.
        error_fraction: share of a held-out split above which the finding is an error.
        limit: (held-out row, train row) pairs listed per split.

    Returns:
        The finding (``duplicate-across-splits`` or ``near-duplicate-across-splits``) or
        ``None``, and per held-out split the boolean mask of its matching rows.
    """
    train_keys = signature.keys(frame.iloc[splits.train])
    per_split: dict[str, Any] = {}
    masks: dict[str, np.ndarray] = {}
    for i, name in enumerate(HELD_OUT):
        rows = splits.indices(name)
        found = matches(train_keys, signature.keys(frame.iloc[rows]))
        hit = found >= 0
        if i < len(exclude):
            hit &= ~exclude[i]
        masks[name] = hit
        if hit.any():
            per_split[name] = {
                "rows": int(hit.sum()),
                "fraction": round(float(hit.mean()), 6),
                "pairs": [
                    [int(r), int(splits.train[t])]
                    for r, t in zip(rows[hit][:limit], found[hit][:limit], strict=True)
                ],
            }
    if not per_split:
        return None, masks
    exact = signature.name == "exact"
    finding_id = "duplicate-across-splits" if exact else "near-duplicate-across-splits"
    worst = max(per_split, key=lambda s: per_split[s]["fraction"])
    fraction = per_split[worst]["fraction"]
    severity: Severity = "error" if fraction > error_fraction else "warning"
    kind = "identical to" if exact else "near-identical to (not exact copies of)"
    counts = " and ".join(
        f"{v['rows']} {s} rows ({v['fraction']:.1%})" for s, v in per_split.items()
    )
    message = f"{counts} have features {kind} a training row."
    if natural is not None:
        severity = "info"
        message += f" Not leakage: {natural}."
    return (
        Finding(
            id=finding_id,
            practice="TW-D06",
            severity=severity,
            stage="audit",
            message=message,
            evidence={
                "signature": signature.name,
                "error_above": error_fraction,
                "not_copies_because": natural,
                "pairs_are": "[held-out row, train row], 0-based row positions",
                **per_split,
            },
            fix="Remove repeated rows before splitting (pandas: df.drop_duplicates()), or "
            "split by the column that ties them: --group COL; to proceed knowingly: "
            f"--allow {finding_id}",
        ),
        masks,
    )


def check_groups_across_splits(
    groups: pd.Series, splits: Splits, *, declared: bool, limit: int = 20
) -> Finding | None:
    """Groups with rows in train and in validation or test.

    With ``--group`` given (``declared``) this is an error: the split promised to keep each
    group in one split. For a column that only looks like a group key it is a warning.
    Remedy: split by the group column with ``--group COL``.

    Returns:
        A ``group-across-splits`` (declared) or ``likely-group-across-splits`` finding, or
        ``None``.
    """
    column = str(groups.name)
    keys = groups.astype("string").fillna("<missing>").to_numpy()
    train_groups = pd.Index(keys[splits.train]).unique()
    per_split: dict[str, Any] = {}
    for name in HELD_OUT:
        held_out = keys[splits.indices(name)]
        shared_rows = pd.Index(held_out).isin(train_groups)
        if shared_rows.any():
            shared = pd.unique(held_out[shared_rows])
            per_split[name] = {
                "groups": len(shared),
                "rows": int(shared_rows.sum()),
                "fraction": round(float(shared_rows.mean()), 6),
                "examples": capped(shared, limit),
            }
    if not per_split:
        return None
    finding_id = "group-across-splits" if declared else "likely-group-across-splits"
    counts = " and ".join(
        f"{v['groups']} {s} groups ({v['rows']} rows)" for s, v in per_split.items()
    )
    if declared:
        message = f"{counts} of --group {column!r} also have rows in train."
        fix = (
            f"Re-split so each {column!r} stays in one split (fit --group {column}), or to "
            f"proceed knowingly: --allow {finding_id}"
        )
    else:
        message = (
            f"{column!r} looks like a group key (values repeat over rows) and {counts} "
            "also appear in train."
        )
        fix = (
            f"If rows sharing a {column!r} are related (one patient, one user), split by it: "
            f"--group {column}; if not, ignore this warning."
        )
    return Finding(
        id=finding_id,
        practice="TW-D06",
        severity="error" if declared else "warning",
        stage="audit",
        message=message,
        evidence={"column": column, "declared": declared, **per_split},
        fix=fix,
    )


# Fewer held-out groups than this and a split's score measures those groups, not unseen ones.
MIN_HELD_OUT_GROUPS = 5


def check_few_groups_per_split(groups: pd.Series, splits: Splits) -> Finding | None:
    """A ``--group`` split whose validation or test split holds fewer than
    :data:`MIN_HELD_OUT_GROUPS` groups (TW-D04): with few groups, whole groups land in one
    split, so the splits' sizes stray from the requested shares and a held-out score rests on
    one or two groups' rows. Found by trying trainwell: ``--group plan`` (4 plans) gave
    371/69/160 rows, the test split all one plan.

    Returns:
        A ``few-groups-per-split`` warning, or ``None``.
    """
    column = str(groups.name)
    keys = groups.astype("string").fillna("<missing>").to_numpy()
    counts = {name: len(pd.unique(keys[splits.indices(name)])) for name in ("train", *HELD_OUT)}
    few = {name: counts[name] for name in HELD_OUT if counts[name] < MIN_HELD_OUT_GROUPS}
    if not few:
        return None
    rows = {name: len(splits.indices(name)) for name in counts}
    total = sum(rows.values())
    shares = "/".join(f"{rows[n] / total:.0%}" for n in rows)
    held = " and ".join(f"{n} holds {k} group{'s' if k > 1 else ''}" for n, k in few.items())
    return Finding(
        id="few-groups-per-split",
        practice="TW-D04",
        severity="warning",
        stage="audit",
        message=f"The split by {column!r} ({len(pd.unique(keys))} groups) is coarse: {held}, "
        f"and the rows fell {shares} into train/validation/test. A score on a few groups "
        "says little about groups the model has not seen.",
        evidence={"column": column, "groups": counts, "rows": rows},
        fix=f"Split by a column with more groups (at least {MIN_HELD_OUT_GROUPS} in each "
        "held-out split), or gather data from more groups; split.cv=K (whole groups per "
        "fold) scores the network on every group once instead of on one split.",
    )


def looks_like_group_key(values: pd.Series, name: str) -> bool:
    """A column named like a key (``patient_id``, ``user``) whose values repeat over rows."""
    if not GROUP_WORDS & set(name_tokens(name)):
        return False
    present = values.dropna()
    n_groups = present.nunique()
    if n_groups < MIN_GROUPS or len(present) / n_groups < MIN_ROWS_PER_GROUP:
        return False
    if pd.api.types.is_float_dtype(present):
        return bool(np.all(np.mod(present.to_numpy(), 1) == 0))  # float IDs are integral
    return True


def check_time_order(stamps: pd.Series, splits: Splits, *, limit: int = 20) -> Finding | None:
    """Validation and test rows older than the newest training row (``--time``).

    A model trained on rows from after the ones it is judged on has seen the future.
    Remedy: let trainwell split by time (``fit --time COL``), which trains on the past only.

    Returns:
        A ``time-order-violation`` error, or ``None``.
    """
    column = str(stamps.name)
    if not pd.api.types.is_numeric_dtype(stamps):
        stamps = pd.to_datetime(stamps, errors="coerce", format="ISO8601")
    values = stamps.to_numpy()
    train_values = stamps.iloc[splits.train].dropna()
    if train_values.empty:
        return None
    newest = train_values.max()
    per_split: dict[str, Any] = {}
    for name in HELD_OUT:
        rows = splits.indices(name)
        older = (stamps.iloc[rows] < newest).to_numpy(dtype=bool)
        if older.any():
            per_split[name] = {
                "rows": int(older.sum()),
                "fraction": round(float(older.mean()), 6),
                "examples": capped(rows[older], limit),
                "oldest": str(values[rows[older]].min()),
            }
    if not per_split:
        return None
    counts = " and ".join(f"{v['rows']} {s} rows" for s, v in per_split.items())
    return Finding(
        id="time-order-violation",
        practice="TW-D06",
        severity="error",
        stage="audit",
        message=f"{counts} are older than the newest training row ({column!r} = {newest}).",
        evidence={"column": column, "newest_train": str(newest), **per_split},
        fix=f"Split by time so training only sees the past: fit --time {column}; to proceed "
        "knowingly: --allow time-order-violation",
    )
