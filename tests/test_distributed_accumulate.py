"""Gradient accumulation under DistributedDataParallel skips the all-reduce of the
micro-batches before each step's last (``DDP.no_sync``, in trainwell.train.loop), and
gradual unfreezing trains under it (``trainwell.distributed.wrap(net, unfreezes=True)``).

Two gloo processes train the same tiny network twice through :func:`trainwell.train.loop.train`
with 4 micro-batches per step: once as the loop runs it (no_sync), once with no_sync hidden
(every micro-batch all-reduced). A DDP communication hook counts the all-reduces.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import HANG_GUARD_S

pytestmark = pytest.mark.xdist_group("gloo")  # see tests/test_distributed.py

WORKER = r"""
import json, sys
import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
from torch.nn.parallel import DistributedDataParallel
from trainwell.train.loop import InMemoryData, train

rank, world, store, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=world)
torch.manual_seed(0)
x, y = torch.randn(64, 5), torch.randn(64, 1)
mine = slice(rank, None, world)  # 32 rows per process: 8 micro-batches of 4, 2 steps an epoch
results = {}
for mode in ("no_sync", "every_batch"):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    ddp = DistributedDataParallel(net)
    calls = [0]

    def hook(state, bucket):
        calls[0] += 1
        return allreduce_hook(None, bucket)

    ddp.register_comm_hook(None, hook)
    if mode == "every_batch":
        ddp.no_sync = None  # what the loop sees of a model without no_sync
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    data = InMemoryData((x[mine],), y[mine], batch_size=4, shuffle=False)
    state = train(ddp, opt, torch.nn.functional.mse_loss, data, max_epochs=2, accumulate=4)
    results[mode] = {
        "allreduces": calls[0],
        "steps": state.step,
        "weights": [p.detach().flatten().tolist() for p in net.parameters()],
    }
# Gradual unfreezing (TW-A04): the first layer frozen for epoch 0, trained from epoch 1;
# 2 processes at 4 rows each against one process at 8 (the same batches, unshuffled).
from trainwell.distributed import wrap
from trainwell.models.transfer import GradualUnfreezing

def unfreezing_run(parallel):
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    start = net[0].weight.detach().clone()
    unfreeze = GradualUnfreezing([net[0]], freeze_epochs=1)
    unfreeze.apply(0)
    model = wrap(net, unfreezes=True) if parallel else net
    rows = mine if parallel else slice(None)
    data = InMemoryData((x[rows],), y[rows], batch_size=4 if parallel else 8, shuffle=False)
    opt = torch.optim.AdamW(net.parameters(), lr=0.01)
    train(model, opt, torch.nn.functional.mse_loss, data, max_epochs=3, callbacks=[unfreeze])
    return {
        "moved": float((net[0].weight.detach() - start).abs().max()),
        "weights": [p.detach().flatten().tolist() for p in net.parameters()],
    }

results["unfreezing"] = unfreezing_run(True)
results["unfreezing_one_process"] = unfreezing_run(False)
if rank == 0:
    with open(out, "w") as fh:
        json.dump(results, fh)
dist.destroy_process_group()
"""


def test_no_sync_and_gradual_unfreezing_under_ddp(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(r), "2", str(tmp_path / "store"), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for r in (0, 1)
    ]
    for w in workers:
        _, err = w.communicate(timeout=HANG_GUARD_S)
        assert w.returncode == 0, err
    results = json.loads(out.read_text())
    skipped, synced = results["no_sync"], results["every_batch"]
    assert skipped["steps"] == synced["steps"] == 4
    # One bucket (a tiny network): one all-reduce per step against one per micro-batch.
    assert skipped["allreduces"] == 4
    assert synced["allreduces"] == 16
    for a, b in zip(skipped["weights"], synced["weights"], strict=True):
        # The same sum of gradients, all-reduced once instead of four times: float32
        # rounding of a different order of additions only.
        assert np.allclose(a, b, atol=1e-6, rtol=0)
    assert skipped["weights"] != [[0.0] * len(w) for w in skipped["weights"]]
    # Gradual unfreezing under DDP: the layer unfrozen at epoch 1 trains, and 2 processes
    # end where one process at the global batch ends (float32 reduction order only).
    two, one = results["unfreezing"], results["unfreezing_one_process"]
    assert two["moved"] > 1e-3
    for a, b in zip(two["weights"], one["weights"], strict=True):
        assert np.allclose(a, b, atol=1e-5, rtol=0)
