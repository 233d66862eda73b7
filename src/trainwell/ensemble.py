"""Ensembles (``ensemble.size=K``): K networks' outputs averaged, shipped as one model.

Three ways to get the K members (``ensemble.method``), one contract for what follows:

* ``seeds`` (TW-H04): the run's own network and K-1 more trained through the same
  :func:`~trainwell.pipeline.train_and_validate` with seeds ``seed+1 ... seed+K-1`` (new
  initial weights and batch order; the same splits and encoding), starting from the learning
  rate the run's range test chose. Averaging them is what Lakshminarayanan et al. 2017
  ("Simple and scalable predictive uncertainty estimation using deep ensembles") found to
  improve accuracy and calibration.
* ``trials`` (TW-H04): the K best trials of ``trainwell tune --ensemble K``: the best one is
  the run's network; the other K-1 configs (``ensemble.trials``, written by tune) are trained
  again on the training split, with the trials' own seed, early-stopped on validation.
* ``snapshot`` (TW-H05): Huang et al. 2017, "Snapshot Ensembles: Train 1, get M for free":
  under cosine annealing with warm restarts (``train.schedule=cosine_restarts``) the weights
  at the end of each cycle (the LR at its minimum, just before the restart) are kept, and the
  last K are averaged. No extra training: the members come from the run's own training.
  Snapshots are kept in memory, so those taken before a ``fit --resume`` are lost.

The average is kept as a candidate only when it beats the best single network (each member,
and for snapshots also the run's early-stopped network) on the validation split's selection
score (log loss / RMSE); a finding says which, with the numbers, either way. The test split is
never read here. A kept ensemble then competes with the baselines like any candidate
(``baselines.ship=ensemble`` ships it regardless), and ships as one
:class:`~trainwell.predictor.Predictor` (``kind: ensemble``: a network spec and one
safetensors file per member).
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from trainwell.candidates import Kind, NetworkCandidate, _network_class, load_network
from trainwell.config import Task
from trainwell.errors import RunError
from trainwell.findings import Finding
from trainwell.modalities.base import Samples, predict_outputs
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

if TYPE_CHECKING:
    from trainwell.config import FitConfig
    from trainwell.pipeline import Prepared
    from trainwell.predictor import ModelFile
    from trainwell.trainer import NetworkResult


@dataclass
class EnsembleCandidate:
    """The mean of its members' outputs: probabilities ``(n, K)`` or values ``(n,)``."""

    name: str
    members: list[torch.nn.Module]
    info: dict[str, Any] = field(default_factory=dict)
    kind: Kind = "ensemble"

    def outputs(self, samples: Samples) -> np.ndarray:
        outs = [predict_outputs(m, samples.inputs).double().numpy() for m in self.members]
        return np.mean(outs, axis=0)

    def save(self, folder: Path) -> tuple[dict[str, Any], list[Path]]:
        from safetensors.torch import save_file

        paths = []
        for i, net in enumerate(self.members):
            path = folder / f"member_{i}.safetensors"
            save_file({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()},
                      str(path))  # fmt: skip
            paths.append(path)
        specs = [
            {"class": _network_class(m), "spec": m.spec()}  # type: ignore[operator]
            for m in self.members
        ]
        network: dict[str, Any] = {**specs[0], "members": [p.name for p in paths]}
        if any(s != specs[0] for s in specs[1:]):  # top trials may differ in width or depth
            network["member_networks"] = specs
        return {"network": network}, paths


def load_ensemble(spec: ModelFile, folder: Path) -> EnsembleCandidate:
    """Rebuild an ensemble from ``model.json`` (each member's file checked by its sha256).

    Raises:
        RunError: a member file missing, changed, or not the network's weights.
    """
    from safetensors.torch import load_file

    from trainwell.predictor import member
    from trainwell.run_files import check_safetensors

    assert spec.network is not None
    members = []
    names = spec.network.get("members", [])
    networks = spec.network.get("member_networks") or [spec.network] * len(names)
    if len(networks) != len(names):
        raise RunError(f"{str(folder)!r}: model.json lists {len(names)} members but "
                       f"{len(networks)} member networks")  # fmt: skip
    for name, network in zip(names, networks, strict=True):
        path = member(folder, name, spec.files)
        check_safetensors(path)
        try:
            net = load_network(network)
            net.load_state_dict(load_file(str(path)))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise RunError(f"{str(path)!r}: an ensemble member does not load: {err}") from None
        members.append(net.eval())
    if not members:
        raise RunError(f"{str(folder)!r}: model.json lists no ensemble members")
    return EnsembleCandidate(spec.name, members, {"task": spec.task})


