"""The contract every kind of data fulfils: :class:`Modality`, and what it hands the pipeline.

One pipeline (:mod:`trainwell.pipeline`) trains tables, images, text and series; what differs
between them lives behind one protocol, :class:`Modality`, with one registered implementation
per kind (:data:`trainwell.modalities.REGISTRY`). A modality reads its data into one table
row per example (a :class:`~trainwell.data.Dataset`: the target, and what names the example:
a path, a text, a series id), encodes the examples into the tensors a network reads
(:class:`Samples`, with an encoder fitted on the training split only, TW-D08), audits them,
chooses the architecture (TW-A01), augments the training split (TW-D10), fits the baselines
(TW-A08), and turns new raw data into the same tensors at predict time (TW-D09).

Augmentation is applied in exactly one place, :class:`AugmentedData`, which only the training
split goes through (TW-D10); every other use of the inputs goes through
:func:`predict_outputs`, which never augments.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
import torch

from trainwell.distributed import shard_order
from trainwell.findings import Finding

if TYPE_CHECKING:
    from trainwell.analysis.record import Analysis
    from trainwell.candidates import Candidate
    from trainwell.config import FitConfig, Task
    from trainwell.data import Dataset
    from trainwell.data.schema import ColumnSpec
    from trainwell.features import FeatureMap
    from trainwell.models import Choice
    from trainwell.split import Splits
    from trainwell.streaming import RowStream

Inputs = tuple[torch.Tensor, ...]
# An augmentation: a batch of inputs and a seeded generator in, a new batch out.
Augment = Callable[[Inputs, torch.Generator], Inputs]
# What ``trainwell fit`` accepts as data: a file or folder path, or a DataFrame.
DataSource = str | Path | pd.DataFrame


@dataclass
class Samples:
    """One modality's examples: a table row and the input tensors of each, in one order.

    Attributes:
        kind: the modality's registry name (``table``, ``image``, ``text``, ``series``, ...).
        frame: one row per example: ``key`` (path, text or series id) and the target.
        key: the column naming each example in findings and predictions (None for tables,
            whose rows are named by their index).
        inputs: the network's input tensors for every example (unaugmented), first dimension
            the example.
        encoding: JSON-able facts that turn raw data into ``inputs`` again at predict time.
        info: facts for the manifest (sizes, lengths, vocabulary).
        findings: what reading the data found (unreadable files, inconsistent sizes ...).
        extras: per-example values the audit and baselines use (perceptual hashes, texts):
            sequences of one value per example.
        rows: the dataset rows these examples are (None: all of them, in order). Set by
            :meth:`subset`; the contract tests use it to prove the test split stays sealed.
    """

    kind: str
    frame: pd.DataFrame
    key: str | None
    inputs: Inputs
    encoding: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    rows: np.ndarray | None = None
    # A table larger than memory: every training row of the file, read in row groups for
    # training (trainwell.streaming); the examples above are then its in-memory sample.
    stream: RowStream | None = None

    def __len__(self) -> int:
        return len(self.inputs[0])

    def select(self, rows: np.ndarray) -> Inputs:
        index = torch.as_tensor(rows, dtype=torch.long)
        return tuple(x[index] for x in self.inputs)

    def subset(self, rows: np.ndarray) -> Samples:
        """The examples at ``rows`` (positions into this object), with their frame rows and
        extras; ``rows`` of the result are the dataset rows they are."""
        rows = np.asarray(rows, dtype=np.int64)
        extras = {
            name: (
                value[rows]
                if isinstance(value, np.ndarray)
                else [value[int(i)] for i in rows]
                if isinstance(value, list)
                else value
            )
            for name, value in self.extras.items()
        }
        return replace(
            self,
            frame=self.frame.iloc[rows].reset_index(drop=True),
            inputs=self.select(rows),
            extras=extras,
            findings=[],
            rows=rows if self.rows is None else self.rows[rows],
        )

    def keys(self) -> pd.Series:
        """What names each example in predictions: the key column, else the row index."""
        if self.key is None:
            return pd.Series(self.frame.index, name="row")
        return self.frame[self.key].reset_index(drop=True)


@dataclass
class Read:
    """A modality's data, read and validated (nothing written).

    ``dataset`` has one row per example; ``samples`` holds their tensors when the modality
    can encode them before the split (images, series), else None (tables and text are
    encoded in :meth:`Modality.encode` with what the training split alone teaches).
    """

    dataset: Dataset
    samples: Samples | None
    data_path: str | None
    stream: RowStream | None = None  # the whole file, when ``dataset`` is its sample


class Modality(Protocol):
    """One kind of data in ``trainwell fit``, ``lr-find`` and ``predict``.

    Implementations are registered in :data:`trainwell.modalities.REGISTRY`; the contract
    tests (``tests/contract/``) run over every registered one. Methods raise
    :class:`~trainwell.errors.DataError` or :class:`~trainwell.errors.ConfigError` with one
    line for bad input, before anything is written.
    """

    name: str
    # Whether ``served_data`` writes the served examples as files (images, sounds), so the
    # server makes a scratch folder for each batch; tables, texts and series need none.
    served_files: bool
    # What ``model.*``, ``augment.*`` and ``data.*`` keys this modality reads; any other key
    # of those sections set by the user is refused (it would have no effect).
    options: frozenset[str]

    def claims(self, data: DataSource, cfg: FitConfig) -> bool:
        """Whether ``data`` with ``cfg`` is this modality's (the registry asks in order)."""
        ...

    def read(self, data: DataSource, cfg: FitConfig) -> Read:
        """Read and validate the data: one dataset row per example."""
        ...

    def choose(self, read: Read, splits: Splits, cfg: FitConfig) -> Choice:
        """The architecture for the task and data size, and why (TW-A01, A02)."""
        ...

    def encode(self, read: Read, splits: Splits, choice: Choice, cfg: FitConfig) -> Samples:
        """The examples' tensors; anything learned is learned from the training split."""
        ...

    def audit(
        self, dataset: Dataset, samples: Samples, splits: Splits, cfg: FitConfig
    ) -> list[Finding]:
        """The modality's audit on the real splits (TW-D01, D02, D06)."""
        ...

    def build_network(
        self,
        samples: Samples,
        choice: Choice,
        task: Task,
        n_classes: int,
        y_train: np.ndarray,
        weighted: bool,
        cfg: FitConfig,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """The network (``samples`` is the training split) and its transfer facts.

        The network's ``forward(*inputs)`` gives logits or scaled values, ``predict(*inputs)``
        probabilities or values, ``spec()`` what :func:`trainwell.candidates.load_network`
        rebuilds it from.
        """
        ...

    def augmenter(self, samples: Samples, cfg: FitConfig) -> tuple[Augment | None, dict[str, Any]]:
        """Augmentation of training batches (TW-D10), and what it does for the manifest."""
        ...

    def baselines(
        self,
        train: Samples,
        validation: Samples,
        task: Task,
        n_classes: int,
        y: dict[str, np.ndarray],
        class_weights: np.ndarray | None,
        cfg: FitConfig,
    ) -> list[Candidate]:
        """The simple models the network must beat (TW-A08), each shippable."""
        ...

    def predict_samples(self, data: DataSource, encoding: dict[str, Any], folder: Path) -> Samples:
        """New raw data as the shipped model's inputs (``folder``: the model folder)."""
        ...

    def predict_frame(self, samples: Samples, predictions: pd.DataFrame) -> pd.DataFrame:
        """The predictions table ``predict`` returns (keys added where they name examples)."""
        ...

    def input_columns(self, encoding: dict[str, Any]) -> tuple[ColumnSpec, ...] | None:
        """The columns one row of new data holds, for a model trained with ``encoding`` (the
        schema ``trainwell serve`` validates requests with); None when the input is not one
        row of columns (a folder of images, a series spread over rows)."""
        ...

    def served_fields(self, encoding: dict[str, Any]) -> dict[str, str] | None:
        """The fields of one example in a ``trainwell serve`` request: name -> JSON kind (a
        column kind of :mod:`trainwell.data.schema`, ``text``: a string, ``values``: a list of
        numbers, ``image``: a base64 string of an image file's bytes); None when the model
        cannot be served example by example."""
        ...

    def served_data(
        self, encoding: dict[str, Any], examples: list[dict[str, Any]], scratch: Path | None
    ) -> DataSource:
        """Served examples (dicts of :meth:`served_fields`) as the data ``predict_samples``
        takes, whose predictions come back one per example, in their order. ``scratch`` is an
        empty folder, deleted by the caller after predicting, for examples that must be files;
        the caller makes one only for a modality whose :attr:`served_files` is true (else
        None).

        Raises:
            DataError: the examples cannot make that data (series of unequal lengths).
        """
        ...

    def drift_features(self, samples: Samples) -> dict[str, tuple[str, pd.Series]]:
        """What a served model's drift is measured on (TW-P06): feature name -> (its column
        kind, one value per example of ``samples``, in their order).

        A table's are its input columns as given; other modalities describe each example
        with a few numbers (a text's length, an image's brightness, a series' level). The fit
        profiles them on the training split (``train_profile.json``), the server on its
        live inputs, both from the same :class:`Samples`, so they are computed alike. A
        feature named as one of :meth:`served_fields` must be that field's value as served
        (the server then reads it from the request, ``trainwell monitor`` from the log).
        """
        ...

    def export(self, encoding: dict[str, Any], folder: Path) -> tuple[dict[str, Any], list[Path]]:
        """Files the shipped model needs besides its weights (a tokenizer's), written into
        ``folder``, and the encoding to record with them."""
        ...

    def analyze(
        self,
        dataset: Dataset,
        splits: Splits,
        samples: Samples,
        shipped: Candidate,
        network: Candidate,
        test_outputs: np.ndarray,
        cfg: FitConfig,
    ) -> Analysis:
        """What the report shows beyond metrics (data summary, test predictions, groups,
        explanations), from the one sealed evaluation's ``test_outputs`` (TW-D07)."""
        ...

    def load_features(self, spec: dict[str, Any]) -> FeatureMap:
        """A baseline's feature map from its JSON (``FeatureMap.to_json``)."""
        ...


class AugmentedData:
    """Training batches, reshuffled every epoch (TW-D12) and augmented (TW-D10).

    The order and the augmentation of epoch ``e`` come from generators seeded with
    ``seed + e``, so a resumed run replays them exactly. Satisfies
    :class:`trainwell.train.loop.TrainData`.
    """

    def __init__(
        self,
        inputs: Inputs,
        target: torch.Tensor,
        batch_size: int,
        augment: Augment | None,
        *,
        seed: int = 0,
        device: torch.device | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.device = device or torch.device("cpu")
        if self.device.type == "cuda":  # TW-T12: page-locked memory, asynchronous copies
            inputs, target = tuple(x.pin_memory() for x in inputs), target.pin_memory()
        self.inputs, self.target = inputs, target
        self.batch_size = batch_size
        self.augment = augment
        self.seed = seed
        # (rank, world): this process's share of every epoch's order (trainwell.distributed)
        self.rank, self.world = shard

    def __len__(self) -> int:
        per_rank = -(-len(self.target) // self.world)  # padded as the shard is
        return -(-per_rank // self.batch_size)

    def whole(self) -> AugmentedData:
        """The same batches unsharded: what one process takes at the global batch."""
        if self.world == 1:
            return self
        whole = copy.copy(self)
        whole.rank, whole.world, whole.batch_size = 0, 1, self.batch_size * self.world
        return whole

    def epoch(self, epoch: int) -> Iterable[tuple[Inputs, torch.Tensor]]:
        order = torch.randperm(
            len(self.target), generator=torch.Generator().manual_seed(self.seed + epoch)
        )
        if self.world > 1:
            order = shard_order(order, self.rank, self.world)
        noise = torch.Generator().manual_seed(10_007 * (self.seed + 1) + epoch)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = tuple(x[rows] for x in self.inputs)
            if self.augment is not None:
                batch = self.augment(batch, noise)
            yield (
                tuple(x.to(self.device, non_blocking=True) for x in batch),
                self.target[rows].to(self.device, non_blocking=True),
            )


@torch.no_grad()
def predict_outputs(
    net: torch.nn.Module, inputs: Inputs, batch_size: int = 1024, raw: bool = False
) -> torch.Tensor:
    """The network's outputs for ``inputs`` in eval mode, batched, never augmented (P05).

    ``raw`` gives logits (for the loss); otherwise probabilities or values (``predict``).
    """
    net.eval()
    device = next(net.parameters()).device
    chunks = []
    for start in range(0, len(inputs[0]), batch_size):
        batch = tuple(x[start : start + batch_size].to(device) for x in inputs)
        out = net(*batch) if raw else net.predict(*batch)  # type: ignore[operator]
        chunks.append(out.float().cpu())
    return torch.cat(chunks)
