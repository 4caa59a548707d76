"""Engine events as `udprouter-events` writes them and as they go on the stream (protocol/DOWNSTREAM.md)."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from udprouter.config import RouterConfig, instruments_of, resolve_engine_binary
from udprouter.downstream._generated import downstream_events_pb2 as pb

# engine/src/events_main.cpp EventFrame: udr_event (ring_abi.h) + event_index, account, recv_time_ns.
FRAME = struct.Struct("<QQQQqIiIIIBBBBIIQ")
assert FRAME.size == 80
FLAG_LAST, FLAG_AGGRESSOR, FLAG_TO_REPLACE = 1, 2, 4  # UDR_EVT_FLAG_*
SUBJECT_PREFIX = "udprouter.exec"
STREAM = "UDPROUTER_EXEC"
# Headers of every message (besides Nats-Msg-Id): enough to resume without decoding the payload.
H_ENGINE, H_COMMAND, H_INDEX = "Udr-Engine", "Udr-Command-Seq", "Udr-Event-Index"


@dataclass(frozen=True, slots=True)
class EventId:
    """The engine's event sequence: (command_seq, event_index), ordered, the same on every replay."""

    command_seq: int
    event_index: int

    def msg_id(self, engine_id: int) -> str:
        return f"{engine_id}-{self.command_seq}-{self.event_index}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    event_id: EventId
    subject: str
    payload: bytes
    headers: dict[str, str]


def encode(engine_id: int, frame: bytes) -> Outgoing:
    """One 80-byte frame -> the JetStream message: subject, EngineEvent payload, headers."""
    (command_seq, cl_ord_id, orig_cl_ord_id, order_id, price, session_id, security_id, qty, leaves_qty,
     cum_qty,     kind, side, reason, flags, event_index, account, recv_time_ns) = FRAME.unpack(frame)
    event = pb.EngineEvent(
        engine_id=engine_id, command_seq=command_seq, event_index=event_index, recv_time_ns=recv_time_ns,
        execution=pb.Execution(
            kind=kind, session_id=session_id, account=account, security_id=security_id, cl_ord_id=cl_ord_id,
            orig_cl_ord_id=orig_cl_ord_id, order_id=order_id, price=price, qty=qty, leaves_qty=leaves_qty,
            cum_qty=cum_qty, side=side, reason=reason, aggressor=bool(flags & FLAG_AGGRESSOR),
            last_of_command=bool(flags & FLAG_LAST), to_replace=bool(flags & FLAG_TO_REPLACE)))
    event_id = EventId(command_seq, event_index)
    headers = {"Nats-Msg-Id": event_id.msg_id(engine_id), H_ENGINE: str(engine_id),
               H_COMMAND: str(command_seq), H_INDEX: str(event_index)}
    return Outgoing(event_id, f"{SUBJECT_PREFIX}.{account}.{security_id}", event.SerializeToString(), headers)


def decode(payload: bytes) -> pb.EngineEvent:
    event = pb.EngineEvent()
    event.ParseFromString(payload)
    return event


def events_binary(config: RouterConfig) -> Path:
    """udprouter-events, built beside the engine binary."""
    return resolve_engine_binary(config).with_name("udprouter-events")


def events_command(config: RouterConfig, journal: str | Path, after: EventId | None,
                   follow: bool) -> list[str]:
    """The replay's command line: the engine's own configuration, so its events are the engine's."""
    args = [str(events_binary(config)), "--journal", str(journal),
            "--max-orders", str(config.engine.max_orders), "--max-sessions", str(config.engine.max_sessions)]
    for inst in instruments_of(config).values():
        args += ["--instrument", inst.engine_arg()]
    if config.engine.self_match_prevention:
        args.append("--self-match-prevention")
    if after is not None:
        args += ["--from-command", str(after.command_seq), "--from-index", str(after.event_index + 1)]
    if follow:
        args.append("--follow")
    return args
