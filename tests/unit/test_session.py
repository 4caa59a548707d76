"""FIXP server session state machine: negotiation, establishment, sequencing, retransmission, keepalive."""

import pytest

from udprouter._generated.messages import (
    Establish,
    EstablishmentAck,
    EstablishmentReject,
    EstablishmentRejectCode,
    FlowType,
    Negotiate,
    NegotiationReject,
    NegotiationRejectCode,
    NegotiationResponse,
    NotApplied,
    Retransmission,
    RetransmitReject,
    RetransmitRejectCode,
    RetransmitRequest,
    Sequence,
    Terminate,
    TerminationCode,
)
from udprouter.auth import Authenticator, sign
from udprouter.codec import decode_frames, encode_message
from udprouter.config import KeyConfig, SessionConfig
from udprouter.datagram_mac import DatagramMac, datagram_key
from udprouter.durability.router_log import CodRecord
from udprouter.durability.session_store import SessionStore
from udprouter.server_session import (
    MAX_DATAGRAM,
    ServerSession,
    SessionState,
    not_applied_frame,
    sequence_frame,
)
from udprouter.session import KEEPALIVE_LAPSE, SessionEvent, SessionLayer

NOW = 1_800_000_000_000_000_000
ADDR = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 40001)
UUID = bytes(range(16))
KEYS = [KeyConfig(key_id="demo", secret="demo-secret", account=1),
        KeyConfig(key_id="demo2", secret="demo2-secret", account=2)]


@pytest.fixture
def layer(tmp_path):
    config = SessionConfig(retransmit_buffer=8, retransmit_max_count=5, reject_rate_per_s=1.0)
    store = SessionStore(tmp_path)
    yield SessionLayer(config, Authenticator(KEYS, 5_000_000_000), store)
    store.close()


def negotiate(ts=NOW, uuid=UUID, key="demo", secret="demo-secret", flow=FlowType.Idempotent):
    return Negotiate(uuid, ts, flow, sign(secret, "Negotiate", uuid, ts, key))


def establish(ts=NOW + 1, uuid=UUID, key="demo", secret="demo-secret", keepalive=1000, next_seq=1, cod=0,
              cod_window_ms=0):
    creds = sign(secret, "Establish", uuid, ts, key)
    return Establish(uuid, ts, keepalive, next_seq, cod, cod_window_ms, creds)


def only(replies):
    (reply,) = replies
    (msg,) = decode_frames(reply)
    return msg


def connect(layer, addr=ADDR, uuid=UUID):
    replies, _ = layer.on_negotiate(addr, negotiate(uuid=uuid), 200, NOW)
    assert isinstance(only(replies), NegotiationResponse)
    replies, event = layer.on_establish(addr, establish(uuid=uuid), 200, NOW + 1)
    assert isinstance(only(replies), EstablishmentAck)
    assert event is SessionEvent.ESTABLISHED
    return layer.by_addr[addr]


def test_negotiate_with_valid_credentials_is_answered_with_response(layer):
    replies, _ = layer.on_negotiate(ADDR, negotiate(), 200, NOW)
    msg = only(replies)
    assert isinstance(msg, NegotiationResponse)
    assert msg.session_id == UUID and msg.request_timestamp == NOW and msg.server_flow == FlowType.Recoverable
    assert layer.by_addr[ADDR].session_id == 1


def test_negotiate_with_bad_signature_is_rejected_credentials(layer):
    replies, _ = layer.on_negotiate(ADDR, negotiate(secret="wrong"), 200, NOW)
    msg = only(replies)
    assert isinstance(msg, NegotiationReject) and msg.code == NegotiationRejectCode.Credentials
    assert ADDR not in layer.by_addr


def test_rejects_to_one_source_are_rate_limited_and_never_larger_than_the_request(layer):
    first, _ = layer.on_negotiate(ADDR, negotiate(secret="wrong"), 200, NOW)
    second, _ = layer.on_negotiate(ADDR, negotiate(ts=NOW + 5, secret="wrong"), 200, NOW + 5)
    assert len(first) == 1 and second == []
    tiny, _ = layer.on_negotiate(OTHER, negotiate(secret="wrong"), 10, NOW)
    assert tiny == []


def test_non_idempotent_client_flow_is_rejected(layer):
    replies, _ = layer.on_negotiate(ADDR, negotiate(flow=FlowType.Recoverable), 200, NOW)
    assert only(replies).code == NegotiationRejectCode.FlowTypeNotSupported


def test_repeated_negotiate_from_same_address_is_answered_again(layer):
    layer.on_negotiate(ADDR, negotiate(), 200, NOW)
    replies, _ = layer.on_negotiate(ADDR, negotiate(), 200, NOW + 10)
    assert isinstance(only(replies), NegotiationResponse)


