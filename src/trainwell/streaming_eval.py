"""The sealed test split of a table larger than memory, evaluated over every row (TW-D07).

A streamed Parquet file (:mod:`trainwell.streaming`) holds only a sample in memory; model
selection uses the sample's validation rows, and :func:`trainwell.evaluate.evaluate` scores
the sample's test rows. :func:`evaluate_test_split` then reads every test row of the file,
one row group at a time, encodes it with the run's encoder and scores every candidate on the
whole test split: those are the test metrics ``metrics.json`` records (``test``,
``network.test``, ``baselines.*.test``). The sample's test metrics of the shipped model stay
beside them under ``test_split.sample`` (the report's figures, intervals and worst errors
are drawn from the sample's test rows, and say so).

Memory: one row group of raw rows at a time, plus each test row's label and every
candidate's outputs (8 bytes per output column per candidate): the metrics are
scikit-learn's over the whole split, computed once, so they equal the metrics computed in
memory over the same rows exactly. Exact ROC-AUC ranks every test row's score, which a
constant-size summary cannot do; the features are never held beyond one row group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from trainwell.candidates import Candidate
    from trainwell.config import Task
    from trainwell.evaluate import Evaluation
    from trainwell.streaming import RowStream


def test_outputs(
    stream: RowStream, candidates: Sequence[Candidate]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Every usable test row's label and every candidate's outputs on it, in file order.

    Returns:
        (y, outputs): y of shape (n,) (class indices or floats), outputs[name] of shape
        (n, K) probabilities or (n,) values.

    Raises:
        ValueError: the file has no test row with a usable label.
    """
    from trainwell.modalities.table import table_samples

    assert stream.encoder is not None, "the table modality's encode sets the encoder"
    labels: list[np.ndarray] = []
    outputs: dict[str, list[np.ndarray]] = {c.name: [] for c in candidates}
    for rows, y in stream.test_row_groups():
        samples = table_samples(rows, stream.encoder)
        labels.append(y)
        for candidate in candidates:
            outputs[candidate.name].append(candidate.outputs(samples))
    if not labels:
        raise ValueError("the streamed file has no test row with a usable label")
    return np.concatenate(labels), {n: np.concatenate(o) for n, o in outputs.items()}


def evaluate_test_split(
    stream: RowStream,
    evaluation: Evaluation,
    candidates: Sequence[Candidate],
    task: Task,
    class_weights: np.ndarray | None,
    sample_test_rows: int,
) -> Evaluation:
    """``evaluation`` (made on the sample) with its test metrics replaced by those of every
    test row of the file, for every candidate; the shipped model's sample test metrics are
    kept under ``metrics["test_split"]["sample"]``.

    The model shipped stays the one validation chose (TW-D07: the test split decides
    nothing); ``evaluation.test_outputs`` stay the sample's (the report's figures).
    """
    from trainwell.evaluate import task_metrics

    y, outputs = test_outputs(stream, candidates)
    weights = None if class_weights is None else class_weights[y]
    scores = {name: task_metrics(task, y, out, weights) for name, out in outputs.items()}
    before = evaluation.metrics
    metrics: dict[str, Any] = {
        **before,
        "test": scores[evaluation.shipped],
        "network": {**before["network"], "test": scores["network"]},
        "baselines": {name: {**b, "test": scores[name]} for name, b in before["baselines"].items()},
        "test_split": {
            "rows": len(y),
            "source": "every test row of the file, read in row groups",
            "left_out_rows": stream.test_left_out,
            "sample": {
                "rows": sample_test_rows,
                "source": "the in-memory sample's test rows (the report's figures, "
                "intervals and worst errors)",
                "test": before["test"],
            },
        },
    }
    return replace(evaluation, metrics=metrics)
