"""The contract every registered modality keeps (in the spirit of scikit-learn's
``check_estimator``): options honoured or refused, the sealed test split, resume, shipping any
baseline, the saved predictions, ``lr-find`` agreeing with ``fit``, and ``load().predict``.

Each modality is fitted a few times on tiny data (module-scoped, shared by the checks). The
first six divergences issue 11 listed between tables and the other modalities each have a
check here: SGD honoured, any baseline shippable, ``--groups`` honoured or refused,
``batch_size.json`` everywhere, ``load(run).model``, the test labels sealed; the seventh,
``lr-find`` drawing other weights than ``fit``, is ``test_lr_find_suggests_what_fit_records``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from contract_data import FACTORIES, ContractData
from helpers import InterruptAfter
from safetensors.torch import load_file

import trainwell
from trainwell.candidates import LightGBMCandidate, LinearCandidate, NetworkCandidate
from trainwell.config import MODALITY_SECTIONS, FitConfig, build_config
from trainwell.errors import ConfigError, TrainwellError
from trainwell.evaluate import SealedTest, task_metrics
from trainwell.modalities.base import Samples
from trainwell.modalities.registry import REGISTRY
from trainwell.pipeline import prepare

NAMES = sorted(REGISTRY)
# Tiny and fast; SGD (not the default) so that honouring train.optimizer is visible.
SETTINGS = [
    "train.max_epochs=2", "train.optimizer=sgd", "train.lr_find_steps=20",
    "report.energy=false", "doctor.overfit_batch=false", "report.explain_examples=0",
    "report.importance_repeats=1", "logging.progress=false",
]  # fmt: skip


def _fit(spec: ContractData, out: Path, extra: list[str] = (), **kwargs: Any) -> trainwell.Run:
    options = {k: v for k, v in spec.options.items()}
    return trainwell.fit(
        spec.data, out=out, overrides=[*SETTINGS, *spec.overrides, *extra], quiet=True,
        **options, **kwargs,
    )  # fmt: skip


def test_every_registered_modality_has_contract_data() -> None:
    assert sorted(FACTORIES) == NAMES


@pytest.fixture(scope="module", params=NAMES)
def case(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, ContractData, trainwell.Run, list[tuple[str, Any]]]:
    """A run of each modality shipping its linear baseline, with every model output on
    every split recorded (to prove the test split stayed sealed)."""
    name = request.param
    folder = tmp_path_factory.mktemp(name)
    spec = FACTORIES[name](folder)
    events: list[tuple[str, Any]] = []
    with pytest.MonkeyPatch.context() as mp:
        for cls in (NetworkCandidate, LinearCandidate, LightGBMCandidate):
            real = cls.outputs

            def spy(self: Any, samples: Samples, real: Any = real) -> np.ndarray:
                events.append(("outputs", samples.rows))
                return real(self, samples)  # type: ignore[no-any-return]

            mp.setattr(cls, "outputs", spy)
        real_open = SealedTest.open

        def opened(self: SealedTest) -> tuple[Samples, np.ndarray]:
            events.append(("open", self.rows))
            return real_open(self)

        mp.setattr(SealedTest, "open", opened)
        groups = spec.groups
        run = _fit(spec, folder / "run", ["baselines.ship=linear"], groups=groups)
    return name, spec, run, events


def test_the_test_split_is_read_only_after_it_is_opened_once(case: Any) -> None:
    _, _, _, events = case
    opens = [i for i, (kind, _) in enumerate(events) if kind == "open"]
    assert len(opens) == 1
    test_rows = set(events[opens[0]][1].tolist())
    before = [rows for kind, rows in events[: opens[0]] if kind == "outputs"]
    assert before, "candidates were scored on validation before the test split was opened"
    for rows in before:
        assert rows is not None
        assert not test_rows & set(rows.tolist())
    after = [rows for kind, rows in events[opens[0] :] if kind == "outputs"]
    assert any(rows is not None and set(rows.tolist()) == test_rows for rows in after)


def test_train_optimizer_is_honoured(case: Any) -> None:
    _, _, run, _ = case
    assert run.manifest["network"]["optimizer"] == "sgd"
    checkpoint = sorted((run.path / "checkpoints").glob("epoch-*.safetensors"))[-1]
    tensors = load_file(str(checkpoint))
    assert any("momentum_buffer" in key for key in tensors), "SGD keeps momentum buffers"
    assert not any(key.endswith("exp_avg_sq") for key in tensors), "no Adam moments"


def test_a_baseline_is_shipped_and_predicts(case: Any) -> None:
    _, spec, run, _ = case
    assert run.metrics["shipped"] == "linear"
    assert json.loads((run.path / "model" / "model.json").read_text())["name"] == "linear"
    loaded = trainwell.load(run.path)
    predictions = loaded.predict(spec.new)
    assert len(predictions) > 0
    assert "prediction" in predictions.columns
    proba = predictions.filter(like="proba_").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)


def test_drift_is_profiled_at_fit_and_measured_alike_on_new_data(case: Any) -> None:
    """``train_profile.json`` holds the modality's drift features (TW-P06), and the same
    features come out of new data as the server measures them: one value per example."""
    name, spec, run, _ = case
    profile = json.loads((run.path / "train_profile.json").read_text())
    assert profile["features"], f"{name}: no drift features profiled"
    samples = trainwell.load(run.path).model.samples(spec.new)
    measured = REGISTRY[name].drift_features(samples)
    assert set(measured) == set(profile["features"])
    for feature, (kind, values) in measured.items():
        assert kind == profile["features"][feature]["kind"]
        assert len(values) == len(samples)


def test_saved_test_predictions_reproduce_the_metrics(case: Any) -> None:
    _, _, run, _ = case
    saved = pd.read_parquet(run.path / "predictions" / "test.parquet")
    proba = saved.filter(regex=r"^p_\d+$").to_numpy()
    recomputed = task_metrics(run.manifest["data"]["task"], saved["y_true"].to_numpy(), proba)
    for key, value in run.metrics["test"].items():
        if value is not None and key in recomputed:
            assert recomputed[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_groups_are_reported_or_refused(case: Any, tmp_path: Path) -> None:
    _name, spec, run, _ = case
    if spec.groups is not None:
        groups = json.loads((run.path / "groups.json").read_text())
        assert [c["column"] for c in groups["columns"]] == [spec.groups]
        return
    with pytest.raises(TrainwellError, match="--groups"):
        _fit(spec, tmp_path / "refused", groups="anything")
    assert not (tmp_path / "refused").exists()


def test_the_batch_plan_is_kept_for_resume(case: Any) -> None:
    _, _, run, _ = case
    plan = json.loads((run.path / "batch_size.json").read_text())
    assert plan["batch_size"] == run.manifest["network"]["batch_size"]


def test_resume_after_an_interrupt_ends_bit_identical(case: Any, tmp_path: Path) -> None:
    """Stopped after epoch 1 and resumed, the network's final weights equal those of the
    uninterrupted run (the shared run: the shipped baseline does not change the network)."""
    _, spec, run, _ = case
    with pytest.raises(KeyboardInterrupt):
        _fit(spec, tmp_path / "cut", ["baselines.ship=linear"], groups=spec.groups,
             callbacks=[InterruptAfter(1)])  # fmt: skip
    resumed = trainwell.fit(resume=tmp_path / "cut", quiet=True)
    assert resumed.manifest["status"] == "complete"
    last = "epoch-0002.safetensors"
    full = load_file(str(run.path / "checkpoints" / last))
    again = load_file(str(resumed.path / "checkpoints" / last))
    model_keys = [k for k in full if k.startswith("s.model.")]
    assert model_keys
    for key in model_keys:
        assert torch.equal(full[key], again[key]), key


def test_lr_find_suggests_what_fit_records(case: Any) -> None:
    _, spec, run, _ = case
    recorded = json.loads((run.path / "lr_find.json").read_text())
    test = trainwell.lr_find(spec.data, overrides=[*SETTINGS, *spec.overrides], **spec.options)
    assert test.suggestion == recorded["suggestion"]
    assert test.losses == pytest.approx(recorded["losses"], rel=0, abs=0)


def _other_value(cfg: FitConfig, section: str, key: str) -> Any:
    """A valid value for ``section.key`` that differs from its default."""
    model = type(getattr(cfg, section))
    field = model.model_fields[key]
    default = field.get_default(call_default_factory=True)
    annotation = str(field.annotation)
    candidates: list[Any] = []
    if "Literal" in annotation:
        candidates = list(getattr(field.annotation, "__args__", ()))
    candidates += [not default if isinstance(default, bool) else True, "x", ["x"], 32, 0.25, 2]
    for value in candidates:
        if value == default:
            continue
        try:
            model.model_validate({key: value})
        except Exception:
            continue
        return value
    raise AssertionError(f"no other valid value for {section}.{key}")


@pytest.mark.parametrize("name", NAMES)
def test_every_key_a_modality_does_not_read_is_refused(name: str, tmp_path: Path) -> None:
    """A key of a modality-dependent section (model, augment, data, image, text, series)
    that has no effect on this modality's data is a ConfigError naming the key, before
    anything is read or written."""
    spec = FACTORIES[name](tmp_path)
    modality = REGISTRY[name]
    base = build_config(**{f"data__{k}": v for k, v in spec.options.items()})
    refused = 0
    for section in MODALITY_SECTIONS:
        for key in type(getattr(base, section)).model_fields:
            full = f"{section}.{key}"
            if full in modality.options or full in {"data.target", "data.task", "augment.enabled"}:
                continue
            if section == "data" and (key in spec.options or key in {"text", "series"}):
                continue  # given, or they choose the modality (the registry's `claims`)
            value = _other_value(base, section, key)
            override = f"{full}={json.dumps(value)}"
            cfg = build_config(
                overrides=[override], **{f"data__{k}": v for k, v in spec.options.items()}
            )
            with pytest.raises(ConfigError, match=full.replace(".", r"\.")):
                prepare(spec.data, cfg)  # type: ignore[arg-type]
            refused += 1
    assert refused > 0 or name == "none"
