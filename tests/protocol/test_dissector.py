"""The generated Wireshark dissector decodes real encoded messages with the right field values under tshark.

tshark refuses Lua scripts when run as root, so it runs as `nobody` here, on copies of the capture
and the script in a fresh world-readable directory.
"""

import datetime
import decimal
import json
import os
import shutil
import struct
import subprocess
import tempfile
from xml.etree import ElementTree

import pytest

from tools.gen import dissector
from udprouter._generated.messages import (
    BooleanFlag,
    EstablishmentAck,
    ExecutionReportReject,
    ExecutionReportTrade,
    FlowType,
    Negotiate,
    NewOrderSingle,
    OrderCancelReplaceRequest,
    OrdRejReason,
    OrdType,
    Sequence,
    Side,
    TimeInForce,
)
from udprouter.capture import CaptureDirection, CaptureWriter
from udprouter.codec import encode_datagram, encode_message

CLIENT, SERVER = ("127.0.0.1", 40001), ("127.0.0.1", 9000)
TICK = 10_000_000
SESSION = bytes(range(16))
T0 = 1_700_000_000_000_000_000


def test_committed_dissector_is_generated_from_the_current_schemas():
    with open(dissector.ROOT / dissector.OUTPUT) as fh:
        assert fh.read() == dissector.render_dissector(), "run: python -m tools.gen.dissector"


