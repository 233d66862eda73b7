"""What the report needs beyond metrics, computed at the end of the evaluate stage.

:func:`analyze_examples` (every modality) and :func:`analyze_table` (tables add the column
summary, the input sample and explanations) return an :class:`Analysis` record and write
nothing; the run's recorder writes it with :func:`write_analysis`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from trainwell.analysis import explain, groups, summary
from trainwell.analysis.predictions import prediction_frame, save_test_predictions
from trainwell.candidates import Candidate
from trainwell.config import FitConfig
from trainwell.data import Dataset
from trainwell.files import write_json
from trainwell.findings import Finding
from trainwell.modalities.base import Samples
from trainwell.models.tabular import TabularNet
from trainwell.preprocess import FeatureEncoder
from trainwell.split import Splits


@dataclass
class Analysis:
    """The evaluation's extras: ``data_summary.json``, ``predictions/`` (from the one sealed
    evaluation, TW-D07), ``groups.json`` (TW-E04), ``explanations.json`` (TW-E05)."""

    data_summary: dict[str, Any]
    predictions: pd.DataFrame
    test_inputs: pd.DataFrame
    groups: dict[str, Any] | None = None
    explanations: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)


def _split_summary(ds: Dataset, splits: Splits) -> dict[str, Any]:
    return {
        "class_balance": summary.class_balance(ds, splits),
        "target_quartiles": summary.target_ranges(ds, splits),
        "split_sizes": {n: len(splits.indices(n)) for n in ("train", "validation", "test")},
    }


def _groups(
    ds: Dataset, splits: Splits, y_pred: np.ndarray, cfg: FitConfig
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Test metrics per group of every ``report.groups`` column (TW-E04)."""
    report = cfg.report
    if not report.groups:
        return None, []
    test, train = splits.indices("test"), splits.indices("train")
    found: list[Finding] = []
    results = []
    for column in report.groups:
        labels, binned = groups.group_labels(ds.frame[column])
        result = groups.group_metrics(
            ds.task,
            column,
            labels.iloc[test].reset_index(drop=True),
            ds.y[test],
            y_pred,
            labels.iloc[train],
            report,
        )
        result["binned"] = binned
        results.append(result)
        gap = groups.gap_finding(ds.task, result, report)
        if gap is not None:
            found.append(gap)
    small = groups.small_groups_finding(results, report)
    if small is not None:
        found.append(small)
    return {"columns": results, "settings": report.model_dump()}, found


def analyze_examples(
    ds: Dataset, splits: Splits, keys: pd.DataFrame, test_outputs: np.ndarray, cfg: FitConfig
) -> Analysis:
    """Class balance or target ranges per split, the test predictions with what names each
    test example (``keys``: its path, text or series id, or its raw columns), and the
    per-group metrics."""
    test = splits.indices("test")
    predictions = prediction_frame(ds.task, test, ds.y[test], test_outputs)
    group_record, found = _groups(ds, splits, predictions["y_pred"].to_numpy(), cfg)
    return Analysis(
        data_summary=_split_summary(ds, splits),
        predictions=predictions,
        test_inputs=keys.iloc[test],
        groups=group_record,
        findings=found,
    )


class _ArrayOutputs:
    """A candidate seen through encoded arrays, as the explanation functions call it."""

    def __init__(self, candidate: Candidate, encoding: dict[str, Any]) -> None:
        self.candidate, self.encoding, self.name = candidate, encoding, candidate.name

    def outputs(self, num: np.ndarray, cat: np.ndarray) -> np.ndarray:
        frame = pd.DataFrame(index=range(len(num)))
        inputs = (torch.from_numpy(np.asarray(num)), torch.from_numpy(np.asarray(cat)))
        return self.candidate.outputs(Samples("table", frame, None, inputs, self.encoding))


def analyze_table(
    ds: Dataset,
    splits: Splits,
    samples: Samples,
    shipped: Candidate,
    network: Candidate,
    test_outputs: np.ndarray,
    cfg: FitConfig,
) -> Analysis:
    """Tables: the column summary, training rows as the input layer sees them (TW-D13), the
    test predictions with their raw columns, per-group metrics, and explanations of the
    shipped model on the validation split (TW-E05).

    ``test_outputs`` are the shipped model's outputs from the one sealed evaluation of the
    test split (TW-D07); the test split is not run through any model again here.
    """
    encoder = FeatureEncoder.from_json(samples.encoding["encoder"])
    rows = {n: splits.indices(n) for n in ("train", "validation", "test")}
    features = [c.name for c in ds.features]
    report = cfg.report
    keep = [*features, *[g for g in report.groups if g not in features]]
    analysis = analyze_examples(ds, splits, ds.frame[keep], test_outputs, cfg)
    analysis.data_summary = {
        "columns": summary.column_summary(ds, report.groups),
        **analysis.data_summary,
    }
    model = getattr(network, "model", None)
    if isinstance(model, TabularNet):
        analysis.data_summary["input_sample"] = summary.input_sample(
            ds, splits, encoder, model, report.input_sample, cfg.seed
        )
    val_frame = ds.frame.iloc[rows["validation"]][features]
    y_val = ds.y[rows["validation"]]
    view = _ArrayOutputs(shipped, samples.encoding)
    explanations: dict[str, Any] = {
        "model": shipped.name,
        "split": "validation",
        "importance": explain.permutation_importances(
            ds.task, view.outputs, encoder, val_frame, y_val, report, cfg.seed
        ),
    }
    if report.explain_examples:
        classes = [str(c) for c in ds.classes] if ds.classes is not None else None
        train_arrays = encoder.transform(ds.frame.iloc[rows["train"]].reset_index(drop=True))
        explanations["local"] = explain.attributions(
            ds.task,
            view,
            encoder,
            val_frame,
            y_val,
            train_arrays,
            report.explain_examples,
            cfg.seed,
            classes,
        )
    analysis.explanations = explanations
    return analysis


def write_analysis(run: Path, analysis: Analysis) -> None:
    """Write the record's files into the run directory."""
    write_json(run / "data_summary.json", analysis.data_summary)
    save_test_predictions(run, analysis.predictions, analysis.test_inputs)
    if analysis.groups is not None:
        write_json(run / "groups.json", analysis.groups)
    if analysis.explanations is not None:
        write_json(run / "explanations.json", analysis.explanations)
