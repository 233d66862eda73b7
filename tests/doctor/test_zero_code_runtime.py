"""The zero-code doctor on how real scripts run: ``torch.compile``, spawned DataLoader workers,
``torchrun`` and a SIGTERM. Each script runs as a user would run it, plain and under
``trainwell doctor``, and must behave the same (exit code, output)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import run_gloo_job

ENV = {**os.environ, "PYTHONWARNINGS": "error"}

# pytorch/examples' mnist network, compiled (backend "eager": Dynamo traces the module and
# its hooks exactly as with inductor, without minutes of C++ compilation). Before the hooks
# stood aside while Dynamo traces, this crashed under the doctor with "AssertionError:
# UnspecializedNNModuleVariable(Net) is already tracked for mutation".
COMPILED = """
import torch
import torch.nn.functional as F
from torch import nn

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(4 * 13 * 13, 16)
        self.fc2 = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        return self.fc2(F.relu(self.fc1(x))){head}


x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
model = torch.compile(Net(), backend="eager")
opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
for step in range(4):
    opt.zero_grad()
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    opt.step()
print(f"final loss {{loss.item():.6f}}")
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def plain(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600, check=False
    )


def doctored(command: list[str], cwd: Path, json_path: Path) -> subprocess.CompletedProcess[str]:
    return plain(
        [sys.executable, "-m", "trainwell", "doctor", "--json", str(json_path), "--", *command],
        cwd,
    )


def test_torch_compile_runs_the_same_under_the_doctor(tmp_path: Path) -> None:
    script = write(tmp_path, "compiled.py", COMPILED.format(head=""))
    alone = plain([sys.executable, str(script)], tmp_path)
    assert alone.returncode == 0, alone.stderr
    watched = doctored([sys.executable, str(script)], tmp_path, tmp_path / "f.json")
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == alone.stdout
    assert "Traceback" not in watched.stderr
    assert "Warning" not in watched.stderr  # not even torch's about global hooks
    assert json.loads((tmp_path / "f.json").read_text()) == []


def test_a_compiled_model_is_still_diagnosed_from_outside(tmp_path: Path) -> None:
    script = write(tmp_path, "compiled.py", COMPILED.format(head=".softmax(1)"))
    watched = doctored([sys.executable, str(script)], tmp_path, tmp_path / "f.json")
    assert watched.returncode == 0, watched.stderr
    findings = json.loads((tmp_path / "f.json").read_text())
    assert [f["id"] for f in findings] == ["output-loss-mismatch"]


DDP = """
import torch
import torch.distributed as dist
from torch import nn

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3), nn.Softmax(1))
model = nn.parallel.DistributedDataParallel(net)
opt = torch.optim.SGD(model.parameters(), 0.1)
for _ in range(4):
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(x[rank::2]), y[rank::2]).backward()
    opt.step()
if rank == 0:
    print("done")
dist.destroy_process_group()
"""


@pytest.mark.xdist_group("gloo")  # one gloo job at a time: see tests/test_distributed.py
def test_torchrun_findings_carry_their_rank_and_print_once(tmp_path: Path) -> None:
    script = write(tmp_path, "ddp.py", DDP)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command = [*torchrun, "--nproc-per-node", "2", str(script)]
    alone = run_gloo_job(lambda: plain(command, tmp_path))
    assert alone.returncode == 0, alone.stderr
    watched = run_gloo_job(lambda: doctored(command, tmp_path, tmp_path / "f.json"))
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == alone.stdout == "done\n"
    # both ranks find the doubled softmax; it prints once, with the rank that found it first
    assert watched.stderr.count("softmax applied twice") == 1
    assert "step 0, ranks 0,1" in watched.stderr  # the summary names both
    (finding,) = json.loads((tmp_path / "f.json").read_text())
    assert finding["id"] == "output-loss-mismatch"
    assert finding["evidence"]["rank"] in (0, 1)
    assert finding["evidence"]["ranks"] == [0, 1]


