"""Data-parallel training on torch.distributed (gloo, 2 CPU processes) (TW-T14).

Two processes at a per-process batch b train the weights one process trains at batch 2b;
only rank 0 writes files; a NaN on rank 1 is reported naming rank 1 and stops every rank.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import HANG_GUARD_S, run_cli, run_subprocess
from safetensors.torch import load_file
from torch.utils.data import DistributedSampler

from trainwell import distributed
from trainwell.distributed import merge_findings, shard_order
from trainwell.findings import Finding
from trainwell.interrupts import Terminated
from trainwell.modalities.base import AugmentedData
from trainwell.train.checkpoint import load_state, save_state
from trainwell.train.state import TrainState

# Every test that starts gloo process groups runs on one xdist worker, one at a time
# (scripts/check: --dist loadgroup): two jobs at once on this machine sometimes abort at
# interpreter exit in torch 2.13 ("terminate called without an active exception").
pytestmark = [pytest.mark.usefixtures("one_thread_per_process"), pytest.mark.xdist_group("gloo")]

# 200 rows: a 160-row training split, 5 global batches of 32 (16 rows per process).
SETTINGS = [
    "train.batch_size=32",
    "train.max_epochs=2",
    "train.lr=0.01",
    "model.dropout=0",  # dropout draws differ per process; the parity holds without it
    "baselines.ship=network",
    "baselines.lightgbm_rounds=20",
    "logging.progress=false",
    "report.bootstrap=0",
    "report.importance_repeats=1",
    "report.energy=false",
]
# Float32 sums in another order: each process averages its 16 rows' gradients and gloo's
# all-reduce averages the two means, where one process averages 32 rows at once. The
# rounding differs by an ulp or so per step (seen: 1.2e-7 after 24 steps).
ATOL = 1e-5


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    frame = pd.DataFrame(x, columns=list("abcd"))
    frame["y"] = x @ [1.0, -2.0, 0.5, 0.0] + 0.1 * rng.normal(size=200)
    path = tmp_path_factory.mktemp("distributed") / "data.csv"
    frame.to_csv(path, index=False)
    return path


def fit_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``trainwell fit`` with ``args`` in ``folder`` (made here), which must succeed, with
    ``FOLDER-tmp`` as its temporary folder."""
    folder.mkdir()
    temporary = folder.with_name(f"{folder.name}-tmp")
    temporary.mkdir()
    done = run_subprocess(["fit", *args], folder, env={"TMPDIR": str(temporary)})
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def one(data: Path) -> Path:
    """One process at batch 32."""
    fit_in(data.parent / "one", str(data), "--target", "y", "--out", "run", *SETTINGS)
    return data.parent / "one" / "run"


