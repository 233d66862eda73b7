"""The public API and the config layer."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

import trainwell
from trainwell.config import FitConfig, build_config, choice_variants
from trainwell.errors import ConfigError, did_you_mean


def test_all_lists_exactly_the_public_names() -> None:
    for name in trainwell.__all__:
        assert hasattr(trainwell, name)  # and the names that load on first use are loaded
    public = {
        n
        for n in dir(trainwell)  # lazy names (PEP 562) are listed by __dir__
        if not n.startswith("_") and not isinstance(getattr(trainwell, n), types.ModuleType)
    }
    public -= {"annotations", "importlib", "TYPE_CHECKING", "Any"}  # the module's own imports
    assert set(trainwell.__all__) - {"__version__"} == public


def test_public_functions_stay_functions_after_every_module_is_imported() -> None:
    """A submodule named like a lazily exported function replaces it once imported.

    CI caught ``trainwell.lr_find`` turning into the module ``trainwell/lr_find.py`` after
    the CLI had imported it (``TypeError: 'module' object is not callable``); the order of
    imports in a test worker decided whether it showed.
    """
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(trainwell.__path__):
        if info.name == "__main__":  # runs the CLI
            continue
        importlib.import_module(f"trainwell.{info.name}")
    for name in trainwell.__all__:
        assert not isinstance(getattr(trainwell, name), types.ModuleType), name


def test_error_tree() -> None:
    assert issubclass(trainwell.LeakageError, trainwell.DataError)
    for cls in (trainwell.ConfigError, trainwell.DataError, trainwell.RunError):
        assert issubclass(cls, trainwell.TrainwellError)


def test_overrides_config_file_and_options_layer_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("seed = 3\n[train]\nlr = 0.01\npatience = 4\n")
    cfg = build_config(config_file=path, overrides=["train.lr=3e-4", "data.drop=a,b"], seed=9)
    assert cfg.train.lr == 3e-4  # override beats file
    assert cfg.train.patience == 4  # file beats default
    assert cfg.seed == 9  # explicit option beats everything
    assert cfg.data.drop == ["a", "b"]
    assert build_config(overrides=["train.clip_grad_norm=none"]).train.clip_grad_norm is None


def test_json_config_files_work(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"model": {"dropout": 0.4}}')
    assert build_config(config_file=path).model.dropout == 0.4


def test_did_you_mean() -> None:
    assert did_you_mean("lable", ["label", "age"]) == " (did you mean 'label'?)"
    assert did_you_mean("zzz", ["label"]) == ""
    with pytest.raises(ConfigError, match="did you mean 'dropout'"):
        build_config(overrides=["model.drop_out=0.1"])


def test_fit_from_a_dataframe_returns_a_loadable_run(tmp_path: Path) -> None:
    from conftest import mixed_frame

    run = trainwell.fit(
        mixed_frame(200),
        target="label",
        out=tmp_path / "r",
        quiet=True,
        overrides=["train.max_epochs=3"],
    )
    again = trainwell.load(run.path)
    assert again.metrics == run.metrics
    assert set(run.metrics) >= {"validation", "test", "baselines", "shipped"}
    assert again.manifest["data"]["source"] == "<DataFrame>"


def test_the_recorded_reproduce_command_gives_identical_results(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import shlex

    from helpers import run_cli

    first = tmp_path / "first"
    code, _, err = run_cli(
        [
            "fit",
            str(data_dir / "wine.csv"),
            "--target",
            "target",
            "--out",
            str(first),
            "-q",
            "train.max_epochs=8",
        ],
        capsys,
    )
    assert code == 0, err
    command = json.loads((first / "manifest.json").read_text())["reproduce"]
    args = shlex.split(command.replace("NEW_RUN_DIR", str(tmp_path / "again")))[1:]
    code, _, err = run_cli([*args, "-q"], capsys)
    assert code == 0, err
    assert (first / "metrics.json").read_text() == (tmp_path / "again" / "metrics.json").read_text()


def leaf_keys(model: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """Every ``section.key`` of a config model, with its pydantic field."""
    found: dict[str, FieldInfo] = {}
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found.update(leaf_keys(annotation, f"{prefix}{name}."))
        else:
            found[f"{prefix}{name}"] = field
            for variant in choice_variants(field):  # train.schedule.milestones, ...
                found.update(
                    {
                        f"{prefix}{name}.{k}": f
                        for k, f in variant.model_fields.items()
                        if k != "name"
                    }
                )
    return found


def test_every_config_key_has_a_description_shown_in_fit_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 21: 96 keys had no description; each key's docstring is its help text."""
    from helpers import run_cli

    keys = leaf_keys(FitConfig)
    undocumented = sorted(k for k, f in keys.items() if not (f.description or "").strip())
    assert undocumented == []
    code, out, _ = run_cli(["fit", "--help"], capsys)
    assert code == 0
    help_text = " ".join(out.split())  # the terminal may wrap lines anywhere
    for key, field in keys.items():
        assert f"{key}=" in help_text
        assert " ".join((field.description or "").split()[:6]) in help_text, key
    assert "train.lr=auto" in help_text
    assert "train.batch_size=auto" in help_text
    assert "train.schedule.milestones=[0.5, 0.75] step: where the LR drops" in help_text
