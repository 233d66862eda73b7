"""Save everything the report needs beyond metrics, at the end of the evaluate stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from trainwell.analysis import explain, groups, summary
from trainwell.analysis.predictions import prediction_frame, save_test_predictions
from trainwell.baselines import Candidate
from trainwell.config import FitConfig
from trainwell.data import Dataset
from trainwell.findings import Finding
from trainwell.model import TabularNet
from trainwell.preprocess import FeatureEncoder
from trainwell.run import write_json
from trainwell.split import Splits


def _split_summary(ds: Dataset, splits: Splits) -> dict[str, Any]:
    return {
        "class_balance": summary.class_balance(ds, splits),
        "target_quartiles": summary.target_ranges(ds, splits),
        "split_sizes": {n: len(splits.indices(n)) for n in ("train", "validation", "test")},
    }


def record_examples(
    run: Path, ds: Dataset, splits: Splits, keys: pd.DataFrame, test_outputs: np.ndarray
) -> None:
    """Images, text and series: ``data_summary.json`` (class balance or target ranges per
    split) and ``predictions/`` from the one sealed test evaluation, each test example named
    by ``keys`` (its file path, text or series id), so the report can show the worst errors.
    Column summaries, groups and explanations are computed for tables only."""
    write_json(run / "data_summary.json", _split_summary(ds, splits))
    test = splits.indices("test")
    predictions = prediction_frame(ds.task, test, ds.y[test], test_outputs)
    save_test_predictions(run, predictions, keys.iloc[test])


def record_evaluation(
    run: Path,
    ds: Dataset,
    splits: Splits,
    encoder: FeatureEncoder,
    shipped: Candidate,
    network: Candidate,
    test_outputs: np.ndarray,
    cfg: FitConfig,
) -> list[Finding]:
    """Write ``data_summary.json``, ``predictions/``, ``groups.json`` and ``explanations.json``.

    ``test_outputs`` are the shipped model's outputs from the one sealed evaluation of the
    test split (TW-D07); the test split is not run through any model again here. Explanations
    use the validation split.

    Returns:
        The per-group findings (``group-gap``, ``groups-too-small``), for findings.json.
    """
    rows = {n: splits.indices(n) for n in ("train", "validation", "test")}
    features = [c.name for c in ds.features]
    report = cfg.report
    data: dict[str, Any] = {
        "columns": summary.column_summary(ds, report.groups),
        **_split_summary(ds, splits),
    }
    if isinstance(network.model, TabularNet):
        data["input_sample"] = summary.input_sample(
            ds, splits, encoder, network.model, report.input_sample, cfg.seed
        )
    write_json(run / "data_summary.json", data)

    predictions = prediction_frame(ds.task, rows["test"], ds.y[rows["test"]], test_outputs)
    keep = [*features, *[g for g in report.groups if g not in features]]
    save_test_predictions(run, predictions, ds.frame.iloc[rows["test"]][keep])

    found: list[Finding] = []
    if report.groups:
        y_pred = predictions["y_pred"].to_numpy()
        results = []
        for column in report.groups:
            labels, binned = groups.group_labels(ds.frame[column])
            result = groups.group_metrics(
                ds.task,
                column,
                labels.iloc[rows["test"]].reset_index(drop=True),
                ds.y[rows["test"]],
                y_pred,
                labels.iloc[rows["train"]],
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
        write_json(run / "groups.json", {"columns": results, "settings": report.model_dump()})

    val_frame = ds.frame.iloc[rows["validation"]][features]
    y_val = ds.y[rows["validation"]]

    explanations: dict[str, Any] = {
        "model": shipped.name,
        "split": "validation",
        "importance": explain.permutation_importances(
            ds.task, shipped.outputs, encoder, val_frame, y_val, report, cfg.seed
        ),
    }
    if report.explain_examples:
        classes = [str(c) for c in ds.classes] if ds.classes is not None else None
        train_arrays = encoder.transform(ds.frame.iloc[rows["train"]].reset_index(drop=True))
        explanations["local"] = explain.attributions(
            ds.task,
            shipped,
            encoder,
            val_frame,
            y_val,
            train_arrays,
            report.explain_examples,
            cfg.seed,
            classes,
        )
    write_json(run / "explanations.json", explanations)
    return found
