"""Shipped linear baselines export like networks (trainwell.export.linear): pooled pixels
(image), per-channel statistics (series) and the dummy compute the same features in torch;
a text's TF-IDF cannot, and its export is refused with why.

Tolerance: the export's parity tolerance (``ATOL + RTOL * max|output|``); the graphs compute
in float64 after the features, so the differences seen are ~1e-8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from contract_data import FACTORIES

import trainwell
from trainwell.candidates import LinearCandidate
from trainwell.errors import RunError
from trainwell.export import check_parity, export_run, load_exported
from trainwell.export.formats import (
    OnnxCandidate,
    TorchScriptCandidate,
    onnx_of_network,
    torchscript_of_network,
)
from trainwell.export.linear import linear_graph
from trainwell.features import NoFeatures
from trainwell.modalities.base import Samples
from trainwell.modalities.image import PooledPixels
from trainwell.modalities.series import SeriesStats
from trainwell.modalities.text import Tfidf


def _samples(kind: str, x: torch.Tensor) -> Samples:
    return Samples(kind, pd.DataFrame(index=range(len(x))), None, (x,), {})


CASES = {
    # 28x28 pixels pooled to 5x5: adaptive pooling with windows of unequal sizes.
    "image": (PooledPixels(5), torch.randint(0, 256, (12, 1, 28, 28)).to(torch.uint8), 25),
    "series": (SeriesStats(), torch.randn(12, 24, 3), 15),
    "dummy": (NoFeatures(), torch.randn(12, 24, 3), 0),
}


@pytest.mark.parametrize(
    ("case", "task"), [("image", "multiclass"), ("series", "binary"), ("dummy", "multiclass")]
)
def test_linear_baseline_graph_matches_the_candidate(case: str, task: str) -> None:
    features, x, width = CASES[case]
    rng = np.random.default_rng(0)
    rows = 3 if task == "multiclass" else 1
    candidate = LinearCandidate(
        "linear", features, rng.normal(size=(rows, width)), rng.normal(size=rows), task
    )
    samples = _samples(case, x)
    reference = candidate.outputs(samples)
    graph = linear_graph(candidate)
    exported = OnnxCandidate("linear", onnx_of_network(graph, (x,)), task, "network")
    parity = check_parity(task, reference, exported.outputs(samples))
    assert parity.passed, parity
    assert parity.max_abs_diff < 1e-5
    traced = TorchScriptCandidate("linear", torchscript_of_network(graph, (x,)), task)
    assert check_parity(task, reference, traced.outputs(samples)).passed
    # Planted fault: a model with another intercept is told apart by the same check.
    shifted = candidate.intercept + 2.0 * (np.arange(rows) == 0)
    wrong = LinearCandidate("linear", features, candidate.coef, shifted, task)
    assert not check_parity(task, wrong.outputs(samples), exported.outputs(samples)).passed


def test_text_tfidf_baseline_is_refused_with_why() -> None:
    features = Tfidf.fit(["a good film", "a bad film"])
    candidate = LinearCandidate("linear", features, np.zeros((1, 5)), np.zeros(1), "binary")
    with pytest.raises(RunError, match="tfidf features, which are computed in Python"):
        linear_graph(candidate)


def test_series_run_shipping_its_linear_baseline_exports(tmp_path: Path) -> None:
    spec = FACTORIES["series"](tmp_path)
    run = trainwell.fit(
        spec.data,
        out=tmp_path / "run",
        overrides=[
            "train.max_epochs=1", "train.lr_find_steps=10", "report.energy=false",
            "doctor.overfit_batch=false", "report.explain_examples=0",
            "report.importance_repeats=1", "logging.progress=false", "baselines.ship=linear",
            *spec.overrides,
        ],
        quiet=True,
        **spec.options,
    )  # fmt: skip
    assert run.manifest["shipped"] == "linear"
    entry = export_run(run.path, "onnx")
    assert entry["exported_from"] == {"kind": "linear", "name": "linear"}
    assert entry["parity"]["passed"]
    assert entry["parity"]["max_abs_diff"] < 1e-5
    assert entry["raw_inputs"]["in_graph"] is False
    assert "grouping the long table's rows" in entry["raw_inputs"]["outside"]
    ours = load_exported(run.path / "export" / "model.onnx").predict(spec.new)
    theirs = run.predict(spec.new)
    assert (ours["prediction"] == theirs["prediction"]).all()
    np.testing.assert_allclose(
        ours.select_dtypes("number").to_numpy(),
        theirs.select_dtypes("number").to_numpy(),
        atol=1e-5,
    )