def test_replayed_negotiate_from_another_address_is_refused(layer):
    layer.on_negotiate(ADDR, negotiate(), 200, NOW)
    replies, _ = layer.on_negotiate(OTHER, negotiate(), 200, NOW + 10)
    assert isinstance(only(replies), NegotiationReject)
    assert layer.by_addr[ADDR].addr == ADDR


def test_session_id_of_another_key_is_a_duplicate(layer):
    connect(layer)
    other_key = negotiate(ts=NOW + 9, key="demo2", secret="demo2-secret")
    replies, _ = layer.on_negotiate(OTHER, other_key, 200, NOW)
    assert only(replies).code == NegotiationRejectCode.DuplicateId


def test_establish_without_negotiate_is_unnegotiated(layer):
    replies, _ = layer.on_establish(ADDR, establish(), 200, NOW)
    msg = only(replies)
    assert isinstance(msg, EstablishmentReject) and msg.code == EstablishmentRejectCode.Unnegotiated


def test_establish_from_another_address_is_refused(layer):
    layer.on_negotiate(ADDR, negotiate(), 200, NOW)
    replies, _ = layer.on_establish(OTHER, establish(), 200, NOW + 1)
    assert isinstance(only(replies), EstablishmentReject)
    assert layer.by_addr[ADDR].state is SessionState.NEGOTIATED


def test_establish_keepalive_out_of_range_is_rejected(layer):
    layer.on_negotiate(ADDR, negotiate(), 200, NOW)
    replies, _ = layer.on_establish(ADDR, establish(keepalive=1), 200, NOW + 1)
    assert only(replies).code == EstablishmentRejectCode.KeepaliveInterval


def test_establishment_ack_carries_server_next_seq_and_repeat_is_answered(layer):
    session = connect(layer)
    session.pending.append(sequence_frame(99))
    session.flush()
    replies, event = layer.on_establish(ADDR, establish(), 200, NOW + 20)
    msg = only(replies)
    assert isinstance(msg, EstablishmentAck) and msg.next_seq_no == 2
    assert event is SessionEvent.NONE


def _signed_under(key: bytes) -> tuple[bytes, bytes]:
    """A datagram body and the same body signed under key, as a client sends it (SPEC.md 4.9)."""
    body = encode_message(Sequence(1))
    return body, DatagramMac(key).sign(body)


def test_accepted_establish_derives_the_datagram_key_and_a_repeat_keeps_it(layer):
    session = connect(layer)
    key = datagram_key("demo-secret", UUID, NOW + 1, "demo")  # SPEC.md 4.9, on the client's side
    body, signed = _signed_under(key)
    assert session.authenticate(signed) == body and session.fp.authenticate == 1
    assert session.authenticate(body) is None  # no MAC frame: refused
    layer.on_establish(ADDR, establish(), 200, NOW + 20)  # the same Establish again: answered, same key
    assert session.authenticate(signed) == body


def test_a_new_establish_makes_a_new_datagram_key(layer):
    session = connect(layer)
    body, first = _signed_under(datagram_key("demo-secret", UUID, NOW + 1, "demo"))
    replies, _ = layer.on_establish(ADDR, establish(ts=NOW + 30), 200, NOW + 30)
    assert isinstance(only(replies), EstablishmentAck)
    assert session.authenticate(first) is None
    _, second = _signed_under(datagram_key("demo-secret", UUID, NOW + 30, "demo"))
    assert session.authenticate(second) == body


def test_refused_establish_leaves_the_key_alone(layer):
    session = connect(layer)
    body, signed = _signed_under(datagram_key("demo-secret", UUID, NOW + 1, "demo"))
    layer.on_establish(ADDR, establish(ts=NOW + 30, secret="wrong"), 200, NOW + 30)
    assert session.authenticate(signed) == body


def test_session_ids_are_durable_across_stores(tmp_path):
    store = SessionStore(tmp_path)
    assert store.assign(b"a" * 16, "demo") == 1
    assert store.assign(b"b" * 16, "demo") == 2
    assert store.assign(b"a" * 16, "demo") == 1
    store.close()
    again = SessionStore(tmp_path)
    assert again.lookup(b"b" * 16) == (2, "demo")
    assert again.assign(b"c" * 16, "demo2") == 3
    again.close()


def test_torn_last_line_of_the_store_is_ignored(tmp_path):
    store = SessionStore(tmp_path)
    store.assign(b"a" * 16, "demo")
    store.close()
    with open(tmp_path / "sessions.log", "a") as f:
        f.write("2 6262")
    again = SessionStore(tmp_path)
    assert len(again) == 1
    again.close()


def _session():
    return ServerSession(UUID, 7, KEYS[0], ADDR, retransmit_capacity=4)


