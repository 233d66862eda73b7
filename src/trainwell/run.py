"""The run directory (DESIGN.md) and the :class:`Run` handle the API returns.

``manifest.json`` is written when the run starts (status ``running``), updated as stages
finish, and marked ``complete`` only at the very end, or ``failed`` with the error. A run that
is not ``complete`` cannot be loaded for prediction, only resumed.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
import weakref
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch

from trainwell.errors import RunError
from trainwell.files import write_json
from trainwell.findings import Finding, read_findings
from trainwell.run_files import (
    check_new_run_dir,
    check_run_tree,
    read_manifest,
    read_metrics,
    read_run_json,
    require_run_dir,
)

if TYPE_CHECKING:
    from trainwell.predictor import Predictor

__all__ = ["Run", "RunDir", "load", "read_json", "write_json"]

PACKAGES = ("numpy", "pandas", "pyarrow", "scikit-learn", "lightgbm", "safetensors", "pydantic")


def read_json(path: Path) -> Any:
    """A JSON file inside a run directory, bounded (trainwell.run_files.read_run_json)."""
    return read_run_json(path.parent, path.name)


def environment() -> dict[str, Any]:
    """Versions and hardware for the manifest (TW-R02)."""
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "trainwell": metadata.version("trainwell"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "packages": packages,
        "hardware": {
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpu": gpu,
        },
    }


def git_state(folder: Path) -> dict[str, Any] | None:
    """The commit (and whether the tree is dirty) of the git repository around ``folder``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def default_run_dir(source: str, root: Path = Path("runs")) -> Path:
    stem = Path(source).stem if source != "<DataFrame>" else "dataframe"
    base = root / f"{dt.date.today().isoformat()}-{stem}"
    path, n = base, 2
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


class RunDir:
    """Paths inside one run directory and the manifest's lifecycle."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest_path = path / "manifest.json"
        self.metrics_path = path / "metrics.json"
        self.findings_path = path / "findings.json"
        self.splits_path = path / "splits.json"
        self.config_path = path / "config.json"
        self.history_path = path / "history.json"
        self.report_path = path / "report.html"
        self.model_card_path = path / "model_card.md"
        self.model_dir = path / "model"
        self.checkpoints = path / "checkpoints"
        self.tensorboard = path / "tensorboard"
        self.manifest: dict[str, Any] = {}
        self._held: weakref.finalize[Any, Any] | None = None

    def create(self, manifest: dict[str, Any], keep: frozenset[str] = frozenset()) -> None:
        """Start a new run, held by this process (:meth:`hold`); refuses a folder that
        already holds files (other than those named in ``keep``: a tuning study written
        before its best config's run), or a file."""
        check_new_run_dir(self.path)
        existed = self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        self.hold()  # before the check: two fits given one new --out do not both start
        if existed and any(p.name not in keep for p in self.path.iterdir()):
            self.release()
            what = "a run" if self.manifest_path.exists() else "files"
            raise RunError(
                f"{str(self.path)!r} already holds {what}; choose another --out "
                "(or continue an unfinished run with --resume)"
            )
        self.manifest = {"status": "running", "started": _now(), **manifest}
        self.save_manifest()

    def hold(self) -> None:
        """Take this process's hold on the run directory, kept until :meth:`release` or the
        process ends (by any signal, SIGKILL too: the kernel drops it), so that a second
        ``fit --resume`` or ``report`` cannot write into a run another process is writing.

        An advisory ``flock`` on the folder itself (no lock file is left in the run);
        a no-op where ``fcntl`` does not exist (Windows) or the file system refuses locks.

        Raises:
            RunError: another process holds it.
        """
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return
        if self._held is not None:
            return
        if not self.path.is_dir():
            require_run_dir(self.path)  # says what is there instead
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(
                f"run {str(self.path)!r} is in use by another trainwell process (a fit, "
                "--resume or report still running); wait for it to end, or stop it first"
            ) from None
        except OSError:  # a file system without locks (some network or FUSE mounts): unheld
            os.close(fd)
            return
        self._held = weakref.finalize(self, os.close, fd)  # closed with this object at worst

    def release(self) -> None:
        """Let go of the hold :meth:`hold` took (nothing if none)."""
        if self._held is not None:
            self._held()
            self._held = None

    def open_existing(self) -> dict[str, Any]:
        require_run_dir(self.path)
        check_run_tree(self.path)  # no symlinks: nothing outside the run is read or written
        self.manifest = read_manifest(self.path)
        return self.manifest

    def update(self, **fields: Any) -> None:
        self.manifest.update(fields)
        self.save_manifest()

    def save_manifest(self) -> None:
        write_json(self.manifest_path, self.manifest)

    def finish(self, status: str, error: str | None = None) -> None:
        self.manifest["status"] = status
        self.manifest["finished"] = _now()
        if error is not None:
            self.manifest["error"] = error
        else:
            self.manifest.pop("error", None)
        self.save_manifest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Run:
    """A finished run: its metrics, findings and model, loaded from its directory.

    Example:
        >>> run = trainwell.load("runs/2026-11-22-wine")  # doctest: +SKIP
        >>> run.metrics["test"]["network"]["accuracy"]  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        self.dir = RunDir(Path(path))
        self.manifest = self.dir.open_existing()
        self._model: Predictor | None = None

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def metrics(self) -> dict[str, Any]:
        return read_metrics(self.dir.path)

    @property
    def findings(self) -> list[Finding]:
        return read_findings(self.dir.findings_path)

    @property
    def model(self) -> Predictor:
        """The shipped model (network or baseline): ``predict(raw data)`` gives a DataFrame.

        Raises:
            RunError: the run is not complete, or its model files are missing or changed.
        """
        if self.manifest.get("status") != "complete":
            raise RunError(
                f"run {str(self.path)!r} is {self.manifest.get('status', 'unfinished')}, "
                f"not complete; finish it with `trainwell fit --resume {self.path}`"
            )
        if self._model is None:
            from trainwell.predictor import load_predictor

            self._model = load_predictor(self.dir.model_dir)
        return self._model

    def predict(self, data: pd.DataFrame | str | Path) -> pd.DataFrame:
        """Predict raw data with the shipped model: rows (a DataFrame or a CSV/Parquet path),
        a folder of images, a table of texts or series, as the run was trained on.

        Raises:
            RunError: the run is not complete; DataError: the data lacks what it needs.
        """
        return self.model.predict(data)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.manifest.get('status')!r})"


def load(path: str | Path) -> Run:
    """Open a run directory written by ``trainwell fit``.

    Raises:
        RunError: the folder is not a run.
    """
    return Run(path)
