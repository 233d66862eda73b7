"""The one place that writes a run directory from what the pipeline's stages return.

Stages compute and return records (:class:`~trainwell.pipeline.Prepared`, a network result,
an :class:`~trainwell.evaluate.Evaluation`, an :class:`~trainwell.analysis.Analysis`, the
shipped candidate); :class:`Recorder` persists each into ``RUN_DIR`` (layout in the README)
and keeps the manifest's lifecycle (``running`` → ``complete`` | ``failed`` |
``interrupted``). The training loop itself streams checkpoints, TensorBoard events and the
training log into the paths it is given (:class:`~trainwell.trainer.TrainPaths`).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from trainwell.analysis import Analysis, write_analysis
from trainwell.audit import TestSetLedger, config_sha256
from trainwell.candidates import Candidate
from trainwell.data.load import file_sha256
from trainwell.files import write_json
from trainwell.findings import Finding, sort_findings, write_findings
from trainwell.predictor import save_predictor
from trainwell.run import RunDir, default_run_dir, environment, git_state
from trainwell.serve.profile import write_train_profile
from trainwell.train.checkpoint import latest_checkpoint
from trainwell.trainer import TrainPaths

if TYPE_CHECKING:
    from trainwell.pipeline import Prepared


def manifest_for(prepared: Prepared) -> dict[str, Any]:
    """What the manifest records when a run starts (TW-R02, D14)."""
    ds, splits, samples = prepared.dataset, prepared.splits, prepared.samples
    return {
        "argv": sys.argv,
        "seed": prepared.cfg.seed,
        "config": prepared.cfg.model_dump(mode="json"),
        "data": {
            "path": prepared.data_path,
            "source": ds.source,
            "sha256": ds.sha256,
            "rows": ds.n_rows,
            "target": ds.target,
            "task": ds.task,
            "classes": list(ds.classes) if ds.classes is not None else None,
            "features": [{"name": c.name, "kind": c.kind} for c in ds.features],
        },
        "splits": {
            "method": splits.method,
            "sizes": {n: len(splits.indices(n)) for n in ("train", "validation", "test")},
            "hashes": splits.hashes(ds),
        },
        "modality": {
            "kind": prepared.modality.name,
            "encoding": {
                k: v for k, v in samples.encoding.items() if k not in {"vocab", "encoder"}
            },
            **samples.info,
        },
        "environment": environment(),
        "git": git_state(Path.cwd()),
    }


def start_files(run_dir: RunDir, prepared: Prepared) -> dict[Path, Any]:
    """What a run writes beside its manifest when it starts: its config and its splits."""
    return {
        run_dir.config_path: prepared.cfg.model_dump(mode="json"),
        run_dir.splits_path: prepared.splits.to_dict(prepared.dataset),
    }


def restore_start_files(run_dir: RunDir, prepared: Prepared, console: Console) -> None:
    """For ``--resume``: write again the :func:`start_files` that are gone (deleted, or a
    kill in the instant after the manifest). They follow from the data and the manifest's
    config; check the data's splits against the manifest's hashes first."""
    for file, content in start_files(run_dir, prepared).items():
        if not file.exists():
            write_json(file, content)
            console.print(
                f"{file} was missing: written again from the data and the manifest",
                highlight=False,
            )


class Recorder:
    """Writes one run directory (``run_dir``)."""

    def __init__(self, run_dir: RunDir, console: Console) -> None:
        self.dir = run_dir
        self.console = console

    @property
    def paths(self) -> TrainPaths:
        return TrainPaths.of(self.dir.path)

    @classmethod
    def start(
        cls,
        prepared: Prepared,
        out: str | Path | None,
        console: Console,
        keep: frozenset[str] = frozenset(),
    ) -> Recorder:
        """Create the run directory (only after every check passed): manifest, config.json,
        the command that reproduces the run, and the split indices. ``keep``: files already
        in ``out`` that belong to the run (``trainwell tune``'s study).

        Raises:
            RunError: ``out`` already holds files.
        """
        path = Path(out) if out is not None else default_run_dir(prepared.dataset.source)
        run_dir = RunDir(path)
        run_dir.create(manifest_for(prepared), keep)
        for file, content in start_files(run_dir, prepared).items():
            write_json(file, content)
        if prepared.data_path is not None:
            # Everything that shaped the run is in config.json (target, task, group, time, seed).
            config = str(run_dir.config_path.resolve())
            command = ["trainwell", "fit", prepared.data_path, "--config", config]
            run_dir.update(reproduce=shlex.join([*command, "--out", "NEW_RUN_DIR"]))
        console.print(f"run directory: {run_dir.path}", highlight=False)
        return cls(run_dir, console)

    def resumed(self) -> Path | None:
        """Set the run running again and log the resume; the checkpoint to load."""
        checkpoint = latest_checkpoint(self.dir.checkpoints)
        resumes = [
            *self.dir.manifest.get("resumed", []),
            {"checkpoint": checkpoint.name if checkpoint else None},
        ]
        self.dir.update(status="running", resumed=resumes)
        where = checkpoint.name if checkpoint else "the start"
        self.console.print(f"resuming {self.dir.path} from {where}", highlight=False)
        return checkpoint

    def audit(self, findings: list[Finding]) -> None:
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
        allowed = sorted({f.id for f in findings if f.severity == "error"})
        self.dir.update(audit={"counts": counts, "allowed": allowed})

    def network(self, history: list[dict[str, Any]], details: dict[str, Any]) -> None:
        write_json(self.dir.history_path, history)
        self.dir.update(network=details)

    def test_use(self, prepared: Prepared) -> list[Finding]:
        """Count this evaluation of the test split in the results folder's ledger (TW-D07,
        H03); a ``test-set-reuse`` finding when another configuration was judged on it."""
        ledger = TestSetLedger(self.dir.path.parent)
        test_hash = prepared.splits.hashes(prepared.dataset)["test"]
        run_id = self.dir.path.name
        reuse = ledger.record(test_hash, config_hash=config_sha256(prepared.cfg), run_id=run_id)
        uses = ledger.evaluations(test_hash)
        self.dir.update(
            test_set={"sha256": test_hash, "evaluations": len(uses), "ledger": str(ledger.path)}
        )
        return [reuse] if reuse is not None else []

    def metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.dir.metrics_path, metrics)

    def analysis(self, analysis: Analysis) -> None:
        write_analysis(self.dir.path, analysis)

    def model(self, prepared: Prepared, shipped: Candidate) -> None:
        """Export the shipped candidate as the run's model (``RUN_DIR/model/``)."""
        ds, folder = prepared.dataset, self.dir.model_dir
        folder.mkdir(parents=True, exist_ok=True)
        encoding, extra = prepared.modality.export(prepared.samples.encoding, folder)
        files = save_predictor(
            folder,
            shipped,
            modality=prepared.modality.name,
            task=ds.task,
            target=ds.target,
            classes=list(ds.classes) if ds.classes is not None else None,
            encoding=encoding,
            extra_files={str(p.relative_to(folder)): file_sha256(p) for p in extra},
        )
        self.dir.update(shipped=shipped.name, model_files=files)
        # The training split's profile that a served model's inputs are compared with (TW-P06).
        write_train_profile(self.dir.path, prepared, shipped)

    def findings(self, findings: list[Finding]) -> None:
        write_findings(self.dir.findings_path, sort_findings(findings))

    def tuning(self, summary: dict[str, Any]) -> None:
        """The study that chose this run's config (``trainwell tune``): every trial in
        ``study.json``, the outcome in the manifest."""
        write_json(self.dir.path / "study.json", summary)
        self.dir.update(tuning={k: v for k, v in summary.items() if k != "trials"})

    def timings(self, timings: dict[str, float]) -> None:
        self.dir.update(timings=timings)

    def complete(self) -> None:
        self.dir.finish("complete")
