"""A tampered run directory ends in exit 2 naming the file, and nothing outside the run
directory is read or written (trainwell.run_files; TW-T11)."""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from helpers import run_cli
from safetensors.torch import save_file
from test_input_policy import TINY, table

import trainwell
from trainwell.errors import RunDirError
from trainwell.run_files import (
    check_run_tree,
    check_safetensors,
    open_in_run,
    read_manifest,
    read_metrics,
    read_run_json,
)
from trainwell.train.checkpoint import load_state, save_state


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One finished tiny run (2 epochs, so it has checkpoints), shared by every test."""
    folder = tmp_path_factory.mktemp("tamper")
    table(200).to_csv(folder / "d.csv", index=False)
    settings = [s for s in TINY if not s.startswith("train.max_epochs")] + ["train.max_epochs=2"]
    trainwell.fit(folder / "d.csv", "y", out=folder / "run", overrides=settings, quiet=True)
    return folder / "run"


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run, to tamper with."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy, symlinks=True)
    return copy


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    """A folder outside the run that a symlink will point to; it must stay untouched."""
    folder = tmp_path / "decoy"
    folder.mkdir()
    (folder / "keep.txt").write_text("not trainwell's")
    return folder


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def interrupted(run: Path) -> Path:
    """Mark the copy as killed mid-training, so ``--resume`` will load a checkpoint."""
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def latest(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("epoch-*.safetensors"))[-1]


def predict_args(run: Path) -> list[str]:
    new = run.parent / "new.csv"
    table(5, seed=9).drop(columns="y").to_csv(new, index=False)
    return ["predict", str(run), str(new)]


def test_the_untampered_copy_predicts(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(predict_args(run), capsys)
    assert code == 0, err
    assert len(out.strip().splitlines()) == 6  # header + 5 rows


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[]", "manifest.json' is malformed: the top level"),
        (b'{"status": ["complete"]}', "manifest.json' is malformed: status"),
        (b'{"status": "complete", "data": 3}', "manifest.json' is malformed: data"),
        (b'{"status": "compl', "manifest.json' is damaged"),
        (b"\xff\xfe\x00", "manifest.json' is damaged"),
        (b"[" * 100_000, "manifest.json' is damaged: nested"),
    ],
)
def test_a_malformed_manifest_is_one_line_naming_it(
    run: Path, content: bytes, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (run / "manifest.json").write_bytes(content)
    assert expected in one_line_error(predict_args(run), capsys)


def test_metrics_that_are_a_list_are_refused_naming_the_file(run: Path) -> None:
    (run / "metrics.json").write_text("[1, 2]")
    with pytest.raises(RunDirError, match=r"metrics\.json' is malformed"):
        trainwell.load(run).metrics  # noqa: B018 - the property reads the file


@pytest.mark.parametrize("name", ["manifest.json", "model", "checkpoints"])
def test_a_symlink_in_the_run_is_refused_and_its_target_untouched(
    run: Path, decoy: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = decoy / name
    shutil.move(run / name, target)
    (run / name).symlink_to(target)
    before = snapshot(decoy)
    line = one_line_error(predict_args(run), capsys)
    assert f"{run / name}' is a symlink" in line
    assert snapshot(decoy) == before


def test_resume_through_a_symlinked_checkpoints_folder_writes_nothing_there(
    run: Path, decoy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupted(run)
    shutil.copytree(run / "checkpoints", decoy / "checkpoints")
    shutil.rmtree(run / "checkpoints")
    (run / "checkpoints").symlink_to(decoy / "checkpoints")
    (decoy / "checkpoints" / ".epoch-0009.safetensors.tmp-1").write_bytes(b"stale")
    before = snapshot(decoy)
    line = one_line_error(["fit", "--resume", str(run)], capsys)
    assert f"{run / 'checkpoints'}' is a symlink" in line
    assert snapshot(decoy) == before  # nothing written, nothing deleted
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"


def test_a_fifo_in_the_run_is_refused(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.mkfifo(run / "model" / "extra")
    assert "is not a regular file" in one_line_error(predict_args(run), capsys)


def _header(path: Path) -> tuple[int, dict, bytes]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    return length, json.loads(data[8 : 8 + length]), data[8 + length :]


def _write(path: Path, header: dict, body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def _claim_huge(path: Path) -> None:
    _, header, body = _header(path)
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**31, 2**31]
    header[name]["data_offsets"] = [0, 2**62]
    _write(path, header, body)


def _past_the_end(path: Path) -> None:
    _, header, body = _header(path)
    name = next(
        k
        for k, v in header.items()
        if k != "__metadata__" and v["data_offsets"][1] > v["data_offsets"][0]
    )
    begin, end = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin + len(body), end + len(body)]
    _write(path, header, body)


def _missing_tensor(path: Path) -> None:
    _, header, body = _header(path)
    structure = json.loads(header["__metadata__"]["trainwell"])
    structure["model"]["extra"] = {"__tensor__": "s.model.no-such-tensor"}
    header["__metadata__"]["trainwell"] = json.dumps(structure)
    _write(path, header, body)


def _length_beyond_file(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 2**62) + data[8:])


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_claim_huge, "points past the end of the file"),
        (_past_the_end, "points past the end of the file"),
        (_missing_tensor, "names a missing tensor 's.model.no-such-tensor'"),
        (_length_beyond_file, "its header claims 4611686018427387904 bytes"),
    ],
)
def test_a_tampered_checkpoint_stops_resume_in_one_line(
    run: Path, tamper: object, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupted(run)
    path = latest(run)
    tamper(path)  # type: ignore[operator]
    line = one_line_error(["fit", "--resume", str(run)], capsys)
    assert str(path) in line
    assert expected in line
    assert line.endswith("; delete it to resume from epoch-0001.safetensors, or start a new run")
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"


def test_byte_flips_in_json_files_give_a_run_dir_error_or_a_valid_read(run: Path) -> None:
    readers = {"manifest.json": read_manifest, "metrics.json": read_metrics}
    for name, read in readers.items():
        messages: list[str] = []
        original = (run / name).read_bytes()
        for position in range(0, len(original), max(1, len(original) // 200)):
            flipped = bytearray(original)
            flipped[position] ^= 0xFF
            (run / name).write_bytes(bytes(flipped))
            try:
                read(run)
            except RunDirError as err:
                messages.append(str(err))
        (run / name).write_bytes(original)
        assert messages  # some flips damage the file
        assert all(name in m for m in messages)  # and every failure names it


def test_byte_flips_in_a_checkpoint_header_give_a_run_dir_error_or_a_valid_load(
    tmp_path: Path,
) -> None:
    path = tmp_path / "epoch-0001.safetensors"
    save_state(path, {"w": torch.arange(6.0).reshape(2, 3), "b": torch.ones(2), "epoch": 1})
    original = path.read_bytes()
    (length,) = struct.unpack("<Q", original[:8])
    messages: list[str] = []
    for position in range(8 + length):
        flipped = bytearray(original)
        flipped[position] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            load_state(path)
        except RunDirError as err:
            messages.append(str(err))
    assert len(messages) > length // 2  # most header bytes matter; none crashed
    assert all(str(path) in m for m in messages)


def test_open_in_run_refuses_ways_out(tmp_path: Path, decoy: Path) -> None:
    run = tmp_path / "r"
    (run / "model").mkdir(parents=True)
    (run / "model" / "w.bin").write_bytes(b"ok")
    (run / "out").symlink_to(decoy / "keep.txt")
    (run / "model" / "in").symlink_to(run / "model" / "w.bin")
    with open_in_run(run, "model/w.bin") as fh:
        assert fh.read() == b"ok"
    for name, expected in [
        ("/etc/passwd", "is not a relative name"),
        (str(decoy / "keep.txt"), "is not a relative name"),
        ("../decoy/keep.txt", "leaves the run directory"),
        ("model/../../decoy/keep.txt", "leaves the run directory"),
        ("out", "is a symlink"),
        ("model/in", "is a symlink"),  # even one that stays inside
        ("model", "is not a regular file"),
        ("model/none", "is missing"),
    ]:
        with pytest.raises(RunDirError, match=expected):
            open_in_run(run, name)


def test_read_run_json_bounds_nesting(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("[" * 100 + "]" * 100)
    with pytest.raises(RunDirError, match="nested more than 64 levels"):
        read_run_json(tmp_path, "a.json")


def test_check_safetensors_accepts_a_real_file_and_refuses_overlaps(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(3), "b": torch.ones(2, 2)}, str(path))
    entries = check_safetensors(path)
    assert entries["b"].shape == [2, 2]
    _, header, body = _header(path)
    header["b"]["data_offsets"] = header["a"]["data_offsets"]
    header["b"]["shape"] = [3]
    _write(path, header, body)
    with pytest.raises(RunDirError, match="overlap or leave gaps"):
        check_safetensors(path)


@pytest.mark.parametrize("content", ['{"id": 1}', '[{"nonsense": true}]', "[3]", "[[[["])
def test_malformed_findings_stop_the_report_in_one_line(
    run: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (run / "findings.json").write_text(content)
    line = one_line_error(["report", str(run)], capsys)
    assert f"{run / 'findings.json'}' is" in line
    with pytest.raises(RunDirError, match=r"findings\.json"):
        trainwell.load(run).findings  # noqa: B018 - the property reads the file


BAD_SPLITS = [
    "[]",
    '{"method": "x", "train": [0], "validation": [1]}',
    '{"method": "x", "train": [99999], "validation": [], "test": []}',
]


@pytest.mark.parametrize("content", BAD_SPLITS)
def test_malformed_splits_stop_resume_in_one_line(
    run: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupted(run)
    (run / "splits.json").write_text(content)
    line = one_line_error(["fit", "--resume", str(run)], capsys)
    assert f"{run / 'splits.json'}' is malformed" in line


def test_deleted_splits_and_config_files_are_written_again_by_resume(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A helper's trial: a deleted splits.json stopped --resume with "stopped before its
    # splits were saved", and a deleted config.json stayed gone. Both follow from the data
    # and the manifest, the splits checked against the manifest's hashes.
    interrupted(run)
    originals = {name: (run / name).read_bytes() for name in ("splits.json", "config.json")}
    for name in originals:
        (run / name).unlink()
    code, _, err = run_cli(["fit", "--resume", str(run)], capsys)
    assert code == 0, err
    for name, content in originals.items():
        assert (run / name).read_bytes() == content
        said = f"{run / name} was missing: written again"
        assert "".join(said.split()) in "".join(err.split())  # rich wraps long paths anywhere
    assert json.loads((run / "manifest.json").read_text())["status"] == "complete"


def test_an_entry_renamed_away_while_the_tree_is_checked_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seen in the suite: rank 1 resuming a two-process run listed rank 0's
    # `.manifest.json.tmp-N` (an atomic write in progress), which was renamed before its lstat,
    # and the resume died with FileNotFoundError. The race, made certain: the listing names
    # a temporary file that is gone by the time it is looked at.
    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{}")
    real_walk = os.walk

    def walk_with_a_vanished_file(
        top: Path, **kwargs: bool
    ) -> Iterator[tuple[str, list[str], list[str]]]:
        for folder, dirs, files in real_walk(top, **kwargs):
            yield folder, dirs, [*files, ".manifest.json.tmp-1320"]

    monkeypatch.setattr(os, "walk", walk_with_a_vanished_file)
    check_run_tree(run)  # no error: the entry is not in the run any more
    (run / "link").symlink_to(tmp_path)
    with pytest.raises(RunDirError, match="is a symlink"):
        check_run_tree(run)  # a real entry is still checked
