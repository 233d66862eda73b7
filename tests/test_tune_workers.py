"""Two ``trainwell tune`` workers on one PostgreSQL study finish N trials between them, none
lost and none run twice (Optuna's RDB storage; the server is started by ``pg_server``)."""

from __future__ import annotations

from pathlib import Path

import optuna
from pg_server import pg_server  # noqa: F401 - the fixture
from test_tune import TINY, _worker, assert_exactly


def test_two_workers_share_one_postgres_study(
    pg_server: str,  # noqa: F811 - the fixture imported above
    data_dir: Path,
    tmp_path: Path,
) -> None:
    data = str(data_dir / "wine.csv")
    common = ["--target", "target", "--trials", "4", "--storage", pg_server, "--study", "shared",
              "--no-fit", "--sampler", "random", *TINY]  # fmt: skip
    workers = [_worker([data, *common, "--out", str(tmp_path / f"w{i}")], tmp_path) for i in (1, 2)]
    errors = [w.communicate()[1] for w in workers]
    for worker, err in zip(workers, errors, strict=True):
        assert worker.returncode == 0, err[-2000:]
    storage = optuna.storages.RDBStorage(pg_server)
    try:
        assert_exactly(optuna.load_study(study_name="shared", storage=storage), 4)
    finally:
        storage.engine.dispose()
    # Each finished trial was run by one worker: the workers' lines add up to 4.
    ran = [sum(line.startswith("trial ") for line in err.splitlines()) for err in errors]
    assert sum(ran) == 4, ran
