"""``trainwell tune``: trials see train/validation only, the doctor prunes a NaN trial, a
killed tune resumes its study, bad input is one line with exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import torch
from helpers import run_cli
from optuna.trial import TrialState

from trainwell.doctor import REMEDY_IDS
from trainwell.errors import ConfigError
from trainwell.modalities.base import Samples
from trainwell.pipeline import Prepared
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState
from trainwell.tune import tune
from trainwell.tune.tuner import STUDY_DB

# Trials of a few epochs of a small network on wine (178 rows): the keys set here are held
# fixed, so the trials search lr, dropout, weight decay and the optimizer.
TINY = [
    "train.max_epochs=3",
    "model.width=32",
    "model.depth=1",
    "train.batch_size=32",
    "logging.progress=false",
    "logging.tensorboard=false",
    "report.bootstrap=0",
    "report.energy=false",
    "report.importance_repeats=1",
    "report.explain_examples=0",
    "baselines.lightgbm_rounds=50",
]


class PoisonFirstFit(Callback):
    """A planted fault: the first trial's weights become NaN after its second step."""

    def __init__(self) -> None:
        self.fits = 0

    def on_fit_start(self, state: TrainState) -> None:
        self.fits += 1

    def on_step_end(self, state: TrainState) -> None:
        if self.fits == 1 and state.step == 2:
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))


def study_of(run: Path, name: str = "trainwell") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{run / STUDY_DB}")


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


@pytest.fixture(scope="module")
def sealed_tune(
    data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[optuna.Study, list[np.ndarray]]:
    """Three trials with the test split's accessor raising and every row subset recorded;
    the first trial has NaN planted in its weights."""
    run = tmp_path_factory.mktemp("tune") / "run"
    subsets: list[np.ndarray] = []
    original = Samples.subset

    def spy(self: Samples, rows: Any) -> Samples:
        subsets.append(np.asarray(rows))
        return original(self, rows)

    def sealed(self: Prepared) -> Any:
        raise AssertionError("a tuning trial opened the sealed test split")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Prepared, "sealed_test", sealed)
        mp.setattr(Samples, "subset", spy)
        tune(
            str(data_dir / "wine.csv"), "target", trials=3, out=run, overrides=TINY,
            quiet=True, callbacks=[PoisonFirstFit()], fit_best=False, sampler="random",
        )  # fmt: skip
    return study_of(run), subsets


def test_trials_never_read_the_test_split(
    sealed_tune: tuple[optuna.Study, list[np.ndarray]], data_dir: Path
) -> None:
    from trainwell.config import options_config
    from trainwell.pipeline import prepare

    study, subsets = sealed_tune
    # No trial failed (the sealed accessor raises inside a trial, which would fail it).
    assert [t.state for t in study.trials].count(TrialState.FAIL) == 0
    assert len(finished(study)) == 3
    prepared = prepare(str(data_dir / "wine.csv"), options_config(None, TINY, target="target"))
    test_rows = set(prepared.splits.indices("test").tolist())
    assert subsets, "the spy saw no row subsets: it did not watch the trials"
    touched = set(np.concatenate(subsets).tolist())
    assert touched.isdisjoint(test_rows), "a trial read rows of the test split"
    allowed = set(prepared.splits.indices("train").tolist()) | set(
        prepared.splits.indices("validation").tolist()
    )
    assert touched <= allowed


def test_nan_trial_is_pruned_with_the_doctors_finding(
    sealed_tune: tuple[optuna.Study, list[np.ndarray]],
) -> None:
    study, _ = sealed_tune
    first = study.trials[0]
    assert first.state == TrialState.PRUNED
    assert first.user_attrs["pruned_by"] == "doctor"
    assert first.user_attrs["finding"]["id"] in REMEDY_IDS
    assert first.user_attrs["finding"]["practice"].startswith("TW-")
    assert first.user_attrs["reason"].startswith("the doctor found ")
    # Pruned at once: in its first epoch, not after the 3 epochs a trial may run.
    assert first.user_attrs["epochs"] == 1


