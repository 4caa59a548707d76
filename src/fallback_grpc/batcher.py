"""OrderBatcher: turns one-at-a-time submits into batches (up to N orders or T seconds).

A batch leaves when it holds max_batch orders or when the oldest waiting order has lingered
linger_s, whichever comes first, provided fewer than max_in_flight batches are outstanding. While the
window is full, orders keep collecting, so under load batches grow to max_batch by themselves
(the same trade as Nagle's algorithm with a window). Each caller gets its own order's result:
results come back in request order and are matched to the waiting futures by position.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

OrderT = TypeVar("OrderT")
ResultT = TypeVar("ResultT")
SendBatch = Callable[[list[OrderT]], Awaitable[Sequence[ResultT]]]


class BatchResultCountError(RuntimeError):
    """The server answered a batch with a different number of results than orders."""


class OrderBatcher(Generic[OrderT, ResultT]):
    def __init__(self, send_batch: SendBatch, *, max_batch: int = 100, linger_s: float = 0.001,
                 max_in_flight: int = 8) -> None:
        if max_batch < 1 or max_in_flight < 1 or linger_s < 0:
            raise ValueError("max_batch and max_in_flight must be >= 1, linger_s >= 0")
        self._send_batch = send_batch
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._max_in_flight = max_in_flight
        self._orders: list[OrderT] = []
        self._futures: list[asyncio.Future[ResultT]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._linger_due = False
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def submit(self, order: OrderT) -> asyncio.Future[ResultT]:
        """Queue one order; the returned future resolves to its result (or the batch's RPC error)."""
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._orders.append(order)
        self._futures.append(future)
        if len(self._orders) >= self._max_batch:
            self._send_ready()
        elif self._timer is None and not self._linger_due:
            self._arm_timer()
        return future

    async def flush(self) -> None:
        """Send everything queued now and wait until every batch sent so far has its answer."""
        self._linger_due = True
        self._send_ready()
        while self._tasks or self._orders:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            self._linger_due = True
            self._send_ready()

    def _arm_timer(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self._linger_s, self._on_linger)

    def _on_linger(self) -> None:
        self._timer = None
        self._linger_due = True
        self._send_ready()

    def _send_ready(self) -> None:
        while self._orders and self._in_flight < self._max_in_flight and (
                self._linger_due or len(self._orders) >= self._max_batch):
            n = self._max_batch
            orders, futures = self._orders[:n], self._futures[:n]
            del self._orders[:n], self._futures[:n]
            self._in_flight += 1
            task = asyncio.get_running_loop().create_task(self._send(orders, futures))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not self._orders:
            self._linger_due = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._timer is None and not self._linger_due:
            self._arm_timer()

    async def _send(self, orders: list[OrderT], futures: list[asyncio.Future[ResultT]]) -> None:
        self.batches_sent += 1
        try:
            results = await self._send_batch(orders)
            if len(results) != len(futures):
                raise BatchResultCountError(f"{len(orders)} orders sent, {len(results)} results received")
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()
            raise
        except Exception as exc:  # the batch's failure is each of its orders' failure
            for future in futures:
                if not future.done():
                    future.set_exception(exc)
        else:
            for future, result in zip(futures, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            self._send_ready()
