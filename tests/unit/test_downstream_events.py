"""The downstream event frame and message: the replay's 80-byte frame starts with udr_event exactly as
the router reads it (ring_abi.h, reports.EVENT_LAYOUT), the committed protobuf module is what the
.proto makes, and one frame becomes the documented subject, headers and payload."""

import struct

from tools.gen import downstream_stubs
from udprouter.downstream.events import FRAME, decode, encode
from udprouter.downstream.store import order_row
from udprouter.reports import EVENT_LAYOUT


def test_frame_is_udr_event_then_index_account_and_receive_time():
    assert FRAME.format.startswith(EVENT_LAYOUT.format)
    assert struct.calcsize("<" + FRAME.format[len(EVENT_LAYOUT.format):]) == 16
    assert FRAME.size == EVENT_LAYOUT.size + 16 == 80


def test_committed_module_matches_the_proto():
    assert downstream_stubs.main(["--check"]) == 0


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
