"""A realistic, seeded order flow: adds near the touch, cancels of resting orders, crossing orders.

The flow is a list of OrderIntent values (what to send, not yet encoded) so that the same flow
drives the router and the echo ceiling. ClOrdIDs are assigned later by the plan, in send order;
a cancel refers to its target by the target's index in the flow.
"""

import random
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

TICK = 10_000_000  # 0.01 with exponent -9
REFERENCE_PRICE = 100_000_000_000  # 100.00
SECURITY_IDS = (1, 2, 3)


class IntentKind(IntEnum):
    ADD = 1  # resting limit order a few ticks away from the reference price
    CROSS = 2  # IOC limit order through the touch: trades against resting orders
    CANCEL = 3  # cancel of an earlier ADD of the same session


@dataclass(frozen=True, slots=True)
class OrderIntent:
    kind: IntentKind
    session: int
    security_id: int
    side: int  # 1 buy, 2 sell
    price: int
    qty: int
    target: int = -1  # CANCEL: flow index of the ADD it cancels


@dataclass(frozen=True, slots=True)
class FlowMix:
    add: float = 0.55
    cross: float = 0.15  # the rest are cancels
    max_resting_per_session: int = 256  # above this a cancel is forced, so books stay bounded


def build_order_flow(
    count: int, sessions: int = 1, seed: int = 1, mix: FlowMix = FlowMix()
) -> list[OrderIntent]:
    """count intents, round-robin over sessions, deterministic for a given seed."""
    rng = random.Random(seed)
    resting: list[deque[int]] = [deque() for _ in range(sessions)]
    flow: list[OrderIntent] = []
    for i in range(count):
        session = i % sessions
        live = resting[session]
        roll = rng.random()
        if live and (roll >= mix.add + mix.cross or len(live) >= mix.max_resting_per_session):
            flow.append(_cancel(flow, live.popleft()))
        elif roll < mix.add + mix.cross and roll >= mix.add:
            flow.append(_cross(rng, session))
        else:
            live.append(i)
            flow.append(_add(rng, session))
    return flow


def _add(rng: random.Random, session: int) -> OrderIntent:
    side = rng.choice((1, 2))
    ticks = rng.randint(1, 5)  # near the touch, never crossing the other side's adds
    price = REFERENCE_PRICE - ticks * TICK if side == 1 else REFERENCE_PRICE + ticks * TICK
    qty = rng.randint(1, 10) * 100
    return OrderIntent(IntentKind.ADD, session, rng.choice(SECURITY_IDS), side, price, qty)


def _cross(rng: random.Random, session: int) -> OrderIntent:
    side = rng.choice((1, 2))
    # Small IOC through the best few levels: trades, and leaves most resting orders live to cancel.
    price = REFERENCE_PRICE + 5 * TICK if side == 1 else REFERENCE_PRICE - 5 * TICK
    qty = rng.randint(1, 5) * 10
    return OrderIntent(IntentKind.CROSS, session, rng.choice(SECURITY_IDS), side, price, qty)


def _cancel(flow: list[OrderIntent], target: int) -> OrderIntent:
    add = flow[target]
    return OrderIntent(IntentKind.CANCEL, add.session, add.security_id, add.side, 0, 0, target)
