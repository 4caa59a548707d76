"""extract_recording: client sessions, their application datagrams, filters and recorded answers."""

import pytest
from test_replay_support import (
    Capture,
    ack,
    business_reject,
    cancel,
    establish,
    negotiate,
    not_applied,
    order,
    reject,
    sequenced,
)

from udprouter._generated.messages import EstablishmentAck, Sequence
from udprouter.codec import encode_message
from udprouter.replay.outcome import NOT_APPLIED, Outcome, OutcomeKind
from udprouter.replay.recording import PacketFilter, extract_recording

A, B = ("127.0.0.1", 41000), ("127.0.0.1", 42000)
SID_A, SID_B = bytes([0xA] * 16), bytes([0xB] * 16)


def two_sessions():
    cap = Capture()
    cap.client(A, negotiate(SID_A)).client(A, establish(SID_A))
    cap.server(A, encode_message(EstablishmentAck(SID_A, 0, 1000, 1)))
    cap.client(B, negotiate(SID_B)).client(B, establish(SID_B))
    cap.client(A, sequenced(1, order(10), order(11)))
    cap.client(B, sequenced(1, order(500)))
    cap.server(A, sequenced(1, ack(10), reject(11)))
    cap.client(A, sequenced(3, cancel(12, 10)))
    cap.server(B, sequenced(1, ack(500)))
    return cap


def test_sessions_are_named_by_session_id_and_keep_only_application_messages():
    recording = extract_recording(two_sessions().datagrams)
    assert list(recording.sessions) == [SID_A.hex(), SID_B.hex()]
    a = recording.sessions[SID_A.hex()]
    assert [d.seq_no for d in a.datagrams] == [1, 3]
    assert [[m.cl_ord_id for m in d.messages] for d in a.datagrams] == [[10, 11], [12]]
    assert [d.session_key for d in recording.datagrams] == [SID_A.hex(), SID_B.hex(), SID_A.hex()]
    assert all(m.__class__ is not Sequence for d in recording.datagrams for m in d.messages)


def test_recorded_answers_are_attached_to_the_recorded_cl_ord_ids():
    recording = extract_recording(two_sessions().datagrams)
    assert recording.sessions[SID_A.hex()].answers == {
        10: Outcome(OutcomeKind.ACKNOWLEDGED, "ExecutionReportNew"),
        11: Outcome(OutcomeKind.REJECTED, "OrdRejReason.UnknownSymbol"),
    }
    assert recording.sessions[SID_B.hex()].answers == {
        500: Outcome(OutcomeKind.ACKNOWLEDGED, "ExecutionReportNew")
    }


def test_business_rejects_and_not_applied_map_through_sequence_numbers():
    cap = (
        Capture()
        .client(A, establish(SID_A))
        .client(A, sequenced(1, order(1), order(2)))
        .client(A, sequenced(5, order(3), order(4)))
    )
    cap.server(A, sequenced(1, business_reject(2), not_applied(5, 1)))
    answers = extract_recording(cap.datagrams).sessions[SID_A.hex()].answers
    assert answers[2] == Outcome(OutcomeKind.REJECTED, "BusinessRejectReason.Throttled")
    assert answers[3] == NOT_APPLIED
    assert 1 not in answers and 4 not in answers


def test_first_recorded_answer_wins():
    cap = Capture().client(A, establish(SID_A)).client(A, sequenced(1, order(1)))
    cap.server(A, sequenced(1, ack(1))).server(A, sequenced(2, reject(1)))
    assert extract_recording(cap.datagrams).sessions[SID_A.hex()].answers[1].kind is OutcomeKind.ACKNOWLEDGED


def test_resent_datagram_with_same_sequence_number_is_replayed_once():
    cap = Capture().client(A, establish(SID_A))
    cap.client(A, sequenced(1, order(1))).client(A, sequenced(1, order(1))).client(A, sequenced(2, order(2)))
    recording = extract_recording(cap.datagrams)
    assert [d.seq_no for d in recording.datagrams] == [1, 2]
    assert recording.skipped["resent datagram (duplicate sequence number)"] == 1


def test_session_filter_keeps_one_session_and_accepts_uuid_spelling():
    wanted = "0b0b0b0b-0b0b-0b0b-0b0b-0b0b0b0b0b0b"
    recording = extract_recording(two_sessions().datagrams, PacketFilter(session=wanted.upper()))
    assert list(recording.sessions) == [SID_B.hex()]
    assert recording.skipped["other session"] == 2
    assert list(extract_recording(two_sessions().datagrams, PacketFilter(session="all")).sessions) == [
        SID_A.hex(),
        SID_B.hex(),
    ]


def test_port_filters_select_client_datagrams_and_their_answers():
    cap = two_sessions().client(("127.0.0.1", 43000), sequenced(1, order(7)))
    cap.add(A, ("127.0.0.1", 9999), sequenced(4, order(13)))
    by_dst = extract_recording(cap.datagrams, PacketFilter(dst_port=9000))
    assert len(by_dst.datagrams) == 4
    assert by_dst.sessions[SID_A.hex()].answers[10].kind is OutcomeKind.ACKNOWLEDGED
    by_src = extract_recording(cap.datagrams, PacketFilter(src_port=43000))
    assert list(by_src.sessions) == ["127.0.0.1:43000"]


def test_a_session_whose_handshake_was_not_captured_is_named_by_address():
    cap = Capture().client(A, sequenced(7, order(70)))
    recording = extract_recording(cap.datagrams)
    assert list(recording.sessions) == ["127.0.0.1:41000"]
    assert recording.datagrams[0].seq_no == 7


def test_undecodable_frames_and_unsequenced_orders_are_counted_not_replayed():
    cap = Capture().client(A, establish(SID_A))
    cap.client(A, sequenced(1, order(1)) + b"\x00\x00\x00\x09\xeb\x50zzz")
    cap.client(A, encode_message(order(2)))
    recording = extract_recording(cap.datagrams)
    assert [[m.cl_ord_id for m in d.messages] for d in recording.datagrams] == [[1]]
    assert recording.skipped["undecodable frames"] == 1
    assert recording.skipped["application messages without a leading Sequence"] == 1


def test_invalid_session_filter_is_refused():
    with pytest.raises(ValueError):
        PacketFilter(session="not-hex").session_hex()
