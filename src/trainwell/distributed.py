"""Past one process: data-parallel training on PyTorch's own distributed stack (TW-T14).

trainwell grows no distributed system of its own. ``torchrun`` (or ``trainwell fit
--devices N``, which starts the same elastic agent, :func:`launch`) starts the processes and
sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; :func:`init` joins
the process group (gloo on CPU, NCCL on CUDA) and the network is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` by the one trainer setup, so a cluster
scheduler (Slurm, Kubernetes) launches trainwell like any other ``torchrun`` job.

The rules, stated once:

- **Batch**: ``train.batch_size`` (and the automatic batch plan, TW-T07) is the *global*
  batch of one optimizer step. Each of N processes takes ``batch / N`` rows of it: rank r
  takes every N-th index of the epoch's shuffled order, padded to a multiple of N by
  repeating its first indices, as :class:`torch.utils.data.DistributedSampler` does
  (:func:`shard_order`). The union of the ranks' k-th batches is the k-th batch one process
  would take, so N processes train on exactly the batches of one process.
- **Learning rate**: not scaled. The global batch is the one a single process would use, so
  the LR (from ``train.lr`` or the range test, run on rank 0 over the whole training split at
  the global batch) and its warmup (TW-T03) are the single-process ones, unchanged.
  DDP averages the ranks' gradients; gradient clipping (TW-T06) runs after that average,
  on the same gradients on every rank. With ``train.accumulate`` > 1 the micro-batches
  before a step's last run under ``DDP.no_sync`` (trainwell.train.loop): one all-reduce per
  optimizer step, of the summed gradients.
- **Who writes**: rank 0 alone writes the run directory (manifest, checkpoints, training
  log, TensorBoard, report); other ranks train with no paths and print nothing.
- **Validation**: every rank scores the whole validation split with its replica (the
  replicas hold identical weights), so early stopping decides the same on every rank with
  no communication; the evaluation on the sealed test split and everything after it run on
  rank 0 only.
- **Stopping**: after every optimizer step and epoch the ranks all-reduce a stop flag
  (:class:`RankSync`); a stop on any rank (a NaN the doctor found, early stopping, a time
  budget) stops every rank at the same step. The doctor's remedy (restore and lower the LR)
  is off with more than one process: a rescue decided on one rank would desynchronise the
  replicas; a NaN or divergence stops the run instead.
- **Random draws**: each rank draws its dropout masks from a stream of its own; every
  checkpoint holds every rank's generator state (:class:`RankGenerators`), so ``--resume``
  gives each rank its own stream back and ends on the weights of an uninterrupted run.
- **Doctor**: each rank runs its own doctor on its own batches; the findings are gathered to
  rank 0 (:func:`merge_findings`), each naming the ranks that made it.

Objects cross processes as JSON in byte tensors (:func:`broadcast_json`,
:func:`gather_json`), not ``broadcast_object_list``/``gather_object``, which pickle.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from trainwell.errors import ConfigError, TrainwellError
from trainwell.findings import Finding
from trainwell.interrupts import Terminated
from trainwell.train.callback import Callback
from trainwell.train.state import TrainState

T = TypeVar("T")
P = TypeVar("P")


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``rank`` of ``world`` processes (``local_rank`` on
    its machine). One process alone is rank 0 of 1."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world > 1


def ranks() -> Ranks:
    """This process's ranks in the process group :func:`init` joined; rank 0 of 1 outside
    one (so ``lr-find`` or a tuning trial under torchrun's variables trains alone)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return Ranks(dist.get_rank(), dist.get_world_size(), local)


def init() -> Ranks:
    """Join the process group of the variables ``torchrun`` set (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``...; gloo on CPU, NCCL on CUDA), once; left at exit. Under torchrun the
    ranks then exchange their process ids (one :func:`gather_json`), so a rank can tell a
    peer on its machine has exited (:func:`as_interrupt`). A no-op in a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        # The job's key-value store (torchrun's agent holds it) is kept to leave notes in
        # (note_signal); init_process_group would make the same one from the same variables.
        store, rank, world = next(dist.rendezvous("env://"))
        _job_store[:] = [store]
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
            dist.init_process_group(
                "nccl", store=store, rank=rank, world_size=world, device_id=device
            )
        else:
            dist.init_process_group("gloo", store=store, rank=rank, world_size=world)
        atexit.register(_leave)
        _note_local_peers()
    return ranks()


_job_store: list[dist.Store] = []  # the job's store, once init joined a process group
# One key per rank and start of the job (torchrun's restarts share its agent's store).
_SIGNAL_KEY = "trainwell/signal/{restart}/{rank}"


def _signal_key(rank: int) -> str:
    return _SIGNAL_KEY.format(restart=os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"), rank=rank)


def note_signal(name: str) -> None:
    """Leave a note in the job's store that this process stops on ``name`` (``SIGTERM``,
    ``SIGINT``) sent to it, before it exits: a SIGTERM or Ctrl-C to the whole job reaches the
    processes at slightly different times, and the one that sees the others exit first names
    the stop after the signal, not after a lost process (:func:`as_interrupt`)."""
    if not (_job_store and ranks().parallel):
        return
    key = _signal_key(ranks().rank)
    with suppress(Exception):  # the store's holder may be gone too: nothing to tell
        _job_store[0].set(key, name)
        _job_store[0].check([key])  # a reply on the same connection: the note is stored


def _peer_signal() -> str | None:
    """The signal another process of the job noted it stopped on (:func:`note_signal`)."""
    if not _job_store:
        return None
    here = ranks()
    for rank in range(here.world):
        key = _signal_key(rank)
        with suppress(Exception):
            if rank != here.rank and _job_store[0].check([key]):
                return _job_store[0].get(key).decode()
    return None


# The process ids of the job's other processes on this machine while they train with this
# one: filled by init under torchrun, emptied by part() once training is over.
_local_peers: list[int] = []


def _note_local_peers() -> None:
    node = os.environ.get("GROUP_RANK")  # torchrun's node rank: which ranks share a machine
    if node is None or os.name != "posix":
        return  # no elastic agent to SIGTERM the survivors; os.kill(pid, 0) probes on POSIX
    everyone = gather_json([node, os.getpid()])
    _local_peers[:] = [pid for where, pid in everyone if where == node and pid != os.getpid()]


def part() -> None:
    """The ranks' last collective of the training is done: rank 0 goes on alone (evaluation,
    explanations, report) while the others exit, so a peer's exit is no longer a loss."""
    _local_peers.clear()


