"""``trainwell serve``'s command line: bad options are one line, and
``--emit-dockerfile DIR`` (TW-P09) writes requirements pinned to the installed versions of
trainwell's runtime dependencies and the serving extras, a Dockerfile naming the run and its
model sha256, and the files serving needs. (That the pins resolve in a fresh venv is
``test_serve_requirements.py``.)"""

from __future__ import annotations

import hashlib
from importlib import metadata
from pathlib import Path

import pytest
from helpers import run_cli
from packaging.requirements import Requirement

import trainwell


def test_the_emitted_requirements_pin_the_installed_versions(
    served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "image"
    code, _, err = run_cli(["serve", str(served_run), "--emit-dockerfile", str(out)], capsys)
    assert code == 0, err
    pins = {}
    for line in (out / "requirements.txt").read_text().splitlines():
        if line and not line.startswith(("#", "--")):
            name, version = line.split("==")
            pins[name.lower()] = version
    runtime = [Requirement(r) for r in metadata.requires("trainwell") or []]
    for requirement in runtime:
        if requirement.marker is None:
            assert pins[requirement.name.lower()] == metadata.version(requirement.name)
    for name in ("fastapi", "uvicorn", "prometheus-client", "scipy"):
        assert pins[name] == metadata.version(name)
    sha = hashlib.sha256((served_run / "model" / "model.json").read_bytes()).hexdigest()
    dockerfile = (out / "Dockerfile").read_text()
    assert f"model sha256 {sha}" in dockerfile
    assert (
        'CMD ["trainwell", "serve", "/srv/run", "--host", "0.0.0.0", "--port", "8000"]'
        in dockerfile
    )
    copied = trainwell.load(out / "run")
    assert copied.model.spec.files == trainwell.load(served_run).model.spec.files


def test_a_folder_that_holds_files_is_refused(
    served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    code, _, err = run_cli(
        ["serve", str(served_run), "--emit-dockerfile", str(tmp_path / "busy")], capsys
    )
    assert code == 2
    assert "is not an empty folder" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--split", "0.1"], "--split and --shadow need a --candidate RUN_DIR"),
        (["--max-queue", "0"], "--max-queue must be at least 1"),
        (["--candidate", "RUN", "--shadow", "--split", "0.5"], "choose --shadow"),
    ],
)
def test_bad_serve_options_are_one_line(
    served_run: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(served_run) if a == "RUN" else a for a in args]
    code, _, err = run_cli(["serve", str(served_run), *args], capsys)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_serving_a_folder_that_is_no_run_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["serve", str(tmp_path)], capsys)
    assert code == 2
    assert "is not a trainwell run" in err
