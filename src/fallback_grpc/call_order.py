"""CallOrder: applies one client flow's calls in the order the client numbered them.

gRPC gives no order between concurrent calls: a server handles the streams of one connection in
whatever order they come up, so with several batches in flight a later batch can reach OrderEntry
first, and the earlier batch's lower ClOrdIDs would then be refused as duplicates. A client that
keeps several calls in flight therefore numbers them (metadata ``udprouter-call-seq: <flow>:<n>``,
n = 1, 2, ... per flow id it picks at random); a call whose predecessors have not been applied
yet waits for them, at most wait_s (a predecessor the client gave up on must not stall the flow).
Only the submit phase is ordered: the calls still wait for the engine's answers in parallel.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

CALL_SEQ_METADATA = "udprouter-call-seq"
DEFAULT_WAIT_S = 0.5
MAX_FLOWS = 1024


class CallOrder:
    __slots__ = ("next", "_waiters", "wait_s")

    def __init__(self, wait_s: float = DEFAULT_WAIT_S) -> None:
        self.next = 1  # the call number applied next
        self._waiters: dict[int, asyncio.Future[None]] = {}
        self.wait_s = wait_s

    async def turn(self, n: int) -> None:
        """Returns once every call numbered below n was applied, or after wait_s."""
        if n <= self.next:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[n] = waiter
        try:
            await asyncio.wait_for(waiter, self.wait_s)
        except TimeoutError:
            pass  # a predecessor was lost or abandoned: go on; if it comes later it goes at once
        finally:
            self._waiters.pop(n, None)

    def release(self, n: int) -> None:
        """Call n was applied (or refused): wake its successor."""
        if n >= self.next:
            self.next = n + 1
        waiter = self._waiters.get(self.next)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class CallOrders:
    """The CallOrder of each flow of one session, the oldest forgotten beyond max_flows."""

    def __init__(self, max_flows: int = MAX_FLOWS, wait_s: float = DEFAULT_WAIT_S) -> None:
        self._flows: OrderedDict[str, CallOrder] = OrderedDict()
        self._max_flows = max_flows
        self._wait_s = wait_s

    def get(self, flow: str) -> CallOrder:
        order = self._flows.get(flow)
        if order is None:
            if len(self._flows) >= self._max_flows:
                self._flows.popitem(last=False)
            order = self._flows[flow] = CallOrder(self._wait_s)
        else:
            self._flows.move_to_end(flow)
        return order


def parse_call_seq(metadata) -> tuple[str, int] | None | str:
    """(flow, n) from the call's metadata; None when absent; an error text when malformed."""
    for name, value in metadata or ():
        if name == CALL_SEQ_METADATA:
            flow, sep, number = str(value).rpartition(":")
            if not sep or not flow or len(flow) > 64 or not number.isdigit() or int(number) == 0:
                return f"{CALL_SEQ_METADATA}: expected '<flow>:<n>' with n >= 1, got {value!r}"
            return flow, int(number)
    return None