def test_in_order_sequence_applies_everything():
    s = _session()
    assert s.accept_inbound(1, 3) == 0
    assert s.next_inbound == 4 and s.pending == []


def test_duplicate_datagram_is_dropped_silently():
    s = _session()
    s.accept_inbound(1, 3)
    assert s.accept_inbound(1, 3) == 3
    assert s.pending == []


def test_overlapping_datagram_skips_only_the_applied_prefix():
    s = _session()
    s.accept_inbound(1, 3)
    assert s.accept_inbound(2, 4) == 2
    assert s.next_inbound == 6


def test_gap_queues_not_applied_and_late_numbers_are_never_applied():
    s = _session()
    s.accept_inbound(1, 2)
    assert s.accept_inbound(6, 1) == 0
    (msg,) = decode_frames(s.pending[0])
    assert msg == NotApplied(3, 3)
    assert s.accept_inbound(3, 3) == 3  # the late datagram: all its numbers were declared NotApplied


def test_flush_numbers_frames_and_packs_datagrams_starting_with_sequence():
    s = _session()
    frames = [not_applied_frame(i, 1) for i in range(1, 70)]
    s.pending.extend(frames)
    datagrams = s.flush()
    seq = 1
    for dgram in datagrams:
        assert len(dgram) <= MAX_DATAGRAM
        msgs = decode_frames(dgram)
        assert msgs[0] == Sequence(seq)
        seq += len(msgs) - 1
    assert seq == 70 and s.next_outbound == 70


def test_sequence_and_not_applied_frames_match_the_codec():
    assert sequence_frame(42) == encode_message(Sequence(42))
    assert not_applied_frame(5, 2) == encode_message(NotApplied(5, 2))


def _sent(layer):
    session = connect(layer)
    session.pending.extend(not_applied_frame(100 + i, 1) for i in range(10))
    session.flush()
    return session


def test_retransmit_request_is_answered_with_retransmission_and_the_kept_messages(layer):
    session = _sent(layer)
    replies = layer.on_retransmit_request(session, RetransmitRequest(UUID, NOW, 8, 2), NOW)
    header = only(replies[:1])
    assert header == Retransmission(UUID, NOW, 8, 2)
    msgs = decode_frames(replies[1])
    assert msgs == [Sequence(8), NotApplied(107, 1), NotApplied(108, 1)]


def test_retransmit_beyond_the_kept_range_is_out_of_range(layer):
    session = _sent(layer)  # capacity 8: numbers 3..10 kept
    replies = layer.on_retransmit_request(session, RetransmitRequest(UUID, NOW, 1, 2), NOW)
    msg = only(replies)
    assert isinstance(msg, RetransmitReject) and msg.code == RetransmitRejectCode.OutOfRange
    replies = layer.on_retransmit_request(session, RetransmitRequest(UUID, NOW, 9, 5), NOW)
    assert only(replies).code == RetransmitRejectCode.OutOfRange


def test_retransmit_of_too_many_is_request_limit_exceeded(layer):
    session = _sent(layer)
    replies = layer.on_retransmit_request(session, RetransmitRequest(UUID, NOW, 3, 6), NOW)
    assert only(replies).code == RetransmitRejectCode.RequestLimitExceeded


def test_client_terminate_is_answered_and_unbinds_the_address(layer):
    session = connect(layer)
    replies, event = layer.on_terminate(session, Terminate(UUID, TerminationCode.Finished, ""))
    assert only(replies) == Terminate(UUID, TerminationCode.Finished, "")
    assert event is SessionEvent.TERMINATED and ADDR not in layer.by_addr


def test_terminated_session_can_negotiate_again_and_keeps_its_session_id(layer):
    session = connect(layer)
    layer.on_terminate(session, Terminate(UUID, TerminationCode.Finished, ""))
    replies, _ = layer.on_negotiate(OTHER, negotiate(ts=NOW + 50), 200, NOW + 50)
    assert isinstance(only(replies), NegotiationResponse)
    assert layer.by_addr[OTHER].session_id == session.session_id


def test_idle_session_gets_a_heartbeat_and_silent_peer_is_terminated(layer):
    session = connect(layer)
    interval = 1000 * 1_000_000
    out = layer.on_timer(NOW + 1 + interval)
    assert [decode_frames(d) for _, d, _ in out] == [[Sequence(1)]]
    session.last_send_ns = NOW + 1 + KEEPALIVE_LAPSE * interval
    out = layer.on_timer(NOW + 2 + KEEPALIVE_LAPSE * interval)
    (msg,) = decode_frames(out[0][1])
    assert isinstance(msg, Terminate) and msg.code == TerminationCode.UnspecifiedError
    assert session.state is SessionState.TERMINATED


