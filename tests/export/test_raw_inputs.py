"""The exported table graph takes raw columns (trainwell.export.raw): every column kind
(numbers with NaN and inf, booleans, dates, low- and high-cardinality categories with missing
and unseen values), a network and a LightGBM model, run by ONNX Runtime from raw values only.

No run is fitted: a network with random weights on a fitted encoder is enough to show that
the folded graph computes what the encoder and the network compute (tolerance: the export's
``ATOL + RTOL * max|output|``; seen ~1e-7).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from trainwell.config import ModelConfig
from trainwell.data.schema import ColumnSpec
from trainwell.export import ATOL, RTOL, check_parity
from trainwell.export.formats import OnnxCandidate, onnx_of_lightgbm, onnx_of_network
from trainwell.export.raw import RAW_GRAPHS
from trainwell.modalities.table import table_samples
from trainwell.models.tabular import TabularNet, mlp_spec
from trainwell.preprocess import FeatureEncoder, TabularInput

COLUMNS = (
    ColumnSpec("a", "numeric"),
    ColumnSpec("flag", "boolean"),
    ColumnSpec("when", "datetime"),
    ColumnSpec("color", "categorical"),
    ColumnSpec("city", "categorical"),
)


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    a[::7] = np.nan
    a[3] = np.inf
    flag = rng.choice(["yes", "No", " y ", None], size=n)
    days = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 400, n), unit="D")
    when = pd.Series(days.strftime("%Y-%m-%dT%H:00:00"), dtype=object)
    when[::9] = None
    color = pd.Series(rng.choice(["red", "green", "blue"], size=n), dtype=object)
    color[::5] = None
    city = pd.Series([f"city{int(i)}" for i in rng.integers(0, 30, n)], dtype=object)
    return pd.DataFrame({"a": a, "flag": flag, "when": when, "color": color, "city": city})


@pytest.fixture(scope="module")
def encoded() -> tuple[FeatureEncoder, dict[str, Any], pd.DataFrame]:
    train = _frame(120, 0)
    encoder = FeatureEncoder.fit(train, COLUMNS)
    new = _frame(60, 1)
    new.loc[0, "color"] = "purple"  # unseen: code 0
    new.loc[1, "city"] = "atlantis"
    return encoder, {"modality": "table", "encoder": encoder.to_json()}, new


def _network(encoder: FeatureEncoder, frame: pd.DataFrame, columns: list[str]) -> TabularNet:
    torch.manual_seed(0)
    sub = FeatureEncoder(tuple(c for c in encoder.columns if c.name in columns), encoder.vocab)
    num, cat = sub.transform(frame)
    sizes = [len(sub.vocab[name]) for name in sub.categorical_names]
    inputs = TabularInput.fit(num, cat, sizes, embedding_threshold=5)
    head = mlp_spec(inputs.out_features, 3, 16, 1, ModelConfig())
    return TabularNet(inputs, head, "multiclass").eval()


_BYTES: dict[str, tuple[TabularNet, bytes]] = {}


def _exported(encoder: FeatureEncoder, columns: list[str]) -> tuple[TabularNet, bytes]:
    """A random network on ``columns`` and its ONNX graph (tensors in), once per module."""
    key = ",".join(columns)
    if key not in _BYTES:
        sub = FeatureEncoder(tuple(c for c in encoder.columns if c.name in columns), encoder.vocab)
        net = _network(encoder, _frame(120, 0), columns)
        _BYTES[key] = net, onnx_of_network(net, table_samples(_frame(8, 2), sub).inputs)
    return _BYTES[key]


@pytest.mark.parametrize(
    "columns",
    [["a", "flag", "when", "color", "city"], ["a", "when"], ["color", "city"]],
    ids=["every-kind", "numbers-only", "categories-only"],
)
def test_folded_network_takes_raw_columns(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame], columns: list[str]
) -> None:
    full, _, new = encoded
    encoder = FeatureEncoder(tuple(c for c in full.columns if c.name in columns), full.vocab)
    encoding = {"modality": "table", "encoder": encoder.to_json()}
    net, graph = _exported(full, columns)
    samples = table_samples(new, encoder)
    with torch.no_grad():
        reference = net.predict(*samples.inputs).double().numpy()
    raw = RAW_GRAPHS["table"]
    data = raw.fold(graph, encoding)
    exported = OnnxCandidate("network", data, "multiclass", "network", raw=raw, encoding=encoding)
    names = [i.name for i in exported.session.get_inputs()]
    assert names == columns  # one input per raw column, the column's own name
    kinds = {i.name: i.type for i in exported.session.get_inputs()}
    assert all(kinds[c] == "tensor(string)" for c in columns if c in {"color", "city"})
    parity = check_parity("multiclass", reference, exported.outputs(samples), ATOL, RTOL)
    assert parity.passed, parity
    assert parity.agreement == 1.0
    # ONNX Runtime alone, fed raw values: strings for categories, any unseen text is code 0.
    feeds = raw.feeds(new, encoding)
    if "color" in feeds:
        assert feeds["color"][0, 0] == "purple"
        feeds["color"][2, 0] = "never seen"
        changed = new.copy()
        changed.loc[2, "color"] = None  # missing and unseen share code 0
        ours = exported.session.run(None, feeds)[0]
        with torch.no_grad():
            theirs = net.predict(*table_samples(changed, encoder).inputs).numpy()
        np.testing.assert_allclose(ours, theirs, atol=ATOL + RTOL, rtol=0)


def test_planted_wrong_vocabulary_is_caught_by_parity(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame],
) -> None:
    """Planted fault: the graph is folded with a vocabulary in another order; the parity
    check (the export's gate) fails. The test above is the control."""
    encoder, _, new = encoded
    net, graph = _exported(encoder, [c.name for c in encoder.columns])
    samples = table_samples(new, encoder)
    with torch.no_grad():
        reference = net.predict(*samples.inputs).double().numpy()
    shuffled = FeatureEncoder(
        encoder.columns, {**encoder.vocab, "city": encoder.vocab["city"][::-1]}
    )
    wrong = {"modality": "table", "encoder": shuffled.to_json()}
    raw = RAW_GRAPHS["table"]
    data = raw.fold(graph, wrong)
    exported = OnnxCandidate("network", data, "multiclass", "network", raw=raw, encoding=wrong)
    assert not check_parity("multiclass", reference, exported.outputs(samples)).passed


def test_folded_lightgbm_takes_raw_columns(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame],
) -> None:
    import lightgbm as lgb

    from trainwell.candidates import LightGBMCandidate

    encoder, encoding, new = encoded
    train = _frame(120, 0)
    num, cat = encoder.transform(train)
    y = (np.nan_to_num(num[:, 0]) + cat[:, 0] > 1).astype(int)
    matrix = np.hstack([num, cat]).astype(np.float64)
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 5, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(matrix, y), num_boost_round=8)
    samples = table_samples(new, encoder)
    reference = LightGBMCandidate("lightgbm", booster, "binary").outputs(samples)
    raw = RAW_GRAPHS["table"]
    data = raw.fold(onnx_of_lightgbm(booster, matrix.shape[1]), encoding)
    exported = OnnxCandidate("lightgbm", data, "binary", "lightgbm", raw=raw, encoding=encoding)
    assert [i.name for i in exported.session.get_inputs()] == [c.name for c in encoder.columns]
    parity = check_parity("binary", reference, exported.outputs(samples))
    assert parity.passed, parity
