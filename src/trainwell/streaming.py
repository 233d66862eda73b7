"""Tables larger than memory: a Parquet file read in row groups (TW-T14's one-machine half).

When ``data.streaming`` is on (or ``auto`` and the Parquet file has more than
``data.streaming_rows`` rows), the table modality keeps only a *stated sample* in memory and
trains the network on every training row of the file, read one row group at a time:

- **Split**: decided per row, deterministically, from a hash of the row's number in the file
  (or of its ``--group`` value), so any reader of any row group agrees on every row's split
  and the test split stays sealed without holding an index of 10M rows
  (:func:`split_codes`; not stratified: at these sizes the shares are met to a fraction of a
  percent).
- **Sample**: ``data.sample_rows`` rows chosen by a second hash of the row number (uniform
  over the file, never its first rows). The schema, the audit (TW-D01, D06), the category
  vocabularies and the network's imputation/standardization (TW-D08), the baselines
  (TW-A08), the validation scores (early stopping, model selection) and the report's test
  figures, intervals and worst errors are those of the sample's rows; the run says so in a
  ``streaming-sample`` finding and in its manifest.
- **Test metrics**: the test metrics in ``metrics.json`` (every candidate's) come from every
  test row of the file, read one row group at a time (:meth:`RowStream.test_row_groups`,
  :func:`trainwell.streaming_eval.evaluate_test_split`); the sample's own test metrics are
  kept beside them (``metrics.json`` ``test_split``).
- **Training**: :class:`StreamedData` reads the row groups in a seeded order each epoch,
  shuffles the training rows within each group (TW-D12 at the row-group level), encodes them
  with the sample's encoder and yields the batches. Under N processes every rank reads the
  same batches and takes every N-th row of each (the global batch is kept, as in
  :mod:`trainwell.distributed`), so N processes take one process's steps on the same rows;
  only an epoch's last, partial batch, when N does not divide it, gives some ranks a row
  more, and DDP's equal-weight mean of the ranks' mean gradients then differs slightly from
  one process's mean over that batch.
- **Predict**: :func:`predict_in_batches` reads new Parquet rows in batches and writes the
  predictions batch by batch (``trainwell predict RUN new.parquet -o out.parquet``).

Hashes come from :func:`pandas.util.hash_array` (a vectorized splitmix64 finalizer for
integers, SipHash for strings), not a hand-written mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from trainwell.errors import ConfigError, DataError
from trainwell.findings import Finding

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from trainwell.config import FitConfig, Task
    from trainwell.data import Dataset
    from trainwell.predictor import Predictor
    from trainwell.preprocess import FeatureEncoder

PARQUET = {".parquet", ".pq"}
PREDICT_BATCH_ROWS = 65_536  # rows per batch ``trainwell predict`` reads and writes
HASH_KEY = "trainwell-rowkey"  # 16 bytes: pandas' SipHash key for string keys (groups)
TRAIN, VALIDATION, TEST = 0, 1, 2


def _unit(values: np.ndarray, salt: int) -> np.ndarray:
    """A uniform number in [0, 1) per value, a deterministic function of (value, salt)."""
    keys = values.astype(np.uint64) + np.uint64(salt & 0xFFFF_FFFF) * np.uint64(0x9E37_79B9)
    hashed = pd.util.hash_array(keys)
    return (hashed >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _group_keys(values: pd.Series) -> np.ndarray:
    text = values.astype("string").fillna("<missing>").to_numpy(dtype=object)
    return pd.util.hash_array(text, hash_key=HASH_KEY)


def split_codes(
    row_ids: np.ndarray,
    seed: int,
    validation: float,
    test: float,
    groups: pd.Series | None = None,
) -> np.ndarray:
    """Each row's split (0 train, 1 validation, 2 test) from a hash of its row number in
    the file, or of its group value (rows of one group share a split, TW-D04).

    Args:
        row_ids: row numbers in the file, shape (n,).
        groups: the ``--group`` column's values for those rows, or None.

    Returns:
        int8 codes, shape (n,).
    """
    keys = row_ids if groups is None else _group_keys(groups)
    u = _unit(np.asarray(keys), 2 * seed + 1)
    return np.where(u < 1.0 - validation - test, TRAIN, np.where(u < 1.0 - test, VALIDATION, TEST))


def in_sample(row_ids: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Whether each row number belongs to the in-memory sample (a hash of the row number,
    independent of the split hash)."""
    return _unit(row_ids, 2 * seed + 2) < fraction


def parquet_rows(data: object) -> int | None:
    """Rows of a Parquet file from its footer (nothing else read); None for anything else."""
    if not isinstance(data, str | Path) or Path(data).suffix.lower() not in PARQUET:
        return None
    if not Path(data).is_file():
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(data).metadata.num_rows)
    except Exception:  # unreadable: read_table gives the one-line error
        return None


