"""The environment ``trainwell serve --emit-dockerfile DIR`` describes installs in a fresh venv
and serves the run (TW-P09): the Dockerfile's own install commands, run against a new empty
venv, install exactly the pinned requirements and trainwell's wheel, and ``trainwell serve``
started from that venv answers as ``trainwell predict`` does.

The commands are read from the emitted Dockerfile, so the test installs what the image would,
with two differences the machine imposes, both said where they are made: ``--system`` (the
image's interpreter) becomes the venv's ``--python``, and uv's cache is kept (the image
drops it with ``--no-cache``). Where a ``+cpu`` torch comes from is the installer's
environment, not the requirements file: the image names PyTorch's CPU index; this machine
reaches only PyPI and has the same build on local disk (pip's configured ``find-links``),
which is handed to uv. Without uv (trainwell's dev extra), without that local torch, or
with no package index answering, the test skips, saying which.

Why uv: on this machine (load ~7), pip 23.2 installed the earlier 85-distribution file in
150 s wall and 79 s CPU (byte-compiling every module), uv the same file in 11.5 s wall and
9 s CPU with an empty cache, 1.8 s warm. The earlier 10-minute pip install was not
downloading: the file's ``--extra-index-url`` named PyTorch's CPU index, which this machine
cannot resolve, and pip retried it with back-off (5 tries) for every one of ~90 names (0.2 s
CPU in 5 minutes); uv stops at once on it, hence the index lives in the Dockerfile now.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import run_cli
from packaging.utils import canonicalize_name
from serve.conftest import assert_served_equals_predict, rows_of, wait_until_ready

import trainwell
from trainwell.serve.docker import emit_dockerfile
from trainwell.serve.service import ServeOptions

INSTALL_LIMIT_S = 900  # against a hung index only, never a time assert
REPO = Path(trainwell.__file__).resolve().parents[2]


def uv_binary() -> str | None:
    """The uv of trainwell's dev extra (its package knows where its binary is), else one on
    PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return shutil.which("uv")
    return str(find_uv_bin())