@pytest.fixture(scope="module")
def two(data: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``--devices 2`` (16 rows per process), in a folder of its own, with the default run
    directory: a second rank that wrote anything would leave it there."""
    cwd = data.parent / "two"
    return cwd, fit_in(cwd, str(data), "--target", "y", "--devices", "2", *SETTINGS)


def the_run(cwd: Path) -> Path:
    (run,) = [p for p in (cwd / "runs").iterdir() if not p.name.startswith(".")]
    return run


def test_the_shard_is_distributed_samplers_split_of_the_same_order() -> None:
    for n, epoch in [(10, 0), (11, 3), (7, 1)]:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(5 + epoch))
        for rank in range(3):
            sampler = DistributedSampler(range(n), num_replicas=3, rank=rank, seed=5)
            sampler.set_epoch(epoch)
            assert shard_order(order, rank, 3).tolist() == list(sampler)


def test_the_ranks_batches_together_are_the_batches_of_one_process() -> None:
    inputs, target = (torch.arange(40.0)[:, None],), torch.arange(40)
    whole = AugmentedData(inputs, target, 8, None, seed=2)
    shards = [AugmentedData(inputs, target, 4, None, seed=2, shard=(r, 2)) for r in (0, 1)]
    assert len(shards[0]) == len(whole) == 5
    for epoch in (0, 1):
        ranks = [list(s.epoch(epoch)) for s in shards]
        for k, (_, batch) in enumerate(whole.epoch(epoch)):
            together = torch.cat([ranks[0][k][1], ranks[1][k][1]])
            assert sorted(together.tolist()) == sorted(batch.tolist())
    assert shards[0].whole().batch_size == 8


def generators_as_rank(
    monkeypatch: pytest.MonkeyPatch, rank: int, rows: torch.Tensor | None, tmp_path: Path
) -> distributed.RankGenerators:
    """A :class:`RankGenerators` of rank ``rank`` of 2, its state read back from a
    checkpoint file holding ``rows`` (as ``--resume`` loads it), after ``on_fit_start``."""
    monkeypatch.setattr(distributed, "ranks", lambda: distributed.Ranks(rank, 2))
    saved = distributed.RankGenerators(fresh_seed=0)
    saved.rows = rows
    save_state(tmp_path / "epoch-0001.safetensors", {"callback": saved.state_dict()})
    resumed = distributed.RankGenerators(fresh_seed=7)
    resumed.load_state_dict(load_state(tmp_path / "epoch-0001.safetensors")["callback"])
    torch.manual_seed(99)  # what restore() leaves: rank 0's stream, on every rank
    net = torch.nn.Linear(1, 1)
    resumed.on_fit_start(TrainState(net, torch.optim.SGD(net.parameters(), lr=0.1)))
    return resumed


def test_each_rank_resumes_on_its_own_generator_row(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    zero = torch.get_rng_state()
    torch.manual_seed(1)
    one, expected = torch.get_rng_state(), torch.rand(4)
    generators_as_rank(monkeypatch, 1, torch.stack([zero, one]), tmp_path)
    assert torch.equal(torch.rand(4), expected)  # rank 1 draws on from row 1, not row 0


@pytest.mark.parametrize("rows", ["older checkpoint", "fewer processes"])
def test_a_rank_with_no_saved_row_starts_its_own_stream(
    rows: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    torch.manual_seed(7)
    expected = torch.rand(4)
    one_row = torch.get_rng_state().unsqueeze(0)
    generators_as_rank(monkeypatch, 1, None if rows == "older checkpoint" else one_row, tmp_path)
    assert torch.equal(torch.rand(4), expected)  # fresh_seed=7, not the 99 restore() left


def test_findings_from_the_ranks_are_merged_naming_the_ranks() -> None:
    def finding(fid: str, layer: str = "") -> dict[str, object]:
        evidence = {"layer": layer} if layer else {}
        return Finding(fid, "TW-X03", "error", "train", "Loss is nan.", "fix", evidence).to_dict()

    merged = merge_findings([[finding("slow")], [finding("nonfinite-loss"), finding("slow")]])
    by_id = {f.id: f for f in merged}
    assert by_id["nonfinite-loss"].message == "Loss is nan. (rank 1)"
    assert by_id["nonfinite-loss"].evidence["ranks"] == [1]
    assert by_id["slow"].message == "Loss is nan."  # every rank found it: nothing to say
    assert by_id["slow"].evidence["ranks"] == [0, 1]


@pytest.fixture
def rank_0_of_2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """as_interrupt as rank 0 of a 2-process job sees it, with no known peers on this machine;
    the SIGTERM handler it sets is restored after."""
    monkeypatch.setattr(distributed, "ranks", lambda: distributed.Ranks(0, 2, 0))
    monkeypatch.setattr(distributed, "_local_peers", [])
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


# gloo's text when the peer's socket closed (torch 2.x, tcp/pair.cc)
GLOO_PEER_GONE = "[gloo/transport/tcp/pair.cc:534] Connection closed by peer [127.0.0.1]:5353"


def sigterm_while_handling(error: RuntimeError) -> Terminated:
    """The Terminated a SIGTERM handler raises when it runs while ``error`` unwinds."""
    try:
        try:
            raise error
        except RuntimeError:
            raise Terminated  # noqa: B904 (the handler's raise: __context__ is the error)
    except Terminated as err:
        return err


@pytest.mark.usefixtures("rank_0_of_2")
def test_sigterm_that_cut_into_a_lost_peers_error_is_named_after_the_lost_peer() -> None:
    # The race test_sigkill_of_one_rank... met once under load: torchrun's agent sent SIGTERM
    # as gloo's error unwound, the handler replaced the error, and the run said "SIGTERM".
    stop = distributed.as_interrupt(sigterm_while_handling(RuntimeError(GLOO_PEER_GONE)))
    assert isinstance(stop, distributed.RankLost)
    assert "Connection closed by peer" in str(stop)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # the agent's next one


@pytest.fixture
def local_peer(
    rank_0_of_2: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[subprocess.Popen[bytes]]:
    """A process standing for the job's other process on this machine: alive until killed."""
    reads = [sys.executable, "-c", "import sys; sys.stdin.read()"]
    with subprocess.Popen(reads, stdin=subprocess.PIPE) as peer:
        monkeypatch.setattr(distributed, "_local_peers", [peer.pid])
        yield peer
        peer.kill()


def test_sigterm_with_every_local_peer_alive_stays_sigterm(
    local_peer: subprocess.Popen[bytes],
) -> None:
    for err in (Terminated(), sigterm_while_handling(RuntimeError("a bug of this rank"))):
        assert distributed.as_interrupt(err) is err


@pytest.mark.skipif(sys.platform != "linux", reason="a zombie is read from Linux's /proc")
def test_sigterm_after_a_local_peer_exited_is_named_after_the_lost_peer(
    local_peer: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    local_peer.kill()
    os.waitid(os.P_PID, local_peer.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert isinstance(distributed.as_interrupt(Terminated()), distributed.RankLost)
    local_peer.wait()  # reaped, as torchrun's agent does before it sends SIGTERM: gone
    assert isinstance(distributed.as_interrupt(Terminated()), distributed.RankLost)
    assert isinstance(distributed.as_interrupt(RuntimeError(GLOO_PEER_GONE)), distributed.RankLost)
    monkeypatch.setattr(distributed, "ranks", lambda: distributed.Ranks())
    alone = Terminated()
    assert distributed.as_interrupt(alone) is alone  # one process: SIGTERM is SIGTERM


def test_after_training_a_local_peers_exit_is_no_loss(local_peer: subprocess.Popen[bytes]) -> None:
    local_peer.kill()
    local_peer.wait()
    distributed.part()  # the training's last collective: the other ranks exit from here
    after = Terminated()
    assert distributed.as_interrupt(after) is after


@pytest.mark.usefixtures("rank_0_of_2")
def test_a_peer_that_noted_a_signal_makes_its_exit_that_signal_not_a_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM to the whole job: rank 1 took it first, noted it and exited, and rank 0's
    collective failed on its exit (distributed.note_signal; the race the launcher test meets
    only now and then, here every time)."""
    store = torch.distributed.HashStore()  # the job's store, in this one process
    monkeypatch.setattr(distributed, "_job_store", [store])
    assert isinstance(distributed.as_interrupt(RuntimeError(GLOO_PEER_GONE)), distributed.RankLost)
    monkeypatch.setattr(distributed, "ranks", lambda: distributed.Ranks(1, 2, 1))
    distributed.note_signal("SIGTERM")  # as rank 1
    monkeypatch.setattr(distributed, "ranks", lambda: distributed.Ranks(0, 2, 0))
    stop = distributed.as_interrupt(RuntimeError(GLOO_PEER_GONE))
    assert type(stop) is Terminated  # "stopped by SIGTERM"
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")  # a restarted job: no notes yet
    assert distributed._peer_signal() is None
    distributed.note_signal("SIGINT")  # rank 0's own note is not a peer's
    assert distributed._peer_signal() is None


def test_local_peers_are_the_other_ranks_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    me = os.getpid()
    ranks = [["0", 111], ["0", me], ["1", 222], ["1", 111]]  # [GROUP_RANK, pid] of 4 ranks
    monkeypatch.setattr(distributed, "gather_json", lambda value: ranks)
    monkeypatch.setattr(distributed, "_local_peers", [])
    monkeypatch.setenv("GROUP_RANK", "0")
    distributed._note_local_peers()
    assert distributed._local_peers == [111]  # pid 111 of node 1 is another machine's
    monkeypatch.delenv("GROUP_RANK")  # not under torchrun: no agent sends SIGTERM on a loss
    monkeypatch.setattr(distributed, "_local_peers", [])
    distributed._note_local_peers()
    assert distributed._local_peers == []


@pytest.mark.parametrize("devices", ["0", "-1"])
def test_bad_devices_is_one_line_and_exit_2(
    devices: str, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["fit", str(data), "--target", "y", "--devices", devices], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        f"trainwell: error: --devices {devices}: the number of processes must be 1 or more"
    ]


def test_two_processes_train_the_weights_of_one_at_twice_the_batch(
    one: Path, two: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    run = the_run(two[0])
    single = load_file(str(one / "model" / "weights.safetensors"))
    double = load_file(str(run / "model" / "weights.safetensors"))
    assert single.keys() == double.keys()
    for key in single:
        assert torch.allclose(single[key], double[key], rtol=0, atol=ATOL), key
    net1 = json.loads((one / "manifest.json").read_text())["network"]
    net2 = json.loads((run / "manifest.json").read_text())["network"]
    assert net2["processes"] == 2
    assert (net2["batch_size_per_process"], net2["global_batch_size"]) == (16, 32)
    assert (net1["steps"], net1["lr"]) == (net2["steps"], net2["lr"]) == (10, 0.01)
    h1 = json.loads((one / "history.json").read_text())
    h2 = json.loads((run / "history.json").read_text())
    # train_loss is the mean over the global batches, all-reduced across the ranks
    for a, b in zip(h1, h2, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_only_rank_0_writes_and_prints(
    one: Path, two: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    cwd, done = two
    assert sorted(p.name for p in cwd.iterdir()) == ["runs"]
    # Nothing left in the temporary folder (each job left a torchelastic_* folder there)
    # but torch's own compile cache, one folder per user shared by every torch process,
    # which `import torch._dynamo` makes (every optimizer step imports it).
    left = [p.name for p in cwd.with_name("two-tmp").iterdir()]
    assert [name for name in left if not name.startswith("torchinductor_")] == []
    run = the_run(cwd)  # one run directory, not one per rank
    # beside it, what one process leaves beside its run: the test-set ledger (TW-D07)
    assert sorted(p.name for p in run.parent.iterdir() if p != run) == sorted(
        p.name for p in one.parent.iterdir() if p != one
    )

    def files(root: Path) -> list[str]:
        return sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if "tensorboard" not in p.parts
        )

    assert files(run) == files(one)
    # TensorBoard names each event file after the process writing it: all from one process,
    # as many as one process writes.
    events = list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert len({e.name.split(".")[-2] for e in events}) == 1
    assert len(events) == len(list((one / "tensorboard").rglob("events.out.tfevents.*")))
    assert done.stderr.count("baselines: dummy") == 1  # one rank prints


NAN_SCRIPT = """
import os, sys
import torch
import trainwell
from trainwell.train.callback import Callback

class NaNOnRank1(Callback):
    '''Rank 1 alone: its replica's weights go NaN after step 7 (in epoch 2 of 2).'''
    def on_step_end(self, state):
        if os.environ["RANK"] == "1" and state.step == 7:
            with torch.no_grad():
                next(state.model.parameters()).fill_(float("nan"))

data, out, *overrides = sys.argv[1:]
trainwell.fit(data, "y", out=out, overrides=overrides, callbacks=[NaNOnRank1()], quiet=True)
"""


def test_a_nan_on_rank_1_is_reported_naming_rank_1_and_stops_every_rank(
    data: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text(NAN_SCRIPT)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", str(script), str(data), str(tmp_path / "run")]
    done = subprocess.run(
        [*command, *SETTINGS], cwd=tmp_path, capture_output=True, text=True, timeout=HANG_GUARD_S
    )
    assert done.returncode == 0, done.stderr[-3000:]
    findings = json.loads((tmp_path / "run" / "findings.json").read_text())
    findings = findings if isinstance(findings, list) else findings["findings"]
    nan = next(f for f in findings if f["id"] == "nonfinite-loss")
    assert nan["evidence"]["ranks"] == [1]
    assert nan["message"].endswith("(rank 1)")
    network = json.loads((tmp_path / "run" / "manifest.json").read_text())["network"]
    # Both ranks stopped at the step after the NaN, not at the planned 10 steps.
    assert network["steps"] == 8
    assert network["stop_reason"].startswith("stopped: the doctor found nonfinite-")


def start_job(
    cwd: Path, source: str, *args: Path, settings: Sequence[str] = SETTINGS
) -> subprocess.Popen[bytes]:
    """torchrun with 2 processes of the script ``source`` (given ``args`` and ``settings``),
    its stderr piped for :func:`wait_for`."""
    script = cwd / "train.py"
    script.write_text(source)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc-per-node", "2", str(script), *map(str, args), *settings]
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(job: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """Wait until ``ready()``, reading the job's stderr as it comes (so a full pipe never
    blocks it) and failing if the job ends first."""
    assert job.stderr is not None
    with selectors.DefaultSelector() as events:
        events.register(job.stderr, selectors.EVENT_READ)
        while not ready():
            assert job.poll() is None, "the job ended first"
            if events.select(timeout=1.0):
                os.read(job.stderr.fileno(), 65536)


HANG_SCRIPT = """
import os, sys, threading
from pathlib import Path
import trainwell
from trainwell.train.callback import Callback

class HangOnRank1(Callback):
    '''Rank 1 writes its pid to MARKER at the end of epoch 1, then waits to be killed.'''
    def on_epoch_end(self, state):
        if os.environ["RANK"] == "1" and state.epoch == 0:
            Path(sys.argv[1]).write_text(str(os.getpid()))
            threading.Event().wait()

marker, data, out, *overrides = sys.argv[1:]
trainwell.fit(data, "y", out=out, overrides=overrides, callbacks=[HangOnRank1()], quiet=True)
"""


# With dropout: each process draws its own masks, so a resumed run must give every rank
# its own generator back (a helper's trial: rank 1 resumed on rank 0's stream, 4 of 4 runs
# ended on other weights).
DROPOUT = [*(s for s in SETTINGS if not s.startswith("model.dropout")), "model.dropout=0.3"]


@pytest.fixture(scope="module")
def two_dropout(data: Path) -> Path:
    """``--devices 2`` as :func:`two`, with dropout on."""
    cwd = data.parent / "two-dropout"
    fit_in(cwd, str(data), "--target", "y", "--devices", "2", *DROPOUT)
    return the_run(cwd)


def test_sigkill_of_one_rank_then_resume_ends_like_an_uninterrupted_run(
    data: Path, two_dropout: Path, tmp_path: Path
) -> None:
    marker, run = tmp_path / "rank1.pid", tmp_path / "run"
    job = start_job(tmp_path, HANG_SCRIPT, marker, data, run, settings=DROPOUT)
    checkpoint = run / "checkpoints" / "epoch-0001.safetensors"  # written atomically
    wait_for(job, lambda: bool(marker.is_file() and marker.read_text() and checkpoint.is_file()))
    os.kill(int(marker.read_text()), signal.SIGKILL)
    job.communicate(timeout=HANG_GUARD_S)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert "the loss of another process" in manifest["error"]

    done = run_subprocess(["fit", "--resume", str(run), "--devices", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    resumed = json.loads((run / "manifest.json").read_text())
    assert resumed["status"] == "complete"
    assert resumed["resumed"] == [{"checkpoint": "epoch-0001.safetensors"}]
    full = load_file(str(two_dropout / "model" / "weights.safetensors"))
    after = load_file(str(run / "model" / "weights.safetensors"))
    assert full.keys() == after.keys()
    for key in full:
        assert torch.equal(full[key], after[key]), key


PART_SCRIPT = """
import os, sys, threading
from pathlib import Path
import trainwell
import trainwell.pipeline as pipeline

marker, data, out, *overrides = sys.argv[1:]
Path(marker + os.environ["RANK"]).write_text(str(os.getpid()))

def evaluate_until_stopped(*args, **kwargs):
    '''Rank 0 after training, alone: an evaluation that waits to be stopped.'''
    Path(marker + "evaluating").write_text("1")
    threading.Event().wait()

pipeline.evaluate = evaluate_until_stopped
trainwell.fit(data, "y", out=out, overrides=overrides, quiet=True)
"""


def test_sigterm_after_training_when_the_other_process_ended_normally_says_sigterm(
    data: Path, tmp_path: Path
) -> None:
    """Rank 1 exits once training is over; a SIGTERM to the job while rank 0 goes on alone
    is the user's (or the scheduler's), not a lost process (found by a review of b81bc93,
    which named it "the loss of another process of the job")."""
    run = tmp_path / "run"
    job = start_job(tmp_path, PART_SCRIPT, tmp_path / "pid-", data, run)
    evaluating, rank_1 = tmp_path / "pid-evaluating", tmp_path / "pid-1"
    wait_for(job, lambda: evaluating.is_file() and rank_1.is_file() and bool(rank_1.read_text()))
    wait_for(job, lambda: distributed.exited(int(rank_1.read_text())))
    job.send_signal(signal.SIGTERM)  # to torchrun's agent, which passes it on: `kill JOB`
    job.communicate(timeout=HANG_GUARD_S)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["error"].startswith("stopped by SIGTERM"), manifest["error"]


def fit_on_2_training(data: Path, run: Path) -> subprocess.Popen[bytes]:
    """`trainwell fit --devices 2` into ``run``, once its first checkpoint is written (long
    enough training to stop it), with its stderr piped."""
    longer = ["train.max_epochs=200", "train.patience=200"]
    command = [sys.executable, "-m", "trainwell", "fit", str(data), "--target", "y"]
    command += ["--devices", "2", "--out", str(run), *SETTINGS, *longer]
    job = subprocess.Popen(
        command, cwd=run.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for(job, lambda: any((run / "checkpoints").glob("epoch-*.safetensors")))
    return job


def test_sigterm_to_the_launcher_stops_the_job_as_sigterm_in_one_line(
    data: Path, tmp_path: Path
) -> None:
    """`kill PID` of `trainwell fit --devices 2` (a scheduler's stop): found by trying it, a
    traceback of torch's SignalException, exit code 1, a line from each process, and now and
    then "the loss of another process" in the manifest, as rank 1 took the signal and exited
    first (distributed.note_signal)."""
    run = tmp_path / "run"
    job = fit_on_2_training(data, run)
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=HANG_GUARD_S)
    assert job.returncode == 130
    assert err.decode().splitlines() == [
        f"trainwell: interrupted; resume with `trainwell fit --resume {run}`"
    ]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert manifest["error"].startswith("stopped by SIGTERM"), manifest["error"]


def test_a_killed_rank_0_is_said_in_one_line_by_the_launcher(data: Path, tmp_path: Path) -> None:
    """Found by trying trainwell: SIGKILL of rank 0 under `--devices 2` printed rank 1's
    gloo traceback and nothing else; the manifest stays `running` (nothing is left to write
    it), which the launcher now says, with how to continue."""
    run = tmp_path / "run"
    job = fit_on_2_training(data, run)
    workers = Path(f"/proc/{job.pid}/task/{job.pid}/children").read_text().split()
    (rank_0,) = [
        int(pid)
        for pid in workers
        if b"RANK=0" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    ]
    os.kill(rank_0, signal.SIGKILL)
    _, err = job.communicate(timeout=HANG_GUARD_S)
    assert job.returncode == 130
    assert "Traceback" not in err.decode()
    said = err.decode().splitlines()[-1]
    assert said.startswith("trainwell: the job's rank 0 was killed (SIGKILL); its run stays")
    assert json.loads((run / "manifest.json").read_text())["status"] == "running"
