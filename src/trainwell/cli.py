"""The ``trainwell`` command line. User errors print one line and exit with code 2."""

from __future__ import annotations

import os
import sys
import textwrap
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trainwell.config import DataSpec, FitConfig, choice_variants, options_config
from trainwell.errors import TrainwellError
from trainwell.files import require_data_file
from trainwell.lasting import TRAINING, as_command, freeze_for_exit, preload
from trainwell.run_files import require_run_dir

app = typer.Typer(
    name="trainwell",
    help="Train deep-learning models the way the best-practice guides say to.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"trainwell {version('trainwell')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Train deep-learning models the way the best-practice guides say to."""


# Options that fit, audit and lr-find share: one definition, so their help stays the same.
Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="Config overrides: key.sub=value ...", show_default=False),
]
Target = Annotated[str | None, typer.Option("--target", "-t", help="Column to predict.")]
TaskOption = Annotated[
    str | None,
    typer.Option(
        "--task",
        help="classification, binary, multiclass or regression (default: inferred).",
    ),
]
Group = Annotated[
    str | None,
    typer.Option("--group", help="Keep rows sharing this column's value in one split."),
]
Time = Annotated[
    str | None,
    typer.Option("--time", help="Train on the past, validate and test on the future."),
]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed (default 0).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML or JSON config file.")]
Text = Annotated[
    str | None,
    typer.Option(
        "--text",
        help="Text column: a text task (a pre-trained encoder where one is installed: "
        "fine-tuned on a GPU, frozen under a trained head on a CPU).",
    ),
]
Series = Annotated[
    str | None,
    typer.Option(
        "--series", help="Series id column: one example per series, rows ordered by --time."
    ),
]


def data_spec(
    task: str | None, group: str | None, time: str | None, text: str | None, series: str | None
) -> DataSpec:
    """The :class:`~trainwell.config.DataSpec` of ``--task``, ``--group``, ``--time``,
    ``--text`` and ``--series`` (typer needs each option as its own parameter)."""
    return DataSpec(task=task, group=group, time=time, text=text, series=series)


HEAD_ROWS = 5  # what check_early reads of a data file


def check_early(
    data: str | None,
    config: Path | None,
    overrides: list[str],
    target: str | None,
    seed: int | None,
    spec: DataSpec,
    **options: Any,
) -> None:
    """Refuse what needs neither torch nor scikit-learn to judge (a data path with nothing
    there, a malformed config file or override, ``--text`` with ``--series``, a file that
    cannot be read or has no rows, a missing target or an unknown target, ``--text``,
    ``--series``, ``--group``, ``--time``, ``data.drop`` or ``--groups`` column, judged on the
    file's first rows) before their ~4 s of imports, so a typo is answered at
    once. The command checks the same again, with the same functions, once its modules are
    loaded (issue 19: every bad-input error came after the imports).

    Raises:
        DataError: nothing at ``data``, an unreadable file or a column it lacks;
            ConfigError: a config or override it cannot use.
    """
    path = None if data is None else require_data_file(data)
    cfg = options_config(config, overrides, target=target, seed=seed, spec=spec, **options)
    if path is not None and path.is_file():  # (a folder holds images, one class a folder)
        from trainwell.data.load import read_table
        from trainwell.data.schema import check_columns, check_group_columns

        head = read_table(path, nrows=HEAD_ROWS)
        check_columns(head, cfg.data)
        check_group_columns(head, cfg.report.groups, cfg.data.target)


def on_rank_0() -> bool:
    """Whether this process prints: alone, or rank 0 of a torchrun job (read from ``RANK``,
    before torch is imported)."""
    return os.environ.get("RANK", "0") == "0"


def loading(quiet: bool) -> AbstractContextManager[object]:
    """A spinner on stderr, "loading torch and scikit-learn", while the command imports them
    (~4 s on 2 cores, before a fit's first line). Rich draws it only on a terminal and erases
    it after, so piped or captured output (an error's one line) is unchanged; under torchrun
    only rank 0 draws it."""
    if quiet or not on_rank_0():
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status("loading torch and scikit-learn")


def _config_keys(
    fields: dict[str, FieldInfo] = FitConfig.model_fields, prefix: str = ""
) -> list[str]:
    """``key=default`` lines, each with its description (its docstring in trainwell.config,
    via pydantic's use_attribute_docstrings); a choice's own keys follow its name."""
    lines = []
    for name, field in fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.extend(_config_keys(annotation.model_fields, f"{prefix}{name}."))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):  # a choice (train.schedule): its name
            default = getattr(default, "name", default)
        if f"{prefix}{name}" in AUTO_KEYS:
            default = "auto"  # None means: chosen by trainwell (LR range test, batch rule)
        lines.append(f"  {prefix}{name}={default}")
        about = " ".join((field.description or "").split())
        lines.extend(textwrap.wrap(about, 88, initial_indent=" " * 6, subsequent_indent=" " * 6))
        for variant in choice_variants(field):
            own = {k: f for k, f in variant.model_fields.items() if k != "name"}
            lines.extend(_config_keys(own, f"{prefix}{name}."))
    return lines


# Keys whose default None is written "auto" (the config accepts both spellings).
AUTO_KEYS = frozenset({"train.lr", "train.batch_size"})


FIT_EPILOG = (
    "\b\nExamples:\n"
    "  trainwell fit data.csv --target label\n"
    "  trainwell fit data.parquet --target price --group customer_id\n"
    "  trainwell fit data.csv --target y train.lr=3e-4 model.dropout=0.3\n"
    "  trainwell fit adult.csv --target income --groups sex,age_band\n"
    "  trainwell fit --resume runs/2026-11-22-data\n"
    "  trainwell fit photos/ --target label          (one sub-folder per class)\n"
    "  trainwell fit reviews.csv --target sentiment --text review\n"
    "  trainwell fit sensors.csv --target activity --series id --time t\n"
    "  trainwell fit photos/ model.name=efficientnet_b0 model.pretrained=weights.safetensors\n\n"
    "\b\nConfig keys (set as key=value after DATA, or in a TOML/JSON --config file):\n"
    + "\n".join(_config_keys())
)


@app.command(epilog=FIT_EPILOG)
def fit(
    ctx: typer.Context,
    data: Annotated[
        str | None, typer.Argument(help="CSV or Parquet file, or a folder of class sub-folders.")
    ] = None,
    overrides: Overrides = None,
    target: Target = None,
    task: TaskOption = None,
    group: Group = None,
    time: Time = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default runs/DATE-NAME).")
    ] = None,
    seed: Seed = None,
    config: ConfigFile = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue an unfinished run from its last checkpoint.")
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            help="Proceed despite this blocking audit finding (an id such as "
            "near-duplicate-across-splits); recorded in the manifest. Repeatable."
        ),
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option(
            help="Sensitive or slice columns, comma-separated (e.g. sex,age_band): the report "
            "shows test metrics per group and flags large gaps (report.groups)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
    text: Text = None,
    series: Series = None,
    devices: Annotated[
        int | None,
        typer.Option(
            help="Train with N local processes (torch.distributed: gloo on CPU, NCCL on "
            "GPUs); train.batch_size stays the global batch. Under torchrun leave it out."
        ),
    ] = None,
) -> None:
    """Train, evaluate and document a model: audit, split, preprocess, baselines, network,
    evaluate once on the sealed test split, export, report."""
    if devices is not None:  # N processes: the same command again, under torch's launcher
        from trainwell.launcher import check_devices, command_line, launch

        check_devices(devices)
        if devices > 1:
            argv = command_line(ctx, drop="devices")
            code = launch(devices, argv)
            _mark_interrupt_said()  # on 130 the job's rank 0, or the launcher, said why
            raise typer.Exit(code)
    if resume is not None and data is not None:
        raise TrainwellError(
            "--resume continues a run exactly as configured; pass only --resume RUN_DIR"
        )
    spec = data_spec(task, group, time, text, series)
    overrides = [*(overrides or []), *([f"audit.allow={','.join(allow)}"] if allow else [])]
    if resume is not None:
        require_run_dir(resume)  # before the imports, as check_early
    else:
        check_early(data, config, overrides, target, seed, spec, report__groups=groups)
    with loading(quiet):
        preload(*TRAINING, freeze=True)
    from trainwell.pipeline import fit as run_fit

    try:
        run_fit(
            data,
            target,
            out=out,
            seed=seed,
            config=config,
            overrides=overrides,
            resume=resume,
            quiet=quiet,
            groups=groups,
            **spec,
        )
    except KeyboardInterrupt as err:  # said here: the line names the run to resume
        _say_interrupted(err)
        raise typer.Exit(130) from None


@app.command()
def audit(
    data: Annotated[
        str, typer.Argument(help="CSV or Parquet file, or a folder of class sub-folders.")
    ],
    overrides: Overrides = None,
    target: Target = None,
    task: TaskOption = None,
    group: Group = None,
    time: Time = None,
    seed: Seed = None,
    config: ConfigFile = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="text (a table) or json (a list of findings: id, practice, severity, message, "
            "evidence, fix). Practice IDs (TW-D01 …) are explained in docs/practices.md.",
        ),
    ] = "text",
    text: Text = None,
    series: Series = None,
) -> None:
    """Check data quality, label errors and leakage on the splits fit would make.

    Errors (leakage) would stop `trainwell fit`; warnings and notes would not. The exit code
    is 0 whatever is found; it is 2 only for bad input.
    """
    import json

    from trainwell.audit import format_findings_table
    from trainwell.config import options_config
    from trainwell.errors import ConfigError
    from trainwell.pipeline import prepare

    if output_format not in {"text", "json"}:
        raise ConfigError(f"--format must be text or json, not {output_format!r}")
    spec = data_spec(task, group, time, text, series)
    cfg = options_config(config, overrides or [], target=target, seed=seed, spec=spec)
    findings = prepare(data, cfg, block=False).findings
    if output_format == "json":
        typer.echo(json.dumps([f.to_dict() for f in findings], indent=2, default=str))
    else:
        typer.echo(format_findings_table(findings))


LR_FIND_EPILOG = (
    "\b\nExamples:\n"
    "  trainwell lr-find data.csv --target label\n"
    "  trainwell lr-find data.csv --target y --plot lr.svg --json lr.json train.batch_size=64\n"
    "  trainwell lr-find photos/ --target label\n\n"
    "The sweep trains the network fit would build (same config, rows, batches, initial\n"
    "weights, optimizer and clipping: the curve fit's own range test draws)\n"
    "for train.lr_find_steps steps while the LR grows from 1e-7 to 10, and stops\n"
    "when the loss diverges. The suggestion is half way along the longest fall of the\n"
    "smoothed loss (train.lr_find_method=valley), where it falls fastest (=steepest), or a\n"
    "tenth of the LR at its lowest point (=minimum). A flat, noisy or too short curve\n"
    "gives no suggestion (the reason is printed); fit then starts at 1e-3.\n"
    "fit runs the same test by default (train.lr=auto) unless train.lr is set to a number."
)


@app.command("lr-find", epilog=LR_FIND_EPILOG)
def lr_find(
    data: Annotated[
        str, typer.Argument(help="CSV or Parquet file, or a folder of class sub-folders.")
    ],
    overrides: Overrides = None,
    target: Target = None,
    task: TaskOption = None,
    group: Group = None,
    time: Time = None,
    seed: Seed = None,
    config: ConfigFile = None,
    plot: Annotated[
        Path, typer.Option(help="Write the loss-vs-LR plot here (.png, .svg or .pdf).")
    ] = Path("lr_find.png"),
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the curve (lrs, losses, smoothed) as JSON."),
    ] = None,
    text: Text = None,
    series: Series = None,
) -> None:
    """Learning-rate range test (TW-T02): plot loss against LR and suggest a starting LR.

    Prints the suggested learning rate and why, and writes the plot (and --json).
    """
    import json

    from trainwell.data.output import prepare_output_file
    from trainwell.learning_rate import lr_find as run_lr_find
    from trainwell.train.range_test import DEFAULT_LR

    prepare_output_file(plot, "--plot", make_folder=False)
    if json_out is not None:
        prepare_output_file(json_out, "--json", make_folder=False)
    test = run_lr_find(
        data,
        target,
        seed=seed,
        config=config,
        overrides=overrides or [],
        plot=plot,
        **data_spec(task, group, time, text, series),
    )
    if json_out is not None:
        json_out.write_text(json.dumps(test.to_dict(), indent=1) + "\n")
    if test.suggestion is None:
        typer.echo(f"no suggestion ({test.verdict}): {test.reason}")
        typer.echo(f"fit would start at the fallback {DEFAULT_LR:g}")
    else:
        typer.echo(f"suggested learning rate: {test.suggestion:.3g}")
        typer.echo(f"why: {test.reason}")
    typer.echo(f"sweep: {test.stopped}")
    typer.echo(f"plot: {plot}" + (f", curve: {json_out}" if json_out is not None else ""))


def _tune_epilog() -> str:
    from trainwell.tune.space import PBT_DECISION, describe

    return (
        "\b\nExamples:\n"
        "  trainwell tune data.csv --target y --trials 50\n"
        "  trainwell tune data.csv --target y --timeout 30m --sampler random\n"
        "  trainwell tune data.csv --target y --timeout 30m train.time_budget=2m   (each "
        "trial trains 2m at most)\n"
        "  trainwell tune data.csv --target y --trials 50 --storage "
        "postgresql+psycopg://host/db --study churn   (one per worker)\n"
        "  trainwell tune --resume runs/2026-11-30-data\n\n"
        "\b\nSearch space, in the order the guides tune (TW-H01); a key you set (key=value or\n"
        "--config) is held as set, and the other config keys stay as the config sets them:\n"
        + describe()
        + "\n\n"
        "Trials train on the training split and are scored on the validation split (the\n"
        "lowest validation loss); the test split stays sealed until the best config is\n"
        "trained and evaluated once, as a normal run directory with the study inside.\n\n"
        "--ensemble K (TW-H04): the shipped run also trains the 2nd..Kth best trials' configs\n"
        "on the training split and averages the K networks, kept only if the average beats\n"
        "the best single one on validation (the run's findings say which).\n\n" + PBT_DECISION
    )


@app.command(epilog=_tune_epilog())
def tune(
    data: Annotated[str | None, typer.Argument(help="CSV or Parquet file.")] = None,
    overrides: Overrides = None,
    target: Target = None,
    task: TaskOption = None,
    group: Group = None,
    time: Time = None,
    trials: Annotated[
        int, typer.Option(help="Finished trials (complete or pruned), all workers together.")
    ] = 20,
    timeout: Annotated[
        str | None, typer.Option(help="Start no trial after this long: 90s, 30m, 2h.")
    ] = None,
    sampler: Annotated[
        str, typer.Option(help="tpe (Bayesian optimization) or random (TW-H02).")
    ] = "tpe",
    storage: Annotated[
        str | None,
        typer.Option(help="Optuna RDB URL shared by workers (default RUN_DIR/study.db)."),
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name in --storage.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default runs/DATE-NAME).")
    ] = None,
    seed: Seed = None,
    config: ConfigFile = None,
    resume: Annotated[Path | None, typer.Option(help="Continue a killed tune.")] = None,
    ensemble: Annotated[
        int,
        typer.Option(
            help="Ship the average of the K best trials' networks (retrained on the training "
            "split) when it beats the best one on validation (TW-H04); 1 is off.",
        ),
    ] = 1,
    no_fit: Annotated[
        bool,
        typer.Option(
            "--no-fit",
            help="Run trials only (a worker of a shared study); `tune --resume RUN_DIR` "
            "later fits the best config.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
    text: Text = None,
    series: Series = None,
) -> None:
    """Tune the config on the validation split with Optuna (pruning trials on their curve
    and on the doctor's NaN/divergence findings), then train the best config once."""
    spec = data_spec(task, group, time, text, series)
    if resume is None:
        check_early(data, config, overrides or [], target, seed, spec)
    with loading(quiet):
        preload(*TRAINING, "trainwell.tune", freeze=True)
    from trainwell.tune import tune as run_tune

    run_tune(
        data, target, trials=trials, timeout=timeout, sampler=sampler, storage=storage,
        study=study, resume=resume, out=out, config=config, overrides=overrides or [],
        seed=seed, quiet=quiet, fit_best=not no_fit, ensemble=ensemble, **spec,
    )  # fmt: skip


@app.command()
def predict(
    run_dir: Annotated[
        Path,
        typer.Argument(help="A finished run directory, or a file `trainwell export` wrote."),
    ],
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with the feature columns.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write predictions here (.csv or .parquet); default stdout."
        ),
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(help="Copy this input column (e.g. an id) into the output; repeatable."),
    ] = None,
) -> None:
    """Predict new rows with a run's shipped model (its preprocessing travels with it)."""
    import pandas as pd

    from trainwell.data import read_table
    from trainwell.data.output import (
        describe_unexpected,
        prepare_output_file,
        unexpected_value_warnings,
        with_kept_columns,
    )
    from trainwell.run import load

    if out is not None:
        prepare_output_file(out)
    if run_dir.is_file():  # RUN_DIR/export/model.onnx (trainwell.export)
        from trainwell.export import load_exported

        model = load_exported(run_dir)
    else:
        model = load(run_dir).model
    if data.suffix.lower() in {".parquet", ".pq"} and model.spec.modality == "table":
        # Read and written in row batches: a file larger than memory (trainwell.streaming)
        from trainwell.streaming import predict_in_batches

        def write_csv(batch: pd.DataFrame, first: bool) -> None:
            if out is None:
                batch.to_csv(sys.stdout, index=False, header=first)
            else:
                batch.to_csv(out, index=False, header=first, mode="w" if first else "a")

        rows, unexpected = predict_in_batches(model, data, out, keep or [], write_csv)
        for name, seen in unexpected.items():
            typer.echo(f"trainwell: warning: {describe_unexpected(name, seen, rows)}", err=True)
        if out is not None:
            typer.echo(f"wrote {rows} predictions to {out}", err=True)
        return
    if data.is_dir():  # a folder of images, for an image model (trainwell.modalities)
        frame, result = pd.DataFrame(), model.predict(data)
    else:
        frame = read_table(data)
        result = model.predict(frame)
        for line in unexpected_value_warnings(model, frame):
            typer.echo(f"trainwell: warning: {line}", err=True)
    result = with_kept_columns(result, frame, keep or [])
    if out is None:
        result.to_csv(sys.stdout, index=False)
    elif out.suffix in {".parquet", ".pq"}:
        result.to_parquet(out, index=False)
    else:
        result.to_csv(out, index=False)
    if out is not None:
        typer.echo(f"wrote {len(result)} predictions to {out}", err=True)


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    output_format: Annotated[
        str, typer.Option("--format", help="onnx (default) or torchscript.")
    ] = "onnx",
) -> None:
    """Export the run's shipped model to RUN_DIR/export/ (ONNX or TorchScript), checked
    against the run on the validation split; `trainwell predict` accepts the file."""
    from trainwell.export import export_run

    entry = export_run(run_dir, output_format)
    parity = entry["parity"]
    typer.echo(
        f"exported {run_dir / 'export' / entry['file']} ({entry['bytes']} bytes); parity on "
        f"{parity['examples']} validation examples: max |difference| "
        f"{parity['max_abs_diff']:.2g} (tolerance {parity['tolerance']:.2g}), predictions "
        f"agree on {parity['agreement']:.1%}",
        err=True,
    )
    raw = entry["raw_inputs"]
    if raw["in_graph"]:
        names = ", ".join(i["name"] for i in raw["inputs"][:8])
        more = "..." if len(raw["inputs"]) > 8 else ""
        how = f" ({raw['signature']})" if "signature" in raw else " as named inputs"
        typer.echo(f"the file takes the raw columns ({names}{more}){how}", err=True)
    typer.echo(
        f"outside the file (in export.json, applied by `trainwell predict`): {raw['outside']}",
        err=True,
    )


@app.command()
def compress(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
    tolerance: Annotated[
        float,
        typer.Option(help="Metric points (accuracy or R2 x100) a variant may lose and be kept."),
    ] = 0.5,
) -> None:
    """Quantized, pruned and distilled variants of the run's network, scored on the
    validation split, timed and sized: RUN_DIR/export/variants.json and variants.md."""
    from trainwell.export.compress import compress_run

    compress_run(run_dir, tolerance=tolerance)
    typer.echo((run_dir / "export" / "variants.md").read_text(), nl=False)


@app.command()
def serve(
    run_dir: Annotated[
        Path, typer.Argument(help="A finished run (a table, text, series, image or audio model).")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    max_batch_size: Annotated[int, typer.Option(help="Rows per model call (TW-P05).")] = 64,
    max_delay_ms: Annotated[
        float, typer.Option(help="Longest wait for requests already arriving to batch with.")
    ] = 5.0,
    max_queue: Annotated[
        int, typer.Option(help="Requests that may wait; more get 503 + Retry-After.")
    ] = 100,
    candidate: Annotated[
        Path | None, typer.Option(help="A second run to A/B test (TW-P07).")
    ] = None,
    split: Annotated[
        float, typer.Option(help="Share of keys the candidate answers (sticky by key).")
    ] = 0.0,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="The candidate sees all traffic, answers none.")
    ] = False,
    horizon: Annotated[
        int, typer.Option(help="Labelled predictions per variant before the A/B test is read.")
    ] = 200,
    window: Annotated[int, typer.Option(help="Served rows per drift window (TW-P06).")] = 500,
    log_max_mb: Annotated[
        float, typer.Option(help="The served log rotates past this size (MiB).")
    ] = 100.0,
    log_keep: Annotated[int, typer.Option(help="Rotated served-log files kept.")] = 5,
    emit_dockerfile: Annotated[
        Path | None,
        typer.Option(help="Write a pinned requirements.txt and a Dockerfile here and exit."),
    ] = None,
) -> None:
    """Serve a run's model over HTTP: batched, bounded, watching its inputs for drift."""
    from trainwell.serve.service import ServeOptions

    options = ServeOptions(
        run_dir, candidate=candidate, split=split, shadow=shadow, window=window,
        max_batch_size=max_batch_size, max_delay_ms=max_delay_ms, max_queue=max_queue,
        horizon=horizon, log_max_bytes=max(1, int(log_max_mb * 2**20)), log_keep=log_keep,
    )  # fmt: skip
    if emit_dockerfile is not None:
        from trainwell.serve.docker import emit_dockerfile as emit

        for path in emit(options, emit_dockerfile, port):
            typer.echo(f"wrote {path}", err=True)
        return
    from trainwell.serve.server import serve as run_server

    run_server(options, host, port)


@app.command()
def monitor(
    run_dir: Annotated[Path, typer.Argument(help="A served run directory.")],
    window: Annotated[int, typer.Option(help="Served rows per window.")] = 500,
    horizon: Annotated[
        int, typer.Option(help="Labelled predictions per variant before the A/B test is read.")
    ] = 200,
) -> None:
    """Drift, live accuracy and the A/B verdict from a served run's log (RUN_DIR/serve/)."""
    from trainwell.serve.monitor import monitor_report

    typer.echo(monitor_report(run_dir, window=window, horizon=horizon))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Rebuild report.html and model_card.md from a run directory (also a stopped run)."""
    from trainwell.report import write_report
    from trainwell.run import RunDir

    folder = RunDir(run_dir)
    folder.hold()  # not while a fit or --resume writes the run
    try:
        folder.open_existing()
        write_report(folder)
    finally:
        folder.release()
    typer.echo(f"report: {folder.report_path}", err=True)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more finished run directories.")],
    output_format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Compare runs on the same test rows: the config keys that differ, test metrics with
    95% intervals, and a paired test against the first run (McNemar exact for accuracy, a
    paired bootstrap for the others) saying whether each difference is larger than noise."""
    import json

    from trainwell.compare import compare_runs, format_comparison
    from trainwell.errors import ConfigError

    if output_format not in {"text", "json"}:
        raise ConfigError(f"--format must be text or json, not {output_format!r}")
    result = compare_runs(run_dirs)
    if output_format == "json":
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        typer.echo(format_comparison(result))


@app.command()
def runs(
    folder: Annotated[
        Path, typer.Argument(help="Results folder holding run directories (default runs/).")
    ] = Path("runs"),
    output_format: Annotated[
        str, typer.Option("--format", help="table (default) or json.")
    ] = "table",
) -> None:
    """List the runs in a results folder: status, data, shipped model, key test metric and
    the config keys that differ between them (TW-M05)."""
    from rich.console import Console

    from trainwell.errors import ConfigError
    from trainwell.runs_index import list_runs, to_json, to_table

    if output_format not in {"table", "json"}:
        raise ConfigError(f"--format must be table or json, not {output_format!r}")
    found = list_runs(folder)
    if output_format == "json":
        typer.echo(to_json(found))
    elif not found:
        typer.echo(f"no runs in {str(folder)!r} (folders with a manifest.json)")
    else:
        Console(width=max(100, Console().width), soft_wrap=False).print(to_table(found, folder))


DOCTOR_EPILOG = (
    "\b\nExamples:\n"
    "  trainwell doctor -- python train.py --epochs 5\n"
    "  trainwell doctor --json findings.json -- python train.py\n\n"
    "The script needs no change: the doctor attaches through PyTorch's global forward and "
    "optimizer-step hooks when the script imports torch (the script must run in an "
    "environment where trainwell is installed)."
)


@app.command(
    epilog=DOCTOR_EPILOG,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def doctor(
    ctx: typer.Context,
    json_file: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the findings to this file as JSON."),
    ] = None,
) -> None:
    """Run a PyTorch training script with the training doctor attached; print its findings
    live and a summary at exit, and exit with the script's own exit code."""
    from trainwell.doctor import run_doctor
    from trainwell.errors import ConfigError

    if json_file is not None and not json_file.parent.is_dir():
        raise ConfigError(f"--json {json_file}: folder {json_file.parent} does not exist")
    raise typer.Exit(run_doctor(list(ctx.args), json_file))


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning user errors into one line and exit code 2.

    With ``argv`` None (the ``trainwell`` command, ``python -m trainwell``) this is the
    process's own command: heavy imports skip the cyclic garbage collector and its objects
    are frozen before exit (:mod:`trainwell.lasting`); with ``argv`` (tests) nothing changes.
    """
    as_command(argv is None)
    if argv is None:  # the process's own output streams
        sys.stdout = _ClosedPipeGuard(sys.stdout)
        sys.stderr = _ClosedPipeGuard(sys.stderr)
    try:
        _main(argv)
    finally:
        if argv is None:
            freeze_for_exit()


class _ClosedPipeGuard:
    """An output stream (``sys.stdout``, ``sys.stderr``, where a run's progress goes) that,
    once its reader has gone (``trainwell fit ... 2>&1 | head``: a closed pipe), sends the
    rest of the output to ``os.devnull`` and lets the command go on, with the ``os.dup2``
    onto devnull the Python docs give for ``BrokenPipeError``, rather than failing a run
    midway over its terminal output (found by trying trainwell: the run ended "failed")."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, self._stream.fileno())
        os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _main(argv: list[str] | None) -> None:
    global _interrupt_said
    _interrupt_said = False  # per command (tests run several in one process)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="trainwell", standalone_mode=False)
    except TrainwellError as err:
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank fails alike
            typer.echo(f"trainwell: error: {_one_line(str(err))}", err=True)
        sys.exit(2)
    except OSError as err:
        # A path the system refused (a folder that cannot be made, a file name too long, no
        # permission, a full disk): the user's to fix. An OSError naming no path is a bug.
        if err.filename is None:
            raise
        path = err.filename if err.filename2 is None else f"{err.filename} -> {err.filename2}"
        typer.echo(
            f"trainwell: error: cannot use '{path}': {err.strerror or err}; check the path, "
            "its parent folder and their permissions",
            err=True,
        )
        sys.exit(2)
    except typer.Abort:
        typer.echo("trainwell: interrupted", err=True)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors: unknown option, missing argument
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        message = _one_line(message).rstrip(".")
        typer.echo(f"trainwell: error: {message}; see trainwell --help", err=True)
        sys.exit(getattr(err, "exit_code", 2))
    except KeyboardInterrupt as err:
        _say_interrupted(err)
        sys.exit(130)
    if code == 130 and not _interrupt_said:
        # typer turns a Ctrl-C inside a command into a silent exit 130 (typer.core._main),
        # losing the exception: a stop in any command's imports or work before its run
        # directory exists (found by trying trainwell: `fit` stopped in its first 3 s
        # printed nothing).
        _say_interrupted(KeyboardInterrupt())
    sys.exit(code if isinstance(code, int) else 0)


_interrupt_said = False


def _say_interrupted(err: BaseException) -> None:
    """Print the one line of an interrupt (once; on rank 0 only under torchrun)."""
    from trainwell.interrupts import interrupted_message

    if on_rank_0() and not _interrupt_said:
        typer.echo(interrupted_message(err), err=True)
    _mark_interrupt_said()


def _mark_interrupt_said() -> None:
    """Mark an interrupt of this command as said (its exit 130 needs no other line)."""
    global _interrupt_said
    _interrupt_said = True
