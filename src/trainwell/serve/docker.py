"""``trainwell serve RUN_DIR --emit-dockerfile DIR``: the environment that serves the run,
pinned (TW-P09: version models and environments together).

Writes ``DIR/requirements.txt`` (trainwell's runtime dependencies and the serving extras,
each pinned to the version installed here, so the image runs what the run was served and
tested with), ``DIR/Dockerfile``, and a copy of the files serving needs (``DIR/run/``: the
manifest, metrics, training profile and model folder; not the checkpoints or the report).
trainwell itself is installed from a wheel placed in ``DIR/wheels/`` (trainwell is not on a
public index), as the Dockerfile's first comment says.
"""

from __future__ import annotations

import shutil
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from trainwell.errors import ConfigError
from trainwell.run import load
from trainwell.serve.profile import PROFILE_JSON
from trainwell.serve.service import ServeOptions

# The serving extras (pyproject's ``serve``) and scipy, which the drift tests import.
SERVING = ("fastapi", "uvicorn", "prometheus-client", "scipy")
RUN_FILES = ("manifest.json", "metrics.json", "config.json", PROFILE_JSON)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def runtime_requirements() -> list[str]:
    """trainwell's runtime dependencies (no extras but the serving ones), pinned to the
    installed versions: ``name==version`` lines, sorted by name.

    Raises:
        ConfigError: a dependency is not installed.
    """
    names = {Requirement(r).name for r in metadata.requires("trainwell") or []
             if Requirement(r).marker is None}  # fmt: skip
    pins = []
    for name in sorted({*names, *SERVING}, key=str.lower):
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"{name} is not installed, so it cannot be pinned; "
                'pip install "trainwell[serve]" first'
            ) from None
    return pins


def requirements_text() -> str:
    pins = runtime_requirements()
    lines = ["# Pinned by trainwell serve --emit-dockerfile from the environment that served."]
    if any(p.startswith("torch==") and "+cpu" in p for p in pins):
        lines.append(f"--extra-index-url {TORCH_CPU_INDEX}")  # where +cpu builds live
    return "\n".join([*lines, *pins]) + "\n"


DOCKERFILE = """\
# Serves run {run} (model sha256 {sha}).
# Build: put trainwell's wheel in wheels/ (pip wheel --no-deps -w wheels /path/to/trainwell),
# then: docker build -t trainwell-{run} . && docker run -p {port}:{port} trainwell-{run}
FROM python:{python}-slim
WORKDIR /srv
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY wheels/ /tmp/wheels/
RUN pip install --no-cache-dir --no-deps /tmp/wheels/trainwell-{version}-*.whl && rm -rf /tmp/wheels
COPY run/ /srv/{run}/
EXPOSE {port}
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/ready')"
CMD ["trainwell", "serve", "/srv/{run}", "--host", "0.0.0.0", "--port", "{port}"]
"""


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
    folder.mkdir(parents=True, exist_ok=True)
    requirements = folder / "requirements.txt"
    requirements.write_text(requirements_text())
    dockerfile = folder / "Dockerfile"
    python = ".".join(map(str, sys.version_info[:2]))
    dockerfile.write_text(
        DOCKERFILE.format(
            run=variant.run,
            sha=variant.sha256,
            port=port,
            python=python,
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