def _peer_exited() -> bool:
    """Whether one of the job's other processes on this machine has exited during training:
    gone, or a zombie its launcher has not reaped yet (``/proc/PID/stat`` state ``Z``)."""
    return any(map(exited, _local_peers))


def exited(pid: int) -> bool:
    """Whether process ``pid`` has exited (POSIX): gone, or a zombie its parent has not
    reaped yet (Linux's ``/proc/PID/stat`` state ``Z``). A process of another user is
    taken as running."""
    try:
        os.kill(pid, 0)  # signal 0: checks that the process exists, sends nothing
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    with suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    return False


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def device() -> torch.device:
    """The device of this process: its local GPU when there is one, else the CPU."""
    if not torch.cuda.is_available():
        return torch.device("cpu")
    here = ranks()
    return torch.device("cuda", here.local_rank) if here.parallel else torch.device("cuda")


def wrap(net: torch.nn.Module, *, unfreezes: bool = False) -> torch.nn.Module:
    """``net`` in :class:`~torch.nn.parallel.DistributedDataParallel` with more than one
    process (it averages the gradients in backward); ``net`` itself in one process.

    Construction broadcasts rank 0's weights, so every replica starts identical.

    ``unfreezes``: frozen layers will unfreeze during training (gradual unfreezing, TW-A04).
    DDP only all-reduces the parameters that required gradients when it was built, so they
    are made trainable for its construction and frozen again, and
    ``find_unused_parameters`` lets the frozen ones sit out each backward: unused on every
    rank, their gradients stay None (AdamW leaves them) until they unfreeze.
    """
    if not ranks().parallel:
        return net
    from torch.nn.parallel import DistributedDataParallel

    params = next(net.parameters())
    ids = [params.device.index] if params.device.type == "cuda" else None
    if not unfreezes:
        return DistributedDataParallel(net, device_ids=ids)
    frozen = [p for p in net.parameters() if not p.requires_grad]
    for p in frozen:
        p.requires_grad_(True)
    try:
        return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=True)
    finally:
        for p in frozen:
            p.requires_grad_(False)


