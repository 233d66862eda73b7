"""A throwaway PostgreSQL server for the shared-study tests (Debian's package).

``pg_server`` runs ``initdb`` and ``pg_ctl start`` in a temporary folder, listening on a free
port of 127.0.0.1 only, with ``trust`` authentication for its one user. PostgreSQL refuses to
run as root, so under root the server runs as the ``postgres`` system user (``runuser``). The
fixture waits for the server by polling ``pg_isready`` a bounded number of times (it never
asserts a deadline) and skips with the reason when the server cannot be started here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("TRAINWELL_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "trainwell"
READY_POLLS = 120  # pg_isready waits up to 1 s per poll: ample on a loaded machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user() -> tuple[list[str], str | None]:
    """The command prefix that runs the server's tools as a non-root user, and that user."""
    if os.geteuid() != 0:
        return [], None
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' user to run the server as")
    return [runuser, "-u", "postgres", "--"], "postgres"


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A running PostgreSQL server; yields an SQLAlchemy URL (psycopg driver) to its
    ``postgres`` database. Skips with the reason where it cannot start."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"PostgreSQL is not installed here (no {PG_BIN / 'initdb'})")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    prefix, owner = _as_server_user()
    # Its own folder under the system temp dir (world-searchable), not pytest's private tree,
    # so the server user can reach it.
    root = Path(tempfile.mkdtemp(prefix="trainwell-pg-"))
    data = root / "data"
    data.mkdir()
    if owner is not None:
        import pwd

        entry = pwd.getpwnam(owner)
        for path in (root, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    init = _run([*prefix, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", USER])
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    port = _free_port()
    options = f"-p {port} -h 127.0.0.1 -k {data} -c fsync=off"
    log = data / "server.log"
    start = _run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                  "start"])  # fmt: skip
    if start.returncode != 0:
        tail = log.read_text()[-300:] if log.is_file() else start.stderr[-300:]
        pytest.skip(f"pg_ctl start failed: {tail.strip()}")
    try:
        for _ in range(READY_POLLS):
            ready = _run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port),
                          "-t", "1"])  # fmt: skip
            if ready.returncode == 0:
                break
        else:
            pytest.skip(f"PostgreSQL did not accept connections after {READY_POLLS} polls")
        yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/postgres"
    finally:
        _run([*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)
