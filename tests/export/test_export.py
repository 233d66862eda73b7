"""``trainwell export``: ONNX and TorchScript files that predict what the run predicts.

One tiny run per modality (table, image, series; module-scoped), each exported once per
format. Tolerance of the comparisons: the export's own parity tolerance (``ATOL + RTOL *
max|output|``, ~1e-4 on probabilities); ONNX Runtime and eager PyTorch agree to ~1e-7 here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from contract_data import FACTORIES, ContractData
from helpers import run_cli

import trainwell
from trainwell.errors import RunError
from trainwell.export import ATOL, RTOL, check_parity, export_run, load_exported
from trainwell.export import exporter as exporter_module
from trainwell.export.compress import compress_run, mark_pareto
from trainwell.export.sparse import load_sparse
from trainwell.modalities.base import Samples
from trainwell.pipeline import Prepared
from trainwell.predictor import Predictor

SETTINGS = [
    "train.max_epochs=2", "train.lr_find_steps=20", "report.energy=false",
    "doctor.overfit_batch=false", "report.explain_examples=0", "report.importance_repeats=1",
    "logging.progress=false", "baselines.ship=network",
]  # fmt: skip
FORMATS = ("onnx", "torchscript")


def _fit(spec: ContractData, out: Path, extra: list[str] = ()) -> trainwell.Run:
    return trainwell.fit(
        spec.data, out=out, overrides=[*SETTINGS, *spec.overrides, *extra], quiet=True,
        **spec.options,
    )  # fmt: skip


Exported = tuple[str, ContractData, trainwell.Run, dict[str, dict[str, Any]]]
_CACHE: dict[str, Exported] = {}


def _exported(name: str, factory: pytest.TempPathFactory) -> Exported:
    """A tiny run of ``name`` shipping its network, exported in both formats (once per
    module: the parametrized fixture and the table-only tests share it)."""
    if name not in _CACHE:
        folder = factory.mktemp(f"export-{name}")
        spec = FACTORIES[name](folder)
        run = _fit(spec, folder / "run")
        entries = {fmt: export_run(run.path, fmt) for fmt in FORMATS}
        _CACHE[name] = (name, spec, run, entries)
    return _CACHE[name]


@pytest.fixture(scope="module", params=["table", "image", "series", "wide_series"])
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return _exported(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return _exported("table", tmp_path_factory)


def _numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame.select_dtypes("number").to_numpy(dtype=np.float64)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exported_file_predicts_what_the_run_predicts(exported: Exported, fmt: str) -> None:
    name, spec, run, entries = exported
    entry = entries[fmt]
    # Raw columns in the graph for a table's ONNX file; elsewhere export.json says what not.
    raw = entry["raw_inputs"]
    assert raw["in_graph"] is (name in {"table", "wide_series"})
    assert len(raw["outside"]) > 20
    model = load_exported(run.path / "export" / entry["file"])
    assert isinstance(model, Predictor)
    assert model.spec.kind == fmt
    ours, theirs = model.predict(spec.new), run.predict(spec.new)
    assert list(ours.columns) == list(theirs.columns)
    assert len(ours) == len(theirs) > 0
    assert (ours["prediction"].to_numpy() == theirs["prediction"].to_numpy()).all()
    np.testing.assert_allclose(_numbers(ours), _numbers(theirs), atol=ATOL + RTOL, rtol=0)
    # The parity check ran on the validation split and passed, with its numbers recorded.
    parity = entry["parity"]
    sizes = run.manifest["splits"]["sizes"]
    assert parity["split"] == "validation"
    assert parity["examples"] == sizes["validation"]
    assert parity["passed"]
    assert parity["max_abs_diff"] <= parity["tolerance"] < 1e-3
    assert parity["agreement"] == 1.0
    record = json.loads((run.path / "export" / "export.json").read_text())
    assert record["formats"][fmt]["sha256"] == entry["sha256"]
    assert entry["bytes"] == (run.path / "export" / entry["file"]).stat().st_size > 0


def test_table_onnx_file_alone_takes_raw_columns(table: Exported) -> None:
    """ONNX Runtime, no trainwell code, fed the raw new rows (numbers as float32, the
    category as text): the run's probabilities."""
    import onnxruntime as ort

    _, spec, run, _ = table
    assert isinstance(spec.new, pd.DataFrame)
    session = ort.InferenceSession(str(run.path / "export" / "model.onnx"))
    assert [i.name for i in session.get_inputs()] == ["a", "b", "c", "region"]
    feeds = {c: spec.new[[c]].to_numpy(np.float32) for c in "abc"}
    feeds["region"] = spec.new[["region"]].to_numpy(dtype=object)
    probabilities = session.run(None, feeds)[0]
    theirs = run.predict(spec.new)
    np.testing.assert_allclose(
        probabilities, theirs[["proba_no", "proba_yes"]].to_numpy(), atol=ATOL + RTOL, rtol=0
    )


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_table_torchscript_file_alone_takes_raw_columns(table: Exported) -> None:
    """torch.jit.load, no trainwell code, fed the raw new rows (numbers as a float tensor per
    column, the category as a list of strings): the run's probabilities, the vocabulary
    lookup inside the file (an unseen category is code 0, as the run reads it)."""
    _, spec, run, entries = table
    assert isinstance(spec.new, pd.DataFrame)
    raw = entries["torchscript"]["raw_inputs"]
    assert raw["signature"].startswith("forward(columns: Dict[str, Tensor], categories:")
    assert {i["name"]: i["argument"] for i in raw["inputs"]} == {
        "a": "columns", "b": "columns", "c": "columns", "region": "categories"
    }  # fmt: skip
    module = torch.jit.load(str(run.path / "export" / "model.pt"))
    new = spec.new.copy()
    new.loc[new.index[0], "region"] = "atlantis"  # unseen in training
    columns = {c: torch.tensor(new[c].to_numpy(np.float32)) for c in "abc"}
    with torch.no_grad():
        probabilities = module(columns, {"region": new["region"].tolist()}).numpy()
    theirs = run.predict(new)
    np.testing.assert_allclose(
        probabilities, theirs[["proba_no", "proba_yes"]].to_numpy(), atol=ATOL + RTOL, rtol=0
    )


