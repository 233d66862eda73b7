"""The run report (issue 5): every number shown matches the run's files, the model card names
real metrics and limitations, and the report rebuilds from the run directory alone."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame
from helpers import FAST, run_cli

from trainwell.analysis.groups import gap_finding
from trainwell.cli import main
from trainwell.config import ReportConfig, build_config
from trainwell.evaluate import task_metrics
from trainwell.report.card import md
from trainwell.report.intervals import wilson


def sensitive_frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """mixed_frame plus a ``sex`` column; for sex == "F" half the labels are flipped, so the
    model must do worse on that group (a planted gap, TW-E04)."""
    frame = mixed_frame(n, seed)
    rng = np.random.default_rng(seed + 1)
    sex = rng.choice(["F", "M"], size=n)
    flip = (sex == "F") & (rng.random(n) < 0.5)
    frame["label"] = np.where(flip, np.where(frame["label"] == "pos", "neg", "pos"), frame["label"])
    frame["sex"] = sex
    frame["age"] = rng.integers(18, 80, size=n)
    return frame


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    sensitive_frame().drop(columns=["city", "when"]).to_csv(folder / "people.csv", index=False)
    with pytest.raises(SystemExit) as done:
        main(
            [
                "fit",
                str(folder / "people.csv"),
                "--target",
                "label",
                "--groups",
                "sex,age",
                "--out",
                str(folder / "run"),
                "-q",
                *FAST,
                "data.drop=sex",  # a sensitive column kept out of the features, still grouped on
                "report.bootstrap=100",
            ]
        )
    assert done.value.code == 0
    return folder / "run"


class Values(HTMLParser):
    """Collects ``data-key``/``data-value`` pairs, finding ids per section and image sources."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.findings: list[tuple[str, str]] = []
        self.images: list[str] = []
        self.sections: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if "data-key" in found and "data-value" in found:
            self.values[found["data-key"]] = found["data-value"]
        if "data-finding" in found:
            self.findings.append((found["data-section"], found["data-finding"]))
        if tag == "img":
            self.images.append(found.get("src", ""))
        if tag == "section":
            self.sections.append(found.get("id", ""))


def parsed(run: Path) -> Values:
    values = Values()
    values.feed((run / "report.html").read_text())
    return values


def number(text: str) -> float | None:
    return None if text in {"", "None"} else float(text)


def same(shown: str, expected: float | None) -> bool:
    value = number(shown)
    if value is None or expected is None:
        return value is None and expected is None
    return math.isclose(value, expected, rel_tol=1e-12, abs_tol=1e-12)


def test_sections_in_the_issue_order(run: Path) -> None:
    assert parsed(run).sections == [
        "summary",
        "data",
        "training",
        "evaluation",
        "groups",
        "explanations",
        "reproducibility",
        "cost",
    ]


def test_report_is_self_contained_and_small(run: Path) -> None:
    html = (run / "report.html").read_text()
    assert len(html.encode()) < 3_000_000
    external = re.findall(r'(?:src|href)="(?!data:|#)([^"]*)"', html)
    assert external == []
    assert "default-src 'none'" in html  # the page may load nothing at all
    assert all(src.startswith("data:image/svg+xml;base64,") for src in parsed(run).images)


