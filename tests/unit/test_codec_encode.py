"""Encoding, datagram limits, sequence-number accounting and the reject mapping of udprouter.codec."""

import pytest

from udprouter import codec
from udprouter._generated import messages as m
from udprouter.codec import DecodeError, DecodeErrorCode
from udprouter.errors import CodecError, DecodeFailed, EncodeError, UdprouterError

NOS = m.NewOrderSingle(7, 1, 100_000_000_000, 10, 1, m.Side.Buy, m.OrdType.Limit, m.TimeInForce.Day)


def test_encoded_frame_carries_big_endian_sofh_and_little_endian_header():
    data = codec.encode_message(NOS)
    assert data[:6] == (49).to_bytes(4, "big") + b"\xeb\x50"
    assert data[6:14] == bytes([35, 0, 101, 0, 101, 0, 0, 0])


def test_price_is_the_int64_mantissa_at_its_offset():
    data = codec.encode_message(NOS)
    assert int.from_bytes(data[14 + 16:14 + 24], "little", signed=True) == 100_000_000_000


def test_value_out_of_range_raises_encode_error():
    bad = m.NewOrderSingle(-1, 1, 0, 10, 1, m.Side.Buy, m.OrdType.Limit, m.TimeInForce.Day)
    with pytest.raises(EncodeError, match="NewOrderSingle"):
        codec.encode_message(bad)


def test_session_id_of_wrong_size_raises_encode_error():
    with pytest.raises(EncodeError, match="session_id"):
        codec.encode_message(m.Terminate(b"short", m.TerminationCode.Finished, ""))


def test_non_message_raises_encode_error():
    with pytest.raises(EncodeError, match="not an SBE message"):
        codec.encode_message("hello")


def test_encode_errors_are_codec_errors_under_the_root():
    assert issubclass(EncodeError, CodecError) and issubclass(CodecError, UdprouterError)


def test_sequenced_datagram_of_twenty_orders_fits_one_datagram():
    payload = codec.encode_sequenced_datagram(5, [NOS] * 20)
    assert len(payload) == 22 + 20 * 49 <= codec.MAX_DATAGRAM_SIZE
    assert codec.decode_datagram(payload) == [m.Sequence(5)] + [NOS] * 20


def test_datagram_over_1472_bytes_is_refused_at_encode():
    with pytest.raises(EncodeError, match="exceeds"):
        codec.encode_datagram([NOS] * 31)


def test_datagram_over_64_messages_is_refused_at_encode():
    with pytest.raises(EncodeError, match="exceeds"):
        codec.encode_datagram([m.Sequence(1)] * 65)


def test_application_frames_consume_sequence_numbers_and_session_frames_do_not():
    bad_enum = DecodeError(DecodeErrorCode.ENUM_OUT_OF_RANGE, 22, 101, "x", 101)
    fatal = DecodeError(DecodeErrorCode.TRUNCATED_FRAME, 22, 0, "x")
    assert codec.frame_consumes_seq_no(NOS)
    assert codec.frame_consumes_seq_no(bad_enum)
    assert not codec.frame_consumes_seq_no(m.Sequence(1))
    assert not codec.frame_consumes_seq_no(fatal)


@pytest.mark.parametrize("code, reason", [
    (DecodeErrorCode.ENUM_OUT_OF_RANGE, m.BusinessRejectReason.InvalidEnumValue),
    (DecodeErrorCode.UNKNOWN_TEMPLATE, m.BusinessRejectReason.UnsupportedMessageType),
    (DecodeErrorCode.UNKNOWN_SCHEMA, m.BusinessRejectReason.UnsupportedMessageType),
    (DecodeErrorCode.UNKNOWN_VERSION, m.BusinessRejectReason.UnsupportedMessageType),
    (DecodeErrorCode.BLOCK_LENGTH_TOO_SMALL, m.BusinessRejectReason.MalformedMessage),
    (DecodeErrorCode.TRUNCATED_FRAME, m.BusinessRejectReason.MalformedMessage),
])
def test_decode_error_maps_to_business_reject_reason(code, reason):
    assert codec.business_reject_reason(DecodeError(code, 0, 101, "")) == reason


def test_strict_decode_message_raises_decode_failed_with_the_error_value():
    with pytest.raises(DecodeFailed) as info:
        codec.decode_message(codec.encode_message(NOS)[:-1])
    assert info.value.error.code == DecodeErrorCode.SOFH_LENGTH_BEYOND_DATAGRAM


def test_strict_decode_message_refuses_two_frames():
    with pytest.raises(DecodeFailed):
        codec.decode_message(codec.encode_message(NOS) * 2)
