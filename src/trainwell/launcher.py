"""``trainwell fit --devices N``: N local processes through PyTorch's own launcher.

``torch.distributed.run`` (the elastic agent behind ``torchrun``) starts N copies of the same
command line without ``--devices``; each joins the process group (:mod:`trainwell.distributed`).
Nothing here imports torch until a launch happens, so the CLI stays quick to start.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from trainwell.errors import ConfigError


def under_torchrun() -> bool:
    """Whether this process is one of the workers torchrun (or ``--devices``) started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def check_devices(devices: int) -> None:
    """Raises:
    ConfigError: ``devices`` is below 1, or given to a worker torchrun already started."""
    if devices < 1:
        raise ConfigError(f"--devices {devices}: the number of processes must be 1 or more")
    if devices > 1 and under_torchrun():
        raise ConfigError(
            "--devices starts its own processes; under torchrun leave it out "
            "(torchrun's --nproc-per-node sets the number)"
        )


def command_line(ctx: Any, drop: str) -> list[str]:
    """The command ``ctx`` (a click context, as typer gives it) parsed, as arguments again,
    without the parameter ``drop``.

    Example: ``trainwell fit data.csv --target y --devices 2`` gives
    ``["fit", "data.csv", "--target", "y"]`` (options in the command's own order).
    """
    args = [str(ctx.info_name)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name or "")
        if param.name == drop or value is None or value is False or value in ([], ()):
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        if param.param_type_name == "argument":
            args += [str(v) for v in values]
        elif getattr(param, "is_flag", False):
            args.append(param.opts[0])
        else:
            for v in values:
                args += [param.opts[0], str(v)]
    return args


def launch(devices: int, argv: Sequence[str]) -> int:
    """Run ``python -m trainwell ARGV`` in ``devices`` local processes through
    ``torch.distributed.run`` (standalone rendezvous on a free port, no restarts) and
    return the exit code: 0; the first failed process's code (2 for a user error, which
    rank 0 printed); 130 when a process was killed by a signal (the agent then stops the
    others; rank 0 marks the run interrupted and ``--resume`` continues it), or when this
    process was sent SIGINT or SIGTERM (the agent passes it on to the processes; rank 0
    prints how to resume).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    # One OpenMP pool per core: N pools each as wide as the machine spin against each other.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // devices)))
    # The agent logs every worker's exit and every signal; the workers' own output says what
    # went wrong. Its modules' loggers have levels of their own (LOGLEVEL), so each is set.
    for name in ["torch.distributed.elastic", *logging.root.manager.loggerDict]:
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    # The agent's per-attempt folders (error files it reads when a worker fails) go in a
    # folder removed when the job ends: by default each job left a /tmp/torchelastic_*.
    logs = tempfile.TemporaryDirectory(prefix="trainwell-elastic-")
    args = get_args_parser().parse_args(
        ["--standalone", "--nproc-per-node", str(devices), "--max-restarts", "0",
         "--log-dir", logs.name, "-m", "trainwell", *argv]
    )  # fmt: skip
    try:
        with logs:
            run(args)
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        if rank == 0 and failure.exitcode < 0:  # rank 0 prints and records: it cannot now
            print(
                f"trainwell: the job's rank 0 was killed ({failure.signal_name()}); its run "
                "stays marked running: continue it with `trainwell fit --resume RUN_DIR` "
                "(the run directory printed first)",
                file=sys.stderr,
            )
        return failure.exitcode if failure.exitcode > 0 else 130
    except SignalException:
        return 130
    return 0
