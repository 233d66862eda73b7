"""https://github.com/pytorch/examples/blob/main/distributed/minGPT-ddp/mingpt/main.py
pytorch/examples distributed/minGPT-ddp (main.py with trainer.py, model.py, char_dataset.py
and gpt2_train_cfg.yaml): a character-level GPT (token and learned position embeddings,
pre-LayerNorm blocks of ``nn.MultiheadAttention`` with a causal mask and a GELU MLP, dropout
0.1, GPT-2's init with the scaled residual projections; the model returns ``(logits, loss)``,
the loss ``F.cross_entropy`` inside ``forward``) trained on tiny-shakespeare with
``DistributedDataParallel`` under ``torchrun``: a ``DistributedSampler`` per loader
(``set_epoch`` each training epoch), AdamW (lr 3e-4, betas (0.9, 0.95), weight decay 0.1 on
the Linear and attention-projection weights only, ``create_optimizer``), mixed precision
(``torch.amp.autocast`` to float16 and a ``GradScaler``), ``clip_grad_norm_`` at 1.0 on the
scaled gradients (upstream clips before ``scaler.step`` unscales them: kept as written), 90/10
``random_split``, an evaluation pass over the test split after each epoch.

Changed to run offline on 2 CPU cores in a few minutes:
- ``torch.accelerator`` and NCCL -> CPU and gloo: ``init_process_group("gloo")``, the model
  stays on the CPU, ``DDP(model)`` without ``device_ids``; autocast and the GradScaler run with
  ``device_type="cpu"`` (both work on the CPU in torch 2.13, float16 included); no
  ``pin_memory`` (it needs an accelerator and warns without one); upstream's exit when fewer
  than 2 GPUs are found is dropped.
- No hydra or omegaconf: ``CONFIG`` is the yaml's values as a dict, with the changes below.
- Data: ``tinyshakespeare_5pct.txt`` next to this file is the first 5% (55,769 characters) of
  the tiny-shakespeare ``input.txt`` bundled in the example's ``data/`` folder, which is what
  the yaml's ``truncate: 0.05`` keeps of the downloaded one; ``truncate`` 0.25 of it here
  (13,942 characters, 196 steps a rank: float16 autocast costs ~5x a float32 step on this
  CPU). Read with ``Path.read_text`` instead of ``fsspec``.
- A smaller GPT and run: n_layer 3, n_head 3, n_embd 48 (minGPT's own ``gpt-nano`` in
  ``model.py``; was 8, 8, 512), block_size 64 (was 128), batch 32 a rank (was 216), 1 epoch
  (was 10); ``data_loader_workers`` 0 (was 4: two ranks on two cores).
- No snapshots (upstream saves one every 3 epochs to a local path or S3 and resumes from it;
  a fresh run never resumes), so no boto3/fsspec; ``generate`` (unused in training) left out.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributed import destroy_process_group, init_process_group
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, random_split
from torch.utils.data.distributed import DistributedSampler

# Read by run_examples.py (without importing this file): run under torchrun with 2 ranks.
TORCHRUN_NPROC = 2

DATA = Path(__file__).resolve().parent / "tinyshakespeare_5pct.txt"
CONFIG: dict[str, dict[str, Any]] = {
    "data_config": {"path": str(DATA), "block_size": 64, "train_split": 0.9, "truncate": 0.25},
    "gpt_config": {"n_layer": 3, "n_head": 3, "n_embd": 48},
    "trainer_config": {
        "max_epochs": 1,
        "batch_size": 32,
        "data_loader_workers": 0,
        "grad_norm_clip": 1.0,
        "use_amp": True,
    },
    "optimizer_config": {"weight_decay": 0.1, "learning_rate": 0.0003},
}


@dataclass
class GPTConfig:
    model_type: str = "gpt2"
    n_layer: int | None = None
    n_head: int | None = None
    n_embd: int | None = None
    vocab_size: int = 50257
    block_size: int = 1024
    embd_pdrop: float = 0.1
    resid_pdrop: float = 0.1
    attn_pdrop: float = 0.1


@dataclass
class OptimizerConfig:
    learning_rate: float = 3e-4
    weight_decay: float = 0.1


@dataclass
class DataConfig:
    path: str
    block_size: int
    train_split: float
    truncate: float = 1.0


@dataclass
class TrainerConfig:
    max_epochs: int
    batch_size: int
    data_loader_workers: int
    grad_norm_clip: float
    use_amp: bool


class MultiheadAttentionLayer(nn.Module):
    """Multi-head masked self-attention with a projection at the end."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd is not None
        assert config.n_head is not None
        self.resid_drop = nn.Dropout(config.resid_pdrop)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("mask", mask.view(1, 1, config.block_size, config.block_size))
        self.attn = nn.MultiheadAttention(
            embed_dim=config.n_embd,
            num_heads=config.n_head,
            dropout=config.attn_pdrop,
            batch_first=True,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, seq_size, _ = x.size()
        mask = self.mask[0, 0, :seq_size, :seq_size]
        y = self.attn(x, x, x, attn_mask=mask)[0]
        return self.resid_drop(self.c_proj(y))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd is not None
        self.ln1 = nn.LayerNorm(config.n_embd)
        self.ln2 = nn.LayerNorm(config.n_embd)
        self.attn = MultiheadAttentionLayer(config)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
            nn.Dropout(config.resid_pdrop),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class EmbeddingStem(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd is not None
        self.tok_emb = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.block_size, config.n_embd))
        self.drop = nn.Dropout(config.embd_pdrop)
        self.block_size = config.block_size

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, t = idx.size()
        assert t <= self.block_size, f"sequence of length {t}, block size is {self.block_size}"
        return self.drop(self.tok_emb(idx) + self.pos_emb[:, :t, :])


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_layer is not None
        assert config.n_embd is not None
        self.block_size = config.block_size
        self.emb_stem = EmbeddingStem(config)
        self.blocks = nn.Sequential(*[Block(config) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                p.data.normal_(mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        n_params = sum(p.numel() for p in self.blocks.parameters())
        print(f"number of parameters: {n_params / 1e6:.2f}M")

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self.ln_f(self.blocks(self.emb_stem(idx)))
        logits = self.head(x)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
        return logits, loss


def create_optimizer(model: nn.Module, opt_config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on Linear and attention-projection weights only."""
    decay, no_decay = set(), set()
    for mn, m in model.named_modules():
        for pn, _ in m.named_parameters():
            fpn = f"{mn}.{pn}" if mn else pn
            if pn.endswith("bias"):
                no_decay.add(fpn)
            elif (pn.endswith("weight") and isinstance(m, nn.Linear)) or pn.endswith(
                "in_proj_weight"  # the MultiheadAttention's input projection
            ):
                decay.add(fpn)
            elif (
                pn.endswith("weight") and isinstance(m, (nn.LayerNorm, nn.Embedding))
            ) or pn.endswith("pos_emb"):
                no_decay.add(fpn)
    param_dict = dict(model.named_parameters())
    assert not decay & no_decay, f"in both decay/no_decay sets: {decay & no_decay}"
    assert not param_dict.keys() - (decay | no_decay), "parameters in neither set"
    wd = opt_config.weight_decay
    optim_groups = [
        {"params": [param_dict[pn] for pn in sorted(decay)], "weight_decay": wd},
        {"params": [param_dict[pn] for pn in sorted(no_decay)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(optim_groups, lr=opt_config.learning_rate, betas=(0.9, 0.95))


class CharDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, data_cfg: DataConfig) -> None:
        data = Path(data_cfg.path).read_text(encoding="utf-8")
        data = data[: int(len(data) * data_cfg.truncate)]
        chars = sorted(set(data))
        print(f"Data has {len(data)} characters, {len(chars)} unique.")
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.block_size = data_cfg.block_size
        self.vocab_size = len(chars)
        self.data = data

    def __len__(self) -> int:
        return len(self.data) - self.block_size

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        dix = [self.stoi[s] for s in self.data[idx : idx + self.block_size + 1]]
        return torch.tensor(dix[:-1], dtype=torch.long), torch.tensor(dix[1:], dtype=torch.long)


class Trainer:
    def __init__(
        self,
        config: TrainerConfig,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        train_dataset: Dataset[Any],
        test_dataset: Dataset[Any] | None = None,
    ) -> None:
        self.config = config
        self.global_rank = int(os.environ["RANK"])
        self.device_type = "cpu"
        self.train_loader = self._prepare_dataloader(train_dataset)
        self.test_loader = self._prepare_dataloader(test_dataset) if test_dataset else None
        self.epochs_run = 0
        self.optimizer = optimizer
        if config.use_amp:
            self.scaler = torch.amp.GradScaler(self.device_type)
        self.model = DDP(model)

    def _prepare_dataloader(self, dataset: Dataset[Any]) -> DataLoader[Any]:
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            shuffle=False,
            num_workers=self.config.data_loader_workers,
            sampler=DistributedSampler(dataset),
        )

    def _run_batch(self, source: torch.Tensor, targets: torch.Tensor, train: bool = True) -> float:
        amp = torch.amp.autocast(
            device_type=self.device_type, dtype=torch.float16, enabled=self.config.use_amp
        )
        with torch.set_grad_enabled(train), amp:
            _, loss = self.model(source, targets)
        if train:
            self.optimizer.zero_grad(set_to_none=True)
            if self.config.use_amp:
                self.scaler.scale(loss).backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_norm_clip)
                self.optimizer.step()
        return float(loss.item())

    def _run_epoch(self, epoch: int, dataloader: DataLoader[Any], train: bool = True) -> None:
        if train:
            assert isinstance(dataloader.sampler, DistributedSampler)
            dataloader.sampler.set_epoch(epoch)
        step_type = "Train" if train else "Eval"
        for it, (source, targets) in enumerate(dataloader):
            batch_loss = self._run_batch(source, targets, train)
            if it % 100 == 0:
                rank = f"[RANK{self.global_rank}]"
                print(f"{rank} Epoch {epoch} | Iter {it} | {step_type} Loss {batch_loss:.5f}")

    def train(self) -> None:
        for epoch in range(self.epochs_run, self.config.max_epochs):
            epoch += 1
            self._run_epoch(epoch, self.train_loader, train=True)
            if self.test_loader:
                self._run_epoch(epoch, self.test_loader, train=False)


def main() -> None:
    init_process_group(backend="gloo")
    gpt_cfg = GPTConfig(**CONFIG["gpt_config"])
    opt_cfg = OptimizerConfig(**CONFIG["optimizer_config"])
    data_cfg = DataConfig(**CONFIG["data_config"])
    trainer_cfg = TrainerConfig(**CONFIG["trainer_config"])

    dataset = CharDataset(data_cfg)
    train_len = int(len(dataset) * data_cfg.train_split)
    train_set, test_set = random_split(dataset, [train_len, len(dataset) - train_len])
    gpt_cfg.vocab_size = dataset.vocab_size
    gpt_cfg.block_size = dataset.block_size
    model = GPT(gpt_cfg)
    optimizer = create_optimizer(model, opt_cfg)

    Trainer(trainer_cfg, model, optimizer, train_set, test_set).train()
    destroy_process_group()


if __name__ == "__main__":
    main()
