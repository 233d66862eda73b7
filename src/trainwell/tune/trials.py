"""Tuning trials: each one trains a config through :func:`trainwell.pipeline.train_and_validate`.

A trial sees the training and validation splits only (TW-D07, H03): it gets the
:class:`~trainwell.pipeline.Prepared` data that :func:`~trainwell.pipeline.prepare` made once,
with its own config, and writes nothing (no run directory per trial). Its validation loss is
reported to Optuna after every epoch, so Optuna's pruner (median by default) stops a trial
whose curve is worse than the others' at the same epoch; and the doctor stops one at once when
it finds NaN/Inf, divergence or a dead network, the finding kept in the trial's user
attributes (``pruned_by``, ``finding``).

How many trials the study still needs is counted in the study itself (its storage), so any
number of workers on one database finish exactly ``n_trials`` between them: a worker asks for a
trial only while fewer than ``n_trials`` are finished or running, and gives back (as failed,
``surplus``, untrained) one it got past that count in a race with another worker.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from time import monotonic
from typing import TYPE_CHECKING, Any

from rich.console import Console

from trainwell.config import FitConfig, build_config, check_applicable
from trainwell.doctor import REMEDY_IDS
from trainwell.errors import ConfigError
from trainwell.findings import Finding
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState
from trainwell.tune.space import Param, sample

if TYPE_CHECKING:
    import optuna

    from trainwell.pipeline import Prepared

# The doctor's findings that end a trial at once: NaN/Inf and divergence (what fit's remedy
# reacts to) and a dead network (TW-X03, X04). Such a trial is not worth its remaining epochs.
PRUNE_ON = REMEDY_IDS | {"dead-units"}
OBJECTIVE = "val_loss"  # what early stopping selects on, defined for every task
WORKER = f"{socket.gethostname()}:{os.getpid()}"


def trial_config(
    base: FitConfig, params: dict[str, Any], modality: str, options: frozenset[str]
) -> FitConfig:
    """``base`` with a trial's ``params`` (``key.sub`` -> value), checked like ``fit``'s.

    Trials skip the overfit-one-batch preflight (TW-X01): 200 steps on a copy per trial would
    cost more than many trials' training; the best config's run does it.

    Raises:
        ConfigError: a key that does not apply to this data.
    """
    overrides = [f"{k}={v}" for k, v in params.items()] + ["doctor.overfit_batch=false"]
    cfg = build_config(base=base.model_dump(mode="json"), overrides=overrides)
    check_applicable(cfg, modality, options)
    return cfg


def best_config(base: FitConfig, params: dict[str, Any]) -> FitConfig:
    """The config of the run that ships: ``base`` with the best trial's params."""
    return build_config(
        base=base.model_dump(mode="json"), overrides=[f"{k}={v}" for k, v in params.items()]
    )


class TrialWatch(Callback):
    """Reports each epoch's validation loss to the trial and stops training when Optuna's
    pruner or the doctor says so (training ends cleanly; the caller raises ``TrialPruned``).

    Args:
        trial: the running Optuna trial.
        offset: added to the epoch as the report's step (one step sequence over CV folds).
    """

    def __init__(self, trial: optuna.Trial, offset: int = 0) -> None:
        self.trial = trial
        self.offset = offset
        self.finding: Finding | None = None  # the doctor's reason to prune
        self.pruned_by: str | None = None

    def on_finding(self, finding: Finding) -> None:
        if finding.id in PRUNE_ON and finding.severity != "info" and self.finding is None:
            self.finding = finding

    def on_step_end(self, state: TrainState) -> None:
        if self.finding is not None and not state.stop:
            self._stop(state, "doctor")

    def on_epoch_end(self, state: TrainState) -> None:
        if self.finding is not None:
            self._stop(state, "doctor")
            return
        value = state.history[-1].get(OBJECTIVE) if state.history else None
        if value is None or not math.isfinite(value):
            return
        self.trial.report(value, self.offset + state.epoch)
        if self.trial.should_prune():
            self._stop(state, "pruner")

    def _stop(self, state: TrainState, by: str) -> None:
        self.pruned_by = by
        state.stop = True
        state.stop_reason = f"pruned by the {by}"


@dataclass
class TrialOutcome:
    """What a trial found: the objective (lowest validation loss), or why it was pruned."""

    value: float | None
    pruned_by: str | None = None
    finding: Finding | None = None
    epochs: int = 0
    stop_reason: str = ""  # why training ended (early stopping, train.time_budget, ...)


Score = Callable[["Prepared", Callable[[int], TrialWatch]], TrialOutcome]


def score_holdout(prepared: Prepared, watch: Callable[[int], TrialWatch]) -> TrialOutcome:
    """Train on the training split, score on the validation split (one watch, offset 0)."""
    from trainwell.pipeline import train_and_validate

    w = watch(0)
    result = train_and_validate(prepared, callbacks=[w], on_finding=w.on_finding)
    losses = [r[OBJECTIVE] for r in result.state.history if OBJECTIVE in r]
    finite = [v for v in losses if math.isfinite(v)]
    value = min(finite) if finite else None
    return TrialOutcome(
        value, w.pruned_by, w.finding, len(result.state.history), result.state.stop_reason
    )


