"""decode_datagram answers every kind of bad input with a precise DecodeError value, never raises."""

import struct

import pytest

from udprouter import codec
from udprouter._generated import messages as m
from udprouter.codec import DecodeError, DecodeErrorCode

NOS = m.NewOrderSingle(7, 1, 100_000_000_000, 10, 1, m.Side.Buy, m.OrdType.Limit, m.TimeInForce.Day)
SEQ = codec.encode_message(m.Sequence(1))
NOS_BYTES = codec.encode_message(NOS)
TERMINATE = m.Terminate(b"\x01" * 16, m.TerminationCode.Finished, "bye")


def frame(block: bytes, template_id=101, schema_id=101, version=0, block_length=None, encoding=0xEB50,
          sofh_length=None) -> bytes:
    header = struct.pack("<HHHH", len(block) if block_length is None else block_length, template_id,
                         schema_id, version)
    length = 6 + len(header) + len(block) if sofh_length is None else sofh_length
    return struct.pack(">IH", length, encoding) + header + block


def nos_block(**changes) -> bytes:
    return codec.encode_message(m.NewOrderSingle(**{**msg_fields(NOS), **changes}))[14:]


def msg_fields(msg) -> dict:
    return {name: getattr(msg, name) for name in msg.__struct_fields__}


def only_error(entries) -> DecodeError:
    assert isinstance(entries[-1], DecodeError), entries
    return entries[-1]


def test_empty_datagram_is_reported():
    assert codec.decode_datagram(b"")[0].code == DecodeErrorCode.EMPTY_DATAGRAM


def test_datagram_above_1472_bytes_is_refused_whole():
    entries = codec.decode_datagram(SEQ + NOS_BYTES * 30)
    assert [e.code for e in entries] == [DecodeErrorCode.DATAGRAM_TOO_LARGE]


def test_fewer_than_fourteen_trailing_bytes_is_truncated_frame():
    entries = codec.decode_datagram(SEQ + NOS_BYTES + b"\x00\x00\x00")
    assert isinstance(entries[1], m.NewOrderSingle)
    error = only_error(entries)
    assert (error.code, error.offset) == (DecodeErrorCode.TRUNCATED_FRAME, len(SEQ) + len(NOS_BYTES))


def test_frame_cut_short_is_sofh_length_beyond_datagram():
    error = only_error(codec.decode_datagram(SEQ + NOS_BYTES[:-1]))
    assert (error.code, error.offset) == (DecodeErrorCode.SOFH_LENGTH_BEYOND_DATAGRAM, len(SEQ))


def test_sofh_length_below_fourteen_is_reported():
    error = only_error(codec.decode_datagram(frame(nos_block(), sofh_length=13)))
    assert error.code == DecodeErrorCode.SOFH_LENGTH_TOO_SMALL


def test_sofh_length_below_fourteen_in_a_short_tail_is_reported():
    error = only_error(codec.decode_datagram(SEQ + struct.pack(">IH", 8, 0xEB50) + b"\x00\x00"))
    assert error.code == DecodeErrorCode.SOFH_LENGTH_TOO_SMALL


def test_wrong_encoding_type_stops_the_datagram():
    entries = codec.decode_datagram(SEQ + frame(nos_block(), encoding=0x5BE0) + NOS_BYTES)
    assert len(entries) == 2
    assert only_error(entries).code == DecodeErrorCode.WRONG_ENCODING_TYPE


def test_unknown_schema_is_reported_and_next_frame_still_decodes():
    entries = codec.decode_datagram(SEQ + frame(nos_block(), schema_id=99) + NOS_BYTES)
    assert entries[1].code == DecodeErrorCode.UNKNOWN_SCHEMA
    assert entries[2] == NOS


def test_newer_version_is_unknown_version():
    entries = codec.decode_datagram(SEQ + frame(nos_block(), version=1))
    assert (entries[1].code, entries[1].template_id) == (DecodeErrorCode.UNKNOWN_VERSION, 101)


def test_unknown_template_is_reported_with_its_id():
    entries = codec.decode_datagram(SEQ + frame(nos_block(), template_id=150))
    assert (entries[1].code, entries[1].template_id) == (DecodeErrorCode.UNKNOWN_TEMPLATE, 150)


def test_block_length_below_the_known_block_is_reported():
    entries = codec.decode_datagram(SEQ + frame(nos_block()[:-1]))
    assert entries[1].code == DecodeErrorCode.BLOCK_LENGTH_TOO_SMALL


def test_block_length_past_the_frame_is_reported():
    entries = codec.decode_datagram(SEQ + frame(nos_block(), block_length=40))
    assert entries[1].code == DecodeErrorCode.BLOCK_BEYOND_FRAME


def test_longer_block_from_a_schema_extension_is_skipped():
    entries = codec.decode_datagram(SEQ + frame(nos_block() + b"\xaa\xbb\xcc") + NOS_BYTES)
    assert entries[1:] == [NOS, NOS]


def test_enum_out_of_range_names_the_field():
    block = bytearray(nos_block())
    block[33] = 7  # OrdType
    entries = codec.decode_datagram(SEQ + frame(bytes(block)))
    assert entries[1].code == DecodeErrorCode.ENUM_OUT_OF_RANGE
    assert "ord_type = 7" in entries[1].detail


def test_var_data_length_past_the_frame_is_reported():
    data = bytearray(codec.encode_message(TERMINATE))
    data[14 + 17] = 200  # Reason length low byte
    assert codec.decode_datagram(bytes(data))[0].code == DecodeErrorCode.VAR_DATA_BEYOND_FRAME


def test_var_data_length_field_missing_is_reported():
    data = codec.encode_message(TERMINATE)[:14 + 17]
    data = struct.pack(">I", len(data)) + data[4:]
    assert codec.decode_datagram(data)[0].code == DecodeErrorCode.VAR_DATA_BEYOND_FRAME


def test_string_var_data_that_is_not_utf8_is_reported():
    data = bytearray(codec.encode_message(TERMINATE))
    data[-1] = 0xFF
    assert codec.decode_datagram(bytes(data))[0].code == DecodeErrorCode.INVALID_UTF8


def test_application_message_without_leading_sequence_is_never_returned():
    entries = codec.decode_datagram(NOS_BYTES + NOS_BYTES)
    assert [e.code for e in entries] == [DecodeErrorCode.NOT_STARTING_WITH_SEQUENCE] * 2
    assert entries[1].offset == len(NOS_BYTES)


def test_session_message_alone_needs_no_sequence():
    assert codec.decode_datagram(codec.encode_message(TERMINATE)) == [TERMINATE]


def test_more_than_64_messages_is_too_many():
    seq = codec.encode_message(m.Sequence(1))
    entries = codec.decode_datagram(seq * 65)
    assert len(entries) == 65
    assert only_error(entries).code == DecodeErrorCode.TOO_MANY_MESSAGES


@pytest.mark.parametrize("payload_type", [bytes, bytearray, memoryview])
def test_decode_accepts_any_bytes_like_payload(payload_type):
    assert codec.decode_datagram(payload_type(SEQ + NOS_BYTES)) == [m.Sequence(1), NOS]


def test_optional_null_next_seq_no_decodes_as_none():
    establish = m.Establish(b"\x02" * 16, 5, 1000, None, 0, 0, b"k:s")
    assert codec.decode_datagram(codec.encode_message(establish)) == [establish]
