"""A wide series' gap fill inside the exported file (trainwell.export.gaps): ONNX Runtime
and the scripted module, fed the row's values with gaps, give exactly what the run's Python
fill gives (forward fill, backward fill before the first value, 0 for an empty row).

No run is fitted: a tiny network with random weights is enough to show that the folded file
computes the network on the filled signal (tolerance: the export's ``ATOL + RTOL``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from trainwell.export import ATOL, RTOL, check_parity
from trainwell.export.formats import (
    OnnxCandidate,
    TorchScriptCandidate,
    onnx_of_network,
    torchscript_of_network,
)
from trainwell.export.gaps import torch_gap_fill
from trainwell.export.inputs import RAW_GRAPHS, RAW_SCRIPTS
from trainwell.modalities.base import Samples
from trainwell.modalities.wide_series import _values

LENGTH = 12
COLUMNS = [f"t{i}" for i in range(LENGTH)]
ENCODING = {"modality": "wide_series", "columns": COLUMNS, "length": LENGTH, "channels": ["value"]}


class TinyNet(torch.nn.Module):
    """A stand-in series network: ``predict`` takes ``[N, length, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(LENGTH, 3)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(x[:, :, 0]), dim=1)


def _rows(n: int = 40) -> pd.DataFrame:
    """Rows with every kind of gap: inside, leading, trailing, a whole row, and ±inf."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(n, LENGTH))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[0, :4] = np.nan  # leading gaps: the first value (backward fill)
    values[1, -3:] = np.nan  # trailing: the last value
    values[2, :] = np.nan  # no value at all: 0
    values[3, :] = np.nan
    values[3, 5] = 7.0  # one value: everywhere
    values[4, 6] = np.inf  # a value, not a gap
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame["t7"] = frame["t7"].astype(object)
    frame.loc[5, "t7"] = "n/a"  # text is a gap
    return frame


def test_gap_fill_matches_the_python_fill_exactly() -> None:
    frame = _rows()
    expected = _values(frame, COLUMNS).numpy()
    raw = RAW_GRAPHS["wide_series"].feeds(frame, ENCODING)["signal"]
    assert np.isnan(raw).sum() > 100  # the gaps reach the file
    filled = torch_gap_fill(torch.from_numpy(raw)).numpy()
    np.testing.assert_array_equal(filled, expected)
    assert filled[2].tolist() == [[0.0]] * LENGTH
    assert filled[3].tolist() == [[7.0]] * LENGTH


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_exported_files_fill_the_gaps_themselves() -> None:
    import onnxruntime as ort

    frame = _rows().drop(index=4).reset_index(drop=True)  # inf makes the network's NaN
    net = TinyNet().eval()
    filled = _values(frame, COLUMNS)
    samples = Samples("wide_series", frame, None, (filled,), ENCODING)
    with torch.no_grad():
        reference = net.predict(filled).double().numpy()
    graph = RAW_GRAPHS["wide_series"].fold(onnx_of_network(net, (filled,)), ENCODING)
    # ONNX Runtime alone, fed the raw values with NaN gaps.
    session = ort.InferenceSession(graph)
    assert [(i.name, i.shape[1]) for i in session.get_inputs()] == [("signal", LENGTH)]
    raw = frame[COLUMNS].apply(pd.to_numeric, errors="coerce").to_numpy(np.float32)
    np.testing.assert_allclose(
        session.run(None, {"signal": raw})[0], reference, atol=ATOL + RTOL, rtol=0
    )
    gaps = RAW_GRAPHS["wide_series"]
    onnx = OnnxCandidate("n", graph, "multiclass", "network", raw=gaps, encoding=ENCODING)
    script = RAW_SCRIPTS["wide_series"]
    data = script.wrap(torchscript_of_network(net, (filled,)), ENCODING)
    scripted = TorchScriptCandidate("n", data, "multiclass", raw=script, encoding=ENCODING)
    for exported in (onnx, scripted):
        parity = check_parity("multiclass", reference, exported.outputs(samples))
        assert parity.passed, parity
    # Planted fault: fed the gaps as zeros (no fill), the outputs differ: the fill is used.
    zeros = np.nan_to_num(raw, nan=0.0, posinf=np.inf)
    assert np.abs(session.run(None, {"signal": zeros})[0] - reference).max() > ATOL + RTOL
