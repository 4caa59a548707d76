"""Property tests of the two FIXP flows under random loss, duplication and reordering (hypothesis).

Server, Idempotent inbound (ServerSession.accept_inbound): whatever order and however often the
client's datagrams arrive, every client sequence number is applied at most once, a number declared
NotApplied is never applied later, and every number below the final expectation is exactly one of
applied or NotApplied.

Client, Recoverable inbound (InboundFlow): whatever the server's datagrams suffer, answering each
RetransmitRequest the flow asks for (itself over the same lossy path) ends with every server
message delivered exactly once and in order.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from udprouter._generated.messages import NotApplied
from udprouter.client.flows import RETRANSMIT_WAIT_S, InboundFlow
from udprouter.codec import decode_frames
from udprouter.config import KeyConfig
from udprouter.server_session import ServerSession

KEY = KeyConfig(key_id="k", secret="s", account=1)


def numbered(sizes: list[int]) -> list[tuple[int, int]]:
    """(first_seq, count) of consecutive datagrams of the given sizes (0 = heartbeat)."""
    out, seq = [], 1
    for size in sizes:
        out.append((seq, size))
        seq += size
    return out


@st.composite
def deliveries(draw, max_datagrams: int = 30):
    """Datagrams, and the order in which copies of them arrive (each 0 to 3 times)."""
    sizes = draw(st.lists(st.integers(0, 5), min_size=1, max_size=max_datagrams))
    datagrams = numbered(sizes)
    copies = [i for i in range(len(datagrams)) for _ in range(draw(st.integers(0, 3)))]
    return datagrams, draw(st.permutations(copies))


@settings(max_examples=150, deadline=None)
@given(deliveries())
def test_server_applies_each_number_at_most_once_and_never_after_not_applied(case):
    datagrams, arrivals = case
    session = ServerSession(b"\x01" * 16, 1, KEY, ("127.0.0.1", 1), 1024)
    applied: list[int] = []
    declared: set[int] = set()
    for i in arrivals:
        first, count = datagrams[i]
        skip = session.accept_inbound(first, count)
        for frame in session.pending:
            (na,) = decode_frames(frame)
            assert isinstance(na, NotApplied)
            declared.update(range(na.from_seq_no, na.from_seq_no + na.count))
        session.pending.clear()
        new = list(range(first + skip, first + count))
        assert not declared.intersection(new)
        applied += new
    assert len(applied) == len(set(applied))
    assert set(applied) | declared == set(range(1, session.next_inbound))
    assert not set(applied) & declared


@st.composite
def lossy_paths(draw):
    """Server datagram sizes and a fate per transmission: 0 lost, 1 delivered, 2 duplicated, 3 late."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=25))
    fates = draw(st.lists(st.sampled_from((0, 1, 1, 1, 2, 3)), min_size=200, max_size=200))
    return sizes, fates


@settings(max_examples=150, deadline=None)
@given(lossy_paths())
def test_client_delivers_every_server_message_once_in_order_through_loss_and_retransmission(case):
    sizes, fates = case
    datagrams = numbered(sizes)
    last = datagrams[-1][0] + datagrams[-1][1]
    fate = iter(fates * 50)
    flow = InboundFlow()
    late: list[tuple[int, int]] = []
    delivered: list[int] = []
    now = 0.0

    lost_in_a_row = [0]

    def transmit(first: int, count: int) -> None:
        f = next(fate)
        if f == 0:  # a path that loses everything forever recovers nothing: at most 3 in a row
            lost_in_a_row[0] += 1
            f = 0 if lost_in_a_row[0] <= 3 else 1
        if f != 0:
            lost_in_a_row[0] = 0
        if f == 3:
            late.append((first, count))  # arrives after the next transmission
            return
        for _ in range({0: 0, 1: 1, 2: 2}[f]):
            arrive(first, count)
        while late and f != 0:
            arrive(*late.pop(0))

    def arrive(first: int, count: int) -> None:
        flow.receive(first, [f"m{first + k}" for k in range(count)])
        delivered.extend(int(m[1:]) for m in flow.drain())

    for first, count in datagrams:
        transmit(first, count)
    for _ in range(2000):  # the server's heartbeats announce the next number; gaps are re-asked
        if len(delivered) == last - 1:
            break
        now += RETRANSMIT_WAIT_S
        transmit(last, 0)
        gap = flow.gap(now)
        if gap is not None:
            start, count = gap
            transmit(start, count)
    assert delivered == list(range(1, last))