def test_summary_and_evaluation_numbers_match_metrics_json(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    shown = parsed(run).values
    shipped = metrics["shipped"]
    models = {"network": metrics["network"], **metrics["baselines"]}
    checked = 0
    for key in ("accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert same(shown[f"summary.{shipped}.test.{key}"], metrics["test"][key]), key
        assert same(shown[f"evaluation.test.{key}"], metrics["test"][key]), key
        for name, values in models.items():
            for split in ("validation", "test"):
                assert same(shown[f"models.{name}.{split}.{key}"], values[split][key])
                checked += 1
    assert checked == 5 * 4 * 2


def test_report_names_the_interval_methods_and_shows_wilsons_accuracy_interval(run: Path) -> None:
    html = (run / "report.html").read_text()
    assert "Wilson score (accuracy)" in html
    assert "BCa bootstrap, 100 resamples of the test rows (" in html
    predictions = pd.read_parquet(run / "predictions" / "test.parquet")
    proba = predictions[sorted(c for c in predictions.columns if c.startswith("p_"))].to_numpy()
    correct = int((proba.argmax(axis=1) == predictions["y_true"].to_numpy()).sum())
    low, high = wilson(correct, len(predictions))
    assert f'<span class="ci" title="Wilson score">{low:.3g} – {high:.3g}</span>' in html


def test_every_finding_is_shown_in_its_section(run: Path) -> None:
    findings = json.loads((run / "findings.json").read_text())
    shown = parsed(run).findings
    section = {
        "audit": "data",
        "preflight": "training",
        "train": "training",
        "evaluate": "evaluation",
    }
    expected = sorted(
        ("groups" if f["practice"] == "TW-E04" else section[f["stage"]], f["id"]) for f in findings
    )
    assert sorted(s for s in shown if s[0] != "summary") == expected
    serious = [f["id"] for f in findings if f["severity"] != "info"][:5]
    assert [i for s, i in shown if s == "summary"] == serious


def test_training_section_matches_the_training_log(run: Path) -> None:
    log = json.loads((run / "training_log.json").read_text())
    history = json.loads((run / "history.json").read_text())
    manifest = json.loads((run / "manifest.json").read_text())
    shown = parsed(run).values
    assert int(shown["training.best_epoch"]) == manifest["network"]["best_epoch"]
    assert log["best_epoch"] == manifest["network"]["best_epoch"]
    assert len(log["epochs"]) == len(history) == manifest["network"]["epochs_run"]
    for entry, raw in zip(log["epochs"], history, strict=True):
        assert same(shown[f"training.epoch{entry['epoch']}.val_loss"], raw["val_loss"])
    steps = log["steps"]
    assert steps["step"] == list(range(1, manifest["network"]["steps"] + 1))
    assert all(v is not None and v > 0 for v in steps["grad_norm"])  # clipping measures each
    peak = max(steps["lr"])
    assert steps["lr"][0] < peak
    assert steps["lr"][-1] < peak


def test_training_section_shows_the_range_test_that_chose_the_lr(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    sweep = json.loads((run / "lr_find.json").read_text())
    assert manifest["network"]["lr_source"] == "range test"
    assert manifest["network"]["lr"] == sweep["suggestion"]
    assert same(parsed(run).values["training.lr"], sweep["suggestion"])
    html = (run / "report.html").read_text()
    assert 'alt="training loss against learning rate in the range test"' in html
    assert f"chosen LR {sweep['suggestion']:.3g}" in html


def test_saved_test_predictions_reproduce_metrics_json(run: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    predictions = pd.read_parquet(run / "predictions" / "test.parquet")
    splits = json.loads((run / "splits.json").read_text())
    assert sorted(predictions.index) == sorted(splits["test"])
    proba = predictions[["p_0", "p_1"]].to_numpy()
    recomputed = task_metrics("binary", predictions["y_true"].to_numpy(), proba)
    for key in ("accuracy", "f1_macro", "roc_auc", "log_loss"):
        assert recomputed[key] == pytest.approx(metrics["test"][key], rel=1e-9)
    inputs = pd.read_parquet(run / "predictions" / "test_inputs.parquet")
    assert list(inputs.index) == list(predictions.index)
    assert {"sex", "age", "x1", "color"} <= set(inputs.columns)


def test_planted_group_gap_is_found_and_shown(run: Path) -> None:
    findings = json.loads((run / "findings.json").read_text())
    gaps = [f for f in findings if f["id"] == "group-gap"]
    assert [g["evidence"]["column"] for g in gaps] == ["sex"]
    assert gaps[0]["evidence"]["worst"]["group"] == "F"  # half its labels were flipped
    saved = json.loads((run / "groups.json").read_text())
    sex, age = saved["columns"]
    assert {g["group"] for g in sex["groups"]} == {"F", "M"}
    assert age["binned"]
    assert len(age["groups"]) == 4
    assert sum(g["count"] for g in sex["groups"]) == len(
        json.loads((run / "splits.json").read_text())["test"]
    )
    shown = parsed(run).values
    for g in sex["groups"]:
        assert same(shown[f"groups.sex.{g['group']}.accuracy"], g["metrics"]["accuracy"])
    assert same(shown["groups.sex.gap.accuracy"], sex["gaps"]["accuracy"])


def test_group_gap_check_is_silent_when_groups_agree() -> None:
    cfg = ReportConfig()

    def result(a: float, b: float) -> dict[str, Any]:
        groups = [
            {"group": n, "count": 50, "metrics": {"accuracy": v}, "train_share": 0.5}
            for n, v in (("a", a), ("b", b))
        ]
        return {
            "column": "g",
            "metric": "accuracy",
            "overall": {"accuracy": (a + b) / 2},
            "groups": groups,
            "gaps": {"accuracy": abs(a - b)},
            "worst": "a" if a < b else "b",
            "best": "b" if a < b else "a",
        }

    assert gap_finding("binary", result(0.90, 0.93), cfg) is None
    found = gap_finding("binary", result(0.70, 0.93), cfg)
    assert found is not None
    assert found.evidence["worst"]["group"] == "a"


def test_explanations_are_faithful(run: Path) -> None:
    saved = json.loads((run / "explanations.json").read_text())
    ranking = [f["name"] for f in saved["importance"]["features"]]
    assert "sex" not in ranking  # dropped from the features
    assert ranking.index("x1") < 2  # the planted logit is 2*x1 + ...: x1 matters most
    examples = saved["local"]["examples"]
    assert 1 <= len(examples) <= 3
    splits = json.loads((run / "splits.json").read_text())
    for example in examples:
        assert example["row"] in splits["validation"]  # never a test row (TW-D07)
        total = sum(example["attributions"].values())
        assert total == pytest.approx(example["output"] - example["reference_output"], abs=1e-5)


def test_model_card_names_real_metrics_and_a_limitation_from_findings(run: Path) -> None:
    card = (run / "model_card.md").read_text()
    assert f"trainwell predict {run.resolve()} new.csv" in card  # the full path (issue 21)
    metrics = json.loads((run / "metrics.json").read_text())
    findings = json.loads((run / "findings.json").read_text())
    for heading in (
        "## Model details",
        "## Intended use",
        "## Training and evaluation data",
        "## Metrics",
        "## Per-group results",
        "## Limitations and failure modes",
        "## Ethical considerations",
    ):
        assert heading in card
    assert f"| accuracy | {metrics['test']['accuracy']:.4g} |" in card
    assert f"| log_loss | {metrics['test']['log_loss']:.4g} |" in card
    limitations = card.split("## Limitations and failure modes")[1].split("## Ethical")[0]
    gap = next(f for f in findings if f["id"] == "group-gap")
    assert md(gap["message"]) in limitations
    assert "misclassified" in limitations  # drawn from the worst errors


def test_energy_estimate_is_recorded_with_its_assumptions(run: Path) -> None:
    energy = json.loads((run / "energy.json").read_text())
    (session,) = energy["sessions"]
    assert session["status"] == "complete"
    assert session["energy_kwh"] > 0
    assert session["emissions_kg"] > 0
    assert session["country"] == "USA"
    assert any("Carbon intensity" in a for a in session["assumptions"])
    assert same(parsed(run).values["energy.kwh"], energy["total"]["energy_kwh"])
    assert not (run / "emissions.csv").exists()
    assert not Path("emissions.csv").exists()


def test_energy_meter_never_touches_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with a user's codecarbon settings asking for an HTTP endpoint and the API."""
    import socket

    from trainwell.analysis.energy import EnergyMeter

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("CODECARBON_EMISSIONS_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("CODECARBON_SAVE_TO_API", "true")
    monkeypatch.chdir(tmp_path)
    meter = EnergyMeter(tmp_path, ReportConfig(country="FRA"))
    meter.start()
    sum(range(2_000_000))
    meter.stop()
    meter.stop()  # a second stop records nothing more
    (session,) = json.loads((tmp_path / "energy.json").read_text())["sessions"]
    assert "error" not in session, session
    assert session["country_name"] == "France"
    assert session["energy_kwh"] > 0
    assert [p.name for p in tmp_path.iterdir()] == ["energy.json"]


def test_report_command_rebuilds_the_same_page(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # fit records the report's own timing after writing it; from then on rebuilds agree.
    assert run_cli(["report", str(run)], capsys)[0] == 0
    before = (run / "report.html").read_text()
    (run / "report.html").unlink()
    code, _, err = run_cli(["report", str(run)], capsys)
    assert code == 0
    assert "report:" in err
    assert (run / "report.html").read_text() == before  # deterministic, from the files alone


def test_unknown_group_column_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mixed_frame(100).to_csv(tmp_path / "d.csv", index=False)
    code, _, err = run_cli(
        [
            "fit",
            str(tmp_path / "d.csv"),
            "--target",
            "label",
            "--groups",
            "colour",
            "--out",
            str(tmp_path / "r"),
        ],
        capsys,
    )
    assert code == 2
    assert err.strip() == (
        "trainwell: error: --groups column 'colour' is not in the data (did you mean 'color'?); "
        "columns are: 'x1', 'x2', 'color', 'city', 'flag', 'when', 'label'"
    )
    assert not (tmp_path / "r").exists()


def card_table(card: str, heading: str) -> dict[str, str]:
    """The two-column table under ``heading`` in a Markdown card, as {first cell: second}."""
    section = card.split(heading)[1].split("\n## ")[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith("| ")]
    return {row[0].strip(): row[1].strip() for row in rows[1:]}


def test_model_card_is_a_hugging_face_card_with_the_test_metrics(run: Path) -> None:
    from huggingface_hub import ModelCard

    card = ModelCard.load(run / "model_card.md")
    metrics = json.loads((run / "metrics.json").read_text())
    assert card.data.license == "other"  # report.license not set: the card says so
    assert card.data.license_name == "unspecified"
    assert "set it with `report.license=ID`" in card.text
    assert card.data.library_name == "trainwell"
    assert "tabular-classification" in card.data.tags
    assert card.data.datasets == ["people.csv"]
    results = {r.metric_type: r for r in card.data.eval_results}
    expected = {k: v for k, v in metrics["test"].items() if k in results}
    assert {"accuracy", "log_loss", "roc_auc"} <= set(expected)
    for key, value in expected.items():
        assert results[key].metric_value == value
        assert results[key].dataset_split == "test"
    energy = json.loads((run / "energy.json").read_text())
    co2 = card.data.co2_eq_emissions
    assert co2["emissions"] == pytest.approx(energy["total"]["emissions_kg"] * 1000)
    assert co2["source"] == "codecarbon"
    for heading in (
        "## How to get started with the model",
        "### Training hyperparameters",
        "## Model examination",
        "## Environmental impact",
    ):
        assert heading in card.text
    assert f"trainwell predict {run.resolve()} new.csv" in card.text
    assert f"trainwell.load('{run.resolve()}')" in card.text


def test_model_card_hyperparameters_equal_the_manifest(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    network, train = manifest["network"], manifest["config"]["train"]
    table = card_table((run / "model_card.md").read_text(), "### Training hyperparameters")
    assert table["optimizer"] == train["optimizer"]["name"]
    assert float(table["learning rate"]) == network["lr"]
    assert table["learning rate chosen by"] == network["lr_source"]
    assert table["schedule"] == md(network["schedule"])
    assert int(table["batch size"]) == network["batch_size"]
    assert int(table["effective batch size"]) == network["effective_batch_size"]
    assert int(table["maximum epochs"]) == train["max_epochs"]
    assert int(table["epochs run"]) == network["epochs_run"]
    assert int(table["early-stopping epoch (best, weights restored)"]) == network["best_epoch"]
    assert float(table["gradient clipping (max norm)"]) == train["clip_grad_norm"]
    assert float(table["weight decay"]) == train["weight_decay"]


def test_model_card_examination_and_environment_come_from_the_run(run: Path) -> None:
    card = (run / "model_card.md").read_text()
    saved = json.loads((run / "explanations.json").read_text())
    top = saved["importance"]["features"][0]
    table = card_table(card, "## Model examination")
    assert float(table[f"`{top['name']}`"]) == pytest.approx(top["mean"], rel=1e-3)
    energy = json.loads((run / "energy.json").read_text())
    environment = card.split("## Environmental impact")[1].split("\n## ")[0]
    assert f"{energy['total']['energy_kwh'] * 1000:.3g} Wh" in environment
    assert f"Hours used: {energy['total']['duration_s'] / 3600:.3g}" in environment


def test_user_strings_in_the_model_card_render_as_text(run: Path, tmp_path: Path) -> None:
    """A class, a group value, the data path and the run's name that are HTML stay text."""
    import shutil

    import markdown
    from huggingface_hub import ModelCard

    from trainwell.report import write_report

    hostile = "<svg onload=alert(1)>"
    copy = tmp_path / "run <b>x</b>"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["data"]["classes"] = [hostile, "*bold*"]
    manifest["data"]["source"] = "<img src=x onerror=alert(2)>.csv"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    groups = json.loads((copy / "groups.json").read_text())
    for column in groups["columns"]:
        for group in column["groups"]:
            group["group"] = hostile
    (copy / "groups.json").write_text(json.dumps(groups))
    write_report(copy)
    text = (copy / "model_card.md").read_text()
    card = ModelCard.load(copy / "model_card.md")  # the metadata still parses
    assert card.data.datasets == ["<img src=x onerror=alert(2)>.csv"]  # YAML-quoted, not HTML
    html = markdown.markdown(card.text, extensions=["tables", "fenced_code"])
    for tag in ("<svg", "<img", "<b>"):
        assert tag not in html
    assert "&lt;svg onload=alert(1)&gt;" in html  # shown as text
    assert "*bold*" in html  # not emphasis
    assert "&lt;svg onload=alert(1)&gt;" in text.split("## Per-group results")[1]


def test_report_license_sets_the_card_license(run: Path, tmp_path: Path) -> None:
    import shutil

    from huggingface_hub import ModelCard

    from trainwell.report import write_report

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["report"]["license"] = "apache-2.0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    write_report(copy)
    card = ModelCard.load(copy / "model_card.md")
    assert card.data.license == "apache-2.0"
    assert card.data.get("license_name") is None
    assert "License: `apache-2.0` (set by `report.license`)." in card.text


def test_report_license_must_be_an_identifier() -> None:
    from trainwell.errors import ConfigError

    assert ReportConfig(license="cc-by-4.0").license == "cc-by-4.0"
    with pytest.raises(ConfigError, match="license"):
        build_config(overrides=["report.license=Apache 2.0"])
