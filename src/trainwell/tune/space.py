"""The search space of ``trainwell tune``, declared once, in the order the guides tune in.

TW-H01: learning rate first, then the architecture (width, depth), the batch size,
regularization (dropout, weight decay) and last the optimizer's own parameters. Each entry
names the :class:`~trainwell.config.FitConfig` key it sets, so a trial's config is the user's
config with these keys overridden, validated by the same pydantic models as ``fit``'s. A
``model.*`` key is searched only where the data's modality reads it (a table's MLP has a
width; a pre-trained image backbone has none), so no trial sets a key that changes nothing.

``trainwell tune --help`` prints :func:`describe` of :data:`SEARCH_SPACE`.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    import optuna

    from trainwell.config import FitConfig


@dataclass(frozen=True)
class Param:
    """One searched config key: a float range (log-uniform when ``log``), an int range, or a
    list of choices; ``only_if`` (key, value) samples it only when that key took that value
    (SGD's momentum)."""

    key: str
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[Any, ...] = ()
    integer: bool = False
    only_if: tuple[str, Any] | None = None
    why: str = ""

    def sample(self, trial: optuna.Trial) -> Any:
        if self.choices:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.key, self.low, self.high, log=self.log)

    def describe(self) -> str:
        if self.choices:
            values = "{" + ", ".join(str(c) for c in self.choices) + "}"
        elif self.integer:
            values = f"{int(self.low)}..{int(self.high)}"
        else:
            values = f"{self.low:g}..{self.high:g}" + (" (log)" if self.log else "")
        cond = f" when {self.only_if[0]}={self.only_if[1]}" if self.only_if else ""
        return f"{self.key} in {values}{cond}: {self.why}"


# TW-H01 order. The ranges are the guides' usual ones for AdamW on small and mid-sized data:
# LR 1e-4..3e-2 around the range test's typical suggestion; width/depth around
# trainwell's own sizing rule (trainwell.models.tabular.size_mlp); dropout 0-0.5 (TW-T05).
SEARCH_SPACE: tuple[Param, ...] = (
    Param("train.lr", 1e-4, 3e-2, log=True, why="learning rate (TW-H01: the most important)"),
    Param("model.width", choices=(32, 64, 128, 256), why="architecture: units per layer"),
    Param("model.depth", 0, 3, integer=True, why="architecture: residual blocks"),
    Param("train.batch_size", choices=(16, 32, 64, 128), why="batch size (TW-T07)"),
    Param("model.dropout", 0.0, 0.5, why="regularization (TW-T05)"),
    Param("train.weight_decay", 1e-5, 1e-1, log=True, why="regularization (TW-T05)"),
    Param("train.optimizer", choices=("adamw", "sgd"), why="optimizer (TW-T01)"),
    Param(
        "train.optimizer.momentum",
        0.8,
        0.99,
        only_if=("train.optimizer", "sgd"),
        why="optimizer parameter (Nesterov momentum)",
    ),
)


def applicable(
    options: Collection[str],
    fixed: Collection[str] = (),
    space: tuple[Param, ...] = SEARCH_SPACE,
) -> list[Param]:
    """The params a modality reads (``options``: its ``model.*``/``data.*`` keys; every
    ``train.*`` key applies to every modality), less the keys the user set (``fixed``)."""
    return [
        p for p in space if (p.key.startswith("train.") or p.key in options) and p.key not in fixed
    ]


def user_set(cfg: FitConfig) -> list[str]:
    """The searchable keys the user set (override or config file), nested ones too
    (``train.optimizer.momentum``): held fixed, not searched. A set nested key holds the
    choice above it as well (momentum belongs to SGD: the optimizer is not searched)."""
    keys = {p.key for p in SEARCH_SPACE}
    return sorted(keys & set(_set_paths(cfg, "")))


def _set_paths(model: BaseModel, prefix: str) -> list[str]:
    """Every dotted key explicitly set in ``model`` and the sections below it."""
    found = []
    for name in model.model_fields_set:
        path = f"{prefix}{name}"
        found.append(path)
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            found += _set_paths(value, path + ".")
    return found


# TW-H02 names population-based training; this is why `trainwell tune` does not offer it.
PBT_DECISION = (
    "Population-based training (TW-H02) is not offered. Optuna has no PBT: its trials cannot\n"
    "share weights, which PBT's exploit step needs (optuna/optuna#287). Ray Tune's PBT\n"
    "scheduler trains a whole population at once, copying weights between members mid-run\n"
    "(Jaderberg et al. 2017, arXiv:1711.09846); that pays on long runs over many parallel\n"
    "accelerators, not on the minutes-long trials of small data, and would add Ray as a\n"
    "dependency. Bayesian search with pruning, and fit's LR schedules, cover the need."
)


def sample(trial: optuna.Trial, params: list[Param], cfg: FitConfig) -> dict[str, Any]:
    """Draw one point of the space (define-by-run: a conditional key only when the key it
    depends on, drawn or set in ``cfg``, has its value)."""
    chosen: dict[str, Any] = {}
    for param in params:
        if param.only_if is not None:
            key, value = param.only_if
            section, name = key.split(".")
            if chosen.get(key, getattr(getattr(cfg, section), name)) != value:
                continue
        chosen[param.key] = param.sample(trial)
    return chosen


def describe(space: tuple[Param, ...] = SEARCH_SPACE) -> str:
    """The space, one key a line, for ``trainwell tune --help``."""
    return "\n".join(f"  {i}. {p.describe()}" for i, p in enumerate(space, 1))
