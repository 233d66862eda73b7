"""Dynamic batching with a bounded queue (TW-P05, and overload safety).

Requests that arrive while the model is busy run as one batch of at most ``max_batch_size``
rows; a batch waits (at most ``max_delay_s``) only for requests the server is known to be
reading already, so a lone request on an idle server runs at once. The model runs in one
worker thread, off the event loop, so the server keeps accepting (and refusing) requests
while it computes.
At most ``max_queue`` requests wait; the next one is refused at once with :class:`Overloaded`
(the server answers 503 with Retry-After), so memory stays bounded under any load
(TorchServe's job queue of 100 and Ray Serve's ``max_queued_requests`` work the same way).

The loop is written here rather than taken from a serving library: FastAPI/uvicorn (chosen in
:mod:`trainwell.serve.app`) have no batcher, and the one in LitServe or Ray Serve would bring
their whole server with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from trainwell.errors import DataError


class Overloaded(Exception):
    """The queue is full: the request was refused without waiting."""


@dataclass
class _Job:
    items: list[Any]  # one per row
    future: asyncio.Future[list[Any]] = field(repr=False)


class Batcher:
    """Runs ``predict`` over batches of queued requests in one worker thread.

    Args:
        predict: a list of rows in, one result per row (same order) out. Called from the
            worker thread only, one batch at a time; all per-row work (building the table,
            reading the outputs, logging) belongs there, so the event loop only parses
            requests and writes answers.
        max_batch_size: rows per batch (a request with more rows runs alone).
        max_delay_s: the longest the first request of a batch waits for requests known to be
            arriving (seconds); with none arriving it runs at once.
        max_queue: requests that may wait; the next one raises :class:`Overloaded`.
        on_batch: called in the worker thread with the rows of each batch run.
        arriving: how many requests the server has begun to read but not yet submitted
            (the batch waits for them, at most ``max_delay_s``).
        threads: torch's intra-op threads in the model thread (None: torch's default). One
            by default: a served batch is small, so splitting its matrix products across
            threads gains little, and on a busy machine OpenMP threads wait at a barrier for a
            descheduled sibling (a 32-row batch took 6x as long on 2 threads as on 1 on the
            loaded 2-core test machine; see :mod:`trainwell.train.threads`); the event loop
            needs the other core. The setting is the worker thread's own (OpenMP's thread
            count is per thread), so the rest of the process keeps torch's.
    """

    def __init__(
        self,
        predict: Callable[[list[Any]], list[Any]],
        *,
        max_batch_size: int,
        max_delay_s: float,
        max_queue: int,
        on_batch: Callable[[int], None] | None = None,
        arriving: Callable[[], int] = lambda: 0,
        threads: int | None = 1,
    ) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.arriving = arriving
        self.threads = threads
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # rows per recent batch, newest last
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._carry: _Job | None = None

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch being computed)."""
        return (self._queue.qsize() if self._queue is not None else 0) + (self._carry is not None)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(
            1, thread_name_prefix="trainwell-model", initializer=self._init_thread
        )
        self._task = asyncio.create_task(self._loop())

    def _init_thread(self) -> None:
        if self.threads is not None:
            import torch

            torch.set_num_threads(self.threads)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, items: list[Any]) -> list[Any]:
        """The results for ``items`` (one per row), once their batch ran.

        Raises:
            Overloaded: ``max_queue`` requests already wait.
            DataError: the rows are not what the model needs.
        """
        if self._queue is None or not self.running:
            raise Overloaded("the batcher is not running")
        if self.depth >= self.max_queue:
            raise Overloaded(f"{self.depth} requests are queued (the bound is {self.max_queue})")
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(items, future))
        return await future

    async def _next_batch(self) -> list[_Job]:
        """The next batch: the first waiting request and every one queued behind it (up to
        ``max_batch_size`` rows), taken without waiting: requests that arrive while the model
        computes form the next batch. Only while more requests are known to be on their way
        (``arriving``: read by the server, not yet queued) does it wait for them, at most
        ``max_delay_s``; an idle server (concurrency 1) never waits."""
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        batch, rows = [first], len(first.items)
        deadline = loop.time() + self.max_delay_s
        while rows < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0 or self.arriving() <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                job = self._queue.get_nowait()
            if rows + len(job.items) > self.max_batch_size:
                self._carry = job  # it starts the next batch
                break
            batch.append(job)
            rows += len(job.items)
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            live = [job for job in batch if not job.future.done()]  # a client may have left
            if not live:
                continue
            results = await loop.run_in_executor(self._executor, self._run, live)
            for job, result in zip(live, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    def _run(self, batch: list[_Job]) -> list[list[Any] | BaseException]:
        """One batch in the worker thread; a request the model refuses fails alone."""
        items = [item for job in batch for item in job.items]
        try:
            results = self.predict(items)
        except Exception as err:  # handed to the requests' futures
            if len(batch) > 1 and isinstance(err, DataError):
                # One request's bad rows must not fail the others: each runs alone.
                return [r for job in batch for r in self._run([job])]
            return [err] * len(batch)
        self.batch_sizes.append(len(items))
        if self.on_batch is not None:
            self.on_batch(len(items))
        answers: list[list[Any] | BaseException] = []
        start = 0
        for job in batch:
            answers.append(results[start : start + len(job.items)])
            start += len(job.items)
        return answers
