"""CallOrder: one flow's calls are applied in the client's numbering, whatever order they arrive in."""

import asyncio
import time

import pytest

from fallback_grpc.call_order import CALL_SEQ_METADATA, CallOrder, CallOrders, parse_call_seq


async def apply_in_arrival_order(order, arrivals, applied):
    async def call(n):
        await order.turn(n)
        applied.append(n)
        order.release(n)

    tasks = []
    for n in arrivals:
        tasks.append(asyncio.ensure_future(call(n)))
        await asyncio.sleep(0)
    await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_calls_arriving_out_of_order_are_applied_in_their_numbered_order():
    applied = []
    await apply_in_arrival_order(CallOrder(wait_s=5), [3, 5, 2, 1, 4, 6], applied)
    assert applied == [1, 2, 3, 4, 5, 6]


async def test_a_lost_predecessor_delays_its_successor_by_at_most_the_wait():
    applied = []
    start = time.monotonic()
    await apply_in_arrival_order(CallOrder(wait_s=0.05), [2, 3], applied)  # call 1 never comes
    assert applied == [2, 3]
    assert time.monotonic() - start < 1.0


async def test_a_late_call_after_its_successors_went_ahead_is_not_held():
    order = CallOrder(wait_s=0.05)
    applied = []
    await apply_in_arrival_order(order, [2], applied)
    await apply_in_arrival_order(order, [1], applied)
    assert applied == [2, 1]
    assert order.next == 3


def test_flows_are_independent_and_bounded():
    orders = CallOrders(max_flows=2)
    a = orders.get("a")
    a.release(1)
    assert orders.get("b").next == 1 and orders.get("a") is a
    orders.get("c")  # forgets the least recently used flow, "b"
    assert orders.get("a") is a


@pytest.mark.parametrize("value, expected", [
    ("f00d:7", ("f00d", 7)),
    ("with:colon:12", ("with:colon", 12)),
])
def test_call_seq_metadata_parses(value, expected):
    assert parse_call_seq([("authorization", "x"), (CALL_SEQ_METADATA, value)]) == expected


@pytest.mark.parametrize("value", ["7", "f:0", "f:-1", "f:x", ":3", "f" * 65 + ":1"])
def test_malformed_call_seq_metadata_is_an_error_naming_the_key(value):
    error = parse_call_seq([(CALL_SEQ_METADATA, value)])
    assert isinstance(error, str) and error.startswith(CALL_SEQ_METADATA)


def test_absent_call_seq_metadata_means_unordered():
    assert parse_call_seq([("authorization", "x")]) is None
    assert parse_call_seq(None) is None