def local_batch(global_batch: int, set_in_config: bool) -> tuple[int, str]:
    """Rows per process for a global batch of ``global_batch``, and what the plan says of it.

    Raises:
        ConfigError: ``train.batch_size`` was set and N processes cannot share it evenly.
    """
    world = ranks().world
    if world == 1:
        return global_batch, ""
    if global_batch % world and set_in_config:
        raise ConfigError(
            f"train.batch_size={global_batch} is the global batch and does not split evenly "
            f"over {world} processes; use a multiple of {world}"
        )
    per = -(-global_batch // world)
    note = f"; {world} processes x {per} rows"
    if per * world != global_batch:
        note += f" (the global batch rounded up to {per * world})"
    return per, note


def shard_order(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s share of one epoch's shuffled ``order``: every ``world``-th index,
    after padding ``order`` to a multiple of ``world`` with its first indices, as
    :class:`torch.utils.data.DistributedSampler` does (``drop_last=False``).

    The sampler itself is not used because trainwell's batches are gathered from tensors
    in memory (:class:`~trainwell.modalities.base.AugmentedData`), not by a DataLoader; the
    split is the sampler's, so batch k of every rank together is batch k of one process.

    Example:
        >>> shard_order(torch.tensor([4, 2, 0, 1, 3]), 1, 2).tolist()
        [2, 1, 4]
    """
    if world == 1:
        return order
    total = -(-len(order) // world) * world
    padded = torch.cat([order, order.repeat(-(-total // max(1, len(order))))[: total - len(order)]])
    return padded[rank::world]


class RankLost(Terminated):
    """Another process of the job stopped during training (killed or crashed): a collective
    operation failed for it, or the launcher's SIGTERM followed its exit. This rank stops as
    an interrupted run, which ``--resume`` continues."""

    cause = "the loss of another process of the job"


# gloo reports a peer that is gone as a plain RuntimeError with this text; NCCL as DistError.
_PEER_GONE = re.compile(r"Connection (closed|reset) by peer|remote worker crash")


def _is_peer_gone(err: BaseException) -> bool:
    return isinstance(err, dist.DistError) or (
        isinstance(err, RuntimeError) and _PEER_GONE.search(str(err)) is not None
    )


def _raised_during(err: BaseException) -> Iterator[BaseException]:
    """The exceptions ``err`` was raised while handling (``__cause__``/``__context__``)."""
    seen = {id(err)}
    earlier = err.__cause__ or err.__context__
    while earlier is not None and id(earlier) not in seen:
        seen.add(id(earlier))
        yield earlier
        earlier = earlier.__cause__ or earlier.__context__


def as_interrupt(err: BaseException) -> BaseException:
    """``err``, or :class:`RankLost` when a peer process is gone: a collective operation
    failed for it (gloo: connection closed; NCCL: a distributed backend error), a SIGTERM
    came as one failed, or a process of the job on this machine exited before training was
    over (:func:`part`).

    The elastic agent sends SIGTERM to the surviving ranks once it sees a process exit. It
    can arrive before the collective fails (this rank was computing) or while the failure
    unwinds (the handler runs at the next bytecode and replaces the error), so SIGTERM alone
    is not the cause: the stop is named after the lost process when one is, unless that
    process left a note that it stopped on a signal sent to the whole job (:func:`note_signal`):
    then the stop is the signal's. SIGTERM is ignored from here on, so that this rank records
    the stop before it exits on its own.
    """
    if not ranks().parallel:
        return err
    lost = _is_peer_gone(err) or (
        isinstance(err, Terminated)
        and (any(map(_is_peer_gone, _raised_during(err))) or _peer_exited())
    )
    if not lost:
        return err
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signalled = _peer_signal()
    if signalled is not None:  # the job was sent it; a peer took it and exited first
        return Terminated() if signalled == "SIGTERM" else KeyboardInterrupt()
    failed = next(filter(_is_peer_gone, [err, *_raised_during(err)]), None)
    return RankLost(str(failed) if failed else "SIGTERM after a process of the job exited")


# ---- objects across processes, as JSON -------------------------------------------------
def _comm_device() -> torch.device:
    return device() if dist.get_backend() == "nccl" else torch.device("cpu")


def broadcast_json(value: Any, src: int = 0) -> Any:
    """``value`` (JSON-able) as rank ``src`` has it, on every rank; ``value`` itself in one
    process. Other ranks' ``value`` is ignored."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return value
    where = _comm_device()
    payload = json.dumps(value).encode() if dist.get_rank() == src else b""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=where)
    dist.broadcast(size, src)
    data = torch.zeros(int(size.item()), dtype=torch.uint8, device=where)
    if dist.get_rank() == src:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(data, src)
    return json.loads(bytes(data.cpu().tolist()).decode())


def gather_json(value: Any) -> list[Any]:
    """Every rank's ``value`` (JSON-able), in rank order, on every rank; ``[value]`` in one
    process."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [value]
    where = _comm_device()
    payload = json.dumps(value).encode()
    size = torch.tensor([len(payload)], dtype=torch.int64, device=where)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = max(int(s.item()) for s in sizes)
    mine = torch.zeros(longest, dtype=torch.uint8, device=where)
    mine[: len(payload)] = torch.frombuffer(bytearray(payload), dtype=torch.uint8)
    gathered = [torch.zeros_like(mine) for _ in sizes]
    dist.all_gather(gathered, mine)
    return [
        json.loads(bytes(g[: int(s.item())].cpu().tolist()).decode())
        for g, s in zip(gathered, sizes, strict=True)
    ]


def on_main(compute: Callable[[], T], encode: Callable[[T], Any], decode: Callable[[Any], T]) -> T:
    """``compute()`` on rank 0 and its result on every rank (through ``encode``/``decode``
    to JSON); in one process just ``compute()``. Used for choices one process must make for
    all: the batch plan, the starting learning rate."""
    if not ranks().parallel:
        return compute()
    mine = encode(compute()) if ranks().main else None
    return decode(broadcast_json(mine))


# ---- rank 0 starts the run, the other ranks follow ----------------------------------------
class Lead:
    """Rank 0's side of starting a run: :meth:`announce` tells the other ranks where the run
    is and which checkpoint to resume from; leaving :func:`leading` without announcing tells
    them there is nothing to train (a failure, or a run that only needed its report)."""

    def __init__(self) -> None:
        self.sent = False

    def announce(self, run: Path, checkpoint: Path | None, *, train: bool = True) -> None:
        self.sent = True
        broadcast_json(
            {"run": str(run), "checkpoint": str(checkpoint) if checkpoint else None, "train": train}
        )


@contextmanager
def leading() -> Iterator[Lead]:
    """Rank 0 prepares and starts the run inside this block; if it fails before
    :meth:`Lead.announce`, the other ranks are told the error (they stop with exit code 2,
    silently: rank 0 prints it) instead of waiting for a run that will not come."""
    lead = Lead()
    try:
        yield lead
    except Exception as err:
        if ranks().parallel and not lead.sent:
            with suppress(Exception):  # a rank that already failed the same way is gone
                broadcast_json({"error": str(err)})
        raise
    if ranks().parallel and not lead.sent:
        broadcast_json({"error": "rank 0 had nothing to train"})


def follow(read: Callable[[], P], train: Callable[[P, Path | None], None]) -> Path:
    """A rank other than 0 in a run: ``read()`` the same data and splits rank 0 reads (no
    audit, nothing written), wait for rank 0 to start the run, then ``train(prepared,
    checkpoint)``; return the run directory rank 0 announced.

    Raises:
        TrainwellError: rank 0 failed to start the run (its error), or ``read`` failed.
    """
    prepared, failure = None, None
    try:
        prepared = read()
    except TrainwellError as err:
        failure = err
    message = broadcast_json(None)  # meet rank 0 even on failure, so it is not left waiting
    if failure is not None:
        raise failure
    if "error" in message:
        raise TrainwellError(message["error"])
    checkpoint = Path(message["checkpoint"]) if message["checkpoint"] else None
    if message["train"] and prepared is not None:
        train(prepared, checkpoint)
    return Path(message["run"])


# ---- the doctor's findings across ranks -------------------------------------------------
def merge_findings(per_rank: Sequence[Sequence[dict[str, Any]]]) -> list[Finding]:
    """One list from every rank's findings (``per_rank[r]``: rank r's, as dicts).

    A finding several ranks made (same id and layer) is kept once, from the lowest rank,
    with ``evidence["ranks"]`` listing them; when not every rank made it, its message names
    the ranks (``(rank 1)``), so a NaN that one rank's batches produced says where.
    """
    world = len(per_rank)
    kept: dict[tuple[str, str], tuple[Finding, list[int]]] = {}
    order: list[tuple[str, str]] = []
    for rank, findings in enumerate(per_rank):
        for data in findings:
            finding = Finding.from_dict(data)
            key = (finding.id, str(finding.evidence.get("layer", "")))
            if key in kept:
                kept[key][1].append(rank)
            else:
                kept[key] = (finding, [rank])
                order.append(key)
    merged = []
    for key in order:
        finding, where = kept[key]
        evidence = {**finding.evidence, "ranks": where}
        message = finding.message
        if world > 1 and len(where) < world:
            label = "rank" if len(where) == 1 else "ranks"
            message = f"{message} ({label} {', '.join(map(str, where))})"
        merged.append(replace(finding, evidence=evidence, message=message))
    return merged


def gather_findings(findings: Sequence[Finding]) -> list[Finding]:
    """All ranks' findings merged (:func:`merge_findings`) on every rank; ``findings``
    unchanged in one process."""
    if not ranks().parallel:
        return list(findings)
    return merge_findings(gather_json([f.to_dict() for f in findings]))


class RankSync(Callback):
    """Keeps N processes in step: after every optimizer step (and every epoch) the ranks
    all-reduce the epoch's running loss sum, so ``train_loss`` is the mean over the global
    batches, and a stop flag per rank, so a stop on any rank stops them all at once.

    ``needs_stop`` (the doctor's NaN / divergence finding, read once) makes a rank stop; the
    stop reason names the rank that stopped. Put it last: it must see every other callback's
    decision of the step.
    """

    def __init__(self, needs_stop: Callable[[], Finding | None] | None = None) -> None:
        self.needs_stop = needs_stop
        self.here = ranks()

    def on_step_end(self, state: TrainState) -> None:
        cause = self.needs_stop() if self.needs_stop is not None else None
        if cause is not None and not state.stop:
            state.stop = True
            state.stop_reason = (
                f"stopped: the doctor found {cause.id} on rank {self.here.rank} "
                f"(step {state.step}): {cause.message}"
            )
        self._sync(state, loss=True)

    def on_epoch_end(self, state: TrainState) -> None:
        self._sync(state, loss=False)

    def _sync(self, state: TrainState, *, loss: bool) -> None:
        if not self.here.parallel:
            return
        values = torch.zeros(1 + self.here.world, dtype=torch.float64)
        values[0] = state.epoch_loss_sum
        values[1 + self.here.rank] = float(state.stop)
        where = _comm_device()
        values = values.to(where)
        dist.all_reduce(values)
        values = values.cpu()
        if loss:
            # Every rank held the same synced sum before this step's micro-batches were
            # added, so the mean over ranks is that sum plus the mean of the new losses.
            state.epoch_loss_sum = float(values[0]) / self.here.world
        stopped = [r for r in range(self.here.world) if values[1 + r] > 0]
        if not stopped:
            return
        reasons = gather_json(state.stop_reason if state.stop else "")
        if not state.stop:
            first = stopped[0]
            state.stop = True
            state.stop_reason = reasons[first] or f"stopped: rank {first} stopped"
        elif not state.stop_reason:
            state.stop_reason = f"stopped: rank {stopped[0]} stopped"


class RankGenerators(Callback):
    """Every rank's random generator state, gathered at the end of each epoch and kept in
    rank 0's checkpoint, so that ``--resume`` continues each rank's own stream (TW-T11): the
    checkpoint's plain ``rng`` entry is rank 0's, and rank 1 resumed on it would draw rank
    0's dropout masks, ending on other weights than the uninterrupted run.

    The state is a ``(world, n)`` uint8 tensor, row r rank r's: torch's CPU generator
    (``torch.get_rng_state``), then under CUDA its GPU's. ``fresh_seed`` seeds this rank's
    stream when a resumed checkpoint holds no row for it (written by fewer processes, or
    before this callback existed). Put it before ``Checkpointing``.
    """

    def __init__(self, fresh_seed: int) -> None:
        self.fresh_seed = fresh_seed
        self.rows: torch.Tensor | None = None

    def on_fit_start(self, state: TrainState) -> None:
        here = ranks()
        if self.rows is not None and here.rank < len(self.rows):
            _set_generator_row(self.rows[here.rank])
        elif not here.main:  # a fresh run, or a checkpoint with no row of this rank's
            torch.manual_seed(self.fresh_seed)

    def on_epoch_end(self, state: TrainState) -> None:
        if not ranks().parallel:
            return
        mine = _generator_row()
        where = _comm_device()
        rows = [torch.empty_like(mine, device=where) for _ in range(ranks().world)]
        dist.all_gather(rows, mine.to(where))
        self.rows = torch.stack([row.cpu() for row in rows])

    def state_dict(self) -> dict[str, Any]:
        return {"rows": self.rows} if self.rows is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        rows = state.get("rows")
        self.rows = rows if isinstance(rows, torch.Tensor) and rows.dim() == 2 else None


def _generator_row() -> torch.Tensor:
    parts = [torch.get_rng_state()]
    if device().type == "cuda":
        parts.append(torch.cuda.get_rng_state(device()))
    return torch.cat(parts)


def _set_generator_row(row: torch.Tensor) -> None:
    cpu = torch.get_rng_state().numel()
    torch.set_rng_state(row[:cpu].clone())
    if device().type == "cuda" and row.numel() > cpu:
        torch.cuda.set_rng_state(row[cpu:].clone(), device())


def single_process_only(cfg: Any) -> Any:
    """``cfg`` with what cannot run per rank turned off under N processes: the doctor's
    remedy (a rescue on one rank would desynchronise the replicas; :class:`RankSync` stops
    every rank instead)."""
    if not ranks().parallel or not cfg.doctor.remedy:
        return cfg
    return cfg.model_copy(update={"doctor": cfg.doctor.model_copy(update={"remedy": False})})


def details(per_process_batch: int) -> dict[str, Any]:
    """What the manifest records of the processes that trained (nothing for one)."""
    here = ranks()
    if not here.parallel:
        return {}
    return {
        "processes": here.world,
        "backend": dist.get_backend() if dist.is_initialized() else None,
        "batch_size_per_process": per_process_batch,
        "global_batch_size": per_process_batch * here.world,
    }
