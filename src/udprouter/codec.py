"""Datagram codec: SOFH framing + SBE messages (both schemas) <-> generated msgspec Structs.

Hot path: decode_datagram never raises; each frame becomes a message or a DecodeError value, and
an error the framing cannot recover from is the last entry. The per-message work is generated
(udprouter._generated.messages): one dict lookup on the 8 header bytes recognises a well-formed
frame, one unpack_from + one constructor decodes it. Everything unusual takes the slow path below,
which names the exact cause.

Sequence numbers: in a datagram that starts with Sequence, every later frame of the application
schema (decoded or not) takes the next client sequence number; see frame_consumes_seq_no().
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable

import msgspec

from udprouter._generated import messages as _m
from udprouter._generated.messages import (
    BusinessRejectReason,
    Message,
    Sequence,
)
from udprouter.errors import DecodeFailed, EncodeError

MAX_DATAGRAM_SIZE = _m.MAX_DATAGRAM_SIZE
MAX_MESSAGES_PER_DATAGRAM = _m.MAX_MESSAGES_PER_DATAGRAM
_PREFIX_SIZE = _m.FRAME_PREFIX_SIZE
_U16 = struct.Struct("<H")
_ENCODING = _m.SBE_LE_ENCODING_TYPE
_FAST = _m.FAST_FRAMES
_SCHEMA_VERSIONS = {_m.FIXP_SCHEMA_ID: _m.FIXP_SCHEMA_VERSION,
                    _m.UDPROUTER_SCHEMA_ID: _m.UDPROUTER_SCHEMA_VERSION}


class DecodeErrorCode(enum.IntEnum):
    """Why a frame or datagram did not decode. Numbers are stable; never renumber or reuse."""

    EMPTY_DATAGRAM = 1               # zero-byte payload
    DATAGRAM_TOO_LARGE = 2           # payload above MAX_DATAGRAM_SIZE (1472)
    TRUNCATED_FRAME = 3              # fewer bytes left than a SOFH + message header (14)
    SOFH_LENGTH_TOO_SMALL = 4        # SOFH length < 14: cannot even hold the message header
    SOFH_LENGTH_BEYOND_DATAGRAM = 5  # SOFH length runs past the end of the datagram
    WRONG_ENCODING_TYPE = 6          # SOFH encoding type is not 0xEB50 (SBE 1.0 little-endian)
    UNKNOWN_SCHEMA = 7               # schemaId neither 2748 (FIXP) nor 101 (udprouter)
    UNKNOWN_VERSION = 8              # version newer than the schema we know
    UNKNOWN_TEMPLATE = 9             # templateId not in the schema
    BLOCK_LENGTH_TOO_SMALL = 10      # blockLength below the known block of the template
    BLOCK_BEYOND_FRAME = 11          # blockLength runs past the end of the frame
    ENUM_OUT_OF_RANGE = 12           # an enum field holds a value the schema does not define
    VAR_DATA_BEYOND_FRAME = 13       # a var data length runs past the end of the frame
    INVALID_UTF8 = 14                # a string var data field is not UTF-8
    NOT_STARTING_WITH_SEQUENCE = 15  # application message in a datagram not starting with Sequence
    TOO_MANY_MESSAGES = 16           # more than MAX_MESSAGES_PER_DATAGRAM (64) frames


# Codes after which the rest of the datagram cannot be framed: the error is the last entry.
FATAL_CODES = frozenset({
    DecodeErrorCode.EMPTY_DATAGRAM, DecodeErrorCode.DATAGRAM_TOO_LARGE, DecodeErrorCode.TRUNCATED_FRAME,
    DecodeErrorCode.SOFH_LENGTH_TOO_SMALL, DecodeErrorCode.SOFH_LENGTH_BEYOND_DATAGRAM,
    DecodeErrorCode.WRONG_ENCODING_TYPE, DecodeErrorCode.TOO_MANY_MESSAGES,
})


class DecodeError(msgspec.Struct, frozen=True, gc=False):
    """A frame (or datagram) that did not decode. offset = start of the frame in the datagram."""

    code: DecodeErrorCode
    offset: int
    template_id: int
    detail: str
    schema_id: int = 0


# ---- decoding -------------------------------------------------------------------------------

def decode_datagram(payload: bytes) -> list[Message | DecodeError]:
    """Every frame of a received datagram, in order. Never raises.

    Application messages in a datagram whose first frame is not Sequence are replaced by
    NOT_STARTING_WITH_SEQUENCE errors (they cannot be numbered, so they must not be applied).
    """
    return _decode(payload, True)


def decode_frames(payload: bytes) -> list[Message | DecodeError]:
    """Like decode_datagram without the Sequence rule (tools, captures, single frames)."""
    return _decode(payload, False)


def _decode(payload, require_sequence: bool) -> list:
    # The loop binds what it calls to locals and inlines the constants 14 (SOFH + header) and 64:
    # global lookups are a measurable share of the per-frame budget.
    size = len(payload)
    if size == 0 or size > MAX_DATAGRAM_SIZE:
        return [_datagram_size_error(size)]
    if payload.__class__ is not bytes:
        payload = bytes(payload)  # slices must be hashable bytes for the FAST_FRAMES lookup
    out = []
    append = out.append
    fast_get = _FAST.get
    pos = 0
    sequenced = not require_sequence
    while pos < size:
        if size - pos < 14 or len(out) == 64:
            append(_tail_error(payload, pos, size, len(out)))
            break
        fast = fast_get(payload[pos:pos + 14])
        if fast is not None and pos + fast[1] <= size:
            end = pos + fast[1]
            entry = fast[0](payload, pos + 14, fast[2], end)
            is_app = fast[3]
            if entry is None:
                entry = _diagnose(payload, pos, fast[2], end)
        else:
            length, encoding = _m.SOFH.unpack_from(payload, pos)
            end = pos + length
            if encoding != _ENCODING or length < 14 or end > size:
                append(_framing_error(pos, length, encoding, size))
                break
            entry, is_app = _decode_slow(payload, pos, end)
        if pos == 0 and require_sequence:
            sequenced = entry.__class__ is Sequence
        if is_app and not sequenced and entry.__class__ is not DecodeError:
            entry = _unsequenced(entry, pos)
        append(entry)
        pos = end
    return out


def _decode_slow(payload, pos: int, end: int) -> tuple[Message | DecodeError, bool]:
    """A frame whose header is not the current version with the known blockLength."""
    block_length, template_id, schema_id, version = _m.MESSAGE_HEADER.unpack_from(payload, pos + 6)
    known_version = _SCHEMA_VERSIONS.get(schema_id)
    is_app = schema_id == _m.UDPROUTER_SCHEMA_ID

    def error(code: DecodeErrorCode, detail: str) -> tuple[DecodeError, bool]:
        return DecodeError(code, pos, template_id, detail, schema_id), is_app

    if known_version is None:
        return error(DecodeErrorCode.UNKNOWN_SCHEMA, f"schemaId {schema_id} is not 2748 or 101")
    if version > known_version:
        return error(DecodeErrorCode.UNKNOWN_VERSION,
                     f"version {version} of schema {schema_id} is newer than {known_version}")
    known = _m.DECODERS.get((schema_id, template_id))
    if known is None:
        return error(DecodeErrorCode.UNKNOWN_TEMPLATE, f"templateId {template_id} not in schema {schema_id}")
    cls, decoder = known
    if block_length < cls.BLOCK_LENGTH:
        return error(DecodeErrorCode.BLOCK_LENGTH_TOO_SMALL,
                     f"{cls.__name__} blockLength {block_length} < {cls.BLOCK_LENGTH}")
    if pos + _PREFIX_SIZE + block_length > end:
        return error(DecodeErrorCode.BLOCK_BEYOND_FRAME,
                     f"{cls.__name__} blockLength {block_length} runs past the frame ({end - pos} bytes)")
    entry = decoder(payload, pos + _PREFIX_SIZE, block_length, end)
    if entry is None:
        entry = _diagnose(payload, pos, block_length, end)
    return entry, is_app


def _diagnose(payload, pos: int, block_length: int, end: int) -> DecodeError:
    """Name the cause after a generated decoder returned None (enum value or var data)."""
    _, template_id, schema_id, _ = _m.MESSAGE_HEADER.unpack_from(payload, pos + 6)
    cls = _m.DECODERS[(schema_id, template_id)][0]
    body = pos + _PREFIX_SIZE

    def error(code: DecodeErrorCode, detail: str) -> DecodeError:
        return DecodeError(code, pos, template_id, f"{cls.__name__}.{detail}", schema_id)

    for name, offset, enum_cls, null in cls.ENUM_FIELDS:
        value = payload[body + offset]
        if value != null and value not in enum_cls._value2member_map_:
            return error(DecodeErrorCode.ENUM_OUT_OF_RANGE, f"{name} = {value} is not a {enum_cls.__name__}")
    cursor = body + block_length
    for name, is_string in cls.VAR_DATA:
        if cursor + 2 > end:
            return error(DecodeErrorCode.VAR_DATA_BEYOND_FRAME, f"{name}: length field past the frame")
        (length,) = _U16.unpack_from(payload, cursor)
        if cursor + 2 + length > end:
            return error(DecodeErrorCode.VAR_DATA_BEYOND_FRAME, f"{name}: {length} bytes past the frame")
        if is_string:
            try:
                bytes(payload[cursor + 2:cursor + 2 + length]).decode("utf-8")
            except UnicodeDecodeError:
                return error(DecodeErrorCode.INVALID_UTF8, f"{name}: not UTF-8")
        cursor += 2 + length
    return error(DecodeErrorCode.VAR_DATA_BEYOND_FRAME, "undecodable var data")


def _unsequenced(entry: Message, pos: int) -> DecodeError:
    return DecodeError(DecodeErrorCode.NOT_STARTING_WITH_SEQUENCE, pos, entry.TEMPLATE_ID,
                       f"{entry.__class__.__name__} in a datagram that does not start with Sequence",
                       entry.SCHEMA_ID)


def _datagram_size_error(size: int) -> DecodeError:
    if size == 0:
        return DecodeError(DecodeErrorCode.EMPTY_DATAGRAM, 0, 0, "empty datagram")
    return DecodeError(DecodeErrorCode.DATAGRAM_TOO_LARGE, 0, 0,
                       f"datagram of {size} bytes exceeds {MAX_DATAGRAM_SIZE}")


def _tail_error(payload, pos: int, size: int, count: int) -> DecodeError:
    """Too many frames, or fewer than 14 bytes left (then the SOFH's own complaint if readable)."""
    if count >= MAX_MESSAGES_PER_DATAGRAM:
        return DecodeError(DecodeErrorCode.TOO_MANY_MESSAGES, pos, 0,
                           f"more than {MAX_MESSAGES_PER_DATAGRAM} messages in one datagram")
    if size - pos >= _m.SOFH_SIZE:
        length, encoding = _m.SOFH.unpack_from(payload, pos)
        if encoding != _ENCODING or length < _PREFIX_SIZE or pos + length > size:
            return _framing_error(pos, length, encoding, size)
    return DecodeError(DecodeErrorCode.TRUNCATED_FRAME, pos, 0,
                       f"{size - pos} bytes left, a frame needs at least {_PREFIX_SIZE}")


def _framing_error(pos: int, length: int, encoding: int, size: int) -> DecodeError:
    if encoding != _ENCODING:
        return DecodeError(DecodeErrorCode.WRONG_ENCODING_TYPE, pos, 0,
                           f"SOFH encoding type {encoding:#06x}, expected 0xeb50")
    if length < _PREFIX_SIZE:
        return DecodeError(DecodeErrorCode.SOFH_LENGTH_TOO_SMALL, pos, 0,
                           f"SOFH length {length} < {_PREFIX_SIZE}")
    return DecodeError(DecodeErrorCode.SOFH_LENGTH_BEYOND_DATAGRAM, pos, 0,
                       f"SOFH length {length} at offset {pos} runs past the datagram ({size} bytes)")


def frame_consumes_seq_no(entry: Message | DecodeError) -> bool:
    """True if this entry (after a leading Sequence) takes the next client sequence number.

    Every frame of the application schema does, decoded or not, so that a reject can name it by
    RefSeqNum; FIXP session frames and errors that broke the framing do not.
    """
    if entry.__class__ is DecodeError:
        return entry.schema_id == _m.UDPROUTER_SCHEMA_ID and entry.code not in FATAL_CODES
    return entry.IS_APPLICATION


# ---- rejects --------------------------------------------------------------------------------

_REJECT_REASONS = {
    DecodeErrorCode.UNKNOWN_SCHEMA: BusinessRejectReason.UnsupportedMessageType,
    DecodeErrorCode.UNKNOWN_VERSION: BusinessRejectReason.UnsupportedMessageType,
    DecodeErrorCode.UNKNOWN_TEMPLATE: BusinessRejectReason.UnsupportedMessageType,
    DecodeErrorCode.ENUM_OUT_OF_RANGE: BusinessRejectReason.InvalidEnumValue,
}


def business_reject_reason(error: DecodeError) -> BusinessRejectReason:
    """The BusinessRejectReason that answers a frame which failed to decode."""
    return _REJECT_REASONS.get(error.code, BusinessRejectReason.MalformedMessage)


# ---- encoding -------------------------------------------------------------------------------

_ENCODE_FAILURES = (struct.error, ValueError, TypeError, AttributeError, OverflowError)


def encode_message(msg: Message) -> bytes:
    """One SOFH-framed message. Raises EncodeError for values the layout cannot hold."""
    encoder = _m.ENCODERS.get(msg.__class__)
    if encoder is None:
        raise EncodeError(f"not an SBE message: {msg.__class__.__name__}")
    try:
        return encoder(msg)
    except _ENCODE_FAILURES as exc:
        raise EncodeError(f"{msg.__class__.__name__}: {exc}") from exc


def encode_datagram(msgs: Iterable[Message]) -> bytes:
    """Framed messages back to back, checked against the datagram limits (1472 bytes, 64 frames)."""
    frames = [encode_message(m) for m in msgs]
    payload = b"".join(frames)
    if len(frames) > MAX_MESSAGES_PER_DATAGRAM or len(payload) > MAX_DATAGRAM_SIZE:
        raise EncodeError(f"datagram of {len(frames)} messages / {len(payload)} bytes exceeds "
                          f"{MAX_MESSAGES_PER_DATAGRAM} messages / {MAX_DATAGRAM_SIZE} bytes")
    return payload


def encode_sequenced_datagram(next_seq_no: int, msgs: Iterable[Message]) -> bytes:
    """A Sequence(next_seq_no) followed by msgs: the datagram shape of every application batch."""
    return encode_datagram([Sequence(next_seq_no), *msgs])


# ---- strict helpers (tools and tests, never the hot path) -----------------------------------

def decode_message(frame: bytes) -> Message:
    """Exactly one framed message, or DecodeFailed carrying the DecodeError."""
    entries = decode_frames(frame)
    if len(entries) != 1:
        detail = f"expected one frame, found {len(entries)}"
        raise DecodeFailed(next((e for e in entries if isinstance(e, DecodeError)),
                                DecodeError(DecodeErrorCode.TOO_MANY_MESSAGES, 0, 0, detail)))
    if isinstance(entries[0], DecodeError):
        raise DecodeFailed(entries[0])
    return entries[0]
