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
from trainwell.export.inputs import RAW_GRAPHS
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


def test_onnx_runtime_alone_takes_booleans_and_dates_as_raw_values(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame],
) -> None:
    """ONNX Runtime, no trainwell code: a boolean column fed as its truth values (float32,
    NaN missing) and a date column as numpy datetime64[ns] viewed as int64 (NaT missing); the
    calendar parts are computed in the graph. Dates before 1970, on Feb 29 and with a time
    zone are among them."""
    import onnxruntime as ort

    full, _, _ = encoded
    columns = ["a", "flag", "when"]
    encoder = FeatureEncoder(tuple(c for c in full.columns if c.name in columns), full.vocab)
    net, graph = _exported(full, columns)
    folded = RAW_GRAPHS["table"].fold(graph, {"modality": "table", "encoder": encoder.to_json()})
    when = ["1969-12-31T23:59:59", "2024-02-29T13:30:00", None, "2024-05-01T10:00:00+02:00"]
    new = pd.DataFrame(
        {
            "a": [0.5, np.nan, 2.0, -1.0],
            "flag": pd.Series([True, False, None, True], dtype=object),
            "when": pd.Series(when, dtype=object),
        }
    )
    session = ort.InferenceSession(folded)
    types = {i.name: i.type for i in session.get_inputs()}
    assert types == {"a": "tensor(float)", "flag": "tensor(float)", "when": "tensor(int64)"}
    stamps = pd.to_datetime(new["when"], utc=True, format="ISO8601").dt.tz_localize(None)
    feeds = {
        "a": new[["a"]].to_numpy(np.float32),
        "flag": pd.array(new["flag"], dtype="boolean").to_numpy(np.float32, na_value=np.nan),
        "when": stamps.to_numpy("datetime64[ns]").view(np.int64),
    }
    feeds = {k: v.reshape(-1, 1) for k, v in feeds.items()}
    ours = session.run(None, feeds)[0]
    with torch.no_grad():
        theirs = net.predict(*table_samples(new, encoder).inputs).numpy()
    np.testing.assert_allclose(ours, theirs, atol=ATOL + RTOL, rtol=0)
    # The planted fault: the date fed one day late changes the outputs (the parts are used).
    feeds["when"] = feeds["when"] + 86_400 * 10**9
    assert np.abs(session.run(None, feeds)[0] - theirs).max() > ATOL + RTOL


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_torchscript_module_takes_every_kind_of_raw_column(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame],
) -> None:
    """The scripted table module (trainwell.export.script), fed raw rows of every column
    kind with missing and unseen values: what the encoder and the network compute."""
    from trainwell.export.formats import TorchScriptCandidate, torchscript_of_network
    from trainwell.export.inputs import RAW_SCRIPTS

    encoder, encoding, new = encoded
    net = _network(encoder, _frame(120, 0), [c.name for c in encoder.columns])
    samples = table_samples(new, encoder)
    with torch.no_grad():
        reference = net.predict(*samples.inputs).double().numpy()
    script = RAW_SCRIPTS["table"]
    data = script.wrap(torchscript_of_network(net, samples.inputs), encoding)
    exported = TorchScriptCandidate("network", data, "multiclass", raw=script, encoding=encoding)
    parity = check_parity("multiclass", reference, exported.outputs(samples), ATOL, RTOL)
    assert parity.passed, parity
    assert parity.agreement == 1.0
    columns, categories = script.feeds(new, encoding)
    assert columns["when"].dtype == torch.int64
    assert categories["color"][0] == "purple"  # unseen: code 0 inside the module


def test_a_file_taking_other_raw_inputs_is_refused(
    encoded: tuple[FeatureEncoder, dict[str, Any], pd.DataFrame],
) -> None:
    """Planted fault: a file whose inputs are not those this version feeds (here a date
    column where the record says a boolean) is refused with what differs; the files above,
    loaded the same way, are the control."""
    from trainwell.errors import RunError

    full, _, _ = encoded
    _, graph = _exported(full, ["a", "when"])
    taken = FeatureEncoder(tuple(c for c in full.columns if c.name in {"a", "when"}), full.vocab)
    folded = RAW_GRAPHS["table"].fold(graph, {"modality": "table", "encoder": taken.to_json()})
    other = FeatureEncoder(tuple(c for c in full.columns if c.name in {"a", "flag"}), full.vocab)
    wrong = {"modality": "table", "encoder": other.to_json()}
    with pytest.raises(RunError, match=r"takes \('when', 'tensor\(int64\)'\), where this"):
        OnnxCandidate(
            "network", folded, "multiclass", "network", raw=RAW_GRAPHS["table"], encoding=wrong
        )