def test_clean_trials_carry_no_doctor_finding(
    sealed_tune: tuple[optuna.Study, list[np.ndarray]],
) -> None:
    study, _ = sealed_tune
    for trial in study.trials:  # keys set by the user are held, not searched
        assert {"model.width", "model.depth", "train.batch_size"}.isdisjoint(trial.params)
        assert "train.lr" in trial.params
    for trial in study.trials[1:]:
        assert "finding" not in trial.user_attrs
        assert trial.user_attrs.get("pruned_by") != "doctor"
        if trial.state == TrialState.COMPLETE:
            assert trial.value is not None
            assert np.isfinite(trial.value)


def _worker(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.Popen(
        [sys.executable, "-m", "trainwell", "tune", *args],
        cwd=cwd,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )


def assert_exactly(study: optuna.Study, n: int) -> None:
    """``n`` finished trials, none lost, none run twice: every failed trial is a killed one
    (retried under a new number) or a surplus one (given back untrained)."""
    done = finished(study)
    assert len(done) == n
    assert len({t.number for t in done}) == n
    assert not study.get_trials(states=(TrialState.RUNNING, TrialState.WAITING))
    retried = {t.user_attrs["retry_of"] for t in done if "retry_of" in t.user_attrs}
    for trial in study.get_trials(states=(TrialState.FAIL,)):
        assert trial.number in retried or "surplus" in trial.user_attrs


def test_killed_tune_resumes_its_study(data_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    data = str(data_dir / "wine.csv")
    worker = _worker([data, "--target", "target", "--trials", "3", "--out", str(run), "--no-fit",
                      "--sampler", "random", *TINY], tmp_path)  # fmt: skip
    assert worker.stderr is not None
    seen = []
    for line in worker.stderr:  # wait for the event: one trial recorded in the study
        seen.append(line)
        if line.startswith(("trial 0 finished", "trial 0 pruned")):
            break
    else:
        pytest.fail("the tune ended before recording a trial: " + "".join(seen)[-2000:])
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    worker.stderr.close()
    assert len(finished(study_of(run))) >= 1  # (the kill usually lands in trial 1)

    # The resumed tune finishes the study, then fits the best config into the same folder.
    resumed = _worker(["--resume", str(run)], tmp_path)
    _, err = resumed.communicate()
    assert resumed.returncode == 0, err[-2000:]
    study = study_of(run)
    assert_exactly(study, 3)

    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["tuning"]["best_trial"] == study.best_trial.number
    config = json.loads((run / "config.json").read_text())
    for key, value in study.best_params.items():  # the run trained the best trial's config
        node = config
        for part in key.split("."):
            node = node[part]
        # A choice (train.optimizer) is saved with its own keys: {"name": "sgd", ...}.
        assert (node["name"] if isinstance(node, dict) else node) == value, key
    saved = json.loads((run / "study.json").read_text())
    assert len([t for t in saved["trials"] if t["state"] in {"complete", "pruned"}]) == 3
    html = (run / "report.html").read_text()
    assert 'id="tuning"' in html
    assert f'data-key="tuning.best_trial" data-value="{study.best_trial.number}"' in html
    assert (run / "model").is_dir()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "0"], "--trials must be at least 1"),
        (["--sampler", "grid"], "--sampler must be tpe or random"),
        (["--ensemble", "0"], "--ensemble must be 1 (off) to 20, not 0"),
        (["--timeout", "soon"], "--timeout 'soon'"),
        (["--storage", "not a url"], "is not a database URL"),
        (["--storage", "nosuchdb://x/y"], "--storage 'nosuchdb://x/y'"),
    ],
)
def test_bad_tune_input_is_one_line_exit_2(
    args: list[str], message: str, data_dir: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "run"
    code, _, err = run_cli(
        ["tune", str(data_dir / "wine.csv"), "--target", "target", "--out", str(out), *args],
        capsys,
    )
    assert code == 2
    assert err.startswith("trainwell: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written for bad input


def test_resume_of_a_folder_that_is_no_tune(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["tune", "--resume", str(tmp_path)], capsys)
    assert code == 2
    assert "is not a tune" in err


def test_tune_ensemble_of_top_trials_holds_nested_keys(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--ensemble 2`` with SGD's momentum set by the user: no trial searches the optimizer
    or its momentum; the shipped run trains the two best trials, decides on validation, and
    only then opens the sealed test split, once."""
    from trainwell import ensemble as ensemble_module
    from trainwell.evaluate import SealedTest

    events: list[str] = []
    keep_or_not, open_test = ensemble_module.keep_or_not, SealedTest.open

    def decide(*args: Any, **kwargs: Any) -> Any:
        events.append("ensemble decided")
        return keep_or_not(*args, **kwargs)

    def opened(self: SealedTest) -> Any:
        events.append("test opened")
        return open_test(self)

    monkeypatch.setattr(ensemble_module, "keep_or_not", decide)
    monkeypatch.setattr(SealedTest, "open", opened)
    run = tmp_path / "run"
    nested = ["train.optimizer=sgd", "train.optimizer.momentum=0.8"]
    tune(
        str(data_dir / "wine.csv"), "target", trials=3, out=run, overrides=[*TINY, *nested],
        quiet=True, sampler="random", ensemble=2,
    )  # fmt: skip
    study = study_of(run)
    for trial in study.trials:
        assert {"train.optimizer", "train.optimizer.momentum"}.isdisjoint(trial.params)
    settings = json.loads((run / "tune.json").read_text())
    assert {"train.optimizer", "train.optimizer.momentum"} <= set(settings["fixed"])
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["optimizer"]["name"] == "sgd"
    assert config["train"]["optimizer"]["momentum"] == 0.8
    ranked = sorted(
        study.get_trials(states=(TrialState.COMPLETE,)), key=lambda t: (t.value, t.number)
    )
    assert len(ranked) >= 2
    assert config["ensemble"]["method"] == "trials"
    assert config["ensemble"]["size"] == 2
    assert config["ensemble"]["trials"] == [ranked[1].params]
    notes = [f for f in json.loads((run / "findings.json").read_text())
             if f["id"] in {"ensemble-kept", "ensemble-not-kept"}]  # fmt: skip
    assert len(notes) == 1
    assert notes[0]["practice"] == "TW-H04"
    assert notes[0]["evidence"]["members"] == 2
    assert events == ["ensemble decided", "test opened"]


def _schema_error(kind: type, pg_error: type) -> Exception:
    return kind("CREATE TABLE studies", {}, pg_error('relation "studies" already exists'))


@pytest.mark.parametrize(
    ("kind", "pg_error"),
    [("ProgrammingError", "DuplicateTable"), ("IntegrityError", "UniqueViolation")],
)
def test_a_worker_that_loses_the_schema_race_opens_the_study_again(
    monkeypatch: pytest.MonkeyPatch, kind: str, pg_error: str
) -> None:
    # Seen in the two-worker PostgreSQL test (tests/test_tune_workers.py): the second
    # worker's CREATE failed with psycopg.errors.DuplicateTable (a ProgrammingError), which was
    # not retried; the same race can also surface as a unique violation on the catalog.
    import psycopg.errors
    import sqlalchemy.exc

    from trainwell.tune.tuner import open_storage

    opened: list[str] = []

    def storage(url: str) -> str:
        opened.append(url)
        if len(opened) == 1:
            raise _schema_error(getattr(sqlalchemy.exc, kind), getattr(psycopg.errors, pg_error))
        return "opened"

    monkeypatch.setattr(optuna.storages, "RDBStorage", storage)
    assert open_storage("postgresql+psycopg://u@127.0.0.1/db") == "opened"
    assert len(opened) == 2


def test_a_database_error_other_than_the_race_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg.errors
    import sqlalchemy.exc

    from trainwell.tune.tuner import open_storage

    opened: list[str] = []

    def storage(url: str) -> None:
        opened.append(url)
        raise sqlalchemy.exc.ProgrammingError(
            "CREATE TABLE studies", {}, psycopg.errors.InsufficientPrivilege("permission denied")
        )

    monkeypatch.setattr(optuna.storages, "RDBStorage", storage)
    with pytest.raises(ConfigError, match=r"cannot open the study database: .*permission denied"):
        open_storage("postgresql+psycopg://u@127.0.0.1/db")
    assert len(opened) == 1  # not retried
