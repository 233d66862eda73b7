"""``study.json``: every trial of a study (state, value, params, times, why pruned) and
Optuna's parameter importances, as the run directory keeps them for the report."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def trial_record(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    start, end = trial.datetime_start, trial.datetime_complete
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": trial.value,
        "params": trial.params,
        "started": _iso(start),
        "finished": _iso(end),
        "seconds": attrs.get("seconds"),
        "epochs": attrs.get("epochs"),
        "pruned_by": attrs.get("pruned_by"),
        "reason": attrs.get("reason") or attrs.get("surplus"),
        "finding": attrs.get("finding"),
        "retry_of": attrs.get("retry_of"),
        "worker": attrs.get("worker"),
    }


# Fewer completed trials than this and the importances are shown with a caveat (found by
# trying trainwell: three-decimal importances from 2 trials, said without one).
FEW_TRIALS = 10


def importances(study: optuna.Study) -> tuple[dict[str, float], str | None]:
    """Optuna's parameter importances (fANOVA) over the completed trials; empty with the
    reason when there are fewer than two or they cannot be computed."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, f"{len(complete)} completed trial(s): importances need at least 2"
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    with warnings.catch_warnings(record=True) as caught:  # few trials: a caveat, not an error
        warnings.simplefilter("always")
        try:
            found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        except (RuntimeError, ValueError) as err:  # e.g. no parameter varied between trials
            return {}, f"Optuna could not compute them: {err}"
    notes = sorted({str(w.message) for w in caught})
    if len(complete) < FEW_TRIALS:  # a caveat the report prints under the table
        notes.insert(
            0,
            f"from {len(complete)} completed trials: fANOVA fits a random forest to the "
            f"trials' scores, and with fewer than {FEW_TRIALS} this is a rough ranking at best",
        )
    return {k: float(v) for k, v in found.items()}, "; ".join(notes) or None


def summarize(study: optuna.Study, n_trials: int, best: int) -> dict[str, Any]:
    """What ``study.json`` holds (and the manifest's ``tuning`` section, without the trials)."""
    trials = [trial_record(t) for t in study.get_trials(deepcopy=False)]
    found, why_not = importances(study)
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    return {
        "study": study.study_name,
        "direction": "minimize",
        "objective": "val_loss",
        "requested_trials": n_trials,
        "states": states,
        "best_trial": best,
        "best_value": study.best_value,
        "best_params": study.best_params,
        "importances": found,
        "importances_note": why_not,
        "pruning": pruning_saving(trials),
        "trials": trials,
    }


def pruning_saving(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """How much trial time pruning saved: pruned trials' epochs against the mean epochs of
    the completed ones (what a pruned trial would have run), in trial-seconds."""
    done = [t for t in trials if t["state"] == "complete" and t["epochs"] and t["seconds"]]
    pruned = [t for t in trials if t["state"] == "pruned" and t["epochs"] and t["seconds"]]
    if not done or not pruned:
        return {"saved_fraction": 0.0 if done else None, "pruned": len(pruned)}
    per_epoch = sum(t["seconds"] / t["epochs"] for t in done) / len(done)
    mean_epochs = sum(t["epochs"] for t in done) / len(done)
    spent = sum(t["seconds"] for t in done) + sum(t["seconds"] for t in pruned)
    would = sum(t["seconds"] for t in done) + sum(
        t["seconds"] + max(0.0, mean_epochs - t["epochs"]) * per_epoch for t in pruned
    )
    return {
        "saved_fraction": round(1 - spent / would, 4) if would > 0 else 0.0,
        "pruned": len(pruned),
        "spent_seconds": round(spent, 3),
        "estimated_unpruned_seconds": round(would, 3),
    }