def _run_as_nobody(args, workdir):
    """tshark as an unprivileged user (it refuses Lua as root), with a HOME it may read."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir}
    if os.geteuid() == 0:
        args = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--init-groups", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=90, env=env)


def _order(cl_ord_id, price, side=Side.Buy):
    return NewOrderSingle(
        cl_ord_id=cl_ord_id,
        transact_time=T0 + cl_ord_id,
        price=price,
        order_qty=100 + cl_ord_id,
        security_id=2,
        side=side,
        ord_type=OrdType.Limit,
        time_in_force=TimeInForce.Day,
    )


def _datagrams():
    """(direction, src, dst, payload) of a short session: negotiate, orders batched, a trade, a reject."""
    negotiate = Negotiate(
        session_id=SESSION, timestamp=T0, client_flow=FlowType.Idempotent, credentials=b"demo:abc"
    )
    ack = EstablishmentAck(
        session_id=SESSION, request_timestamp=T0, keepalive_interval=1000, next_seq_no=None
    )
    replace = OrderCancelReplaceRequest(
        cl_ord_id=3,
        orig_cl_ord_id=1,
        transact_time=T0,
        price=99_990_000_000,
        order_qty=50,
        security_id=2,
        side=Side.Buy,
    )
    trade = ExecutionReportTrade(
        cl_ord_id=2,
        order_id=7,
        exec_id=(1 << 40) | 4,
        transact_time=T0,
        last_px=100_250_000_000,
        last_qty=10,
        leaves_qty=92,
        cum_qty=10,
        security_id=2,
        side=Side.Sell,
        aggressor_indicator=BooleanFlag(1),
    )
    reject = ExecutionReportReject(
        cl_ord_id=9,
        exec_id=5,
        transact_time=T0,
        price=-1_500_000_000,
        order_qty=1,
        security_id=77,
        side=Side.Buy,
        ord_rej_reason=OrdRejReason.UnknownSymbol,
    )
    return [
        (CaptureDirection.INBOUND, CLIENT, SERVER, encode_message(negotiate)),
        (CaptureDirection.OUTBOUND, SERVER, CLIENT, encode_message(ack)),
        (
            CaptureDirection.INBOUND,
            CLIENT,
            SERVER,
            encode_datagram(
                [
                    Sequence(next_seq_no=1),
                    _order(1, 100_250_000_000),
                    _order(2, 100_000_000_000, Side.Sell),
                    replace,
                ]
            ),
        ),
        (
            CaptureDirection.OUTBOUND,
            SERVER,
            CLIENT,
            encode_datagram([Sequence(next_seq_no=4), trade, reject]),
        ),
        # Not port 9000: found by the heuristic (SOFH encoding type + known schema id).
        (
            CaptureDirection.INBOUND,
            ("127.0.0.1", 40002),
            ("127.0.0.1", 12345),
            encode_datagram([Sequence(next_seq_no=1), _order(5, 1_000_000_001)]),
        ),
        # A Sequence followed by a frame whose SOFH claims more bytes than the datagram holds.
        (
            CaptureDirection.INBOUND,
            CLIENT,
            SERVER,
            encode_message(Sequence(next_seq_no=9)) + encode_message(_order(6, 1))[:-5],
        ),
        # Things the router rejects although they frame well: Side = 9, then a template no schema has;
        # and a market order (its price is ignored).
        (CaptureDirection.INBOUND, CLIENT, SERVER, _with_side_9(
            encode_datagram([Sequence(10), _order(7, TICK)]))),
        (CaptureDirection.INBOUND, CLIENT, SERVER, encode_message(Sequence(11)) + UNKNOWN_TEMPLATE_FRAME),
        (CaptureDirection.INBOUND, CLIENT, SERVER, encode_datagram([Sequence(12), _market_order(8)])),
    ]


# SOFH (length 22, SBE LE) + header (blockLength 8, template 99, schema 101, version 0) + 8 bytes.
UNKNOWN_TEMPLATE_FRAME = struct.pack(">IH", 22, 0xEB50) + struct.pack("<4H", 8, 99, 101, 0) + bytes(8)


def _with_side_9(datagram: bytes) -> bytes:
    side = 22 + 14 + 32  # after the Sequence frame and the order's prefix, Side's block offset
    return datagram[:side] + bytes([9]) + datagram[side + 1:]


def _market_order(cl_ord_id):
    ioc = TimeInForce.ImmediateOrCancel
    return NewOrderSingle(cl_ord_id=cl_ord_id, transact_time=T0, price=0, order_qty=3, security_id=1,
                          side=Side.Sell, ord_type=OrdType.Market, time_in_force=ioc)


@pytest.fixture(scope="module")
def tshark_dir():
    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed (CI installs it: apt-get install tshark)")
    workdir = tempfile.mkdtemp(prefix="udprouter-dissector-")
    try:
        os.chmod(workdir, 0o755)
        with CaptureWriter(os.path.join(workdir, "c.pcapng")) as writer:
            for i, (direction, src, dst, payload) in enumerate(_datagrams()):
                writer.record(direction, src, dst, payload, T0 + i * 1000)
        shutil.copy(dissector.ROOT / dissector.OUTPUT, os.path.join(workdir, "udprouter.lua"))
        for name in ("c.pcapng", "udprouter.lua"):
            os.chmod(os.path.join(workdir, name), 0o644)
        yield workdir
    finally:
        shutil.rmtree(workdir)


def _tshark_fields(workdir, *fields):
    args = [
        "tshark",
        "-n",
        "-X",
        f"lua_script:{workdir}/udprouter.lua",
        "-r",
        f"{workdir}/c.pcapng",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    for field in fields:
        args += ["-e", field]
    result = _run_as_nobody(args, workdir)
    assert result.returncode == 0, result.stderr
    assert "Lua" not in result.stderr and "error" not in result.stderr.lower(), result.stderr
    return [line.split(";") for line in result.stdout.splitlines()]


def test_every_datagram_is_decoded_message_by_message(tshark_dir):
    rows = _tshark_fields(tshark_dir, "udprouter.message")
    assert rows == [
        ["Negotiate"],
        ["EstablishmentAck"],
        ["Sequence,NewOrderSingle,NewOrderSingle,OrderCancelReplaceRequest"],
        ["Sequence,ExecutionReportTrade,ExecutionReportReject"],
        ["Sequence,NewOrderSingle"],
        ["Sequence"],
        ["Sequence,NewOrderSingle"],
        ["Sequence,Unknown(schema 101, template 99)"],
        ["Sequence,NewOrderSingle"],
    ]


def test_prices_are_exact_decimals(tshark_dir):
    rows = _tshark_fields(tshark_dir, "udprouter.price", "udprouter.last_px")
    assert rows[2] == ["100.25,100,99.99", ""]
    assert rows[3] == ["-1.5", "100.25"]
    assert rows[4] == ["1.000000001", ""]


def test_integer_fields_and_null_optional(tshark_dir):
    rows = _tshark_fields(
        tshark_dir,
        "udprouter.cl_ord_id",
        "udprouter.orig_cl_ord_id",
        "udprouter.next_seq_no",
        "udprouter.exec_id",
        "udprouter.security_id",
        "udprouter.order_qty",
    )
    assert rows[2] == ["1,2,3", "1", "1", "", "2,2,2", "101,102,50"]
    assert rows[3] == ["2,9", "", "4", f"{(1 << 40) | 4},5", "2,77", "1"]
    assert rows[1][2] == str(2**64 - 1)  # EstablishmentAck.NextSeqNo null


def test_enums_are_shown_by_name(tshark_dir):
    result = _run_as_nobody(
        [
            "tshark",
            "-n",
            "-X",
            f"lua_script:{tshark_dir}/udprouter.lua",
            "-r",
            f"{tshark_dir}/c.pcapng",
            "-V",
            "-Y",
            "udprouter.ord_rej_reason || udprouter.client_flow",
        ],
        tshark_dir,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for expected in (
        "ClientFlow: Idempotent (1)",
        "OrdRejReason: UnknownSymbol (1)",
        "Side: Sell (2)",
        "AggressorIndicator: True (1)",
        "Price: -1.5",
        "LastPx: 100.25",
        "SessionId: 000102030405",
        "schemaId: udprouter (101)",
        "SOFH encoding type: SBE 1.0 little-endian (0xeb50)",
    ):
        assert expected in text, expected


def test_filters_select_by_decoded_values(tshark_dir):
    rows = _tshark_fields(tshark_dir, "frame.number")
    assert len(rows) == 9
    result = _run_as_nobody(
        [
            "tshark",
            "-n",
            "-X",
            f"lua_script:{tshark_dir}/udprouter.lua",
            "-r",
            f"{tshark_dir}/c.pcapng",
            "-Y",
            "udprouter.price > 100.2 && udprouter.side == 1",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ],
        tshark_dir,
    )
    assert result.stdout.split() == ["3"]


def test_broken_framing_is_flagged_after_the_good_frames(tshark_dir):
    rows = _tshark_fields(tshark_dir, "udprouter.message", "_ws.expert.message")
    assert rows[5] == ["Sequence", "bad SOFH at offset 22"]
    assert all(row[1] == "" for row in rows[:5])


def test_an_enum_value_outside_the_schema_gets_an_expert_mark(tshark_dir):
    rows = _tshark_fields(tshark_dir, "udprouter.side", "_ws.expert.message", "_ws.expert.severity")
    assert rows[6] == ["9", "Side = 9 is not a value of Side", "6291456"]  # PI_WARN
    assert rows[2][1] == "" and rows[8][1] == ""


def test_an_unknown_template_gets_an_expert_mark(tshark_dir):
    rows = _tshark_fields(tshark_dir, "_ws.expert.message", "udprouter.sbe.template_id")
    assert rows[7] == ["schema 101 has no template 99", "8,99"]


def test_info_column_shows_cl_ord_id_side_and_qty_at_price(tshark_dir):
    info = [row[0] for row in _tshark_fields(tshark_dir, "_ws.col.Info")]
    assert info[2] == ("Sequence, NewOrderSingle ClOrdID=1 Buy 101@100.25, NewOrderSingle ClOrdID=2 Sell "
                       "102@100, OrderCancelReplaceRequest ClOrdID=3 Buy 50@99.99")
    # a trade shows what traded (LastQty@LastPx); a reject the order it rejects
    assert info[3] == ("Sequence, ExecutionReportTrade ClOrdID=2 Sell 10@100.25, ExecutionReportReject "
                       "ClOrdID=9 Buy 1@-1.5")
    assert info[0] == "Negotiate" and info[6] == "Sequence, NewOrderSingle ClOrdID=7 Side=9 107@0.01"
    assert info[8] == "Sequence, NewOrderSingle ClOrdID=8 Sell 3@MKT"


# --- golden vectors: every message and datagram in protocol/vectors, field by field ------------------
VECTORS = dissector.ROOT / "protocol" / "vectors"


def _schema_fields():
    """(message, field) -> schema type name, for prices and timestamps."""
    from tools.gen.schema import load_schemas

    types = {}
    for schema in load_schemas():
        for message in schema.messages:
            for field in message.fields:
                types[(message.name, field.name)] = field.type_name
    return types


def _expected_messages():
    """[(frame number, [vector message dicts])] for every .bin vector, one datagram each."""
    out = []
    for path in sorted(VECTORS.glob("*.json")):
        vector = json.loads(path.read_text())
        out.append((path.with_suffix(".bin"), vector.get("messages", [vector])))
    return out


def _price_text(mantissa):
    return format(decimal.Decimal(mantissa).scaleb(-9).normalize(), "f")


def _time_text(ns):
    dt = datetime.datetime.fromtimestamp(ns // 10**9, datetime.UTC)
    return f"{dt:%b} {dt.day:2d}, {dt.year} {dt:%H:%M:%S}.{ns % 10**9:09d} UTC"


def _check_field(name, expected, element, type_name):
    showname, show = element.get("showname"), element.get("show")
    if expected is None:
        assert showname.endswith("(null)"), showname
    elif isinstance(expected, dict) and "name" in expected:
        assert showname == f"{name}: {expected['name']} ({expected['value']})"
    elif isinstance(expected, dict):
        assert element.get("value") == expected["hex"]
    elif isinstance(expected, str):
        assert show == expected
    elif type_name == "PRICE9":
        assert showname == f"{name}: {_price_text(expected)}"
    elif type_name in dissector.TIME_TYPES:
        assert show == _time_text(expected)
    else:
        assert show == str(expected)


@pytest.fixture(scope="module")
def vectors_pdml(tshark_dir):
    vectors = _expected_messages()
    path = os.path.join(tshark_dir, "vectors.pcapng")
    with CaptureWriter(path) as writer:
        for bin_path, _ in vectors:
            writer.record(CaptureDirection.INBOUND, CLIENT, SERVER, bin_path.read_bytes(), T0)
    os.chmod(path, 0o644)
    result = _run_as_nobody(
        ["tshark", "-n", "-X", f"lua_script:{tshark_dir}/udprouter.lua", "-r", path, "-T", "pdml"], tshark_dir
    )
    assert result.returncode == 0, result.stderr
    return vectors, ElementTree.fromstring(result.stdout)


def test_every_golden_vector_field_is_decoded_to_its_json_value(vectors_pdml):
    vectors, pdml = vectors_pdml
    types = _schema_fields()
    packets = pdml.findall("packet")
    assert len(packets) == len(vectors) >= 20
    checked = 0
    for packet, (bin_path, messages) in zip(packets, vectors, strict=True):
        decoded = [f for f in packet.iter("field") if f.get("name") == "udprouter.message"]
        assert [m.get("show") for m in decoded] == [m["message"] for m in messages], bin_path.name
        for element, message in zip(decoded, messages, strict=True):
            children = {c.get("showname").split(":")[0]: c for c in element.findall("field")}
            assert children["templateId"].get("show") == str(message["template_id"])
            assert children["blockLength"].get("show") == str(message["block_length"])
            for name, expected in message["fields"].items():
                _check_field(name, expected, children[name], types.get((message["message"], name)))
                checked += 1
    assert checked > 150
