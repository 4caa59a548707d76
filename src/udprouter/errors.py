"""The one small exception tree of udprouter.

Exceptions are for the cold path only (startup, configuration, supervision, strict helpers used by
tools and tests). Hot-path outcomes (a malformed frame, a full ring, a risk reject) are returned
values: udprouter.codec.DecodeError, enums, never exceptions.

    UdprouterError
    +-- CodecError
    |   +-- EncodeError        a message that cannot be encoded (field out of range, wrong size)
    |   +-- DecodeFailed       raised by strict decode helpers only; carries the DecodeError value
    +-- ConfigError            a bad config file or option; the message names the key
    +-- EngineError            the engine process could not be started, attached or supervised
    +-- SessionError           a session-level operation that cannot proceed (client side, tools)
"""

from __future__ import annotations


class UdprouterError(Exception):
    """Root of every exception udprouter raises on purpose."""


class CodecError(UdprouterError):
    """An SBE/SOFH encoding or decoding problem surfaced as an exception (off the hot path)."""


class EncodeError(CodecError):
    """A message whose field values do not fit the schema's layout."""


class DecodeFailed(CodecError):
    """A strict decode helper met bytes that do not decode; .error is the DecodeError value."""

    def __init__(self, error: object) -> None:
        super().__init__(str(error))
        self.error = error


class ConfigError(UdprouterError):
    """Invalid configuration; the message names the offending key."""


class EngineError(UdprouterError):
    """The matching engine process or its shared-memory ring failed."""


class SessionError(UdprouterError):
    """A FIXP session operation that cannot proceed (e.g. not established, rejected)."""
