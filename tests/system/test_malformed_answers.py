"""SPEC 2.4 and the code agree: in an established session every kind of malformed frame gets the
BusinessMessageReject the table gives it (RefSeqNum 0 when it takes no number), on both ingest
paths; the unnumbered ones are limited per session and counted."""

from __future__ import annotations

import struct

import pytest
from report_checks import metric
from test_hostile_input import predict

from tests.hostile_scenarios import PRICE, reports_until
from udprouter._generated.messages import (
    BusinessMessageReject,
    BusinessRejectReason,
    NewOrderSingle,
    OrdType,
    Sequence,
    Side,
    TimeInForce,
)
from udprouter.client import Client
from udprouter.codec import encode_message

ORDER = encode_message(NewOrderSingle(1, 0, PRICE, 1, 1, Side.Buy, OrdType.Limit, TimeInForce.Day))
BAD_ENUM = ORDER[:-1] + b"\x09"


def frame(sofh_length: int | None = None, encoding: int = 0xEB50, schema: int = 101, template: int = 101,
          block: bytes = bytes(35)) -> bytes:
    length = 14 + len(block) if sofh_length is None else sofh_length
    header = struct.pack("<HHHH", len(block), template, schema, 0)
    return struct.pack(">IH", length, encoding) + header + block


CASES = {  # name: what follows Sequence(next number)
    "sofh_length_too_small": frame(sofh_length=5),
    "sofh_beyond_datagram": frame(sofh_length=400),
    "wrong_encoding_type": frame(encoding=0x1234),
    "unknown_schema": frame(schema=77, template=5),
    "unknown_version": ORDER[:12] + b"\x07\x00" + ORDER[14:],
    "unknown_template": frame(template=199),
    "fixp_frame_undecodable": frame(schema=2748, template=8, block=b"\x01\x02\x03"),
    "trailing_garbage": b"\x00\x01\x02",
    "more_than_64_frames": encode_message(Sequence(1)) * 64,
    "bad_enum_numbered": BAD_ENUM,
    "bad_enum_then_trailing_garbage": BAD_ENUM + b"\xff" * 5,
}


@pytest.fixture(params=[True, False], ids=["fast_path", "python_path"])
def fast_path(request) -> bool:
    return request.param


@pytest.fixture
def session_router(start_router):
    return start_router()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", sorted(CASES))
async def test_each_malformed_frame_gets_the_answer_spec_gives(session_router, case):
    router = session_router
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        seq = client.out.next_seq
        payload = encode_message(Sequence(seq)) + CASES[case]
        expected, consumed = predict(payload, seq)
        assert expected, "every case is answered"
        client.out.next_seq += consumed
        client.send_raw(payload)
        got = await reports_until(client, lambda got: len(got) >= len(expected))
        assert [(r.ref_seq_num, r.ref_template_id, r.business_reject_reason) for r in got] == expected
        assert all(isinstance(r, BusinessMessageReject) for r in got)
        cl = await client.send_order(1, Side.Buy, PRICE, 1)  # the numbers agree: applied, no NotApplied
        (ack,) = await reports_until(client, lambda got: len(got) >= 1)
        assert ack.cl_ord_id == cl and ack.__class__.__name__ == "ExecutionReportNew"
    finally:
        await client.close()


@pytest.mark.timeout(120)
async def test_unnumbered_rejects_are_limited_per_session_and_counted(start_router):
    router = start_router("[session]\nsession_reject_rate_per_s = 5.0\n")
    client = await Client.connect(*router.udp, "demo", "demo-secret")
    try:
        for _ in range(200):
            client.send_raw(encode_message(Sequence(client.out.next_seq)) + CASES["wrong_encoding_type"])
        got = await reports_until(client, lambda got: False, timeout=1.5)
        assert 5 <= len(got) <= 5 + 5 * 3  # the burst, then at most the rate over the wait
        assert all(r.business_reject_reason == BusinessRejectReason.MalformedMessage for r in got)
        assert metric(router, "udprouter_rejects_suppressed_total") >= 200 - len(got)
    finally:
        await client.close()
