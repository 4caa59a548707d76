"""AdminService: udprouter.admin.v1.Admin, the operator's controls on a running router.

Calls authenticate with an admin key ([[admin_keys]]), never a trading key, as
`authorization: Bearer <key_id>:<secret>`. Kill switch, mass cancel and limits are engine commands
(account_controls.ControlDesk): journaled, so they survive a router or an engine crash. Every call
that changes something is logged with the admin key that made it, before it is applied and with
its outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc

from udprouter.account_controls import ControlDesk, ControlRefused
from udprouter.config import ACCOUNT_ID_LIMIT as ACCOUNT_LIMIT
from udprouter.config import KeyConfig
from udprouter.ring import EV_QTY
from udprouter.server_session import SessionState

from ._generated.admin.v1 import admin_pb2 as pb
from ._generated.admin.v1 import admin_pb2_grpc as pb_grpc
from .bearer_auth import BearerAuthenticator

if TYPE_CHECKING:
    from udprouter.server_session import ServerSession
    from udprouter.session import SessionLayer

log = logging.getLogger("udprouter.admin")

# Admin enum <-> engine SmpMode (account_table.h: 0 none, 1 cancel resting, 2 aggressing, 3 both)
_SMP_TO_ENGINE = {pb.SELF_MATCH_PREVENTION_MODE_NONE: 0,
                  pb.SELF_MATCH_PREVENTION_MODE_CANCEL_RESTING: 1,
                  pb.SELF_MATCH_PREVENTION_MODE_CANCEL_AGGRESSING: 2,
                  pb.SELF_MATCH_PREVENTION_MODE_CANCEL_BOTH: 3}
_SMP_FROM_ENGINE = {v: k for k, v in _SMP_TO_ENGINE.items()}
_LIMITS = ("max_order_notional", "max_open_notional", "max_position", "max_orders_per_s")
_STATES = {SessionState.NEGOTIATED: pb.SESSION_STATE_NEGOTIATED,
           SessionState.ESTABLISHED: pb.SESSION_STATE_ESTABLISHED,
           SessionState.TERMINATED: pb.SESSION_STATE_TERMINATED}


class AdminService(pb_grpc.AdminServicer):
    def __init__(self, controls: ControlDesk, sessions: SessionLayer,
                 disconnect: Callable[[ServerSession, str], bool], auth: BearerAuthenticator,
                 trading_keys: list[KeyConfig], grpc_sessions: dict) -> None:
        self.controls = controls  # kill switch, mass cancel, limits: engine commands
        self.sessions = sessions  # the UDP session table (read: listed, looked up)
        self.disconnect = disconnect  # Dispatcher.disconnect: terminates a UDP session
        self.auth = auth  # the admin keys
        self.accounts_by_key = {key.key_id: key.account for key in trading_keys}
        self.grpc_sessions = grpc_sessions  # OrderEntryService.sessions (read: listed too)

    async def _admin(self, context) -> str:
        key = self.auth.authenticate(context.invocation_metadata())
        if key is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED,
                                "authorization metadata 'Bearer <admin_key_id>:<secret>' missing or wrong")
        return key.key_id

    async def _account(self, context, account: int) -> int:
        if not 0 < account < ACCOUNT_LIMIT:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"account: expected 1..{ACCOUNT_LIMIT - 1}")
        return account

    async def _engine(self, context, coro):
        try:
            return await coro
        except ControlRefused as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE if "not available" in str(exc)
                                else grpc.StatusCode.INVALID_ARGUMENT, str(exc))

    # -- accounts -------------------------------------------------------------------------------

    async def SetKillSwitch(self, request, context):
        admin = await self._admin(context)
        account = request.account
        if request.key_id:
            if request.key_id not in self.accounts_by_key:
                await context.abort(grpc.StatusCode.NOT_FOUND, f"key_id: no trading key {request.key_id!r}")
            account = self.accounts_by_key[request.key_id]
        await self._account(context, account)
        on = request.enabled
        log.warning("admin %s: kill switch %s for account %d", admin, "ON" if on else "off", account)
        event = await self._engine(context, self.controls.account_control(account, "kill_switch", int(on)))
        canceled = event[EV_QTY]
        log.warning("admin %s: kill switch account %d done, %d orders canceled", admin, account, canceled)
        return pb.SetKillSwitchResponse(account=account, enabled=on, canceled_orders=canceled)

    async def MassCancel(self, request, context):
        admin = await self._admin(context)
        account = await self._account(context, request.account)
        log.warning("admin %s: mass cancel account %d security %d side %d", admin, account,
                    request.security_id, request.side)
        event = await self._engine(context, self.controls.mass_cancel(
            account=account, security_id=request.security_id, side=request.side))
        log.warning("admin %s: mass cancel account %d done, %d orders canceled", admin, account,
                    event[EV_QTY])
        return pb.MassCancelResponse(canceled_orders=event[EV_QTY])

    async def GetRiskLimits(self, request, context):
        await self._admin(context)
        account = await self._account(context, request.account)
        return pb.GetRiskLimitsResponse(account=account, limits=await self._limits(context, account))

    async def SetRiskLimits(self, request, context):
        admin = await self._admin(context)
        account = await self._account(context, request.account)
        limits = request.limits
        changes = [(name, getattr(limits, name)) for name in _LIMITS if limits.HasField(name)]
        smp = request.limits.self_match_prevention
        if smp != pb.SELF_MATCH_PREVENTION_MODE_UNSPECIFIED:
            if smp not in _SMP_TO_ENGINE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"self_match_prevention: {smp} unknown")
            changes.append(("smp", _SMP_TO_ENGINE[smp]))
        for name, value in changes:
            if value >= 2**63:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name}: expected below 2^63")
        log.warning("admin %s: account %d limits %s", admin, account,
                    ", ".join(f"{name}={value}" for name, value in changes) or "(none)")
        for name, value in changes:
            await self._engine(context, self.controls.account_control(account, name, value))
        return pb.SetRiskLimitsResponse(account=account, limits=await self._limits(context, account))

    async def _limits(self, context, account: int) -> pb.RiskLimits:
        state = await self._engine(context, self.controls.account_state(account))
        limits = pb.RiskLimits(self_match_prevention=_SMP_FROM_ENGINE[state["smp"]],
                               kill_switch=bool(state["kill_switch"]))
        for name in _LIMITS:
            setattr(limits, name, state[name])
        return limits

    # -- sessions -------------------------------------------------------------------------------

    async def ListSessions(self, request, context):
        await self._admin(context)
        out = pb.ListSessionsResponse()
        for session in self.sessions.by_uuid.values():
            out.sessions.append(self._info(session, f"{session.addr[0]}:{session.addr[1]}"
                                           if session.addr else ""))
        for grpc_session in self.grpc_sessions.values():
            out.sessions.append(self._info(grpc_session.flow, "grpc"))
        out.sessions.sort(key=lambda s: s.session_id)
        return out

    @staticmethod
    def _info(session, address: str) -> pb.SessionInfo:
        return pb.SessionInfo(session_id=session.session_id, key_id=session.key.key_id,
                              account=session.key.account, state=_STATES.get(session.state, 0),
                              address=address, cancel_on_disconnect_type=session.cod_type,
                              next_inbound_seq_no=session.next_inbound,
                              next_outbound_seq_no=session.next_outbound)

    async def DisconnectSession(self, request, context):
        admin = await self._admin(context)
        sessions = self.sessions.by_uuid.values()
        session = next((s for s in sessions if s.session_id == request.session_id), None)
        if session is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"session_id: no UDP session {request.session_id}")
        disconnected = self.disconnect(session, f"disconnected by admin {admin}")
        log.warning("admin %s: disconnect session %d (%s)", admin, session.session_id,
                    "terminated" if disconnected else "was not established")
        return pb.DisconnectSessionResponse(disconnected=disconnected)
