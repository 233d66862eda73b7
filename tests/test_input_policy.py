"""Inputs pandas reads but the pipeline cannot use as they are (trainwell.data.guard): each is
handled with a finding or refused in one line (exit 2, no traceback, no run directory)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import run_cli

from trainwell.data import guard

# One epoch and no optional extras: these tests are about inputs, not training.
TINY = [
    "train.max_epochs=1",
    "train.lr=0.003",
    "train.batch_size=64",
    "doctor.overfit_batch=false",
    "baselines.lightgbm_rounds=5",
    "report.bootstrap=0",
    "report.importance_repeats=1",
    "report.explain_examples=0",
    "report.energy=false",
    "logging.tensorboard=false",
    "logging.progress=false",
]


def table(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    return pd.DataFrame(
        {
            "a": a,
            "b": rng.choice(["x", "y", "z"], size=n),
            "y": np.where(a + rng.normal(scale=1.0, size=n) > 0, "p", "q"),
        }
    )


def refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit 2 with one line and no traceback; return the line."""
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("trainwell: error: "), err
    return lines[0]


def audit_ids(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, dict]:
    code, out, err = run_cli(
        ["audit", str(path), "--target", "y", "--format", "json", *extra], capsys
    )
    assert code == 0, err
    return {f["id"]: f for f in json.loads(out)}


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e308])
def test_non_finite_regression_target_is_refused_naming_column_and_row(
    value: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["y"] = np.random.default_rng(1).normal(size=len(frame))
    frame.loc[7, "y"] = value
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "run"
    line = refused(
        ["fit", str(tmp_path / "d.csv"), "--target", "y", "--out", str(out), *TINY], capsys
    )
    assert "target 'y' holds 1 value(s)" in line
    assert "rows 7" in line
    assert not out.exists()
    line = refused(["audit", str(tmp_path / "d.csv"), "--target", "y"], capsys)
    assert "target 'y'" in line


def test_non_finite_features_are_missing_with_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame.loc[[1, 2], "a"] = [np.inf, -np.inf]
    frame.loc[3, "a"] = 1e308
    frame.to_csv(tmp_path / "d.csv", index=False)
    found = audit_ids(tmp_path / "d.csv", capsys)
    assert found["non-finite-values"]["evidence"]["rows_per_column"] == {"a": 3}
    assert "target-leakage" not in found  # the tree ran on the rest (it crashed before)


def test_clean_numbers_raise_no_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table().to_csv(tmp_path / "d.csv", index=False)
    found = audit_ids(tmp_path / "d.csv", capsys)
    for name in ("non-finite-values", "mixed-timezones", "nested-column-dropped",
                 "decimal-commas", "delimiter-sniffed", "duplicate-column-names"):  # fmt: skip
        assert name not in found


def test_mixed_time_zones_are_converted_to_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["t"] = [f"2024-01-{1 + i % 28:02d}T10:00:00{'+01:00' if i % 2 else '-05:00'}"
                  for i in range(len(frame))]  # fmt: skip
    frame.to_csv(tmp_path / "d.csv", index=False)
    found = audit_ids(tmp_path / "d.csv", capsys)
    assert found["mixed-timezones"]["evidence"]["columns"] == ["t"]


def test_nested_parquet_columns_are_dropped_or_refused_as_target(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["tags"] = [[1, 2]] * len(frame)
    frame["meta"] = [{"k": 1}] * len(frame)
    frame.to_parquet(tmp_path / "d.parquet")
    found = audit_ids(tmp_path / "d.parquet", capsys)
    assert found["nested-column-dropped"]["evidence"]["columns"] == ["tags", "meta"]
    line = refused(["audit", str(tmp_path / "d.parquet"), "--target", "tags"], capsys)
    assert "target column 'tags' holds lists or structs" in line


def test_semicolon_file_is_sniffed_and_read_with_decimal_commas(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table().to_csv(tmp_path / "d.csv", sep=";", decimal=",", index=False)
    found = audit_ids(tmp_path / "d.csv", capsys)
    assert found["delimiter-sniffed"]["evidence"]["delimiter"] == ";"
    assert "decimal-commas" not in found  # read as numbers
    assert guard.csv_dialect(tmp_path / "d.csv", ",")[0] == ";"


def test_decimal_commas_in_a_comma_file_are_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame["a"] = [f"{v:.3f}".replace(".", ",") for v in frame["a"]]
    frame.to_csv(tmp_path / "d.csv", index=False)
    found = audit_ids(tmp_path / "d.csv", capsys)
    assert found["decimal-commas"]["evidence"]["columns"] == ["a"]


def test_duplicate_header_names_are_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"{i},{i % 3},{'pq'[i % 2]}\n" for i in range(60))
    (tmp_path / "d.csv").write_text("a,a,y\n" + rows)
    found = audit_ids(tmp_path / "d.csv", capsys)
    assert found["duplicate-column-names"]["evidence"]["names"] == {"a": 2}
    assert "'a.1'" in found["duplicate-column-names"]["message"]


def test_too_many_classes_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The shape of 100k rows in 10,000 classes of 10, at a tenth of the limit (fast).
    monkeypatch.setattr(guard, "MAX_CLASSES", 100)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=1010), "y": [f"c{i // 10}" for i in range(1010)]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "run"
    line = refused(["fit", str(tmp_path / "d.csv"), "--target", "y", "--out", str(out)], capsys)
    assert "target 'y' has 101 classes; trainwell classifies into at most 100" in line
    assert not out.exists()


def test_classes_too_rare_for_every_split_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = table()
    frame.loc[0, "y"] = "rare"
    frame.to_csv(tmp_path / "d.csv", index=False)
    out = tmp_path / "run"
    line = refused(["fit", str(tmp_path / "d.csv"), "--target", "y", "--out", str(out)], capsys)
    assert "class 'rare' has only 1 row(s)" in line
    assert not out.exists()


def test_out_naming_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table().to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "taken").write_text("mine")
    line = refused(
        ["fit", str(tmp_path / "d.csv"), "--target", "y", "--out", str(tmp_path / "taken"), *TINY],
        capsys,
    )
    assert "is a file, not a folder" in line
    assert (tmp_path / "taken").read_text() == "mine"
    line = refused(
        ["fit", str(tmp_path / "d.csv"), "--target", "y", "--out",
         str(tmp_path / "taken" / "run"), *TINY],
        capsys,
    )  # fmt: skip
    assert "is a file, not a folder" in line


