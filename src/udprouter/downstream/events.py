"""Engine events as `udprouter-events` writes them and as they go on the stream (protocol/DOWNSTREAM.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from udprouter.config import RouterConfig, instruments_of, resolve_engine_binary
from udprouter.downstream._generated import downstream_events_pb2 as pb
from udprouter.durability.journal_format import EVENT_FRAME as FRAME
from udprouter.durability.journal_format import FRAME_FLAG_QUERY as FLAG_QUERY
from udprouter.ring_records import (
    EVT_ACCEPTED,
    EVT_ACCOUNT_UPDATED,
    EVT_CANCEL_REJECTED,
    EVT_CANCELED,
    EVT_MASS_ACTION_REPORT,
    EVT_ORDER_STATUS,
    EVT_REJECTED,
    EVT_REPLACED,
    EVT_SESSION_RESET,
    EVT_TRADE,
    FLAG_AGGRESSOR,
    FLAG_LAST,
    FLAG_REFUSED,
    FLAG_TO_REPLACE,
)

# Published as executions: the order events, and a session reset (a released session id reset for
# reuse, its orders' cancels before it), which the store reads as changing no order (DOWNSTREAM.md).
EXECUTION_KINDS = frozenset((EVT_ACCEPTED, EVT_TRADE, EVT_CANCELED, EVT_REPLACED, EVT_REJECTED,
                             EVT_CANCEL_REJECTED, EVT_SESSION_RESET))
SUBJECT_PREFIX = "udprouter.exec"
ADMIN_PREFIX = "udprouter.admin"
SUBJECTS = (f"{SUBJECT_PREFIX}.>", f"{ADMIN_PREFIX}.>")  # the stream's
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


def encode(engine_id: int, frame: bytes) -> Outgoing | None:
    """One frame (FRAME, 80 bytes) -> the JetStream message: subject, EngineEvent payload, headers. None for
    the events the stream leaves out (protocol/DOWNSTREAM.md): answers to reads (order status, an
    account Query), which change nothing."""
    (command_seq, cl_ord_id, orig_cl_ord_id, order_id, price, session_id, security_id, qty, leaves_qty,
     cum_qty,     kind, side, reason, flags, event_index, account, recv_time_ns) = FRAME.unpack(frame)
    event = pb.EngineEvent(engine_id=engine_id, command_seq=command_seq, event_index=event_index,
                           recv_time_ns=recv_time_ns)
    if kind in EXECUTION_KINDS:
        event.execution.CopyFrom(pb.Execution(
            kind=kind, session_id=session_id, account=account, security_id=security_id, cl_ord_id=cl_ord_id,
            orig_cl_ord_id=orig_cl_ord_id, order_id=order_id, price=price, qty=qty, leaves_qty=leaves_qty,
            cum_qty=cum_qty, side=side, reason=reason, aggressor=bool(flags & FLAG_AGGRESSOR),
            last_of_command=bool(flags & FLAG_LAST), to_replace=bool(flags & FLAG_TO_REPLACE)))
        subject = f"{SUBJECT_PREFIX}.{account}.{security_id}"
    elif kind == EVT_ACCOUNT_UPDATED and not flags & FLAG_QUERY:
        # ring_abi.h: orig_cl_ord_id = the account acted on, reason = the control, price = the value
        event.admin_action.CopyFrom(pb.AdminAction(
            account=orig_cl_ord_id, control=reason, value=price, refused=bool(flags & FLAG_REFUSED),
            orders_canceled=qty, session_id=session_id, request_id=cl_ord_id))
        subject = f"{ADMIN_PREFIX}.{orig_cl_ord_id}"
    elif kind == EVT_MASS_ACTION_REPORT:
        event.mass_action.CopyFrom(pb.MassActionReport(
            session_id=session_id, account=account, security_id=security_id, side=side, cl_ord_id=cl_ord_id,
            orders_canceled=qty, refused=bool(flags & FLAG_REFUSED),
            reject_reason=reason if flags & FLAG_REFUSED else 0))
        subject = f"{ADMIN_PREFIX}.{account}"
    elif kind == EVT_ORDER_STATUS or kind == EVT_ACCOUNT_UPDATED:
        return None
    else:
        raise ValueError(f"event {command_seq}.{event_index}: unknown kind {kind}")
    event_id = EventId(command_seq, event_index)
    headers = {"Nats-Msg-Id": event_id.msg_id(engine_id), H_ENGINE: str(engine_id),
               H_COMMAND: str(command_seq), H_INDEX: str(event_index)}
    return Outgoing(event_id, subject, event.SerializeToString(), headers)


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
            "--max-orders", str(config.engine.max_orders), "--max-sessions", str(config.engine.max_sessions),
            "--terminal-orders", "0"]  # the replay answers no order status: no table to fill
    for inst in instruments_of(config).values():
        args += ["--instrument", inst.engine_arg()]
    if config.engine.self_match_prevention:
        args.append("--self-match-prevention")
    if after is not None:
        args += ["--from-command", str(after.command_seq), "--from-index", str(after.event_index + 1)]
    if follow:
        args.append("--follow")
    return args