def cod_connect(layer, cod, window_ms, ts=NOW + 1):
    layer.on_negotiate(ADDR, negotiate(ts=ts - 1), 200, ts - 1)
    replies, _ = layer.on_establish(ADDR, establish(ts=ts, cod=cod, cod_window_ms=window_ms), 200, ts)
    assert isinstance(only(replies), EstablishmentAck)
    return layer.by_uuid[UUID]


def test_cancel_on_terminate_is_due_after_its_window_and_only_once(layer):
    session = cod_connect(layer, cod=2, window_ms=50)
    layer.on_terminate(session, Terminate(UUID, TerminationCode.Finished, ""), NOW + 10)
    assert layer.cod_due(NOW + 10 + 49_999_999) == []
    assert layer.cod_due(NOW + 10 + 50_000_000) == [session]
    assert layer.cod_due(NOW + 10 + 90_000_000) == []


def test_cancel_on_silence_is_armed_when_the_lapse_terminates_the_session(layer):
    session = cod_connect(layer, cod=1, window_ms=0)
    interval = 1000 * 1_000_000
    session.last_send_ns = NOW + 2 + KEEPALIVE_LAPSE * interval
    layer.on_timer(NOW + 2 + KEEPALIVE_LAPSE * interval)
    assert layer.cod_due(NOW + 2 + KEEPALIVE_LAPSE * interval) == [session]


def test_each_type_arms_only_on_its_own_event(layer):
    session = cod_connect(layer, cod=1, window_ms=0)
    layer.on_terminate(session, Terminate(UUID, TerminationCode.Finished, ""), NOW + 10)
    assert layer.cod_due(NOW + 10) == []  # silence only: a Terminate cancels nothing


def test_an_establish_within_the_window_disarms_it(layer):
    session = cod_connect(layer, cod=3, window_ms=1000)
    layer.on_terminate(session, Terminate(UUID, TerminationCode.Finished, ""), NOW + 10)
    cod_connect(layer, cod=3, window_ms=1000, ts=NOW + 100)
    assert layer.cod_due(NOW + 10 + 2_000_000_000) == []


def test_a_restart_keeps_an_armed_cancel_and_treats_a_session_established_with_silence_as_silent(layer):
    def restored(session_id, cod_type, established, due_ns=0):
        session = ServerSession(bytes([session_id]) * 16, session_id, KEYS[0], None, 8)
        session.state = SessionState.TERMINATED  # as ServerSession.restore leaves it
        layer.restore_cod(session, CodRecord(session_id, cod_type, 500, 100, established, due_ns), NOW)
        return session

    armed = restored(1, 2, False, due_ns=NOW + 7)
    passed = restored(2, 3, False, due_ns=NOW - 10**9)  # fell due while the router was down: at once
    silent = restored(3, 1, True)
    restored(4, 2, True)  # cancel on Terminate only: a crash is no Terminate, its orders stay
    restored(5, 1, False)  # terminated without a cancel armed: nothing to do
    assert layer.cod_due(NOW) == [passed]
    assert layer.cod_due(NOW + 7) == [armed]
    silent_due = NOW + (KEEPALIVE_LAPSE * 100 + 500) * 1_000_000
    assert layer.cod_due(silent_due - 1) == []
    assert layer.cod_due(silent_due) == [silent]
    assert silent.cod_type == 1 and silent.cod_window_ms == 500 and silent.keepalive_ms == 100
    assert layer.cod_due(NOW + 10**12) == []


def test_the_window_is_bounded_by_the_config(tmp_path):
    store = SessionStore(tmp_path)
    try:
        layer = SessionLayer(SessionConfig(cod_timeout_window_max_ms=100), Authenticator(KEYS, 5_000_000_000),
                             store)
        session = cod_connect(layer, cod=2, window_ms=3_600_000)
        assert session.cod_window_ms == 100
    finally:
        store.close()


def test_logins_over_the_budget_are_dropped_before_any_signature_check(tmp_path):
    config = SessionConfig(login_rate_per_s=10.0)
    store = SessionStore(tmp_path)
    layer = SessionLayer(config, Authenticator(KEYS, 5_000_000_000), store)
    try:
        answered = [layer.on_negotiate(("127.0.0.1", 50000 + i), negotiate(uuid=bytes([i]) * 16,
                                                                            secret="wrong"), 200, NOW)[0]
                    for i in range(10)]
        assert sum(1 for replies in answered if replies) == 1  # burst = rate / 10
        assert layer.logins_dropped == 9
        # A second later the budget has refilled: a valid login goes through.
        replies, _ = layer.on_negotiate(ADDR, negotiate(ts=NOW + 10**9), 200, NOW + 10**9)
        assert isinstance(only(replies), NegotiationResponse)
    finally:
        store.close()