def streams(data: object, cfg: FitConfig) -> bool:
    """Whether ``data`` is read in row groups: ``data.streaming=on``, or ``auto`` and a
    Parquet file of more than ``data.streaming_rows`` rows.

    Raises:
        ConfigError: ``on`` for data that is not a Parquet file, or with ``--time`` or
            ``split.cv`` (both need every row in memory).
    """
    mode = cfg.data.streaming
    if mode == "off":
        return False
    rows = parquet_rows(data)
    if mode == "auto" and (rows is None or rows <= cfg.data.streaming_rows):
        return False
    if rows is None:
        raise ConfigError(
            "data.streaming=on reads a Parquet file in row groups; convert the data to "
            "Parquet (pandas.DataFrame.to_parquet) or leave data.streaming=auto"
        )
    if cfg.data.time is not None:
        raise ConfigError(
            "--time splits on the order of every row's time, which a streamed table does not "
            "hold in memory; drop --time or set data.streaming=off"
        )
    if cfg.split.cv:
        raise ConfigError(
            "split.cv folds the rows held in memory, and a streamed table holds only its "
            "sample; set split.cv=0 (or data.streaming=off)"
        )
    return True


@dataclass
class SampledTable:
    """The in-memory sample of a streamed Parquet file and how it was drawn."""

    frame: pd.DataFrame  # sample rows with a target, index reset
    row_ids: np.ndarray  # their row numbers in the file
    n_rows: int  # rows in the file
    row_groups: int


def read_sample(path: Path, cfg: FitConfig) -> SampledTable:
    """Read the sample rows of ``path`` one row group at a time (peak memory: the sample plus
    one row group).

    Raises:
        DataError: the file cannot be read, or the target column is missing.
    """
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as err:
        raise DataError(f"cannot read {str(path)!r} as parquet: {err}") from None
    n = int(file.metadata.num_rows)
    if cfg.data.target not in file.schema_arrow.names:
        raise DataError(f"target column {cfg.data.target!r} is not in {str(path)!r}")
    fraction = min(1.0, cfg.data.sample_rows / max(1, n))
    parts: list[pd.DataFrame] = []
    ids: list[np.ndarray] = []
    start = 0
    for g in range(file.num_row_groups):
        size = file.metadata.row_group(g).num_rows
        rows = np.arange(start, start + size, dtype=np.int64)
        start += size
        keep = in_sample(rows, cfg.seed, fraction)
        if not keep.any():
            continue
        group = file.read_row_group(g).take(np.flatnonzero(keep)).to_pandas()
        has_target = group[cfg.data.target].notna().to_numpy()
        parts.append(group.loc[has_target])
        ids.append(rows[keep][has_target])
    if not parts:
        raise DataError(f"{str(path)!r} has no rows with a target in its sample")
    frame = pd.concat(parts, ignore_index=True)
    frame.columns = [str(c) for c in frame.columns]
    return SampledTable(frame, np.concatenate(ids), n, file.num_row_groups)


