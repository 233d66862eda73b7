"""A training loss that adds terms of its own to a loss function's.

pytorch/examples' ``reinforcement_learning/actor_critic.py`` back-propagates
``torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()``, where each value loss
is ``F.smooth_l1_loss`` and each policy loss ``-log_prob * advantage`` is written by hand; a
VAE adds its KL term to the reconstruction loss. The curve stays the loss functions' (the fit
to the labels, which the label checks compare against the labels' own baseline); the whole
back-propagated value is checked for non-finite values, so a KL term that overflows is named as
the non-finite loss, not seen only as NaN gradients afterwards. A loss that is only scaled
(``loss / accumulation``, a gradient scaler's product) has no added terms.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tests.doctor.conftest import blobs, ids, mlp
from trainwell import doctor
from trainwell.doctor import Doctor


def _loop(
    total: Any, *, steps: int = 24, accumulate: int = 1, lr: float = 0.05
) -> tuple[Doctor, list[float], list[float]]:
    """A classifier trained for ``steps`` optimizer steps under ``doctor.watch``; each
    micro-batch back-propagates ``total(model, out, ce)`` (``ce``: ``F.cross_entropy``'s loss).
    Returns the doctor and, per step, the mean cross-entropy and the summed back-propagated
    values."""
    x, y = blobs(n=256, d=8, k=3)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    ces: list[float] = []
    totals: list[float] = []
    with doctor.watch(model, opt) as dr:
        for i in range(steps):
            opt.zero_grad()
            step_ce, step_total = [], 0.0
            for j in range(accumulate):
                start = ((i * accumulate + j) * 16) % 256
                rows = slice(start, start + 16)
                out = model(x[rows])
                ce = F.cross_entropy(out, y[rows])
                loss = total(model, out, ce)
                loss.backward()
                step_ce.append(ce.item())
                step_total += loss.item()
            opt.step()
            ces.append(sum(step_ce) / len(step_ce))
            totals.append(step_total)
    return dr, ces, totals


def _penalty(model: nn.Module) -> torch.Tensor:
    return sum((p.pow(2).sum() for p in model.parameters()), torch.zeros(()))


def test_a_penalty_written_by_hand_is_an_added_term_and_the_curve_stays_the_fit() -> None:
    dr, ces, totals = _loop(lambda m, out, ce: ce + 0.05 * _penalty(m))
    assert dr._extra_terms
    assert dr.curve.values == ces
    assert all(t > c + 0.05 for t, c in zip(totals, ces, strict=True))  # the total differs


def test_a_policy_term_beside_a_value_loss_is_an_added_term() -> None:
    """actor_critic's shape: a hand-written ``-log_prob * advantage`` next to one
    ``F.smooth_l1_loss`` per time step, all summed into one backward."""
    x, _ = blobs(n=256, d=8, k=3)
    policy, value = mlp(k=2), nn.Linear(8, 1)
    params = [*policy.parameters(), *value.parameters()]
    opt = torch.optim.Adam(params, lr=1e-2)
    with doctor.watch(policy, opt) as dr:
        for i in range(30):
            rows = slice((i * 16) % 256, (i * 16) % 256 + 16)
            probs = F.softmax(policy(x[rows]), dim=-1)
            action = torch.distributions.Categorical(probs).sample()
            log_prob = probs.gather(1, action[:, None]).squeeze(1).log()
            returns = (action == 0).float() + 0.1 * i
            v = value(x[rows]).squeeze(1)
            advantage = returns - v.detach()
            value_losses = [F.smooth_l1_loss(v[k : k + 1], returns[k : k + 1]) for k in range(16)]
            loss = (-log_prob * advantage).sum() + torch.stack(value_losses).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    assert dr._extra_terms


def test_a_loss_only_scaled_keeps_the_loss_functions_curve() -> None:
    for scale, lr in ((lambda m, out, ce: ce / 4, 0.05), (lambda m, out, ce: ce * 1024.0, 1e-5)):
        dr, ces, _ = _loop(scale, accumulate=4, lr=lr)
        assert not dr._extra_terms
        assert dr.curve.values == ces


def test_several_loss_functions_summed_are_no_added_term() -> None:
    """Two loss functions on the same output (a multi-task sum) add no term of their own."""
    dr, _, _ = _loop(lambda m, out, ce: ce + F.mse_loss(out, torch.zeros_like(out)))
    assert not dr._extra_terms


def test_a_non_finite_added_term_is_the_non_finite_loss() -> None:
    """A KL term whose ``logvar.exp()`` overflows at step 12 while the cross-entropy beside it
    stays finite: reported as the non-finite loss at that step, the first finding."""
    model = mlp()
    logvar = nn.Parameter(torch.full((3,), 0.5))  # at 0 its gradient is 0
    holder = nn.ModuleDict({"net": model})
    holder.register_parameter("logvar", logvar)
    seen: list[int] = []

    def total(m: nn.Module, out: torch.Tensor, ce: torch.Tensor) -> torch.Tensor:
        seen.append(1)
        if len(seen) == 13:
            with torch.no_grad():
                logvar.fill_(200.0)  # exp(200) overflows float32
        kl = -0.5 * (1 + logvar - logvar.exp()).mean()
        return ce + 0.01 * kl

    x, y = blobs(n=256, d=8, k=3)
    opt = torch.optim.SGD(holder.parameters(), lr=0.05)
    with doctor.watch(model, opt) as dr:
        for i in range(20):
            rows = slice((i * 16) % 256, (i * 16) % 256 + 16)
            opt.zero_grad()
            out = model(x[rows])
            ce = F.cross_entropy(out, y[rows])
            assert math.isfinite(ce.item())
            loss = total(model, out, ce)
            loss.backward()
            opt.step()
            if i >= 12:
                break
    assert dr._extra_terms
    first = next(f for f in dr.findings if f.severity in ("warning", "error"))
    assert first.id == "nonfinite-loss", [(f.id, f.step, f.message) for f in dr.findings]
    assert first.step == 12
    assert "nonfinite-loss" in ids(dr)


def _token_loop(lengths: list[int], lr: float) -> Doctor:
    """The PyTorch seq2seq tutorial's ``train()`` shape: one sequence per step, the loss
    summed over its tokens (``loss += criterion(out_t, y_t)``), one backward per sequence."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(12, 16), nn.Linear(16, 12))
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    with doctor.watch(model, opt) as dr:
        for n in lengths:
            tokens = torch.randint(0, 12, (n,))
            opt.zero_grad()
            loss = torch.zeros(())
            for t in range(n):
                loss = loss + criterion(model(tokens[t : t + 1]), (tokens[t : t + 1] + 1) % 12)
            loss.backward()
            opt.step()
    return dr


def test_a_loss_summed_over_more_tokens_is_no_gradient_explosion() -> None:
    """Short sequences first, then sequences 100x longer: the gradient norm grows with the
    number of summed token losses (pytorch/examples' actor_critic: an episode's value losses
    summed, 20 steps long at first, 448 later; "exploding-gradients, 16x" at lr 0.01 before).
    Per summed term it does not."""
    dr = _token_loop([1] * 8 + [300] * 8, lr=1e-3)
    assert "exploding-gradients" not in ids(dr)
    assert dr.grad_norms[-1] < 10 * min(dr.grad_norms)


def test_a_real_explosion_under_a_summed_loss_is_still_found() -> None:
    dr = _token_loop([20] * 40, lr=50.0)
    assert {"exploding-gradients", "nonfinite-loss"} & ids(dr), [f.id for f in dr.findings]
