"""Client flow bookkeeping for re-establishing after a server restart: where to resume the outbound
numbers, what to resend, what the server owes us, and a long gap asked for in chunks."""

import asyncio

from udprouter._generated.messages import NewOrderSingle
from udprouter.client.flows import MAX_RETRANSMIT_REQUEST, InboundFlow, OutboundFlow


def order(cl_ord_id: int) -> NewOrderSingle:
    return NewOrderSingle(cl_ord_id, 0, 100_000_000_000, 1, 1, 1, 2, 0)


def test_resume_point_is_the_first_unanswered_number_and_every_unanswered_datagram_is_resent():
    loop = asyncio.new_event_loop()
    try:
        out = OutboundFlow(resend_timeout=0.5, resend_not_applied=True)
        assert out.lowest_unanswered() == 1
        first = out.datagram([order(1), order(2)], loop, 0.0)
        second = out.datagram([order(3)], loop, 0.0)
        third = out.datagram([order(4)], loop, 0.0)
        out.answered(1, "ack")
        out.answered(2, "ack")
        assert out.lowest_unanswered() == 3
        out.answered(4, "ack")
        for _ in range(5):  # tries used up before the restart do not count afterwards
            out.due_resends(10.0)
        assert out.resend_all(100.0) == [second]
        assert out.due_resends(100.1) == [] and out.due_resends(100.6) == [second]
        assert first != second != third
        out.answered(3, "ack")
        assert out.lowest_unanswered() == out.next_seq == 5
    finally:
        loop.close()


def test_announced_server_number_opens_a_gap_that_is_requested_in_chunks():
    inbound = InboundFlow()
    inbound.expected = 11
    inbound.announce(11 + 2 * MAX_RETRANSMIT_REQUEST + 5)
    assert inbound.gap(1.0) == (11, MAX_RETRANSMIT_REQUEST)
    assert inbound.gap(1.1) is None  # outstanding request
    inbound.receive(11, ["m"] * MAX_RETRANSMIT_REQUEST)
    assert len(inbound.drain()) == MAX_RETRANSMIT_REQUEST
    # the next chunk at once, not after RETRANSMIT_WAIT_S
    assert inbound.gap(1.2) == (11 + MAX_RETRANSMIT_REQUEST, MAX_RETRANSMIT_REQUEST)
    inbound.announce(inbound.expected)  # an older announcement never lowers what is owed
    assert inbound.highest == 11 + 2 * MAX_RETRANSMIT_REQUEST + 5


def test_server_numbering_below_ours_means_it_lost_its_state_and_we_follow_it():
    inbound = InboundFlow()
    inbound.receive(1, ["a", "b", "c"])
    assert inbound.drain() == ["a", "b", "c"]
    inbound.receive(6, ["f"])  # buffered behind a gap when the server died
    inbound.announce(1)
    assert inbound.state_resets == 1 and inbound.gap(5.0) is None
    inbound.receive(1, ["new"])
    assert inbound.drain() == ["new"]


def test_frames_read_between_the_establishment_ack_and_its_handling_are_not_a_state_reset():
    """The ack resolves a future; the coroutine that handles it resumes later, and a sequenced
    datagram the server sent right after the ack can be read in between. Its frame is numbered from
    the ack's NextSeqNo, so the ack is judged against what we had when it arrived: judged against
    the later expected, it looked like a server that lost its state, and the frame came twice."""
    inbound = InboundFlow()
    inbound.receive(1, ["a", "b"])
    assert inbound.drain() == ["a", "b"]
    inbound.ack_arrived()  # EstablishmentAck NextSeqNo 3, read here
    inbound.receive(3, ["c"])  # a report the server sent right after it
    assert inbound.drain() == ["c"]
    inbound.announce(3)  # the establishing coroutine handles the ack now
    assert inbound.state_resets == 0 and inbound.expected == 4
    inbound.receive(3, ["c"])  # a retransmission of it is not delivered again
    assert inbound.drain() == [] and inbound.gap(1.0) is None
