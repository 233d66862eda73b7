"""Serving throughput and latency with dynamic batching on vs off, and a 10x overload run.

Fits a tiny table run (or takes --run RUN_DIR), starts ``trainwell serve`` on 127.0.0.1 as a
subprocess per setting, and drives it with bounded loops of one-row requests (a fixed number
of requests per level, so it stops by itself): throughput and p50/p95/p99 latency at
concurrency 1, 8 and 32, batching on (``--max-batch-size 64 --max-delay-ms 5``) and off
(``--max-batch-size 1 --max-delay-ms 0``). Then an overload run: 10x more concurrent clients
than the queue bound, counting status codes and sampling the server's resident memory.

The client (a minimal keep-alive HTTP/1.1 client, see :class:`Connection`) runs on the
same machine and shares its CPUs with the server; the ratios measured side by side in one
run are what to read, not the absolute numbers.

    python benchmarks/serve.py [--run RUN_DIR] [--requests 400] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

LEVELS = (1, 8, 32)
SETTINGS = {
    "batching on": ["--max-batch-size", "64", "--max-delay-ms", "5"],
    "batching off": ["--max-batch-size", "1", "--max-delay-ms", "0"],
}
OVERLOAD_QUEUE = 16
READY_ATTEMPTS = 1500


def table(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=n), rng.normal(50, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    logit = 2 * x1 + 0.1 * (x2 - 50) + (color == "red") * 1.5 - 0.5
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "color": color,
            "city": rng.choice([f"city{i}" for i in range(30)], size=n),
            "label": np.where(logit + rng.normal(scale=0.5, size=n) > 0, "pos", "neg"),
        }
    )


def fit_run(folder: Path) -> Path:
    import trainwell

    table(600, 0).to_csv(folder / "d.csv", index=False)
    overrides = [
        "train.max_epochs=3",
        "logging.progress=false",
        "report.bootstrap=0",
        "report.energy=false",
        "logging.tensorboard=false",
        "baselines.ship=network",
    ]
    trainwell.fit(folder / "d.csv", "label", out=folder / "run", quiet=True, overrides=overrides)
    return folder / "run"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(server: Server, rows: list[dict], concurrency: int, total: int) -> dict:
    """``drive`` plus the server's CPU time per answered request (a figure the other
    processes on a shared machine do not distort, unlike throughput) and its mean batch."""
    rows_before, batches_before = batch_totals(server.url)
    before = cpu_seconds(server.process.pid)
    result = asyncio.run(drive(server.url, rows, concurrency, total))
    used = cpu_seconds(server.process.pid) - before
    rows_after, batches_after = batch_totals(server.url)
    result["server_cpu_ms_per_request"] = 1000 * used / max(result["codes"].get(200, 0), 1)
    result["mean_batch"] = (rows_after - rows_before) / max(batches_after - batches_before, 1)
    return result


def batch_totals(url: str) -> tuple[float, float]:
    """Rows and batches so far, from /metrics' batch-size histogram."""
    text = httpx.get(f"{url}/metrics").text
    found = dict(
        line.split(" ", 1) for line in text.splitlines() if line.startswith("trainwell_batch_size_")
    )
    return float(found["trainwell_batch_size_sum"]), float(found["trainwell_batch_size_count"])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    def __init__(self, run: Path, options: list[str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "trainwell", "serve", str(run), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, *options], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        with httpx.Client() as client:
            for _ in range(READY_ATTEMPTS):
                try:
                    if client.get(f"{self.url}/ready").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                time.sleep(0.02)
        self.stop()
        raise SystemExit(f"the server did not start: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol to POST JSON
    and read the answer's status and body.

    Written here rather than using httpx: on a two-core machine the benchmark's client shares
    the CPUs with the server, and httpx spends about a millisecond of CPU per request, more
    than the server's HTTP layer; a client that costs more than the server caps the
    throughput of both settings alike and hides what batching saves. The server's answers
    always carry Content-Length (uvicorn and Starlette's JSON responses).
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, request: bytes) -> int:
        """Send one pre-encoded request; its status code. A connection the server closed is
        reopened for the next request (the error is raised for this one)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        try:
            self.writer.write(request)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                elif name.strip().lower() == b"connection" and b"close" in value.lower():
                    length = -1 if length == 0 else length
            await self.reader.readexactly(max(length, 0))
            if b"connection: close" in head.lower():
                self.close()
            return status
        except (OSError, asyncio.IncompleteReadError):
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def encode_requests(url: str, rows: list[dict]) -> list[bytes]:
    """One ``POST /predict`` of one row per row, as the bytes sent."""
    host = url.split("//", 1)[1]
    requests = []
    for row in rows:
        body = json.dumps({"rows": [row]}).encode()
        head = (
            f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def drive(url: str, rows: list[dict], concurrency: int, total: int) -> dict:
    """``concurrency`` clients (one keep-alive connection each) send ``total`` one-row
    requests between them; a dropped connection is counted under its error's name."""
    host, port = url.split("//", 1)[1].split(":")
    requests = encode_requests(url, rows)
    latencies: list[float] = []
    codes: Counter[int | str] = Counter()
    remaining = iter(range(total))

    async def client_loop() -> None:
        connection = Connection(host, int(port))
        try:
            for i in remaining:
                started = time.perf_counter()
                try:
                    status = await connection.post(requests[i % len(requests)])
                except (OSError, asyncio.IncompleteReadError) as err:  # counted, not hidden
                    codes[type(err).__name__] += 1
                    continue
                codes[status] += 1
                if status == 200:
                    latencies.append(time.perf_counter() - started)
        finally:
            connection.close()

    warm = Connection(host, int(port))
    await warm.post(requests[0])
    warm.close()
    started = time.perf_counter()
    await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000 if latencies else np.asarray([np.nan])
    return {
        "concurrency": concurrency,
        "requests": total,
        "codes": dict(codes),
        "throughput_rps": codes[200] / elapsed,
        **{f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)},
    }


def overload(run: Path, rows: list[dict], total: int, rounds: int = 3) -> dict:
    """``rounds`` bursts of ``10 * OVERLOAD_QUEUE`` clients against a queue of
    ``OVERLOAD_QUEUE``: status codes (and dropped connections) counted, the server's resident
    memory read after each round and its peak sampled during them."""
    options = [*SETTINGS["batching on"], "--max-queue", str(OVERLOAD_QUEUE)]
    server = Server(run, options)
    peak = [rss_mib(server.process.pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak[0] = max(peak[0], rss_mib(server.process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    codes: Counter[int | str] = Counter()
    try:
        after = [rss_mib(server.process.pid)]
        sampler.start()
        for _ in range(rounds):
            codes.update(asyncio.run(drive(server.url, rows, 10 * OVERLOAD_QUEUE, total))["codes"])
            after.append(rss_mib(server.process.pid))
        alive = httpx.get(f"{server.url}/health").status_code
    finally:
        done.set()
        server.stop()
    return {
        "clients": 10 * OVERLOAD_QUEUE,
        "max_queue": OVERLOAD_QUEUE,
        "requests": rounds * total,
        "codes": dict(codes),
        "rss_mib": {"before_and_after_each_round": after, "peak": peak[0]},
        "health_after": alive,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished table run (default: fit a tiny one)")
    parser.add_argument("--requests", type=int, default=400, help="requests per level")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of every level")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or fit_run(Path(tmp))
        rows = table(200, 1).drop(columns="label").to_dict(orient="records")
        results: dict = {"cpus": os.cpu_count(), "load_before": os.getloadavg(), "rounds": []}
        servers = {name: Server(run, options) for name, options in SETTINGS.items()}
        try:  # both servers up at once, the two settings interleaved level by level
            for _ in range(args.repeats):
                results["rounds"].append(
                    [
                        {name: measure(servers[name], rows, c, args.requests) for name in SETTINGS}
                        for c in LEVELS
                    ]
                )
        finally:
            for server in servers.values():
                server.stop()
        results["overload"] = overload(run, rows, 4 * args.requests)
        results["load_after"] = os.getloadavg()
    report(results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


def report(results: dict) -> None:
    print(
        f"{'round':<6}{'setting':<14}{'conc':>5}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
        f"{'p99 ms':>9}{'cpu ms/req':>11}{'batch':>7}  codes"
    )
    ratios: dict[int, list[tuple[float, float, float]]] = {c: [] for c in LEVELS}
    for i, levels in enumerate(results["rounds"]):
        for level in levels:
            for name, r in level.items():
                print(
                    f"{i:<6}{name:<14}{r['concurrency']:>5}{r['throughput_rps']:>9.1f}"
                    f"{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}{r['p99_ms']:>9.1f}"
                    f"{r['server_cpu_ms_per_request']:>11.2f}{r['mean_batch']:>7.1f}  {r['codes']}"
                )
            on, off = level["batching on"], level["batching off"]
            ratios[on["concurrency"]].append(
                (on["throughput_rps"] / off["throughput_rps"], on["p95_ms"], off["p95_ms"])
            )
    for c, seen in ratios.items():
        low, high = min(r[0] for r in seen), max(r[0] for r in seen)
        p95 = ", ".join(f"{a:.0f} vs {b:.0f}" for _, a, b in seen)
        print(
            f"concurrency {c}: batching on/off throughput {low:.2f}x to {high:.2f}x over "
            f"{len(seen)} rounds; p95 on vs off (ms): {p95}"
        )
    o = results["overload"]
    rss = " -> ".join(f"{m:.0f}" for m in o["rss_mib"]["before_and_after_each_round"])
    print(
        f"overload: {o['clients']} clients on a queue of {o['max_queue']}, {o['requests']} "
        f"requests: codes {o['codes']}, server RSS {rss} MiB (peak {o['rss_mib']['peak']:.0f}), "
        f"/health after: {o['health_after']}"
    )
    print(f"load average before {results['load_before']}, after {results['load_after']}")


if __name__ == "__main__":
    main()
