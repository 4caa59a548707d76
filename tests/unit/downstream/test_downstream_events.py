"""The downstream event frame and message: the replay's 80-byte frame starts with udr_event exactly as
the router reads it (ring_abi.h, reports.EVENT_LAYOUT), the committed protobuf module is what the
.proto makes, and one frame becomes the documented subject, headers and payload."""

import struct

from tools.gen.proto_stubs import main as proto_stubs
from udprouter.downstream.events import FRAME, decode, encode
from udprouter.downstream.store import order_row
from udprouter.reports import EVENT_LAYOUT


def test_frame_is_udr_event_then_index_account_and_receive_time():
    assert FRAME.format.startswith(EVENT_LAYOUT.format)
    assert struct.calcsize("<" + FRAME.format[len(EVENT_LAYOUT.format):]) == 16
    assert FRAME.size == EVENT_LAYOUT.size + 16 == 80


def test_committed_module_matches_the_proto():
    assert proto_stubs(["downstream", "--check"]) == 0


def test_a_trade_frame_becomes_subject_headers_and_payload():
    # command 42's third event: a trade of 5 @ 100.01 to session 7 (account 3) on SecurityID 2
    frame = FRAME.pack(42, 1001, 0, 40, 100_010_000_000, 7, 2, 5, 10, 5, 2, 1, 0, 3, 2, 3, 123_456)
    out = encode(9, frame)
    assert out.subject == "udprouter.exec.3.2"
    assert out.headers == {"Nats-Msg-Id": "9-42-2", "Udr-Engine": "9", "Udr-Command-Seq": "42",
                           "Udr-Event-Index": "2"}
    event = decode(out.payload)
    assert (event.engine_id, event.command_seq, event.event_index, event.recv_time_ns) == (9, 42, 2, 123_456)
    x = event.execution
    assert (x.kind, x.session_id, x.account, x.security_id, x.cl_ord_id, x.order_id, x.price, x.qty,
            x.leaves_qty, x.cum_qty, x.side, x.aggressor, x.last_of_command) == (
        2, 7, 3, 2, 1001, 40, 100_010_000_000, 5, 10, 5, 1, True, True)
    # the order's row keeps its own price and ClOrdID: a trade's price is LastPx
    assert order_row(event) == (9, 40, 3, 7, 2, 1, None, None, None, 10, 5, "partially_filled", 42, 2)


def test_a_rejected_order_takes_its_command_seq_as_order_id():
    frame = FRAME.pack(50, 77, 0, 0, 99_000_000_000, 4, 1, 3, 0, 0, 5, 2, 11, 1, 0, 1, 0)
    row = order_row(decode(encode(1, frame).payload))
    assert row[1] == 50 and row[11] == "rejected"


def test_bad_options_exit_2_with_one_line_naming_them(capsys, tmp_path):
    from udprouter.downstream import publisher, store

    assert publisher.main(["--window", "0"]) == 2
    assert capsys.readouterr().err == "udprouter-publish: --window: expected >= 1, got 0\n"
    bad_config = tmp_path / "router.toml"
    bad_config.write_text('[journal]\ndurability = "sometimes"\n')
    assert publisher.main(["--config", str(bad_config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "durability" in err
    assert store.main(["--nats", " , ", "--dsn", "postgresql://x"]) == 2
    assert capsys.readouterr().err == "udprouter-store: --nats: expected at least one server URL\n"


def account_updated(control: int, value: int, *, refused=False, query=False, canceled=0) -> bytes:
    # ring_abi.h ACCOUNT_UPDATED from the Admin API (session 0): orig_cl_ord_id = the account acted on
    flags = 1 | (8 if refused else 0) | (0x80 if query else 0)
    return FRAME.pack(60, 5, 7, 0, value, 0, 0, canceled, 0, 0, 9, 0, control, flags, 0, 7, 1_000)


def test_an_account_control_becomes_an_admin_action_on_the_account_admin_subject():
    out = encode(1, account_updated(6, 1, canceled=3))
    assert out.subject == "udprouter.admin.7" and out.headers["Nats-Msg-Id"] == "1-60-0"
    event = decode(out.payload)
    assert event.WhichOneof("body") == "admin_action"
    a = event.admin_action
    assert (a.account, a.control, a.value, a.refused, a.orders_canceled, a.session_id, a.request_id) == (
        7, 6, 1, False, 3, 0, 5)
    assert decode(encode(1, account_updated(1, -1, refused=True)).payload).admin_action.refused


def test_reads_are_left_out_and_unknown_kinds_refused():
    assert encode(1, account_updated(6, 0, query=True)) is None
    status = FRAME.pack(61, 5, 0, 40, 1, 3, 1, 5, 5, 0, 8, 1, 0, 1, 0, 1, 0)
    assert encode(1, status) is None
    import pytest

    with pytest.raises(ValueError, match="unknown kind 42"):
        encode(1, FRAME.pack(61, 5, 0, 40, 1, 3, 1, 5, 5, 0, 42, 1, 0, 1, 0, 1, 0))


def test_a_mass_action_report_and_the_store_rows_by_body():
    from udprouter.downstream.store import rows

    report = FRAME.pack(62, 0, 0, 0, 0, 0, 2, 4, 0, 0, 7, 0, 0, 0, 0, 3, 5)
    out = encode(1, report)
    assert out.subject == "udprouter.admin.3"
    m = decode(out.payload).mass_action
    assert (m.session_id, m.account, m.security_id, m.orders_canceled, m.refused) == (0, 3, 2, 4, False)
    admin_event = decode(encode(1, account_updated(2, 500)).payload)
    executions, trades, orders, admin = rows([(10, decode(out.payload)), (11, admin_event)])
    assert executions == trades == orders == []
    assert admin == [(1, 60, 0, 7, 2, 500, False, 0, 0, 1_000, 11)]