def test_a_changed_export_is_refused_on_load(exported: Exported) -> None:
    _, _, run, entries = exported
    for fmt in FORMATS:
        path = run.path / "export" / entries[fmt]["file"]
        original = path.read_bytes()
        try:
            path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
            with pytest.raises(RunError, match="does not match its recorded sha256"):
                load_exported(path)
        finally:
            path.write_bytes(original)
        assert load_exported(path).spec.kind == fmt  # the restored file loads again


def test_predict_command_accepts_the_exported_file(
    table: Exported, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, spec, run, _ = table
    new = tmp_path / "new.csv"
    assert isinstance(spec.new, pd.DataFrame)
    spec.new.to_csv(new, index=False)
    code, from_run, _ = run_cli(["predict", str(run.path), str(new)], capsys)
    assert code == 0
    a = pd.read_csv(pd.io.common.StringIO(from_run))
    onnx = run.path / "export" / "model.onnx"
    for exported in (onnx, run.path / "export" / "model.pt"):
        code, from_file, _ = run_cli(["predict", str(exported), str(new)], capsys)
        assert code == 0
        b = pd.read_csv(pd.io.common.StringIO(from_file))
        assert (a["prediction"] == b["prediction"]).all()
        np.testing.assert_allclose(_numbers(a), _numbers(b), atol=ATOL + RTOL, rtol=0)
    # A changed file: one line, exit code 2.
    original = onnx.read_bytes()
    try:
        onnx.write_bytes(original + b"\0")
        code, _, err = run_cli(["predict", str(onnx), str(new)], capsys)
    finally:
        onnx.write_bytes(original)
    assert code == 2
    assert "sha256" in err
    assert len(err.strip().splitlines()) == 1


def test_export_refuses_a_graph_that_disagrees_with_the_run(
    table: Exported, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted fault: the exported network's last layer is shifted; the clean exports of the
    fixture are the control (they passed)."""
    _, _, run, _ = table
    record_before = (run.path / "export" / "export.json").read_bytes()
    real = exporter_module.network_to_export

    def perturbed(predictor: Predictor) -> torch.nn.Module:
        import copy

        net = copy.deepcopy(real(predictor))
        last = [p for p in net.parameters() if p.ndim == 1][-1]
        with torch.no_grad():
            last.add_(0.5)
        return net

    monkeypatch.setattr(exporter_module, "network_to_export", perturbed)
    for fmt in FORMATS:
        with pytest.raises(RunError, match=r"export refused: .* max \|difference\| [0-9.e-]+ >"):
            export_run(run.path, fmt)
    assert (run.path / "export" / "export.json").read_bytes() == record_before


def test_parity_numbers() -> None:
    reference = np.array([[0.9, 0.1], [0.2, 0.8], [0.55, 0.45]])
    clean = check_parity("binary", reference, reference + 1e-7)
    assert clean.passed
    assert clean.agreement == 1.0
    assert clean.max_abs_diff < 1e-6
    flipped = check_parity("binary", reference, reference[:, ::-1])
    assert not flipped.passed
    assert flipped.agreement == 0.0
    assert flipped.max_abs_diff == pytest.approx(0.8)
    values = np.array([1000.0, -2000.0, 5.0])
    assert check_parity("regression", values, values + 0.05).passed  # 1e-4 of 2000 = 0.2
    bad = check_parity("regression", values, values + np.array([0.0, 0.0, 1.0]))
    assert not bad.passed
    assert bad.agreement == pytest.approx(2 / 3)
    assert not check_parity("binary", reference, reference[:2]).passed


def test_lightgbm_run_exports_through_onnxmltools(tmp_path: Path) -> None:
    spec = FACTORIES["table"](tmp_path)
    run = _fit(spec, tmp_path / "run", ["baselines.ship=lightgbm", "train.max_epochs=1"])
    assert run.manifest["shipped"] == "lightgbm"
    entry = export_run(run.path, "onnx")
    assert entry["parity"]["passed"]
    assert "onnxmltools" in entry["exporter"]
    ours = load_exported(run.path / "export" / "model.onnx").predict(spec.new)
    theirs = run.predict(spec.new)
    assert (ours["prediction"] == theirs["prediction"]).all()
    np.testing.assert_allclose(_numbers(ours), _numbers(theirs), atol=ATOL + RTOL, rtol=0)
    with pytest.raises(RunError, match="exports to ONNX only"):
        export_run(run.path, "torchscript")
    with pytest.raises(RunError, match="compress works on networks"):
        compress_run(run.path)


def test_compress_refuses_a_run_that_ships_the_linear_baseline(tmp_path: Path) -> None:
    """The linear baseline is held as a one-layer network; compressing it as "the shipped
    network" gave 11-parameter variants and a student larger than its teacher (found by
    trying trainwell)."""
    spec = FACTORIES["table"](tmp_path)
    run = _fit(spec, tmp_path / "run", ["baselines.ship=linear", "train.max_epochs=1"])
    assert run.manifest["shipped"] == "linear"
    with pytest.raises(RunError, match="ships its linear baseline, not a network"):
        compress_run(run.path)
    assert not (run.path / "export" / "variants.json").exists()


def test_export_and_compress_command_lines(
    table: Exported, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, run, _ = table
    code, _, err = run_cli(["export", str(run.path), "--format", "torchscript"], capsys)
    assert code == 0
    assert "model.pt" in err
    assert "parity on" in err
    assert "validation examples" in err
    assert "takes the raw columns (a, b, c, region) (forward(columns: Dict" in err
    assert "outside the file" in err
    code, _, err = run_cli(["export", str(run.path), "--format", "pickle"], capsys)
    assert code == 2
    assert err.strip() == "trainwell: error: --format must be onnx or torchscript, not 'pickle'"
    code, _, err = run_cli(["compress", str(run.path), "--tolerance", "-1"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "--tolerance must be >= 0" in err


# --- trainwell compress ------------------------------------------------------------------


@pytest.fixture(scope="module")
def compressed(table: Exported) -> tuple[trainwell.Run, list[dict[str, Any]], list[np.ndarray]]:
    """The table run compressed (one sparsity, one fine-tuning epoch, few timed calls), with
    every subset of the data it took recorded and the sealed test split booby-trapped."""
    _, _, run, _ = table
    taken: list[np.ndarray] = []
    with pytest.MonkeyPatch.context() as mp:
        real_subset = Samples.subset

        def subset(self: Samples, rows: np.ndarray) -> Samples:
            result = real_subset(self, rows)
            assert result.rows is not None
            taken.append(result.rows)
            return result

        def sealed(self: Prepared) -> Any:
            raise AssertionError("compress opened the sealed test split")

        mp.setattr(Samples, "subset", subset)
        mp.setattr(Prepared, "sealed_test", sealed)
        rows = compress_run(run.path, sparsities=(0.5,), epochs=1, repeats=5)
    return run, rows, taken


def test_compress_never_opens_the_test_split(
    compressed: tuple[trainwell.Run, list[dict[str, Any]], list[np.ndarray]],
) -> None:
    run, _, taken = compressed
    splits = json.loads((run.path / "splits.json").read_text())
    test_rows = set(splits["test"])
    assert taken  # the spy saw the train and validation subsets
    assert all(not test_rows.intersection(rows.tolist()) for rows in taken)
    record = json.loads((run.path / "export" / "variants.json").read_text())
    assert record["split"] == "validation"
    assert record["examples"] == len(splits["validation"])


def test_compressed_variants_really_are_smaller(
    compressed: tuple[trainwell.Run, list[dict[str, Any]], list[np.ndarray]],
) -> None:
    run, rows, _ = compressed
    by_name = {r["variant"]: r for r in rows}
    assert list(by_name) == ["fp32 eager", "fp32 onnx", "int8 onnx", "pruned 50%", "student"]
    # int8: the weights take a quarter of the bytes, so the file is smaller.
    assert by_name["int8 onnx"]["bytes"] < by_name["fp32 onnx"]["bytes"]
    # Pruned: half the prunable weights are zero, stored sparse (values + bit mask): the file
    # really is smaller than the same weights stored dense, and the dense size is reported.
    pruned, dense = by_name["pruned 50%"], by_name["fp32 eager"]
    assert pruned["dense_bytes"] == dense["bytes"]
    assert pruned["bytes"] < 0.75 * dense["bytes"]
    assert pruned["zero_weights"] >= 0.5 * pruned["parameters"] * 0.9  # most weights prunable
    assert pruned["compressed_bytes"] < dense["compressed_bytes"]
    assert "stored sparse" in pruned["notes"]
    loaded = load_sparse((run.path / "export" / "variants" / pruned["file"]).read_bytes())
    zeros = sum(int((t == 0).sum()) for n, t in loaded.items() if n.endswith("weight"))
    assert zeros >= pruned["zero_weights"]  # the stored file holds the pruned weights
    # The student: fewer parameters, a smaller file, scored on the validation split.
    student = by_name["student"]
    assert student["parameters"] < dense["parameters"]
    assert student["bytes"] < dense["bytes"]
    assert student["metric"] == "accuracy"
    assert 0.0 <= student["validation"] <= 100.0
    for row in rows:  # every variant's file is stored with its sha256
        path = run.path / "export" / "variants" / row["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    table_md = (run.path / "export" / "variants.md").read_text()
    assert "| student |" in table_md
    assert "Pareto-best" in table_md
    report = (run.path / "report.html").read_text()  # the table joined the report
    assert "Speed and accuracy of compressed variants" in report
    assert 'data-key="variant.student"' in report


@pytest.fixture(scope="module", params=["image", "series"])
def backbone_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Exported:
    return _exported(request.param, tmp_path_factory)


def test_image_and_series_networks_get_a_distilled_student(backbone_run: Exported) -> None:
    """Distillation beyond tables: the image and series network's student is the same
    backbone with its size arguments cut, trained on soft labels, scored on validation."""
    _, _, run, _ = backbone_run
    rows = compress_run(run.path, sparsities=(0.5,), epochs=1, repeats=3)
    by_name = {r["variant"]: r for r in rows}
    student, dense = by_name["student"], by_name["fp32 eager"]
    assert "validation" in student, student["notes"]
    assert student["parameters"] < dense["parameters"]
    assert student["bytes"] < dense["bytes"]
    assert 0.0 <= student["validation"] <= 100.0
    assert by_name["pruned 50%"]["bytes"] < dense["bytes"]


def test_a_pretrained_backbone_has_no_student_and_says_why() -> None:
    from trainwell.export.compress import smaller_backbone

    class Pretrained(torch.nn.Module):
        def spec(self) -> dict[str, Any]:
            return {"name": "resnet18", "family": "timm", "in_channels": 3}

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = Pretrained()

    why = smaller_backbone(Net())
    assert isinstance(why, str)
    assert "resnet18 backbone has no size arguments" in why
    assert "checkpoint" in why


def _row(name: str, metric: float, latency: float, size: int) -> dict[str, Any]:
    return {
        "variant": name,
        "validation": metric,
        "latency_ms": {"batch_64": {"p50": latency}},
        "bytes": size,
    }


def test_a_variant_beyond_the_tolerance_is_never_pareto_best() -> None:
    rows = [
        _row("reference", 90.0, 10.0, 1000),
        _row("fast but worse", 80.0, 1.0, 100),  # planted: 10 points lost
        _row("smaller", 89.8, 9.0, 500),
        _row("dominated", 89.8, 12.0, 1200),  # as good, but slower and larger than "smaller"
    ]
    mark_pareto(rows, tolerance=0.5)
    marks = {r["variant"]: (r["within_tolerance"], r["pareto"]) for r in rows}
    assert marks["fast but worse"] == (False, False)
    assert marks["dominated"] == (True, False)
    assert marks["smaller"] == (True, True)
    assert marks["reference"] == (True, True)  # the best metric: not dominated
    mark_pareto(rows, tolerance=20.0)  # control: inside a wide tolerance it is chosen
    assert {r["variant"] for r in rows if r["pareto"]} == {"reference", "fast but worse", "smaller"}


# --- train.compile=true (TW-T13) ------------------------------------------------------------


def test_compiled_training_matches_eager_training(table: Exported, tmp_path: Path) -> None:
    """The table fixture's run (eager) against the same config with train.compile=true:
    the same losses every epoch and the same predictions, within 1e-6 (float32 rounding of
    fused kernels; dropout draws from torch's generator in both)."""
    _, spec, eager, _ = table
    compiled = _fit(spec, tmp_path / "compiled", ["train.compile=true"])
    assert compiled.manifest["network"]["compile"]["on"] is True
    assert eager.manifest["network"]["compile"]["on"] is False
    ours = json.loads((compiled.path / "history.json").read_text())
    theirs = json.loads((eager.path / "history.json").read_text())
    assert len(ours) == len(theirs) > 0
    for a, b in zip(ours, theirs, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-6)
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-6)
    np.testing.assert_allclose(
        _numbers(compiled.predict(spec.new)), _numbers(eager.predict(spec.new)), atol=1e-6
    )


def test_compile_without_a_compiler_says_why_and_trains_eager(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from trainwell.train import compile as compile_module

    monkeypatch.setattr(compile_module.shutil, "which", lambda name: None)
    monkeypatch.delenv("CXX", raising=False)
    net = torch.nn.Linear(2, 1)
    on, why = compile_module.compile_network(net, torch.device("cpu"))
    assert on is False
    assert why.startswith("train.compile=true: torch.compile on CPU needs a C++ compiler")
    assert why.endswith("training runs uncompiled")
    assert "\n" not in why
    assert getattr(net, "_compiled_call_impl", None) is None  # control: nothing compiled


def test_sparse_storage_is_exact_and_refuses_a_damaged_mask() -> None:
    from safetensors.torch import load, save

    from trainwell.export.sparse import sparse_bytes

    weight = torch.randn(40, 30, generator=torch.Generator().manual_seed(0)) + 10.0
    weight[:, :22] = 0  # 22 of 30 columns: 73% zeros, and the first mask byte is 0
    state = {"layer.weight": weight, "layer.bias": torch.randn(40)}
    data = sparse_bytes(state, {"layer.weight"})
    dense = save(state)
    assert len(data) < 0.5 * len(dense)  # 75% zeros: values + 1 bit per weight
    loaded = load_sparse(data)
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    tensors = load(data)  # planted fault: one more bit set in the mask
    mask = tensors["layer.weight.mask"].clone()
    assert int(mask[0]) == 0
    mask[0] = 1
    with pytest.raises(RunError, match="mask does not match its values"):
        load_sparse(save({**tensors, "layer.weight.mask": mask}))
