"""Two ``trainwell tune`` workers on one PostgreSQL study finish N trials between them, none
lost and none run twice (Optuna's RDB storage; the server is started by ``pg_server``), and
they ran at the same time: proved by events, not clocks. Each worker's first trial writes a
file and then waits for the other worker's file, so neither first trial can finish before the
other has started; the study's recorded start/complete times must then intersect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState
from pg_server import pg_server  # noqa: F401 - the fixture
from test_tune import TINY, assert_exactly

WORKER = """
import json, sys, time
from pathlib import Path
from trainwell.train.callback import Callback
from trainwell.tune import tune

class Rendezvous(Callback):
    # The first trial of this worker announces itself, then waits for the other's trial.
    def __init__(self, mine, other):
        self.mine, self.other, self.fits = Path(mine), Path(other), 0
    def on_fit_start(self, state):
        self.fits += 1
        if self.fits == 1:
            self.mine.write_text("in a trial")
            while not self.other.exists():  # an event, not a deadline
                time.sleep(0.05)

data, storage, out, mine, other, overrides = sys.argv[1:7]
tune(data, "target", trials=4, storage=storage, study="shared", out=out,
     overrides=json.loads(overrides), sampler="random", fit_best=False,
     callbacks=[Rendezvous(mine, other)])
"""


def _start(args: list[str], err: Path, cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    with err.open("wb") as stream:
        return subprocess.Popen([sys.executable, "-c", WORKER, *args], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=stream)  # fmt: skip


def _wait_all(workers: list[subprocess.Popen[bytes]]) -> list[int]:
    """Wait for every worker; when one fails, stop the other (it would wait for a trial that
    never comes). Polls the processes' exit, an event: there is no deadline."""
    while True:
        codes = [w.poll() for w in workers]
        if any(c not in (None, 0) for c in codes):
            for w in workers:
                if w.poll() is None:
                    w.kill()
            return [w.wait() for w in workers]
        if all(c == 0 for c in codes):
            return [c for c in codes if c is not None]
        time.sleep(0.1)


def test_two_workers_share_one_postgres_study_at_once(
    pg_server: str,  # noqa: F811 - the fixture imported above
    data_dir: Path,
    tmp_path: Path,
) -> None:
    data = str(data_dir / "wine.csv")
    ready = [tmp_path / "w1.ready", tmp_path / "w2.ready"]
    errs = [tmp_path / "w1.err", tmp_path / "w2.err"]
    args = [[data, pg_server, str(tmp_path / f"w{i + 1}"), str(ready[i]), str(ready[1 - i]),
             json.dumps(TINY)] for i in (0, 1)]  # fmt: skip
    workers = [_start(args[i], errs[i], tmp_path) for i in (0, 1)]
    codes = _wait_all(workers)
    logs = [e.read_text() for e in errs]
    assert codes == [0, 0], [log[-2000:] for log in logs]
    storage = optuna.storages.RDBStorage(pg_server)
    try:
        study = optuna.load_study(study_name="shared", storage=storage)
        assert_exactly(study, 4)
        done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    finally:
        storage.engine.dispose()
    # Each finished trial was run by one worker: the workers' lines add up to 4.
    ran = [sum(line.startswith("trial ") for line in log.splitlines()) for log in logs]
    assert sum(ran) == 4, ran
    # Both workers ran trials, and their first trials' recorded intervals intersect.
    by_worker: dict[str, list[optuna.trial.FrozenTrial]] = {}
    for trial in sorted(done, key=lambda t: t.number):
        by_worker.setdefault(trial.user_attrs["worker"], []).append(trial)
    assert len(by_worker) == 2, sorted(by_worker)
    a, b = (trials[0] for trials in by_worker.values())
    a_start, a_end = a.datetime_start, a.datetime_complete
    b_start, b_end = b.datetime_start, b.datetime_complete
    assert None not in (a_start, a_end, b_start, b_end)
    assert a_start < b_end
    assert b_start < a_end