def test_a_series_of_one_time_step_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = 60
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {"id": np.arange(n), "t": np.zeros(n), "v": rng.normal(size=n),
         "y": rng.choice(["a", "b"], size=n)}
    ).to_csv(tmp_path / "s.csv", index=False)  # fmt: skip
    out = tmp_path / "run"
    line = refused(
        ["fit", str(tmp_path / "s.csv"), "--target", "y", "--series", "id", "--time", "t",
         "--out", str(out), *TINY],
        capsys,
    )  # fmt: skip
    assert "single time step" in line
    assert not out.exists()


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One tiny fit on a Parquet file with infinities, mixed time zones and a list column."""
    folder = tmp_path_factory.mktemp("odd")
    frame = table(200)
    frame.loc[[1, 2], "a"] = [np.inf, 1e308]
    frame["t"] = [f"2024-02-{1 + i % 28:02d}T08:00:00{'+02:00' if i % 3 else 'Z'}"
                  for i in range(len(frame))]  # fmt: skip
    frame["tags"] = [[i, i + 1] for i in range(len(frame))]
    frame.to_parquet(folder / "d.parquet")
    code = _main(["fit", str(folder / "d.parquet"), "--target", "y", "--out",
                  str(folder / "run"), "--quiet", *TINY])  # fmt: skip
    assert code == 0
    return folder, folder / "run"


def _main(args: list[str]) -> int:
    from trainwell.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    return int(done.value.code or 0)


def test_odd_inputs_are_trained_on_with_their_findings(odd_run: tuple[Path, Path]) -> None:
    _, run = odd_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    ids = {f["id"] for f in json.loads((run / "findings.json").read_text())}
    assert {"non-finite-values", "mixed-timezones", "nested-column-dropped"} <= ids
    assert "tags" not in [f["name"] for f in manifest["data"]["features"]]


def test_predict_warns_of_unseen_categories_and_makes_its_out_folder(
    odd_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, run = odd_run
    new = table(10, seed=3).drop(columns="y")
    new.loc[[0, 1, 2], "b"] = ["purple", "purple", "teal"]
    new["t"] = "2024-03-01T00:00:00+05:00"
    new.loc[[5, 6], "t"] = ["not a date", "2024/13/45"]  # were read as missing dates unsaid
    new.loc[4, "a"] = -np.inf
    new.to_csv(folder / "new.csv", index=False)
    out = folder / "not" / "yet" / "p.csv"
    code, _, err = run_cli(
        ["predict", str(run), str(folder / "new.csv"), "--out", str(out)], capsys
    )
    assert code == 0, err
    assert "column 'b': 3 of 10 rows hold categories not seen in training" in err
    assert "'purple'" in err
    assert "column 't': 2 of 10 rows hold values that are not dates" in err
    assert "'not a date'" in err
    assert "'2024/13/45'" in err
    assert len(pd.read_csv(out)) == 10
    line = refused(["predict", str(run), str(folder / "new.csv"), "--out", str(folder)], capsys)
    assert "is a folder" in line


def test_predict_without_unseen_categories_warns_nothing(
    odd_run: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, run = odd_run
    new = table(10, seed=4).drop(columns="y")
    new["t"] = "2024-03-01T00:00:00Z"
    new.to_csv(folder / "clean.csv", index=False)
    code, _, err = run_cli(["predict", str(run), str(folder / "clean.csv")], capsys)
    assert code == 0, err
    assert "warning" not in err
