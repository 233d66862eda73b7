"""The sealed test set's ledger (TW-D07, TW-H03): every evaluation of a test split, on disk.

A test set gives an unbiased score only for the first configuration judged on it. The
ledger, a JSON file in the results folder, records each evaluation under the hash of the
test rows; evaluating the same rows again under a different configuration is test-set reuse.
Re-evaluating the same configuration (a resumed run) is not.

Example:
    >>> import tempfile
    >>> ledger = TestSetLedger(Path(tempfile.mkdtemp()))
    >>> ledger.record("testhash", config_hash="a", run_id="run-1") is None
    True
    >>> ledger.record("testhash", config_hash="b", run_id="run-2").id
    'test-set-reuse'
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from pydantic import BaseModel

from trainwell.errors import RunError
from trainwell.findings import Finding

LEDGER_VERSION = 1
LEDGER_PATH = Path(".trainwell") / "test-ledger.json"
# Settings that change how a run looks, not what it learns, do not make a new configuration.
PRESENTATION_KEYS = frozenset({"logging"})


def config_sha256(
    config: BaseModel | Mapping[str, Any], exclude: frozenset[str] = PRESENTATION_KEYS
) -> str:
    """sha256 of a configuration's canonical JSON, without presentation-only sections.

    Example:
        >>> config_sha256({"seed": 0}) == config_sha256({"seed": 0, "logging": {"progress": False}})
        True
    """
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else dict(config)
    kept = {k: v for k, v in data.items() if k not in exclude}
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class TestSetLedger:
    """Evaluations of test splits in one results folder, kept in ``root/.trainwell/``.

    Args:
        root: the results folder shared by the runs on the same data (e.g. the parent of
            the run directories).
    """

    # Not a pytest test class, despite the name.
    __test__ = False

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / LEDGER_PATH

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"version": LEDGER_VERSION, "test_sets": {}}
        try:
            data = json.loads(self.path.read_text())
            if not isinstance(data.get("test_sets"), dict):
                raise ValueError("no 'test_sets' table")
        except (ValueError, AttributeError) as err:
            raise RunError(
                f"test-set ledger {str(self.path)!r} is unreadable ({err}); restore it, or "
                "delete it to start a new one (this forgets earlier test-set uses)"
            ) from None
        return data

    def _write(self, data: dict[str, Any]) -> None:
        # Write a sibling temporary file, then rename: a crash never leaves half a ledger.
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".ledger-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w") as out:
                json.dump(data, out, indent=2)
                out.write("\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def evaluations(self, test_hash: str) -> list[dict[str, Any]]:
        """Every recorded evaluation of the test split with this hash, oldest first."""
        entries: list[dict[str, Any]] = self._read()["test_sets"].get(test_hash, [])
        return entries

    def record(self, test_hash: str, *, config_hash: str, run_id: str) -> Finding | None:
        """Record one evaluation of a test split; report reuse under another configuration.

        Remedy for reuse: choose between configurations on the validation split (TW-H03)
        and quote the test score of the first configuration judged on it, or collect fresh
        test data for an unbiased estimate.

        Args:
            test_hash: the test split's content hash (``Splits.hashes(dataset)["test"]``).
            config_hash: the configuration's hash (:func:`config_sha256`).
            run_id: the run that evaluated it (e.g. the run directory's name).

        Returns:
            A ``test-set-reuse`` warning when an earlier evaluation used another
            configuration, else ``None``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # An exclusive lock (fcntl on POSIX, msvcrt on Windows) so that two runs finishing
        # at once do not lose each other's entry.
        with FileLock(self.path.with_suffix(".lock")):
            data = self._read()
            entries = data["test_sets"].setdefault(test_hash, [])
            entries.append(
                {
                    "config": config_hash,
                    "run": run_id,
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
            self._write(data)
        configs = list(dict.fromkeys(e["config"] for e in entries))
        if len(configs) < 2:
            return None
        runs = list(dict.fromkeys(e["run"] for e in entries))
        return Finding(
            id="test-set-reuse",
            practice="TW-D07",
            severity="warning",
            stage="evaluate",
            message=f"This test set has now been evaluated {len(entries)} times under "
            f"{len(configs)} different configurations (runs: {', '.join(runs[:5])}"
            f"{' …' if len(runs) > 5 else ''}); its score is no longer an unbiased estimate.",
            evidence={
                "test_hash": test_hash,
                "evaluations": len(entries),
                "configurations": len(configs),
                "runs": runs,
                "ledger": str(self.path),
            },
            fix="Compare configurations on the validation split only (TW-H03) and quote the "
            "test score of the first one judged; for a fresh unbiased estimate, evaluate on "
            "new data.",
        )