class SnapshotTaker(Callback):
    """Keeps the weights at the end of each cosine cycle, the last ``keep`` of them (TW-H05).

    A cycle ends when the warm-restart scheduler has just wrapped around (its ``T_cur`` is back
    to 0 after a step): the step that was taken used the cycle's lowest LR. Runs after early
    stopping, so the weights are this step's, before any best-epoch restore.
    """

    def __init__(self, keep: int) -> None:
        self.snapshots: deque[dict[str, torch.Tensor]] = deque(maxlen=keep)
        self.cycles = 0

    def on_step_end(self, state: TrainState) -> None:
        restart = getattr(state.scheduler, "T_cur", None)
        if state.step > 0 and restart == 0:
            self.cycles += 1
            weights = state.model.state_dict()
            self.snapshots.append({k: v.detach().cpu().clone() for k, v in weights.items()})


def snapshot_callbacks(cfg: FitConfig) -> list[Callback]:
    """The callback the run's training needs for ``ensemble.method=snapshot`` (else none)."""
    if cfg.ensemble.size > 1 and cfg.ensemble.method == "snapshot":
        return [SnapshotTaker(cfg.ensemble.size)]
    return []


def train_members(prepared: Prepared, first: NetworkResult) -> list[torch.nn.Module]:
    """The run's network and ``ensemble.size - 1`` more, each from its own seed."""
    from trainwell.config import build_config
    from trainwell.pipeline import train_and_validate

    cfg = prepared.cfg
    nets = [first.net]
    for i in range(1, cfg.ensemble.size):
        seeded = build_config(
            base=cfg.model_dump(mode="json"),
            overrides=[
                f"seed={cfg.seed + i}",
                f"train.lr={first.details['lr']}",  # the range test's choice, not a new sweep
                "doctor.overfit_batch=false",  # the run's own network was checked
            ],
        )
        nets.append(train_and_validate(replace(prepared, cfg=seeded)).net)
    return nets


def trial_members(prepared: Prepared, first: NetworkResult) -> list[torch.nn.Module]:
    """The run's network (the best trial's config) and one per ``ensemble.trials`` entry (the
    next best trials' searched keys), trained on the training split like the trial was (same
    seed; a learning rate the trial did not search is the run's range-test choice)."""
    from trainwell.config import build_config
    from trainwell.pipeline import train_and_validate

    cfg = prepared.cfg
    base = cfg.model_dump(mode="json")
    nets = [first.net]
    for params in cfg.ensemble.trials:
        overrides = [f"{k}={v}" for k, v in params.items()]
        if "train.lr" not in params:
            overrides.append(f"train.lr={first.details['lr']}")
        member_cfg = build_config(base=base, overrides=[*overrides, "doctor.overfit_batch=false"])
        nets.append(train_and_validate(replace(prepared, cfg=member_cfg)).net)
    return nets


def snapshot_members(first: NetworkResult, taker: SnapshotTaker) -> list[torch.nn.Module]:
    """The run's network's architecture with each kept snapshot's weights."""
    nets = []
    for weights in taker.snapshots:
        net = copy.deepcopy(first.net)
        net.load_state_dict(weights)
        nets.append(net.eval())
    return nets


_WHAT = {
    "seeds": ("networks trained from different seeds", "TW-H04"),
    "trials": ("best tune trials' networks", "TW-H04"),
    "snapshot": ("snapshots taken at the ends of cosine cycles (one training)", "TW-H05"),
}


