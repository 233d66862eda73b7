"""https://github.com/pytorch/examples/blob/main/distributed/ddp-tutorial-series/multigpu_torchrun.py
pytorch/examples distributed/ddp-tutorial-series multigpu_torchrun.py (with datautils.py):
the DDP tutorial's fault-tolerant ``torchrun`` job: ``MyTrainDataset(2048)`` (inputs
``torch.rand(20)``, targets ``torch.rand(1)``, both random), ``torch.nn.Linear(20, 1)``,
SGD lr 1e-3, ``F.cross_entropy(output, targets)``, a ``DistributedSampler`` with
``set_epoch``, batch 32 a rank; the tutorial runs ``torchrun --nproc_per_node=gpu
multigpu_torchrun.py 50 10``.

Changed to run offline on 2 CPU cores: CPU and gloo instead of ``cuda:LOCAL_RANK`` and NCCL
(``DDP(model)`` without ``device_ids``, no ``pin_memory``); 5 epochs instead of 50 (the
arguments fixed, no argparse); no
snapshots (upstream saves one every 10 epochs and resumes from it; a fresh run never
resumes); one file (``MyTrainDataset`` from datautils.py below).

Not healthy, kept as written: ``F.cross_entropy`` of a (32, 1) output against (32, 1)
float targets treats them as class probabilities over ONE class, so the log-softmax is 0
and the loss is exactly 0 at every step with zero gradients: the job shows DDP's mechanics
and trains nothing (see ``run_examples.KNOWN``).
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch.distributed import destroy_process_group, init_process_group
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

# Read by run_examples.py (without importing this file): run under torchrun with 2 ranks.
TORCHRUN_NPROC = 2

TOTAL_EPOCHS, BATCH_SIZE = 5, 32


class MyTrainDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.data = [(torch.rand(20), torch.rand(1)) for _ in range(size)]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data[index]


class Trainer:
    def __init__(
        self, model: torch.nn.Module, train_data: DataLoader[Any], optimizer: torch.optim.Optimizer
    ) -> None:
        self.gpu_id = int(os.environ["LOCAL_RANK"])
        self.train_data = train_data
        self.optimizer = optimizer
        self.epochs_run = 0
        self.model = DDP(model)

    def _run_batch(self, source: torch.Tensor, targets: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        output = self.model(source)
        loss = F.cross_entropy(output, targets)
        loss.backward()
        self.optimizer.step()

    def _run_epoch(self, epoch: int) -> None:
        b_sz = len(next(iter(self.train_data))[0])
        steps = len(self.train_data)
        print(f"[GPU{self.gpu_id}] Epoch {epoch} | Batchsize: {b_sz} | Steps: {steps}")
        assert isinstance(self.train_data.sampler, DistributedSampler)
        self.train_data.sampler.set_epoch(epoch)
        for source, targets in self.train_data:
            self._run_batch(source, targets)

    def train(self, max_epochs: int) -> None:
        for epoch in range(self.epochs_run, max_epochs):
            self._run_epoch(epoch)


def main() -> None:
    init_process_group(backend="gloo")
    dataset = MyTrainDataset(2048)
    model = torch.nn.Linear(20, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    train_data = DataLoader(
        dataset, batch_size=BATCH_SIZE, shuffle=False, sampler=DistributedSampler(dataset)
    )
    Trainer(model, train_data, optimizer).train(TOTAL_EPOCHS)
    destroy_process_group()


if __name__ == "__main__":
    main()