WAITS = """
import os
import sys
import threading

import torch
from torch import nn

x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
model = nn.Sequential(nn.Linear(4, 3), nn.Softmax(1))
opt = torch.optim.SGD(model.parameters(), 0.1)
opt.zero_grad()
nn.CrossEntropyLoss()(model(x), y).backward()
opt.step()
print("ready", os.getpid(), flush=True)
threading.Event().wait()  # until a signal ends the process
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_doctor_reaches_the_script_and_the_json_is_written(
    tmp_path: Path, signum: int
) -> None:
    script = write(tmp_path, "waits.py", WAITS)
    out = tmp_path / "f.json"
    command = ["doctor", "--json", str(out), "--", sys.executable, str(script)]
    doctor = subprocess.Popen(
        [sys.executable, "-m", "trainwell", *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    assert doctor.stdout is not None
    ready = doctor.stdout.readline().split()  # the script trained one step and now waits
    assert ready[0] == "ready"
    doctor.send_signal(signum)
    _, stderr = doctor.communicate(timeout=300)
    assert doctor.returncode == 128 + signum, stderr  # the script's own death by that signal
    with pytest.raises(ProcessLookupError):
        os.kill(int(ready[1]), 0)  # the script is gone, not orphaned
    assert [f["id"] for f in json.loads(out.read_text())] == ["output-loss-mismatch"]
    assert f"script exit code {128 + signum}" in stderr


SPAWNED = """
import sys
from pathlib import Path

import torch
from torch import nn


def record_modules(worker_id):
    out = Path(__file__).with_name(f"modules-{worker_id}.txt")
    out.write_text("\\n".join(sorted(sys.modules)))


if __name__ == "__main__":
    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(64, 4), torch.randint(0, 3, (64,)))
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=16,
        num_workers=2,
        multiprocessing_context="spawn",
        worker_init_fn=record_modules,
    )
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), 0.1)
    for x, y in loader:
        opt.zero_grad()
        loss = nn.CrossEntropyLoss()(model(x), y)
        loss.backward()
        opt.step()
    print(f"final loss {loss.item():.6f}")
"""


def test_spawned_dataloader_workers_load_the_doctor_and_nothing_heavy(tmp_path: Path) -> None:
    script = write(tmp_path, "spawned.py", SPAWNED)
    alone = plain([sys.executable, str(script)], tmp_path)
    assert alone.returncode == 0, alone.stderr
    watched = doctored([sys.executable, str(script)], tmp_path, tmp_path / "f.json")
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout == alone.stdout
    assert json.loads((tmp_path / "f.json").read_text()) == []
    for worker in (0, 1):
        modules = set((tmp_path / f"modules-{worker}.txt").read_text().split())
        assert "trainwell.doctor._child" in modules  # the doctor did attach in the worker
        heavy = {m.split(".")[0] for m in modules} & {"sklearn", "pandas", "lightgbm", "rich"}
        assert heavy == set()


def test_the_runner_and_the_hook_import_only_what_they_need() -> None:
    """``trainwell doctor`` itself needs no torch; the hook in a script needs no pipeline."""
    loaded = "print(sorted({m.split('.')[0] for m in sys.modules} & %r))"
    heavy = {"torch", "sklearn", "pandas", "lightgbm", "scipy", "pydantic", "rich"}
    runner = f"import sys, trainwell.cli, trainwell.doctor.command; {loaded % heavy}"
    hook = f"import sys, torch, trainwell.doctor._child; {loaded % (heavy - {'torch'})}"
    assert plain([sys.executable, "-c", runner], Path.cwd()).stdout == "['pydantic', 'rich']\n"
    assert plain([sys.executable, "-c", hook], Path.cwd()).stdout == "[]\n"


RECORDS_MODULES = """
import sys
from pathlib import Path

here = Path(__file__).parent
(here / "before.txt").write_text("\\n".join(sorted(sys.modules)))
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), 0.1)
for _ in range(3):
    opt.zero_grad()
    nn.CrossEntropyLoss()(model(torch.randn(16, 4)), torch.randint(0, 3, (16,))).backward()
    opt.step()
(here / "after.txt").write_text("\\n".join(sorted(sys.modules)))
"""


def test_the_zero_code_hook_loads_only_the_doctor_into_the_script(tmp_path: Path) -> None:
    """Under ``trainwell doctor`` the script gets the doctor once it imports torch, and
    nothing of trainwell's pipeline or its command line: before torch, no trainwell module
    at all (the start-up hook only waits for torch); after training, the doctor and none of
    sklearn, pandas, LightGBM, matplotlib, SciPy, pydantic, rich or typer."""
    script = write(tmp_path, "records.py", RECORDS_MODULES)
    watched = doctored([sys.executable, str(script)], tmp_path, tmp_path / "f.json")
    assert watched.returncode == 0, watched.stderr
    before = set((tmp_path / "before.txt").read_text().split())
    after = set((tmp_path / "after.txt").read_text().split())
    assert {m for m in before if m.split(".")[0] in {"trainwell", "torch"}} == set()
    assert "trainwell.doctor._child" in after  # the doctor did attach
    heavy = {"sklearn", "pandas", "lightgbm", "matplotlib", "scipy", "pydantic", "rich", "typer"}
    assert {m.split(".")[0] for m in after} & heavy == set()
