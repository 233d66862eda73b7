"""``trainwell serve RUN_DIR --emit-dockerfile DIR``: the environment that serves the run,
pinned (TW-P09: version models and environments together).

Writes ``DIR/requirements.txt``, ``DIR/Dockerfile``, and a copy of the files serving needs
(``DIR/run/``: the manifest, metrics, training profile and model folder; not the checkpoints
or the report). trainwell itself is installed from a wheel placed in ``DIR/wheels/`` (it is
not on a public index), as the Dockerfile's first comment says.

The requirements are what serving *this* run needs, not trainwell's whole dependency list:
the distributions a fresh interpreter imports when it loads the run as ``trainwell serve``
does (the command line, the server, the drift tests, the run's model), the ``serve`` extra
(FastAPI, uvicorn, prometheus-client) and the extra named after the run's modality where
trainwell has one (``audio``: its files are decoded per request), closed over their own
dependencies, each pinned: to the version the run was trained with where the manifest
records one (torch, numpy, pandas, ...), else to the version installed here. For a table
run, serving imports 35 distributions and the file pins 51 with their dependencies, where
trainwell's full list installs 85 (fit-only packages such as captum, codecarbon,
tensorboard and matplotlib are never imported by serving).

The Dockerfile installs them with uv (``uv pip install``; pip's own install of the same file
took ~10x the CPU here, see tests/serve/test_serve_requirements.py), the same commands the
test runs in a fresh venv before serving from it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from trainwell.errors import ConfigError, RunError
from trainwell.run import load
from trainwell.serve.profile import PROFILE_JSON
from trainwell.serve.service import ServeOptions

RUN_FILES = ("manifest.json", "metrics.json", "config.json", PROFILE_JSON)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The uv the image installs when none is installed here (uv is in trainwell's dev extra).
UV_FALLBACK = "0.13.9"

# Run in a fresh interpreter: the top-level modules that loading RUN for serving imports
# (what the interpreter had at start, site's hooks included, is left out).
PROBE = """
import json, sys
before = set(sys.modules)
from pathlib import Path
import trainwell.cli, trainwell.serve.app, trainwell.serve.drift, trainwell.serve.server
from trainwell.serve.service import load_variant
variant = load_variant("A", Path(sys.argv[1]))
names = {m.partition(".")[0] for m in set(sys.modules) - before}
print(json.dumps(sorted(names - set(sys.stdlib_module_names) - set(sys.builtin_module_names))))
"""


def imported_distributions(run_dir: Path) -> set[str]:
    """The installed distributions whose modules a fresh interpreter imports when it loads
    ``run_dir`` for serving (canonical names; trainwell itself excluded).

    Raises:
        RunError: the run cannot be loaded in a fresh interpreter.
    """
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(run_dir)], capture_output=True, text=True
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunError(f"loading {str(run_dir)!r} for serving failed in a new process: {last}")
    providers = metadata.packages_distributions()
    modules = json.loads(probe.stdout.strip().splitlines()[-1])  # a library may print too
    names = {d for module in modules for d in providers.get(module, [])}
    return {str(canonicalize_name(n)) for n in names} - {"trainwell"}


def extra_requirements(extra: str) -> set[str]:
    """The distributions trainwell's extra ``extra`` names (none for an unknown extra)."""
    names: set[str] = set()
    for line in metadata.requires("trainwell") or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or marker.evaluate({"extra": ""}):
            continue  # a runtime dependency, not the extra's
        if marker.evaluate({"extra": extra}):
            names.add(str(canonicalize_name(requirement.name)))
    return names


def dependency_closure(roots: set[str]) -> dict[str, str]:
    """``roots`` and everything they require (for this Python and platform, with the extras
    they ask for): canonical name -> installed version. A dependency that is not installed
    here (a requirement this environment does without) is left out.

    Raises:
        ConfigError: a root is not installed.
    """
    versions: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()
    todo = [(name, "") for name in roots]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in roots:
                raise ConfigError(
                    f"{name} is not installed, so it cannot be pinned; "
                    'pip install "trainwell[serve]" first'
                ) from None
            continue
        versions[name] = distribution.version
        for line in distribution.requires or []:
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or marker.evaluate({"extra": extra}):
                child = str(canonicalize_name(requirement.name))
                todo += [(child, "")] + [(child, e) for e in requirement.extras]
    return versions