def pip_find_links() -> list[Path]:
    """The folders pip is configured to find wheels in (its ``find-links``, from any of its
    configuration files or the environment)."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    folders = [
        Path(folder)
        for line in listed.splitlines()
        if line.partition("=")[0].endswith("find-links")
        for folder in shlex.split(line.partition("=")[2])[0].split()
    ]
    folders += [Path(f) for f in os.environ.get("PIP_FIND_LINKS", "").split()]
    return [f for f in dict.fromkeys(folders) if f.is_dir()]


def install_commands(dockerfile: str, wheels: Path, python: Path) -> list[list[str]]:
    """The Dockerfile's ``uv pip install`` commands, made to install into the venv of
    ``python`` from the emitted folder: ``--system`` -> ``--python``, the wheel the image
    copied to ``/tmp/`` read from ``wheels``, ``--no-cache`` dropped (the cache is what makes
    this cheap to repeat)."""
    commands = []
    for line in dockerfile.splitlines():
        if not line.startswith("RUN uv pip install "):
            continue
        words = shlex.split(line.removeprefix("RUN "))
        words = [w.replace("/tmp/", f"{wheels}/") for w in words if w != "--no-cache"]
        commands.append([w if w != "--system" else f"--python={python}" for w in words])
    return commands


def pins_of(requirements: str) -> dict[str, str]:
    return {
        canonicalize_name(line.split("==")[0]): line.split("==")[1]
        for line in requirements.splitlines()
        if line and not line.startswith("#")
    }


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=INSTALL_LIMIT_S)


@pytest.fixture(scope="module")
def venv_env() -> dict[str, str]:
    """The environment of the commands run for the fresh venv: this one without the
    worktree's PYTHONPATH (which would put the checkout's trainwell before the wheel), one
    thread per server (the suite runs on two cores)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def installed(
    served_run: Path, tmp_path_factory: pytest.TempPathFactory, venv_env: dict[str, str]
) -> tuple[Path, Path]:
    """(the emitted folder, the fresh venv) once the Dockerfile's installs ran into it."""
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed (trainwell's dev extra installs it)")
    if not (REPO / "pyproject.toml").is_file():
        pytest.skip("trainwell is not a source checkout here, so no wheel can be built")
    folder = tmp_path_factory.mktemp("emitted") / "image"
    emit_dockerfile(ServeOptions(served_run), folder)
    pins = pins_of((folder / "requirements.txt").read_text())
    env = dict(venv_env)
    if "+" in pins.get("torch", ""):
        # A local-version torch (+cpu) is on PyTorch's own index, which the image names and
        # this machine cannot reach; pip's configured find-links may hold the same build.
        wheel = f"torch-{pins['torch']}-*.whl"
        local = [str(f) for f in pip_find_links() if any(f.glob(wheel))]
        if not local:
            pytest.skip(f"no {wheel} in pip's find-links and PyTorch's CPU index is unreachable")
        env["UV_FIND_LINKS"] = " ".join(local)
    # The Dockerfile's first comment: trainwell's wheel in wheels/ (uv build), built from a
    # copy of the checkout's sources (setuptools would write build/ into the checkout).
    source = tmp_path_factory.mktemp("source")
    shutil.copy2(REPO / "pyproject.toml", source)
    shutil.copy2(REPO / "README.md", source)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    built = run([uv, "build", "--wheel", "--quiet", "-o", str(folder / "wheels"), str(source)], env)
    assert built.returncode == 0, built.stderr[-3000:]
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    commands = install_commands((folder / "Dockerfile").read_text(), folder / "wheels",
                                venv / "bin" / "python")  # fmt: skip
    assert len(commands) == 2  # the requirements, then trainwell's wheel
    assert commands[0][-2:] == ["-r", "requirements.txt"]
    commands[0][-1] = str(folder / "requirements.txt")
    for command in commands:
        done = run([uv, *command[1:]], env)  # the Dockerfile's "uv", here the dev extra's
        if done.returncode != 0 and "error sending request" in done.stderr:
            pytest.skip(f"no package index answers from here: {done.stderr.strip()[-300:]}")
        assert done.returncode == 0, f"{shlex.join(command)}\n{done.stderr[-3000:]}"
    return folder, venv


def test_the_venv_holds_exactly_the_pins_and_trainwell(
    installed: tuple[Path, Path], venv_env: dict[str, str]
) -> None:
    folder, venv = installed
    pins = pins_of((folder / "requirements.txt").read_text())
    listed = run([str(uv_binary()), "pip", "list", "--format", "json",
                  "--python", str(venv / "bin" / "python")], venv_env)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    present = {canonicalize_name(d["name"]): d["version"] for d in json.loads(listed.stdout)}
    assert present.pop("trainwell") == trainwell.__version__
    assert present == pins  # every pin at its version, and nothing resolved beyond them
    assert {"torch", "fastapi", "uvicorn", "prometheus-client", "scipy"} <= set(pins)
    assert not {"captum", "codecarbon", "tensorboard", "matplotlib", "pytest"} & set(pins)
    find = "import importlib.util as u; print(u.find_spec('trainwell').origin)"  # no import
    where = run([str(venv / "bin" / "python"), "-c", find], venv_env)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_fresh_venv_serves_the_run_as_trainwell_predict_answers(
    installed: tuple[Path, Path],
    venv_env: dict[str, str],
    served_run: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, venv = installed
    new = mixed_frame(25, seed=11).drop(columns="label")
    new.to_csv(tmp_path / "new.csv", index=False)
    code, out, err = run_cli(["predict", str(served_run), str(tmp_path / "new.csv")], capsys)
    assert code == 0, err
    expected = pd.read_csv(io.StringIO(out))
    port = free_port()
    # The Dockerfile's CMD, on loopback, serving the copy of the run the image would hold.
    command = [str(venv / "bin" / "trainwell"), "serve", str(folder / "run"),
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=venv_env)
    try:
        assert server.stderr is not None
        printed = []
        for line in server.stderr:  # until the line it prints once the run is loaded
            printed.append(line)
            if line.startswith("serving "):
                break
        else:
            pytest.fail(f"trainwell serve from the fresh venv stopped: {''.join(printed)}")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:

            def alive() -> None:
                assert server.poll() is None, server.stderr.read()

            wait_until_ready(client, alive)
            answer = client.post("/predict", json={"rows": rows_of(new)})
    finally:
        server.terminate()
        server.communicate()
    assert_served_equals_predict(answer, expected)
