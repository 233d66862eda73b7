"""Every kind of bad input: one clear line on stderr, exit code 2, no run left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import FAST, HANG_GUARD_S, run_cli, run_subprocess


def fit_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["fit", str(data), "--out", str(out), *extra, *FAST]


def assert_user_error(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trainwell: error: ")
    assert "Traceback" not in err
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    mixed_frame(120).to_csv(path, index=False)
    return path


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        fit_args(tmp_path / "nope.csv", tmp_path / "run", "--target", "y"), capsys
    )
    assert_user_error(code, err, "does not exist")
    assert not (tmp_path / "run").exists()


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet")
    code, _, err = run_cli(fit_args(path, tmp_path / "run", "--target", "y"), capsys)
    assert_user_error(code, err, "cannot read", "parquet")
    assert not (tmp_path / "run").exists()


def test_a_file_that_is_not_utf8_says_how_to_save_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Latin-1 CSV (a spreadsheet's default on Windows): was the codec's raw message."""
    path = tmp_path / "latin.csv"
    path.write_bytes("city,y\nBéziers,0\nNîmes,1\n".encode("latin-1"))
    code, _, err = run_cli(fit_args(path, tmp_path / "run", "--target", "y"), capsys)
    assert_user_error(code, err, "is not UTF-8 text", "byte 0xe9", "save it as UTF-8")
    assert not (tmp_path / "run").exists()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0
    assert out == f"trainwell {version('trainwell')}\n"


def test_unknown_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["nosuchcmd"], capsys)
    assert code == 2
    assert err.strip() == "trainwell: error: No such command 'nosuchcmd'; see trainwell --help"


