"""``trainwell serve``'s command line: bad options are one line, and
``--emit-dockerfile DIR`` (TW-P09) writes requirements holding what serving the run needs
(what loading it for serving imports, the serving extras, and their dependencies) pinned to
the versions the run was trained with or, for the rest, installed here; a Dockerfile naming
the run and its model sha256; and the files serving needs. (That they install in a fresh
venv, which then serves the run, is ``test_serve_requirements.py``.)"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import metadata
from pathlib import Path

import pytest
from helpers import run_cli

import trainwell


def test_the_emitted_requirements_pin_the_installed_versions(
    served_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "image"
    code, _, err = run_cli(["serve", str(served_run), "--emit-dockerfile", str(out)], capsys)
    assert code == 0, err
    pins = {}
    for line in (out / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    # What serving imports and the serve extra, with their dependencies (uvicorn's h11,
    # torch's sympy); nothing only fitting or testing uses.
    for name in ("torch", "pandas", "scikit-learn", "fastapi", "uvicorn", "prometheus-client",
                 "scipy", "typer", "h11", "sympy"):  # fmt: skip
        assert name in pins
    assert not {"captum", "codecarbon", "tensorboard", "matplotlib", "pytest", "trainwell"} & set(
        pins
    )
    assert all(pins[name] == metadata.version(name) for name in pins)  # trained here, too
    assert sorted(pins) == list(pins)
    sha = hashlib.sha256((served_run / "model" / "model.json").read_bytes()).hexdigest()
    dockerfile = (out / "Dockerfile").read_text()
    assert f"model sha256 {sha}" in dockerfile
    # A +cpu torch's index is the image's to know (requirements.txt holds only pins).
    cpu = "+cpu" in metadata.version("torch")
    assert ("UV_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile) == cpu
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


def test_a_version_the_run_was_trained_with_is_pinned_over_the_installed_one(
    served_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainwell.serve import docker

    run = tmp_path / "run"
    shutil.copytree(served_run, run, ignore=shutil.ignore_patterns("serve"))
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["environment"]["packages"]["numpy"] = "1.26.0"
    (run / "manifest.json").write_text(json.dumps(manifest))
    # Serving imports only numpy here (the probe's fresh interpreter is not what is tested).
    monkeypatch.setattr(docker, "imported_distributions", lambda _: {"numpy"})
    text = docker.requirements_text(run)
    assert "numpy==1.26.0\n" in text
    assert f"# numpy: trained with 1.26.0, {metadata.version('numpy')} installed here" in text
    assert "fastapi==" in text  # the serve extra, always
    assert "pandas==" not in text  # not imported, not required by what is


def test_an_audio_run_pins_the_audio_extra(audio_run: Path) -> None:
    """Sounds are decoded per request (soundfile, librosa), after loading, so the probe of
    what loading imports cannot see them; the run's modality's extra names them."""
    from trainwell.serve.docker import requirements_text

    text = requirements_text(audio_run)
    for name in ("soundfile", "librosa", "torch", "fastapi"):
        assert f"\n{name}=={metadata.version(name)}\n" in text