def serving_pins(run_dir: Path) -> tuple[dict[str, str], list[str]]:
    """What serving ``run_dir`` needs, pinned: (name -> version, notes). Versions are the
    installed ones, except where the run's manifest records the version it was trained with
    (torch and ``environment.packages``): that one is pinned, and a note says when the
    installed one differs.

    Raises:
        RunError: the run cannot be loaded; ConfigError: a needed distribution is missing.
    """
    run = load(run_dir)
    modality = run.model.spec.modality
    roots = imported_distributions(run_dir) | extra_requirements("serve")
    roots |= extra_requirements(modality)
    pins = dependency_closure(roots)
    pins.pop("trainwell", None)
    environment: dict[str, Any] = run.manifest.get("environment", {})
    trained = {"torch": environment.get("torch"), **environment.get("packages", {})}
    notes = []
    for name, version in trained.items():
        key = canonicalize_name(name)
        if version and key in pins and pins[key] != version:
            notes.append(f"# {key}: trained with {version}, {pins[key]} installed here")
            pins[key] = version
    return pins, notes


def requirements_text(run_dir: Path) -> str:
    """``requirements.txt`` for serving ``run_dir``: comment lines, then ``name==version``
    lines sorted by name (no index options: where packages come from is the installer's;
    the Dockerfile names the CPU index for a ``+cpu`` torch).

    Raises:
        RunError: the run cannot be loaded; ConfigError: a needed distribution is missing.
    """
    pins, notes = serving_pins(run_dir)
    lines = [
        f"# Pinned by trainwell serve --emit-dockerfile for run {run_dir.name}: what serving",
        "# it imports and all their dependencies, at the versions it was trained with.",
        *notes,
    ]
    if "+cpu" in pins.get("torch", ""):
        lines.append(f"# torch {pins['torch']} is a CPU build: from {TORCH_CPU_INDEX}")
    return "\n".join([*lines, *(f"{n}=={v}" for n, v in sorted(pins.items()))]) + "\n"


def uv_version() -> str:
    """The installed uv's version (the one the test installs with), else a known one."""
    try:
        return metadata.version("uv")
    except metadata.PackageNotFoundError:
        return UV_FALLBACK


DOCKERFILE = """\
# Serves run {run} (model sha256 {sha}).
# Build: put trainwell's wheel in wheels/ (uv build --wheel -o wheels /path/to/trainwell),
# then: docker build -t trainwell-{run} . && docker run -p {port}:{port} trainwell-{run}
FROM python:{python}-slim
WORKDIR /srv
RUN pip install --no-cache-dir uv=={uv}
{index}COPY requirements.txt .
RUN uv pip install --system --no-cache -r requirements.txt
COPY wheels/trainwell-{version}-py3-none-any.whl /tmp/
RUN uv pip install --system --no-cache --no-deps /tmp/trainwell-{version}-py3-none-any.whl
COPY run/ /srv/{run}/
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/ready')"
CMD ["trainwell", "serve", "/srv/{run}", "--host", "0.0.0.0", "--port", "{port}"]
"""
# A +cpu torch lives on PyTorch's CPU index; uv asks it first for every name by default, so
# best-match across indexes, as pip does, keeps every other pin on PyPI.
CPU_INDEX_ENV = f"ENV UV_EXTRA_INDEX_URL={TORCH_CPU_INDEX} UV_INDEX_STRATEGY=unsafe-best-match\n"


def emit_dockerfile(options: ServeOptions, folder: Path, port: int = 8000) -> list[Path]:
    """Write requirements.txt, Dockerfile and run/ into ``folder``; the paths written.

    Raises:
        RunError: not a finished run; ConfigError: ``folder`` holds files already, or a
            dependency is not installed.
    """
    from trainwell.serve.service import load_variant

    variant = load_variant("A", options.run_dir)  # checks the run serves before writing
    run = load(options.run_dir)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"--emit-dockerfile {str(folder)!r} is not an empty folder")
    text = requirements_text(run.path)
    folder.mkdir(parents=True, exist_ok=True)
    requirements = folder / "requirements.txt"
    requirements.write_text(text)
    dockerfile = folder / "Dockerfile"
    python = ".".join(map(str, sys.version_info[:2]))
    dockerfile.write_text(
        DOCKERFILE.format(
            run=variant.run,
            sha=variant.sha256,
            port=port,
            python=python,
            uv=uv_version(),
            index=CPU_INDEX_ENV if "+cpu" in text else "",
            version=metadata.version("trainwell"),
        )
    )
    target = folder / "run"
    target.mkdir()
    for name in RUN_FILES:
        if (run.path / name).is_file():
            shutil.copy2(run.path / name, target / name)
    shutil.copytree(run.dir.model_dir, target / "model")
    (folder / "wheels").mkdir()
    return [requirements, dockerfile, target]