@dataclass
class RowStream:
    """Every training row of a Parquet file, readable one row group at a time.

    ``encoder`` is set by the table modality's ``encode`` (fitted on the sample's training
    rows); rows without a target, or whose class the sample never had, are left out (and
    counted in :attr:`left_out`).
    """

    path: Path
    target: str
    task: Task
    classes: tuple[Any, ...] | None
    seed: int
    validation: float
    test: float
    group: str | None
    n_rows: int
    row_groups: int
    sample_rows: int
    encoder: FeatureEncoder | None = None
    n_train: int = 0
    left_out: int = 0
    n_test: int = 0
    test_left_out: int = 0

    def _file(self) -> pq.ParquetFile:
        import pyarrow.parquet as pq

        return pq.ParquetFile(self.path)

    def _labels(
        self, frame: pd.DataFrame, first_row: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(each row's split code, rows with a usable label, labels as y) of one row group."""
        rows = np.arange(first_row, first_row + len(frame), dtype=np.int64)
        groups = frame[self.group] if self.group is not None else None
        codes = split_codes(rows, self.seed, self.validation, self.test, groups)
        labels = frame[self.target]
        if self.classes is None:
            y = pd.to_numeric(labels, errors="coerce").to_numpy(dtype=np.float64)
            usable = ~np.isnan(y)
        else:
            index = {c: i for i, c in enumerate(self.classes)}
            mapped = labels.map(index)
            usable = mapped.notna().to_numpy()
            y = mapped.fillna(-1).to_numpy(dtype=np.int64)
        return codes, usable, y

    def _starts(self, file: pq.ParquetFile) -> list[int]:
        sizes = [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
        return [int(s) for s in np.concatenate([[0], np.cumsum(sizes)[:-1]])]

    def count(self) -> RowStream:
        """Count the usable training and test rows (reads the target and group columns
        only)."""
        file = self._file()
        columns = [self.target, *([self.group] if self.group else [])]
        n_train = left_out = n_test = test_left_out = 0
        for g, start in enumerate(self._starts(file)):
            frame = file.read_row_group(g, columns=columns).to_pandas()
            codes, usable, _ = self._labels(frame, start)
            train, test = codes == TRAIN, codes == TEST
            n_train += int((train & usable).sum())
            left_out += int((train & ~usable).sum())
            n_test += int((test & usable).sum())
            test_left_out += int((test & ~usable).sum())
        return replace(
            self, n_train=n_train, left_out=left_out, n_test=n_test, test_left_out=test_left_out
        )

    def _rows_of(
        self, split: int, g: int, file: pq.ParquetFile, start: int
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """The raw rows of row group ``g`` in ``split`` that have a usable label, and their y."""
        frame = file.read_row_group(g).to_pandas()
        frame.columns = [str(c) for c in frame.columns]
        codes, usable, y = self._labels(frame, start)
        mask = (codes == split) & usable
        return frame.loc[mask].reset_index(drop=True), y[mask]

    def row_group(self, g: int, file: pq.ParquetFile, start: int) -> tuple[Inputs2, np.ndarray]:
        """The encoded training rows of row group ``g``: (numeric, codes) and y."""
        assert self.encoder is not None, "the table modality's encode sets the encoder"
        kept, y = self._rows_of(TRAIN, g, file, start)
        num, cat = self.encoder.transform(kept)
        return (torch.from_numpy(num), torch.from_numpy(cat)), y

    def test_row_groups(self) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Every test row of the file with a usable label, one row group at a time, in file
        order: (raw rows, y). For the one evaluation of the sealed test split (TW-D07,
        :func:`evaluate_test_split`); training never reads them."""
        file = self._file()
        for g, start in enumerate(self._starts(file)):
            rows, y = self._rows_of(TEST, g, file, start)
            if len(y):
                yield rows, y

    def batches(
        self,
        target: Callable[[np.ndarray], torch.Tensor],
        batch_size: int,
        *,
        seed: int,
        device: torch.device,
        shard: tuple[int, int] = (0, 1),
    ) -> StreamedData:
        """Training batches of ``batch_size`` rows per process (``target`` turns labels into
        the objective's targets); satisfies :class:`trainwell.train.loop.TrainData`."""
        return StreamedData(self, target, batch_size, seed, device, *shard)

    def facts(self) -> dict[str, Any]:
        return {
            "file_rows": self.n_rows,
            "row_groups": self.row_groups,
            "sample_rows": self.sample_rows,
            "train_rows_streamed": self.n_train,
            "left_out_rows": self.left_out,
            "test_rows_streamed": self.n_test,
            "test_left_out_rows": self.test_left_out,
        }


Inputs2 = tuple[torch.Tensor, torch.Tensor]


class StreamedData:
    """One epoch's training batches read from the file row group by row group.

    The row groups come in an order drawn from ``seed + epoch``, the rows of each group in
    an order drawn from the same generator, and the rows left over from one group start the
    next group's first batch, so every epoch yields ``ceil(n_train / global batch)``
    batches, and a resumed run replays them exactly.
    """

    def __init__(
        self,
        stream: RowStream,
        target: Callable[[np.ndarray], torch.Tensor],
        batch_size: int,
        seed: int,
        device: torch.device,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.stream, self.target = stream, target
        self.batch_size, self.seed, self.device = batch_size, seed, device
        self.rank, self.world = rank, world
        self.augment = None  # rows of a table are not augmented (AugmentedData's attribute)

    def __len__(self) -> int:
        return -(-self.stream.n_train // (self.batch_size * self.world))

    def whole(self) -> StreamedData:
        """The same batches unsharded: what one process takes at the global batch."""
        return StreamedData(
            self.stream, self.target, self.batch_size * self.world, self.seed, self.device
        )

    def _global_batches(self, epoch: int) -> Iterator[tuple[Inputs2, torch.Tensor]]:
        size = self.batch_size * self.world
        generator = np.random.default_rng([self.seed, epoch])
        file = self.stream._file()
        starts = self.stream._starts(file)
        held: list[tuple[Inputs2, torch.Tensor]] = []
        for g in generator.permutation(len(starts)):
            (num, cat), y = self.stream.row_group(int(g), file, starts[g])
            order = torch.from_numpy(generator.permutation(len(y)))
            held.append(((num[order], cat[order]), self.target(y)[order]))
            num = torch.cat([h[0][0] for h in held])
            cat = torch.cat([h[0][1] for h in held])
            tgt = torch.cat([h[1] for h in held])
            full = len(tgt) // size * size
            for begin in range(0, full, size):
                end = begin + size
                yield (num[begin:end], cat[begin:end]), tgt[begin:end]
            held = [((num[full:], cat[full:]), tgt[full:])]
        if held and len(held[0][1]):
            yield held[0]

    def epoch(self, epoch: int) -> Iterable[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        for (num, cat), tgt in self._global_batches(epoch):
            part = slice(self.rank, None, self.world)
            yield (
                (num[part].to(self.device), cat[part].to(self.device)),
                tgt[part].to(self.device),
            )


def stream_for(path: Path, dataset: Dataset, cfg: FitConfig, sampled: SampledTable) -> RowStream:
    """The training stream of ``path`` for a dataset built from its sample."""
    return RowStream(
        path=path,
        target=dataset.target,
        task=dataset.task,
        classes=dataset.classes,
        seed=cfg.seed,
        validation=cfg.split.validation,
        test=cfg.split.test,
        group=dataset.group,
        n_rows=sampled.n_rows,
        row_groups=sampled.row_groups,
        sample_rows=len(sampled.frame),
    ).count()


def sample_finding(stream: RowStream) -> Finding:
    """What the run learned from the sample and what from the whole file (info)."""
    f = stream.facts()
    left = (
        f"; {f['left_out_rows']} training rows left out (no target, or a class the sample lacks)"
        if f["left_out_rows"]
        else ""
    )
    test_left = (
        f" ({f['test_left_out_rows']} left out: no target, or a class the sample lacks)"
        if f["test_left_out_rows"]
        else ""
    )
    return Finding(
        id="streaming-sample",
        practice="TW-D01",
        severity="info",
        stage="audit",
        message=(
            f"The table has {f['file_rows']} rows in {f['row_groups']} row groups, read in "
            f"row groups: the network trained on all {f['train_rows_streamed']} training rows, "
            f"and the test metrics in metrics.json come from all {f['test_rows_streamed']} "
            f"test rows{test_left}; the audit, preprocessing (category vocabularies, "
            f"imputation, standardization), baselines, validation metrics (early stopping, "
            f"model selection) and the report's test figures, intervals and worst errors used "
            f"a sample of {f['sample_rows']} rows drawn by a hash of the row number{left}."
        ),
        evidence=f,
        fix="Nothing to do; raise data.sample_rows for a larger sample, or "
        "data.streaming=off to hold the whole table in memory.",
    )


def predict_in_batches(
    model: Predictor,
    path: Path,
    out: Path | None,
    keep: list[str],
    write_csv: Callable[[pd.DataFrame, bool], None],
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Predict a Parquet file batch by batch, writing each batch's predictions as it goes.

    Args:
        out: a ``.parquet`` file (written with one ``ParquetWriter``) or None / any other
            suffix (CSV: ``write_csv(batch, first)``).
        keep: input columns copied in front of the predictions.

    Returns:
        (rows predicted, unexpected values per column summed over the batches:
        ``FeatureEncoder.unexpected_values``).

    Raises:
        DataError: the file cannot be read, or a ``keep`` column is missing or has an
            output column's name.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from trainwell.data.output import with_kept_columns
    from trainwell.errors import require_column
    from trainwell.preprocess import FeatureEncoder

    try:
        file = pq.ParquetFile(path)
    except Exception as err:
        raise DataError(f"cannot read {str(path)!r} as parquet: {err}") from None
    for name in keep:
        require_column(file.schema_arrow.names, name, "--keep")
    encoder = FeatureEncoder.from_json(model.spec.encoding["encoder"])
    unexpected: dict[str, dict[str, Any]] = {}
    writer: pq.ParquetWriter | None = None
    total = 0
    try:
        for batch in file.iter_batches(batch_size=PREDICT_BATCH_ROWS):
            frame = batch.to_pandas()
            frame.columns = [str(c) for c in frame.columns]
            result = with_kept_columns(model.predict(frame), frame, keep)
            for name, seen in encoder.unexpected_values(frame).items():
                merged = unexpected.setdefault(
                    name, {"kind": seen["kind"], "rows": 0, "examples": []}
                )
                merged["rows"] += seen["rows"]
                merged["examples"] = list(dict.fromkeys(merged["examples"] + seen["examples"]))[:3]
            if out is not None and out.suffix in PARQUET:
                if writer is None:
                    table = pa.Table.from_pandas(result, preserve_index=False)
                    writer = pq.ParquetWriter(out, table.schema)
                else:
                    table = pa.Table.from_pandas(result, schema=writer.schema, preserve_index=False)
                writer.write_table(table)
            else:
                write_csv(result, total == 0)
            total += len(result)
    finally:
        if writer is not None:
            writer.close()
    if total == 0:
        raise DataError(f"data file {str(path)!r} has no rows")
    return total, unexpected
