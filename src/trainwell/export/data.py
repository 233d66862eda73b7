"""A finished run's training and validation examples, rebuilt exactly as ``fit`` saw them.

Export checks parity on the validation split and compression fine-tunes and scores on the
training and validation splits; both reread the run's data through
:func:`trainwell.pipeline.prepare` (the one encoding stage) and verify that the data and the
splits are those the run recorded. The test split is never handed out here: callers get
:meth:`~trainwell.pipeline.Prepared.split`, which refuses ``"test"`` (TW-D07).
"""

from __future__ import annotations

from trainwell.config import FitConfig
from trainwell.errors import DataError, RunError
from trainwell.modalities.base import DataSource
from trainwell.pipeline import Prepared, prepare
from trainwell.run import Run
from trainwell.run_files import read_splits
from trainwell.split import Splits


def reopen(run: Run, data: DataSource | None = None) -> Prepared:
    """The run's data read, split and encoded as ``fit`` did (no audit, nothing written).

    Args:
        run: a complete run.
        data: the data the run was trained on, for a run trained from a DataFrame (the
            manifest records no path then); default: the recorded path.

    Raises:
        RunError: no data path is recorded and none given, or the splits do not match;
            DataError: the data changed since the run (its sha256 differs).
    """
    manifest = run.manifest
    source: DataSource | None = data if data is not None else manifest["data"]["path"]
    if source is None:
        raise RunError(
            f"run {str(run.path)!r} was trained from an in-memory DataFrame; pass that "
            "DataFrame as data= to export or compress it"
        )
    cfg = FitConfig.model_validate(manifest["config"])
    prepared = prepare(source, cfg, block=False, check_options=False, audit=False)
    kind = (manifest.get("modality") or {}).get("kind", "table")
    if prepared.modality.name != kind:
        raise RunError(f"the data no longer reads as {kind} data, as run {str(run.path)!r} did")
    if prepared.dataset.sha256 != manifest["data"]["sha256"]:
        raise DataError(
            f"the data of run {str(run.path)!r} changed since it was trained (its sha256 "
            "differs); restore it to export or compress the run"
        )
    saved = Splits.from_dict(read_splits(run.path, prepared.dataset.n_rows))
    recorded = manifest["splits"]["hashes"]
    if saved.hashes(prepared.dataset) != recorded or (
        prepared.splits.hashes(prepared.dataset) != recorded
    ):
        raise RunError(f"the splits saved in {str(run.path)!r} do not match the data")
    return prepared
