"""Golden vectors: protocol/vectors/<MessageName>.bin (framed bytes) + .json (decoded fields).

Every message of both schemas with fixed values, plus datagrams of a Sequence followed by 1 and 20
NewOrderSingle, and the same datagrams ending with their MessageAuthentication frame under the
datagram key of the demo key's Establish (SPEC.md 4.9; the JSON names the key's inputs). The JSON
uses the schema's field names; enums are {"name", "value"}, byte fields {"hex"}, prices integer
mantissas (exponent -9), an optional null field null. Python, C++ and the dissector tests all read
these files.

    python -m tools.gen.vectors            # (re)write protocol/vectors/
    python -m tools.gen.vectors --check    # exit 1 if a committed vector is stale
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import sys

from tools.gen.schema import ROOT, MessageDef, load_schemas
from udprouter import codec
from udprouter._generated import messages as m
from udprouter.datagram_mac import DatagramMac, datagram_key

VECTORS_DIR = ROOT / "protocol" / "vectors"
SESSION_ID = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
TIMESTAMP = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
KEY_ID, SECRET = "demo", b"demo-secret"  # the built-in local-only demo key

SAMPLE_VALUES = {
    "cl_ord_id": 1001, "orig_cl_ord_id": 1000, "transact_time": TIMESTAMP + 123_456_789,
    "price": 100_250_000_000, "last_px": 100_250_000_000, "order_qty": 500, "last_qty": 200,
    "leaves_qty": 300, "cum_qty": 200, "security_id": 1, "order_id": 42,
    "exec_id": (7 << 40) | 12, "ref_seq_num": 17, "ref_template_id": 101,
    "session_id": SESSION_ID, "timestamp": TIMESTAMP, "request_timestamp": TIMESTAMP,
    "keepalive_interval": 1000, "next_seq_no": 1, "from_seq_no": 5, "count": 3,
    "reason": "session finished", "total_affected_orders": 2, "cod_timeout_window": 2500,
    "session_number": 7, "account": 1,
}
# Enum choices that read naturally; any enum field not listed takes its first value.
SAMPLE_ENUMS = {
    "side": m.Side.Buy, "ord_type": m.OrdType.Limit, "time_in_force": m.TimeInForce.Day,
    "client_flow": m.FlowType.Idempotent, "server_flow": m.FlowType.Recoverable,
    "aggressor_indicator": m.BooleanFlag["True"], "cancel_reason": m.CancelReason.ClientRequest,
    "ord_rej_reason": m.OrdRejReason.PriceExceedsCurrentPriceBand,
    "cxl_rej_reason": m.CxlRejReason.UnknownOrder,
    "cxl_rej_response_to": m.CxlRejResponseTo.OrderCancelRequest,
    "business_reject_reason": m.BusinessRejectReason.MalformedMessage,
    "mass_action_scope": m.MassActionScope.AllOrdersForASecurity,
    "cancel_on_disconnect_type": m.CancelOnDisconnectType.CancelOnDisconnectOrTerminate,
    "mass_action_response": m.MassActionResponse.Accepted, "ord_status": m.OrdStatus.PartiallyFilled,
}
# Optional fields left null, to pin their encoding: the report of an accepted request has no
# MassActionRejectReason, and a request without Side covers both sides.
NULL_FIELDS = {("Establish", "next_seq_no"), ("OrderMassActionReport", "mass_action_reject_reason"),
               ("OrderMassActionRequest", "side")}
# The datagram key of the sample Establish (demo key, SESSION_ID, TIMESTAMP); the sample
# MessageAuthentication carries the MAC of the heartbeat Sequence(1) under it.
DATAGRAM_KEY = datagram_key(SECRET, SESSION_ID, TIMESTAMP, KEY_ID)
SAMPLE_VALUES["mac"] = DatagramMac(DATAGRAM_KEY).mac(codec.encode_message(m.Sequence(1)))


def signed_credentials(message_name: str, session_id: bytes, timestamp: int) -> bytes:
    """Credentials as SPEC.md defines them: UTF-8 key_id:hex(HMAC-SHA256(secret, canonical))."""
    canonical = f"{message_name}\n{session_id.hex()}\n{timestamp}\n{KEY_ID}".encode()
    return f"{KEY_ID}:{hmac.new(SECRET, canonical, hashlib.sha256).hexdigest()}".encode()


def sample_message(msg: MessageDef):
    cls = m.BY_NAME[msg.name]
    values = []
    for f in msg.fields:
        if (msg.name, f.py_name) in NULL_FIELDS:
            values.append(None)
        elif f.enum is not None:
            values.append(SAMPLE_ENUMS.get(f.py_name, getattr(m, f.enum.name)[f.enum.values[0].name]))
        else:
            values.append(SAMPLE_VALUES[f.py_name])
    for v in msg.var_data:
        if v.is_string:
            values.append(SAMPLE_VALUES[v.py_name])
        else:
            values.append(signed_credentials(msg.name, SESSION_ID, TIMESTAMP))
    return cls(*values)


def nos_batch(count: int) -> list:
    """count NewOrderSingle with increasing ClOrdIDs, alternating sides, prices one tick apart."""
    sides = (m.Side.Buy, m.Side.Sell)
    return [m.NewOrderSingle(1001 + i, TIMESTAMP + i, 100_000_000_000 + (i % 5) * 10_000_000, 100 + i,
                             1 + i % 3, sides[i % 2], m.OrdType.Limit, m.TimeInForce.Day)
            for i in range(count)]


def fields_to_json(msg) -> dict:
    """Decoded fields keyed by schema name, in schema order (see module docstring)."""
    out = {}
    for name, value in zip(_schema_names(msg.__class__), msgspec_values(msg), strict=True):
        if isinstance(value, enum.IntEnum):
            out[name] = {"name": value.name, "value": int(value)}
        elif isinstance(value, bytes):
            out[name] = {"hex": value.hex()}
        else:
            out[name] = value
    return out


def message_from_json(obj: dict):
    """Inverse of message_to_json: the msgspec Struct the JSON describes (enum name and value must agree)."""
    md = _MESSAGE_DEFS[obj["message"]]
    values = []
    for f in md.fields:
        value = obj["fields"][f.name]
        if f.enum is not None and value is not None:  # None: an optional enum left null
            member = getattr(m, f.enum.name)(value["value"])
            if member.name != value["name"]:
                raise ValueError(f"{md.name}.{f.name}: {value} names another member ({member.name})")
            value = member
        elif f.is_bytes:
            value = bytes.fromhex(value["hex"])
        values.append(value)
    for v in md.var_data:
        value = obj["fields"][v.name]
        values.append(value if v.is_string else bytes.fromhex(value["hex"]))
    return m.BY_NAME[md.name](*values)


def message_to_json(msg) -> dict:
    cls = msg.__class__
    return {"message": cls.__name__, "schema_id": cls.SCHEMA_ID, "template_id": cls.TEMPLATE_ID,
            "version": cls.VERSION, "block_length": cls.BLOCK_LENGTH, "fields": fields_to_json(msg)}


def msgspec_values(msg) -> list:
    return [getattr(msg, name) for name in msg.__struct_fields__]


def _schema_names(cls) -> list[str]:
    msg_def = _MESSAGE_DEFS[cls.__name__]
    return [f.name for f in msg_def.fields] + [v.name for v in msg_def.var_data]


_MESSAGE_DEFS = {md.name: md for s in load_schemas() for md in s.messages}


def _dump(obj) -> bytes:
    return (json.dumps(obj, indent=2) + "\n").encode()


def render_vectors() -> dict[str, bytes]:
    """{file name in protocol/vectors/: content}."""
    files: dict[str, bytes] = {}
    for md in _MESSAGE_DEFS.values():
        msg = sample_message(md)
        files[f"{md.name}.bin"] = codec.encode_message(msg)
        files[f"{md.name}.json"] = _dump(message_to_json(msg))
    for count in (1, 20):
        msgs = [m.Sequence(1), *nos_batch(count)]
        name = f"datagram_sequence_nos_x{count}"
        files[f"{name}.bin"] = codec.encode_datagram(msgs)
        files[f"{name}.json"] = _dump({"messages": [message_to_json(x) for x in msgs]})
        signed = DatagramMac(DATAGRAM_KEY).sign(files[f"{name}.bin"])
        mac = m.MessageAuthentication(signed[-16:])
        files[f"{name}_mac.bin"] = signed
        files[f"{name}_mac.json"] = _dump({"authentication": _authentication(signed[-16:]),
                                           "messages": [message_to_json(x) for x in [*msgs, mac]]})
    return files


def _authentication(mac: bytes) -> dict:
    """The inputs and results of SPEC.md 4.9 for the _mac vectors."""
    return {"key_id": KEY_ID, "secret": SECRET.decode(), "session_id": SESSION_ID.hex(),
            "establish_timestamp": TIMESTAMP, "datagram_key": DATAGRAM_KEY.hex(), "mac": mac.hex()}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    files = render_vectors()
    if "--check" in argv:
        stale = [n for n, data in files.items()
                 if not (VECTORS_DIR / n).exists() or (VECTORS_DIR / n).read_bytes() != data]
        for name in stale:
            print(f"stale: protocol/vectors/{name} (run python -m tools.gen.vectors)")
        return 1 if stale else 0
    VECTORS_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (VECTORS_DIR / name).write_bytes(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