def build_ensemble(
    prepared: Prepared,
    first: NetworkResult,
    callbacks: list[Callback],
    class_weights: np.ndarray | None,
) -> tuple[EnsembleCandidate | None, Finding]:
    """The members ``ensemble.method`` names, averaged, and whether the average is kept
    (:func:`keep_or_not` on the validation split; the test split is not read).

    Args:
        prepared: the run's data and config.
        first: the run's own trained network.
        callbacks: what :func:`snapshot_callbacks` gave the run's training.
        class_weights: the run's class weights (the selection score uses them).
    """
    cfg = prepared.cfg
    method = cfg.ensemble.method
    validation, y_validation = prepared.split("validation")
    force = cfg.baselines.ship == "ensemble"
    what, practice = _WHAT[method]
    if method == "snapshot":
        taker = next(c for c in callbacks if isinstance(c, SnapshotTaker))
        members = snapshot_members(first, taker)
        if len(members) < 2 and not force:
            return None, _too_few(taker, cfg.ensemble.size)
        return keep_or_not(
            prepared.dataset.task, members or [first.net], validation, y_validation,
            class_weights, rivals=[first.net], what=what, practice=practice, force=force,
        )  # fmt: skip
    members = (
        trial_members(prepared, first) if method == "trials" else train_members(prepared, first)
    )
    return keep_or_not(
        prepared.dataset.task, members, validation, y_validation, class_weights,
        what=what, practice=practice, force=force,
    )  # fmt: skip


def _too_few(taker: SnapshotTaker, size: int) -> Finding:
    return Finding(
        id="ensemble-not-kept",
        practice="TW-H05",
        severity="info",
        stage="evaluate",
        message=f"Training ended after {taker.cycles} finished cosine cycle(s), so there is "
        f"no snapshot ensemble to average (ensemble.size={size} asks for the last {size}); "
        "the single network stays the candidate.",
        evidence={"cycles": taker.cycles, "size": size},
        fix="Let more cycles finish: lower train.schedule.cycle_epochs or cycle_mult, or "
        "raise train.patience so early stopping does not end training after a restart.",
    )


def keep_or_not(
    task: Task,
    members: list[torch.nn.Module],
    validation: Samples,
    y_validation: np.ndarray,
    class_weights: np.ndarray | None,
    *,
    rivals: Sequence[torch.nn.Module] = (),
    what: str = _WHAT["seeds"][0],
    practice: str = "TW-H04",
    force: bool = False,
) -> tuple[EnsembleCandidate | None, Finding]:
    """The ensemble when it beats the best single network on validation (lower selection
    score), and the finding that says which and by how much.

    Args:
        members: the networks averaged.
        rivals: single networks the average must also beat (for snapshots, the run's
            early-stopped network); each member is always a rival.
        what, practice: how the finding names the members, and the practice it cites.
        force: keep it even when it does not win (``baselines.ship=ensemble``).
    """
    from trainwell.evaluate import score_candidates, selection_score

    ensemble = EnsembleCandidate("ensemble", members, {"task": task, "size": len(members)})
    singles = [NetworkCandidate(f"member_{i}", m, {"task": task}) for i, m in enumerate(members)]
    singles += [NetworkCandidate(f"single_{i}", m, {"task": task}) for i, m in enumerate(rivals)]
    scores, _ = score_candidates(
        task, [*singles, ensemble], validation, y_validation, class_weights
    )
    score = {n: selection_score(task, s) for n, s in scores.items()}
    best_single = min((n for n in score if n != "ensemble"), key=lambda n: score[n])
    wins = score["ensemble"] < score[best_single]
    kept = wins or force
    metric = "RMSE" if task == "regression" else "log loss"
    if wins:
        verdict = "it is a candidate to ship (as 'ensemble')."
    elif force:
        verdict = "it ships anyway, as baselines.ship=ensemble asks."
    else:
        verdict = "it was dropped: the single network stays the candidate."
    finding = Finding(
        id="ensemble-kept" if kept else "ensemble-not-kept",
        practice=practice,
        severity="info",
        stage="evaluate",
        message=f"The average of {len(members)} {what} "
        + ("beat" if wins else "did not beat")
        + f" the best single one on validation {metric} ({score['ensemble']:.4g} vs "
        f"{score[best_single]:.4g}); {verdict}",
        evidence={
            "metric": metric,
            "members": len(members),
            "validation": {k: round(v, 6) for k, v in score.items()},
        },
        fix="Nothing to do." if kept else "Nothing to do; ensemble.size=1 skips the extra work.",
    )
    return (ensemble if kept else None), finding
