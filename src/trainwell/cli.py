"""The ``trainwell`` command line. User errors print one line and exit with code 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from trainwell.config import FitConfig
from trainwell.errors import TrainwellError

app = typer.Typer(
    name="trainwell",
    help="Train deep-learning models the way the best-practice guides say to.",
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _config_keys(model: type[BaseModel] = FitConfig, prefix: str = "") -> list[str]:
    lines = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            lines.extend(_config_keys(annotation, f"{prefix}{name}."))
        else:
            default = field.get_default(call_default_factory=True)
            lines.append(f"  {prefix}{name}={default}")
    return lines


FIT_EPILOG = (
    "\b\nExamples:\n"
    "  trainwell fit data.csv --target label\n"
    "  trainwell fit data.parquet --target price --group customer_id\n"
    "  trainwell fit data.csv --target y train.lr=3e-4 model.dropout=0.3\n"
    "  trainwell fit --resume runs/2026-11-22-data\n\n"
    "\b\nConfig keys (set as key=value after DATA, or in a TOML/JSON --config file):\n"
    + "\n".join(_config_keys())
)


@app.command(epilog=FIT_EPILOG)
def fit(
    data: Annotated[str | None, typer.Argument(help="CSV or Parquet file.")] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides: key.sub=value ...", show_default=False),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column to predict.")] = None,
    task: Annotated[
        str | None,
        typer.Option(help="classification, binary, multiclass or regression (default: inferred)."),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Keep rows sharing this column's value in one split.")
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="Train on the past, validate and test on the future.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Run directory (default runs/DATE-NAME).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 0).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML or JSON config file.")] = None,
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
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing.")] = False,
) -> None:
    """Train, evaluate and document a model: audit, split, preprocess, baselines, network,
    evaluate once on the sealed test split, export, report."""
    from trainwell.pipeline import fit as run_fit

    if resume is not None and data is not None:
        raise TrainwellError(
            "--resume continues a run exactly as configured; pass only --resume RUN_DIR"
        )
    run_fit(
        data,
        target,
        task=task,
        group=group,
        time=time,
        out=out,
        seed=seed,
        config=config,
        overrides=[*(overrides or []), *([f"audit.allow={','.join(allow)}"] if allow else [])],
        resume=resume,
        quiet=quiet,
    )


@app.command()
def audit(
    data: Annotated[str, typer.Argument(help="CSV or Parquet file.")],
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="Config overrides: key.sub=value ...", show_default=False),
    ] = None,
    target: Annotated[str | None, typer.Option("--target", "-t", help="Column to predict.")] = None,
    task: Annotated[str | None, typer.Option(help="Task (default: inferred).")] = None,
    group: Annotated[str | None, typer.Option(help="Group column, as for fit.")] = None,
    time: Annotated[str | None, typer.Option(help="Time column, as for fit.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the splits (default 0).")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML or JSON config file.")] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="text (a table) or json (DESIGN.md finding schema).")
    ] = "text",
) -> None:
    """Check data quality, label errors and leakage on the splits fit would make.

    Errors (leakage) would stop `trainwell fit`; warnings and notes would not. The exit code
    is 0 whatever is found; it is 2 only for bad input.
    """
    import json

    from trainwell.audit import format_findings_table
    from trainwell.config import build_config
    from trainwell.errors import ConfigError
    from trainwell.pipeline import prepare

    if output_format not in {"text", "json"}:
        raise ConfigError(f"--format must be text or json, not {output_format!r}")
    cfg = build_config(
        config_file=config,
        overrides=overrides or [],
        data__target=target,
        data__task=task,
        data__group=group,
        data__time=time,
        seed=seed,
    )
    findings = prepare(data, cfg, block=False).findings
    if output_format == "json":
        typer.echo(json.dumps([f.to_dict() for f in findings], indent=2, default=str))
    else:
        typer.echo(format_findings_table(findings))


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run directory.")],
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
    from trainwell.data import read_table
    from trainwell.errors import DataError, did_you_mean
    from trainwell.run import load

    run = load(run_dir)
    frame = read_table(data)
    result = run.predict(frame)
    for name in reversed(keep or []):
        if name not in frame.columns:
            raise DataError(
                f"--keep column {name!r} is not in the data{did_you_mean(name, frame.columns)}"
            )
        result.insert(0, name, frame[name])
    if out is None:
        result.to_csv(sys.stdout, index=False)
    elif out.suffix in {".parquet", ".pq"}:
        result.to_parquet(out, index=False)
    else:
        result.to_csv(out, index=False)
    if out is not None:
        typer.echo(f"wrote {len(result)} predictions to {out}", err=True)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="A run directory.")]) -> None:
    """Rebuild report.html and model_card.md from a run directory (also a stopped run)."""
    from trainwell.report import write_report
    from trainwell.run import RunDir

    folder = RunDir(run_dir)
    folder.open_existing()
    write_report(folder)
    typer.echo(f"report: {folder.report_path}", err=True)


def _one_line(message: str) -> str:
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI, turning user errors into one line and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="trainwell", standalone_mode=False)
    except TrainwellError as err:
        typer.echo(f"trainwell: error: {_one_line(str(err))}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("trainwell: interrupted", err=True)
        sys.exit(130)
    except typer.TyperException as err:  # usage errors: unknown option, missing argument
        message = err.format_message() if hasattr(err, "format_message") else str(err)
        typer.echo(f"trainwell: error: {_one_line(message)}; see trainwell --help", err=True)
        sys.exit(getattr(err, "exit_code", 2))
    except KeyboardInterrupt:
        typer.echo("trainwell: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