def test_unknown_target_suggests_the_closest_column(
    table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(fit_args(table, table.parent / "run", "--target", "lable"), capsys)
    assert_user_error(code, err, "'lable' is not in the data", "did you mean 'label'")
    assert not (table.parent / "run").exists()


def test_empty_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("a,b,label\n")
    code, _, err = run_cli(fit_args(path, tmp_path / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "has no rows")
    path.write_text("")
    code, _, err = run_cli(fit_args(path, tmp_path / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "is empty")
    assert not (tmp_path / "run").exists()


def test_single_class_target(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(table).assign(label="pos")
    frame.to_csv(table, index=False)
    code, _, err = run_cli(fit_args(table, table.parent / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "single class", "'pos'")


@pytest.mark.parametrize("task", [[], ["--task", "regression"]], ids=["auto", "regression"])
def test_constant_regression_target(
    table: Path, task: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """R² is undefined on a target with no variance (found by trying trainwell: the dummy
    model shipped with R² 1.0)."""
    pd.read_csv(table).assign(label=1.5).to_csv(table, index=False)
    code, _, err = run_cli(
        fit_args(table, table.parent / "run", "--target", "label", *task), capsys
    )
    assert_user_error(code, err, "holds the same value (1.5) in every row")
    assert not (table.parent / "run").exists()


def test_output_folders_the_system_refuses(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder or plot path that cannot be made: one line and exit 2, not an OSError's
    traceback (found by trying trainwell with ``-o /proc/x``)."""
    code, _, err = run_cli(
        fit_args(table, Path("/proc/trainwell-test/run"), "--target", "label"), capsys
    )
    assert_user_error(code, err, "cannot use '/proc/trainwell-test'")
    args = ["lr-find", str(table), "--target", "label", "--plot", "/proc/trainwell-test/lr.svg"]
    code, out, err = run_cli(args, capsys)
    assert_user_error(code, err, "--plot '/proc/trainwell-test/lr.svg'", "does not exist")
    assert out == ""  # refused before the sweep


def test_regression_on_a_text_target(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(
        fit_args(table, table.parent / "run", "--target", "label", "--task", "regression"), capsys
    )
    assert_user_error(code, err, "needs a numeric target", "'label'")


def test_a_column_with_no_values(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.read_csv(table).assign(blank=np.nan).to_csv(table, index=False)
    code, _, err = run_cli(fit_args(table, table.parent / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "column 'blank' has no values", "data.drop=blank")
    # ... and the suggested fix works.
    code, _, err = run_cli(
        fit_args(table, table.parent / "run", "--target", "label", "data.drop=blank", "-q"), capsys
    )
    assert code == 0, err


def test_too_few_rows_for_a_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tiny.csv"
    mixed_frame(10).to_csv(path, index=False)
    code, _, err = run_cli(fit_args(path, tmp_path / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "only 10 rows", "needs at least")
    assert not (tmp_path / "run").exists()


def test_a_class_too_rare_to_stratify(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(table)
    frame.loc[0, "label"] = "rare"
    frame.to_csv(table, index=False)
    code, _, err = run_cli(fit_args(table, table.parent / "run", "--target", "label"), capsys)
    assert_user_error(code, err, "class 'rare' has only 1 row")


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.lr", "malformed override 'train.lr'"),
        ("train.lrate=0.1", "unknown config key 'train.lrate'"),
        ("trian.lr=0.1", "did you mean 'train'"),
        ("train.lr=-1", "invalid config value for train.lr"),
        ("train.lr=fast", "invalid config value for train.lr"),
        ("model.dropout.x=1", "has no sub-keys"),
    ],
)
def test_malformed_overrides(
    table: Path, capsys: pytest.CaptureFixture[str], override: str, expected: str
) -> None:
    code, _, err = run_cli(
        ["fit", str(table), "--target", "label", "--out", str(table.parent / "run"), override],
        capsys,
    )
    assert_user_error(code, err, expected)
    assert not (table.parent / "run").exists()


def test_malformed_config_file(table: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = table.parent / "cfg.toml"
    config.write_text("[train\nlr = 0.1\n")
    code, _, err = run_cli(
        ["fit", str(table), "--target", "label", "--config", str(config)], capsys
    )
    assert_user_error(code, err, "is malformed")
    config.write_text("[train]\nlearning_rate = 0.1\n")
    code, _, err = run_cli(
        ["fit", str(table), "--target", "label", "--config", str(config)], capsys
    )
    assert_user_error(code, err, "unknown config key 'train.learning_rate'")


def test_resume_on_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["fit", "--resume", str(tmp_path)], capsys)
    assert_user_error(code, err, "is not a trainwell run")
    code, _, err = run_cli(["fit", "--resume", str(tmp_path / "nosuch")], capsys)
    assert_user_error(code, err, "run directory", "/nosuch' does not exist")


def test_out_folder_that_already_holds_a_run(
    table: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = table.parent / "run"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"status": "complete"}))
    code, _, err = run_cli(fit_args(table, out, "--target", "label"), capsys)
    assert_user_error(code, err, "already holds a run", "--resume")


def test_unknown_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["fit", "x.csv", "--tagret", "y"], capsys)
    assert code == 2
    assert err.splitlines()[0].startswith("trainwell: error: No such option")


def test_a_real_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    proc = run_subprocess(["fit", "missing.csv", "--target", "y"], cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        == "trainwell: error: data file 'missing.csv' does not exist; check the path"
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["fit", "missing.csv", "--target", "y"], "does not exist; check the path"),
        (["tune", "missing.csv", "--target", "y"], "does not exist; check the path"),
        (["fit", "data.csv", "--target", "y", "train.lr=fast"], "invalid config value"),
        (["tune", "data.csv", "--target", "y", "nosuch.key=1"], "unknown config key"),
        (["fit", "data.csv", "--target", "y", "--config", "nope.toml"], "does not exist"),
        (["fit", "data.csv", "--target", "label"], "target column 'label' is not in the data"),
        (["fit", "data.csv"], "no target column given; pass --target COLUMN"),
        (["tune", "data.csv", "--target", "y", "--group", "site"], "--group column 'site'"),
        (["fit", "data.csv", "--target", "y", "--text", "review"], "--text column 'review'"),
        (["tune", "data.csv", "--target", "y", "--series", "id"], "--series column 'id'"),
        (["fit", "data.csv", "--target", "y", "--groups", "site"], "--groups column 'site'"),
        (
            ["fit", "data.csv", "--target", "y", "--groups", "y"],
            "--groups column 'y' is the target",
        ),
        (["fit", "header.csv", "--target", "y"], "has no rows"),
        (["fit", "data.parquet", "--target", "y"], "cannot read 'data.parquet' as parquet"),
        (["fit", "--resume", "gone"], "run directory 'gone' does not exist"),
        (["fit", "--resume", "."], "is not a trainwell run (no manifest.json)"),
    ],
)
def test_input_errors_that_need_no_model_library_come_before_importing_one(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    """Issue 19: every bad-input error waited for torch's and scikit-learn's ~4 s of
    imports; a typo in a path, an override or a column name is now answered before them."""
    (tmp_path / "data.csv").write_text("x,y\n1,0\n2,1\n")
    (tmp_path / "header.csv").write_text("x,y\n")
    (tmp_path / "data.parquet").write_text("x,y\n1,0\n")  # not Parquet
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trainwell", *args],
        cwd=tmp_path, capture_output=True, text=True, env=env, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert proc.returncode == 2
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "trainwell.cli" in imported  # (the import log is there to read)
    assert not imported & {"torch", "sklearn", "lightgbm"}
    message = [line for line in proc.stderr.splitlines() if not line.startswith("import time:")]
    assert len(message) == 1, proc.stderr[-2000:]
    assert message[0].startswith("trainwell: error: ")
    assert expected in message[0]
    assert not (tmp_path / "runs").exists()


def test_predict_rejects_missing_columns_clashing_keeps_and_unwritable_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.csv"
    mixed_frame(200).to_csv(data, index=False)
    code, _, err = run_cli(fit_args(data, tmp_path / "run", "--target", "label", "-q"), capsys)
    assert code == 0, err
    mixed_frame(20).drop(columns=["x1", "city"]).to_csv(tmp_path / "new.csv", index=False)
    code, _, err = run_cli(["predict", str(tmp_path / "run"), str(tmp_path / "new.csv")], capsys)
    assert_user_error(code, err, "lacks 2 column(s)", "'x1'", "'city'")
    bad = mixed_frame(20).assign(x1="oops")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    code, _, err = run_cli(["predict", str(tmp_path / "run"), str(tmp_path / "bad.csv")], capsys)
    assert_user_error(code, err, "column 'x1' should hold numbers", "'oops'")
    # --keep of a column named like an output column: the output cannot hold it twice
    # (found by trying trainwell: a ValueError traceback, exit 1).
    mixed_frame(20).assign(prediction=1).to_csv(tmp_path / "clash.csv", index=False)
    args = ["predict", str(tmp_path / "run"), str(tmp_path / "clash.csv")]
    code, _, err = run_cli([*args, "--keep", "prediction"], capsys)
    assert_user_error(code, err, "--keep column 'prediction' has the name of an output column")
    code, _, err = run_cli([*args, "--keep", "citty"], capsys)
    assert_user_error(code, err, "--keep column 'citty' is not in the data (did you mean 'city'?)")
    # The same column kept twice is kept once.
    code, out, err = run_cli([*args, "--keep", "x1", "--keep", "x1"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].split(",")[:2] == ["x1", "prediction"]
    # An output the system refuses fails before the work, in one line.
    code, _, err = run_cli([*args, "--out", "/proc/trainwell-test/p.csv"], capsys)
    assert_user_error(code, err, "--out '/proc/trainwell-test/p.csv'")
    long_name = tmp_path / ("p" * 300 + ".csv")
    code, _, err = run_cli([*args, "--out", str(long_name)], capsys)
    assert_user_error(code, err, "File name too long")
    # A tampered model file fails its integrity check.
    weights = next(p for p in (tmp_path / "run" / "model").iterdir() if p.name != "model.json")
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    code, _, err = run_cli(["predict", str(tmp_path / "run"), str(tmp_path / "new.csv")], capsys)
    assert_user_error(code, err, "does not match its recorded sha256")


def test_a_column_is_looked_up_by_its_label_and_named_as_text() -> None:
    """A frame from Python may have number labels: '0' is not the column 0, and the error
    says so in one line rather than a KeyError later (review of ad019fa)."""
    from trainwell.errors import DataError, require_column

    require_column(pd.DataFrame({"review": ["ok"]}).columns, "review", "--text")
    with pytest.raises(DataError, match=r"labels are not text \(0 is of type int\); label"):
        require_column(pd.DataFrame([["ok"]]).columns, "0", "--text")