def score_cv(prepared: Prepared, watch: Callable[[int], TrialWatch]) -> TrialOutcome:
    """The mean over ``split.cv`` folds of each fold's lowest validation loss (TW-D05); the
    epochs of fold i are reported as steps i * max_epochs + epoch, so the pruner compares
    trials at the same fold and epoch."""
    from trainwell.cv import folds_of

    values: list[float] = []
    reasons: list[str] = []
    epochs = 0
    span = prepared.cfg.train.max_epochs
    for i, fold in enumerate(folds_of(prepared)):
        outcome = score_holdout(fold, lambda _offset, i=i: watch(i * span))  # type: ignore[misc]
        epochs += outcome.epochs
        if outcome.pruned_by is not None or outcome.value is None:
            return replace(outcome, epochs=epochs)
        values.append(outcome.value)
        reasons.append(f"fold {i + 1}: {outcome.stop_reason}")
    return TrialOutcome(sum(values) / len(values), epochs=epochs, stop_reason="; ".join(reasons))


def objective_for(
    prepared: Prepared,
    params: list[Param],
    score: Score | None = None,
    callbacks: Sequence[Callback] = (),
) -> Callable[[optuna.Trial], float]:
    """The function Optuna calls per trial: sample, train, report, prune.

    ``callbacks`` are added to every trial's training (tests plant faults with them).
    """
    import optuna

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", WORKER)  # which process ran it (shared studies)
        chosen = sample(trial, params, prepared.cfg)
        cfg = trial_config(prepared.cfg, chosen, prepared.modality.name, prepared.modality.options)
        trial_prepared = replace(prepared, cfg=cfg)

        def watch(offset: int) -> TrialWatch:
            return TrialWatch(trial, offset)

        start = monotonic()
        scorer = score or (score_cv if cfg.split.cv else score_holdout)
        outcome = scorer(trial_prepared, _with_extra(watch, callbacks))
        trial.set_user_attr("seconds", round(monotonic() - start, 3))
        trial.set_user_attr("epochs", outcome.epochs)
        if outcome.stop_reason:  # e.g. train.time_budget: each trial trains within it
            trial.set_user_attr("stop_reason", outcome.stop_reason)
        if outcome.pruned_by is not None or outcome.value is None:
            by = outcome.pruned_by or "doctor"
            trial.set_user_attr("pruned_by", by)
            reason = _reason(outcome)
            trial.set_user_attr("reason", reason)
            if outcome.finding is not None:
                trial.set_user_attr("finding", outcome.finding.to_dict())
            raise optuna.TrialPruned(reason)
        return outcome.value

    return objective


def _with_extra(
    watch: Callable[[int], TrialWatch], callbacks: Sequence[Callback]
) -> Callable[[int], TrialWatch]:
    if not callbacks:
        return watch

    def make(offset: int) -> TrialWatch:
        return _Chained(watch(offset), callbacks)

    return make


class _Chained(TrialWatch):
    """A watch that also runs extra callbacks (a test's planted fault) before its own hooks."""

    def __init__(self, inner: TrialWatch, extra: Sequence[Callback]) -> None:
        super().__init__(inner.trial, inner.offset)
        self.extra = list(extra)

    def on_fit_start(self, state: TrainState) -> None:
        for cb in self.extra:
            cb.on_fit_start(state)

    def on_before_optimizer_step(self, state: TrainState) -> None:
        for cb in self.extra:
            cb.on_before_optimizer_step(state)

    def on_step_end(self, state: TrainState) -> None:
        for cb in self.extra:
            cb.on_step_end(state)
        super().on_step_end(state)

    def on_epoch_end(self, state: TrainState) -> None:
        for cb in self.extra:
            cb.on_epoch_end(state)
        super().on_epoch_end(state)


def _reason(outcome: TrialOutcome) -> str:
    if outcome.finding is not None:
        return f"the doctor found {outcome.finding.id} ({outcome.finding.practice}): " + (
            outcome.finding.message
        )
    if outcome.pruned_by == "pruner":
        return f"Optuna's pruner: {OBJECTIVE} worse than the other trials' at the same epoch"
    return f"no finite {OBJECTIVE} (the doctor found no cause)"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass
class Budget:
    """How many finished trials the study needs and until when this worker may start one."""

    n_trials: int
    deadline: float | None  # time.monotonic() value; None: no time limit

    def time_left(self) -> bool:
        return self.deadline is None or monotonic() < self.deadline


def count(study: optuna.Study, *states: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    budget: Budget,
    console: Console,
) -> int:
    """Run trials until the study holds ``budget.n_trials`` finished (complete or pruned)
    trials, or the time is up; returns how many this worker ran. Each trial's line is
    printed once the study has recorded it."""
    import optuna
    from optuna.trial import TrialState

    # Enqueued trials (WAITING: a killed trial's retry) are handed out by ask() first.
    taken = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    ran = 0
    while budget.time_left() and count(study, *taken) < budget.n_trials:
        trial = study.ask()
        ahead = sorted(t.number for t in study.get_trials(deepcopy=False, states=taken))
        if ahead.index(trial.number) >= budget.n_trials:  # another worker took the last slot
            trial.set_user_attr("surplus", "the study had its trials; not trained")
            study.tell(trial, state=TrialState.FAIL)
            break
        try:
            value = objective(trial)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            console.print(f"trial {trial.number} pruned: {pruned}", highlight=False)
        except BaseException:
            study.tell(trial, state=TrialState.FAIL)
            raise
        else:
            study.tell(trial, value)
            shown = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
            console.print(
                f"trial {trial.number} finished: {OBJECTIVE} {value:.4g} ({shown})",
                highlight=False,
            )
        ran += 1
    return ran


def check_trials(n_trials: int) -> None:
    if n_trials < 1:
        raise ConfigError(f"--trials must be at least 1, not {n_trials}")
