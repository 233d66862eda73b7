"""Seed ensembles (``ensemble.size=K``, TW-H04): the average of K networks trained alike from
different random initializations, shipped as one model.

The run's own network is the first member; K-1 more are trained through the same
:func:`~trainwell.pipeline.train_and_validate` with seeds ``seed+1 ... seed+K-1`` (new initial
weights and batch order; the same splits and encoding), starting from the learning rate the
run's range test chose. Their probabilities (or regression values) are averaged, which is
what Lakshminarayanan et al. 2017 ("Simple and scalable predictive uncertainty estimation
using deep ensembles") found to improve accuracy and calibration. The ensemble is kept as a
candidate only when it beats its best single member on the validation split's selection score
(log loss / RMSE); a finding says which, with the numbers, either way. A kept ensemble then
competes with the baselines like any candidate, and ships as one
:class:`~trainwell.predictor.Predictor` (``kind: ensemble``: one network spec, one
safetensors file per member).
"""

from __future__ import annotations

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

if TYPE_CHECKING:
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
        first = self.members[0]
        network = {
            "class": _network_class(first),
            "spec": first.spec(),  # type: ignore[operator]
            "members": [p.name for p in paths],
        }
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
    for name in spec.network.get("members", []):
        path = member(folder, name, spec.files)
        check_safetensors(path)
        try:
            net = load_network(spec.network)
            net.load_state_dict(load_file(str(path)))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise RunError(f"{str(path)!r}: an ensemble member does not load: {err}") from None
        members.append(net.eval())
    if not members:
        raise RunError(f"{str(folder)!r}: model.json lists no ensemble members")
    return EnsembleCandidate(spec.name, members, {"task": spec.task})


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


def keep_or_not(
    task: Task,
    members: list[torch.nn.Module],
    validation: Samples,
    y_validation: np.ndarray,
    class_weights: np.ndarray | None,
) -> tuple[EnsembleCandidate | None, Finding]:
    """The ensemble when it beats its best member on validation (lower selection score),
    and the finding that says which and by how much."""
    from trainwell.evaluate import score_candidates, selection_score

    ensemble = EnsembleCandidate("ensemble", members, {"task": task, "size": len(members)})
    singles = [NetworkCandidate(f"member_{i}", m, {"task": task}) for i, m in enumerate(members)]
    scores, _ = score_candidates(
        task, [*singles, ensemble], validation, y_validation, class_weights
    )
    score = {n: selection_score(task, s) for n, s in scores.items()}
    best_single = min((n for n in score if n != "ensemble"), key=lambda n: score[n])
    kept = score["ensemble"] < score[best_single]
    metric = "RMSE" if task == "regression" else "log loss"
    finding = Finding(
        id="ensemble-kept" if kept else "ensemble-not-kept",
        practice="TW-H04",
        severity="info",
        stage="evaluate",
        message=f"The average of {len(members)} networks trained from different seeds "
        + ("beat" if kept else "did not beat")
        + f" the best single one on validation {metric} ({score['ensemble']:.4g} vs "
        f"{score[best_single]:.4g}); "
        + (
            "it is a candidate to ship (as 'ensemble')."
            if kept
            else "it was dropped: the single network stays the candidate."
        ),
        evidence={"metric": metric, "validation": {k: round(v, 6) for k, v in score.items()}},
        fix="Nothing to do."
        if kept
        else "Nothing to do; ensemble.size=1 skips the extra training.",
    )
    return (ensemble if kept else None), finding
