"""The doctor sees a Hugging Face model's own ``outputs.loss`` (computed inside the model's
forward by ``transformers``' loss functions, not by an ``nn.*Loss`` module): a loss point per
optimizer step in a hand-written loop and under the HF ``Trainer``. Tiny Llama built from a
config: nothing is downloaded."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from trainwell import doctor
from trainwell.doctor import Doctor

VOCAB, SEQ, ROWS, BATCH = 48, 12, 64, 8


def tiny_llama() -> Any:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=SEQ,
    )
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config)


def token_rows() -> torch.Tensor:
    """Sequences that count up from a random start: each next token is predictable."""
    g = torch.Generator().manual_seed(0)
    start = torch.randint(0, VOCAB, (ROWS, 1), generator=g)
    return (start + torch.arange(SEQ)) % VOCAB


def test_custom_loop_records_the_models_own_loss() -> None:
    model = tiny_llama()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-4)
    ids = token_rows()
    seen: list[float] = []
    with doctor.watch(model, opt) as dr:
        model.train()
        for i in range(0, ROWS, BATCH):
            batch = ids[i : i + BATCH]
            opt.zero_grad()
            outputs = model(input_ids=batch, labels=batch)
            outputs.loss.backward()
            opt.step()
            seen.append(float(outputs.loss.detach()))
    assert len(seen) == ROWS // BATCH
    assert dr.curve.values == pytest.approx(seen, rel=1e-5)  # one point per step, same value
    assert seen[0] == pytest.approx(math.log(VOCAB), rel=0.15)  # an untrained LM starts at ln V
    assert not [f for f in dr.findings if f.severity != "info"]


def test_hf_trainer_records_the_models_own_loss(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    pytest.importorskip("accelerate", reason="transformers.Trainer needs accelerate")
    from trainwell.integrations.huggingface import DoctorCallback

    logged: list[float] = []
    original = Doctor._on_step_loss  # where every training loss point enters the curve

    def spy(self: Doctor, value: float) -> Any:
        logged.append(value)
        return original(self, value)

    monkeypatch.setattr(Doctor, "_on_step_loss", spy)
    model = tiny_llama()
    rows = [{"input_ids": r, "labels": r} for r in token_rows()]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        num_train_epochs=1,
        per_device_train_batch_size=BATCH,
        learning_rate=5e-4,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    cb = DoctorCallback()
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows, callbacks=[cb])
    trainer.train()
    steps = trainer.state.global_step
    assert steps == ROWS // BATCH
    assert len(logged) == steps  # one loss point per optimizer step, none missed
    assert all(math.isfinite(v) for v in logged)
    assert logged[0] == pytest.approx(math.log(VOCAB), rel=0.15)
    assert not [f for f in cb.findings if f.severity != "info"]
