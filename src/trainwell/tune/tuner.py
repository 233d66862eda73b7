"""``trainwell tune``: search the config space on train/validation, then fit the best once.

    prepare (once) → trials (Optuna; train + validation only) → best config → fit → run dir

The study lives in ``RUN_DIR/study.db`` (SQLite) unless ``--storage`` names any database
Optuna's RDB storage speaks (PostgreSQL for many workers on many machines). ``RUN_DIR/tune.json``
keeps what the tune was asked (data, config, trials, sampler, study), so ``--resume RUN_DIR``
continues a killed tune: a trial that was running when it died is marked failed and its
parameters are queued again, so the study still ends with exactly ``--trials`` finished
trials. When the trials are done, the best config is trained and evaluated on the sealed test
split once by the normal fit stages (:func:`trainwell.pipeline.run_stages`), into ``RUN_DIR``
beside the study, with a summary of every trial in ``study.json`` and the report's tuning
section (TW-H01, H02, H03, D07).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any, Unpack

from rich.console import Console

from trainwell.config import DataSpec, FitConfig, options_config
from trainwell.errors import ConfigError, RunError, TrainwellError
from trainwell.files import write_json
from trainwell.train.callback import Callback
from trainwell.tune.space import SEARCH_SPACE, applicable, user_set
from trainwell.tune.trials import (
    Budget,
    best_config,
    check_trials,
    objective_for,
    run_trials,
)

if TYPE_CHECKING:
    import optuna

    from trainwell.run import Run

SAMPLERS = ("tpe", "random")
SETTINGS = "tune.json"
STUDY_DB = "study.db"
DEFAULT_STUDY = "trainwell"
SCHEMA_ATTEMPTS = 3
MAX_ENSEMBLE = 20  # as ensemble.size


@dataclass
class TuneSettings:
    """What a tune was asked; saved as ``RUN_DIR/tune.json`` for ``--resume``."""

    data: str
    config: dict[str, Any]
    trials: int
    timeout_s: float | None
    sampler: str
    storage: str | None  # None: RUN_DIR/study.db
    study: str
    fixed: list[str]  # searchable keys the user set: held, not searched
    ensemble: int = 1  # --ensemble K: the shipped run averages the K best trials (TW-H04)

    def storage_url(self, run: Path) -> str:
        return self.storage or f"sqlite:///{(run / STUDY_DB).resolve()}"


def parse_timeout(text: str | None) -> float | None:
    """``30m``, ``2h``, ``90s`` or plain seconds, as seconds.

    Raises:
        ConfigError: anything else, or a timeout that is not positive.
    """
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(f"--timeout {text!r}: write a positive duration such as 90s, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def check_ensemble(k: int) -> None:
    if not 1 <= k <= MAX_ENSEMBLE:
        raise ConfigError(f"--ensemble must be 1 (off) to {MAX_ENSEMBLE}, not {k}")


def top_trials_config(
    base: FitConfig, ranked: Sequence[dict[str, Any]], k: int
) -> tuple[FitConfig, int]:
    """The config that ships: ``base`` with the best trial's params and, when ``k`` > 1 and
    at least two trials completed, ``ensemble.method=trials`` over the best ``k`` of them
    (``ranked``: completed trials' params, best first). Returns it and the ensemble size."""
    cfg = best_config(base, ranked[0])
    size = min(k, len(ranked))
    if size < 2:
        return cfg, 1
    tree = cfg.model_dump(mode="json")
    tree["ensemble"] = {"size": size, "method": "trials", "trials": list(ranked[1:size])}
    return FitConfig.model_validate(tree), size


def check_sampler(name: str) -> None:
    if name not in SAMPLERS:
        raise ConfigError(f"--sampler must be {' or '.join(SAMPLERS)}, not {name!r}")


def open_storage(url: str) -> Any:
    """Optuna's RDB storage at ``url``, or one clear error (bad URL, no server, no driver).

    Raises:
        ConfigError: the URL is malformed, its driver is missing or the database is unreachable.
    """
    import optuna
    import sqlalchemy.exc

    try:
        from sqlalchemy.engine import make_url

        make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"--storage {_masked(url)!r} is not a database URL; write e.g. "
            "postgresql+psycopg://user@host/db or sqlite:///study.db"
        ) from None
    try:
        for attempt in range(SCHEMA_ATTEMPTS):
            try:
                return optuna.storages.RDBStorage(url)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
                # Workers started together race to create Optuna's tables; the loser's
                # CREATE fails on a duplicate: PostgreSQL says so as a unique violation on
                # its catalog or as "relation already exists", depending on the moment. The
                # tables exist now: open them again.
                if not _lost_schema_race(err) or attempt == SCHEMA_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")
    except (ImportError, ModuleNotFoundError) as err:
        raise ConfigError(
            f"--storage {_masked(url)!r}: its database driver is missing ({err})"
        ) from None
    except (sqlalchemy.exc.SQLAlchemyError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(
            f"--storage {_masked(url)!r}: cannot open the study database: {first}"
        ) from None


# SQLSTATEs of a CREATE that another session's CREATE beat: unique_violation,
# duplicate_table, duplicate_object (PostgreSQL's errcodes appendix); SQLite says "already
# exists" without a code.
_DUPLICATE_SQLSTATES = frozenset({"23505", "42P07", "42710"})


def _lost_schema_race(err: Exception) -> bool:
    """Whether a database error is a CREATE that lost the race to another worker's."""
    orig = getattr(err, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in _DUPLICATE_SQLSTATES or "already exists" in str(orig)


def _masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _sampler(name: str, seed: int | None) -> optuna.samplers.BaseSampler:
    import optuna

    if name == "random":  # TW-H02: random search over a grid
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)  # TW-H02: Bayesian optimization


def tune(
    data: str | None = None,
    target: str | None = None,
    *,
    trials: int = 20,
    timeout: str | None = None,
    sampler: str = "tpe",
    storage: str | None = None,
    study: str | None = None,
    resume: str | Path | None = None,
    out: str | Path | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    quiet: bool = False,
    callbacks: Sequence[Callback] = (),
    fit_best: bool = True,
    ensemble: int = 1,
    **spec: Unpack[DataSpec],
) -> Run | None:
    """Tune the config on the validation split, then fit the best config once: ``trainwell tune``.

    Args:
        data: a CSV/Parquet file (any modality ``fit`` reads).
        target: the column to predict.
        trials: finished trials (complete or pruned) the study ends with, all workers together.
        timeout: stop starting trials after this long (``30m``, ``2h``, ``90s``).
        sampler: ``tpe`` (Bayesian optimization) or ``random`` (TW-H02).
        storage: an Optuna RDB URL shared by workers; ``RUN_DIR/study.db`` if None.
        study: the study's name in the storage.
        resume: a killed tune's ``RUN_DIR`` to continue (no other inputs with it).
        out: the run directory; ``runs/<date>-<data name>`` if None.
        config, overrides, seed, spec: as for ``trainwell fit`` (``task``, ``group``,
            ``time``, ``text``, ``series``); the base config that the trials change.
        quiet: print nothing.
        callbacks: extra training callbacks run in every trial (tests plant faults with them).
        fit_best: train the best config into ``out`` when the trials are done.
        ensemble: K > 1 trains the 2nd..Kth best trials' configs too, in the run that ships,
            and averages the K networks when that beats the best one on validation
            (``ensemble.method=trials``; TW-H04). The test split stays sealed until that
            run's evaluation.

    Returns:
        The best config's :class:`~trainwell.run.Run`, or None with ``fit_best=False``.

    Raises:
        ConfigError: trials < 1, an unknown sampler, a bad timeout or storage URL, an
            ensemble size outside 1..20.
        RunError: a resume of something that is not a tune, or no trial finished.
    """
    from trainwell.pipeline import prepare
    from trainwell.run import default_run_dir
    from trainwell.train.feature_cache import shared_features

    try:
        import optuna  # noqa: F401 - an optional dependency: say how to get it, before any work
    except ImportError:
        raise ConfigError('trainwell tune needs Optuna: pip install "trainwell[tune]"') from None
    console = Console(stderr=True, quiet=quiet)
    if resume is not None:
        given = (data, target, config, seed, *spec.values())
        if any(v is not None for v in given) or overrides:
            raise TrainwellError(
                "--resume continues a tune as it was started; pass only --resume RUN_DIR"
            )
        run, settings = Path(resume), _read_settings(Path(resume))
        if storage is not None:  # a password is never saved: the URL may be given again
            settings.storage = storage
        if (run / "manifest.json").is_file():
            return _resume_fit(run, quiet)
    else:
        check_trials(trials)
        check_sampler(sampler)
        check_ensemble(ensemble)
        timeout_s = parse_timeout(timeout)
        if data is None:
            raise TrainwellError("no data given; pass a CSV or Parquet file (or --resume RUN_DIR)")
        cfg = options_config(config, overrides, target=target, seed=seed, spec=spec)
        settings = TuneSettings(
            data, cfg.model_dump(mode="json"), trials, timeout_s, sampler, storage,
            study or DEFAULT_STUDY, user_set(cfg), ensemble,
        )  # fmt: skip
        run = Path(out) if out is not None else default_run_dir(Path(data).stem)
    cfg = FitConfig.model_validate(settings.config)
    storage_obj = open_storage(settings.storage_url(run)) if settings.storage else None
    try:
        prepared = prepare(settings.data, cfg)  # once: the trials share splits and encoding
        params = applicable(prepared.modality.options, settings.fixed)
        if not params:
            raise ConfigError(
                "every searched key is set in the config, so there is nothing to tune; "
                "leave one of them out (see `trainwell tune --help`)"
            )
        if resume is None:
            _start(run, settings)
        storage_obj = storage_obj or open_storage(settings.storage_url(run))
        the_study = _load_study(storage_obj, settings, cfg.seed)
        if resume is not None:
            _requeue_stale(the_study, settings, console)
        console.print(
            f"tune: study {settings.study!r}, {settings.trials} trials, sampler "
            f"{settings.sampler}, searching {', '.join(p.key for p in params)}"
            + (f"; holding {', '.join(settings.fixed)} as set" if settings.fixed else ""),
            highlight=False,
        )
        deadline = None if settings.timeout_s is None else monotonic() + settings.timeout_s
        objective = objective_for(prepared, params, callbacks=callbacks)
        with shared_features():  # a frozen backbone's features, once for every trial
            run_trials(the_study, objective, Budget(settings.trials, deadline), console)
            if not fit_best:
                return None
            return _fit_best(run, settings, the_study, console)
    finally:
        if storage_obj is not None:  # close the database connections (no leak at exit)
            storage_obj.engine.dispose()


def _start(run: Path, settings: TuneSettings) -> None:
    from trainwell.run_files import check_new_run_dir

    check_new_run_dir(run)
    if run.exists() and any(run.iterdir()):
        raise RunError(
            f"{str(run)!r} already holds files; choose another --out "
            "(or continue a killed tune with --resume)"
        )
    run.mkdir(parents=True, exist_ok=True)
    saved = dict(settings.__dict__)
    saved["storage"] = _masked(settings.storage) if settings.storage else None
    write_json(run / SETTINGS, saved)


def _read_settings(run: Path) -> TuneSettings:
    path = run / SETTINGS
    if not path.is_file():
        raise RunError(
            f"{str(run)!r} is not a tune (no {SETTINGS}); pass the folder `trainwell tune` made"
        )
    try:
        return TuneSettings(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as err:
        raise RunError(f"{str(path)!r} is malformed ({err}); start the tune again") from None


def _load_study(storage: Any, settings: TuneSettings, seed: int) -> optuna.Study:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # trainwell prints its own lines
    shared = settings.storage is not None
    # A local study is reproducible: seeded, and re-seeded on resume past the draws it made.
    # Workers on a shared study must not draw the same points: unseeded.
    existing = optuna.study.get_all_study_names(storage)
    offset = 0
    if settings.study in existing:
        offset = len(optuna.load_study(study_name=settings.study, storage=storage).trials)
    return optuna.create_study(
        study_name=settings.study,
        storage=storage,
        direction="minimize",
        sampler=_sampler(settings.sampler, None if shared else seed + offset),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2),
        load_if_exists=True,
    )


def _requeue_stale(study: optuna.Study, settings: TuneSettings, console: Console) -> None:
    """Trials still RUNNING in the tune's own study died with the killed process: mark them
    failed and queue their parameters again. (In a shared study another worker may be running
    them, so they are left alone.)"""
    from optuna.trial import TrialState

    if settings.storage is not None:
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(trial.number, state=TrialState.FAIL)
        study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        console.print(
            f"trial {trial.number} was running when the tune stopped: queued again",
            highlight=False,
        )


def _fit_best(run: Path, settings: TuneSettings, study: optuna.Study, console: Console) -> Run:
    from optuna.trial import TrialState

    from trainwell.pipeline import execute, prepare, run_stages
    from trainwell.recorder import Recorder
    from trainwell.tune.summary import summarize

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        pruned = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
        reasons = "; ".join(f"{t.number}: {t.user_attrs.get('reason', '?')}" for t in pruned[:3])
        raise RunError(
            f"no trial completed ({len(pruned)} pruned{': ' + reasons if reasons else ''}); "
            "nothing to fit. Widen the search or check the data (`trainwell audit`)"
        )
    best = study.best_trial
    base = FitConfig.model_validate(settings.config)
    ranked = sorted(complete, key=lambda t: (t.value, t.number))
    cfg, size = top_trials_config(base, [t.params for t in ranked], settings.ensemble)
    others = ", ".join(str(t.number) for t in ranked[1:size])
    what = f"it and trials {others} (an ensemble)" if size > 1 else "it"
    console.print(
        f"tune: best trial {best.number} (val_loss {best.value:.4g}); fitting {what} and "
        "evaluating once on the sealed test split",
        highlight=False,
    )
    if settings.ensemble > size:
        console.print(
            f"tune: --ensemble {settings.ensemble} but {len(complete)} trial(s) completed: "
            + (f"averaging {size}" if size > 1 else "no ensemble"),
            highlight=False,
        )
    prepared = prepare(settings.data, cfg)
    recorder = Recorder.start(prepared, run, console, keep=frozenset({SETTINGS, STUDY_DB}))
    summary = summarize(study, settings.trials, best.number)
    recorder.tuning(summary)
    return execute(
        recorder.dir, cfg, lambda meter: run_stages(recorder, prepared, None, (), console, meter)
    )


def _resume_fit(run: Path, quiet: bool) -> Run:
    """The trials were done and the best config's run had started: continue that run."""
    from trainwell.pipeline import fit

    return fit(resume=run, quiet=quiet)


__all__ = ["SAMPLERS", "SEARCH_SPACE", "TuneSettings", "parse_timeout", "tune"]
