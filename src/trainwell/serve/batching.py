"""Dynamic batching with a bounded queue (TW-P05, and overload safety).

Requests that arrive while the model is busy, or within ``max_delay_s`` of the first one,
run as one batch of at most ``max_batch_size`` rows; the model runs in one worker thread, off
the event loop, so the server keeps accepting (and refusing) requests while it computes.
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

import pandas as pd

from trainwell.errors import DataError


class Overloaded(Exception):
    """The queue is full: the request was refused without waiting."""


@dataclass
class _Job:
    frame: pd.DataFrame
    future: asyncio.Future[pd.DataFrame] = field(repr=False)


class Batcher:
    """Runs ``predict`` over batches of queued requests in one worker thread.

    Args:
        predict: raw rows in, one output row per input row (same order) out. Called from the
            worker thread only, one batch at a time.
        max_batch_size: rows per batch (a request with more rows runs alone).
        max_delay_s: how long the first request of a batch waits for company (seconds).
        max_queue: requests that may wait; the next one raises :class:`Overloaded`.
        on_batch: called in the worker thread with (rows, outputs) after each batch.
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], pd.DataFrame],
        *,
        max_batch_size: int,
        max_delay_s: float,
        max_queue: int,
        on_batch: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
    ) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.on_batch = on_batch
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
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="trainwell-model")
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The outputs for ``frame``'s rows, once its batch ran.

        Raises:
            Overloaded: ``max_queue`` requests already wait.
            DataError: the rows are not what the model needs.
        """
        if self._queue is None or not self.running:
            raise Overloaded("the batcher is not running")
        if self.depth >= self.max_queue:
            raise Overloaded(f"{self.depth} requests are queued (the bound is {self.max_queue})")
        future: asyncio.Future[pd.DataFrame] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(frame, future))
        return await future

    async def _next_batch(self) -> list[_Job]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        first = self._carry if self._carry is not None else await self._queue.get()
        self._carry = None
        batch, rows = [first], len(first.frame)
        deadline = loop.time() + self.max_delay_s
        while rows < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                job = self._queue.get_nowait()
            if rows + len(job.frame) > self.max_batch_size:
                self._carry = job  # it starts the next batch
                break
            batch.append(job)
            rows += len(job.frame)
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

    def _run(self, batch: list[_Job]) -> list[pd.DataFrame | BaseException]:
        """One batch in the worker thread; a request the model refuses fails alone."""
        frames = [job.frame for job in batch]
        rows = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        try:
            outputs = self.predict(rows).reset_index(drop=True)
        except Exception as err:  # handed to the requests' futures
            if len(batch) > 1 and isinstance(err, DataError):
                # One request's bad rows must not fail the others: each runs alone.
                return [r for job in batch for r in self._run([job])]
            return [err] * len(batch)
        self.batch_sizes.append(len(rows))
        if self.on_batch is not None:
            self.on_batch(rows, outputs)
        results: list[pd.DataFrame | BaseException] = []
        start = 0
        for frame in frames:
            results.append(outputs.iloc[start : start + len(frame)].reset_index(drop=True))
            start += len(frame)
        return results
