"""Speed without changing results: the batch rule, the thread plan, the cheap log loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import log_loss

from trainwell.analysis.explain import _loss
from trainwell.train.threads import (
    SMALL_STEP_FLOPS,
    choose_threads,
    free_cores,
    step_flops,
    table_threads,
    torch_threads,
)
from trainwell.trainer import choose_batch_size


@pytest.mark.parametrize(
    ("n_train", "batch"), [(10, 10), (455, 16), (2_000, 64), (10_000, 128), (100_000, 512)]
)
def test_batch_grows_with_the_data_within_the_typical_range_for_small_data(
    n_train: int, batch: int
) -> None:
    size, reason = choose_batch_size(n_train, None)
    assert size == batch
    assert n_train // size >= 15 or size == n_train  # early stopping has steps to use
    assert f"{n_train} training examples" in reason


def test_batch_is_capped_and_a_set_batch_is_kept() -> None:
    assert choose_batch_size(5_000_000, None)[0] == 1024
    assert choose_batch_size(100_000, 64) == (64, "set in config")


def test_small_steps_run_on_one_thread_large_ones_on_torchs_threads() -> None:
    cpu = torch.device("cpu")
    assert choose_threads(SMALL_STEP_FLOPS / 10, cpu, available=8, free=8)[0] == 1
    # Not the load's count by default: the same seed must give the same sums (TW-R01).
    threads, reason = choose_threads(SMALL_STEP_FLOPS * 100, cpu, available=8)
    assert threads == 8
    assert "8 of 8 threads" in reason
    assert choose_threads(SMALL_STEP_FLOPS * 100, cpu, available=8, free=3)[0] == 3
    assert choose_threads(SMALL_STEP_FLOPS * 100, cpu, available=2, free=16)[0] == 2
    # On a GPU the CPU threads only feed it: torch's default stays.
    assert choose_threads(1.0, torch.device("cuda"), available=4)[0] == 4


def test_free_cores_discount_the_others_load_never_below_one() -> None:
    assert free_cores(cores=8, load=1.0) == 8  # only this process runs
    assert free_cores(cores=8, load=4.0) == 5
    assert free_cores(cores=2, load=11.0) == 1


def test_small_tables_give_lightgbm_one_thread() -> None:
    assert table_threads(569 * 30) == 1


def test_step_flops_count_the_matrix_products() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 1))
    net.train()
    flops = step_flops(net, (torch.randn(4, 10),), batch_size=32)
    assert flops == 3 * 2 * (10 * 20 + 20 * 1) * 32
    assert net.training  # the count leaves the mode as it was


def test_torch_threads_are_restored() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("n_classes", [2, 5])
def test_explanations_log_loss_equals_sklearns(n_classes: int) -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(n_classes), size=200)
    proba[0] = 0.0  # a zero probability is clipped, as sklearn clips it
    proba[0, 0] = 1.0
    y = rng.integers(0, n_classes, size=200)
    y[0] = 1
    clipped = np.clip(proba, 1e-15, 1.0)
    clipped /= clipped.sum(axis=1, keepdims=True)
    expected = log_loss(y, clipped, labels=np.arange(n_classes))
    assert _loss("binary" if n_classes == 2 else "multiclass", y, proba) == pytest.approx(
        expected, rel=1e-12
    )
