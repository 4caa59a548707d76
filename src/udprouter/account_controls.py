"""Account controls and other router-issued engine commands (limits, SMP mode, kill switch, mass cancel).

These are engine commands like any order (ring_abi.h ACCOUNT_CONTROL, MASS_CANCEL): journaled, so a
replay after a crash restores them. [[accounts]] in the config seeds a new journal (seed_from_config);
after that the Admin API changes them. The engine addresses its answer to a command the router issued
itself (ACCOUNT_UPDATED, the OrderMassActionReport of an admin mass cancel) to session 0: ControlDesk
is that session's sink and resolves the caller's future by command_seq.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from udprouter._ring_cffi import lib
from udprouter.config import ACCOUNT_LIMITS, SMP_MODES, AccountConfig
from udprouter.order_entry import CANCEL_REASON_MASS_CANCEL, OrderEntry
from udprouter.ring import (
    EV_COMMAND_SEQ,
    EV_FLAGS,
    EV_KIND,
    EV_PRICE,
    EV_QTY,
    EV_REASON,
    EVT_ACCOUNT_UPDATED,
    EVT_MASS_ACTION_REPORT,
    FLAG_REFUSED,
)

log = logging.getLogger("udprouter.controls")

# AccountControl ids (engine/include/udprouter/engine/account_table.h)
CONTROL_IDS = {"max_order_notional": 1, "max_open_notional": 2, "max_position": 3, "max_orders_per_s": 4,
               "smp": 5, "kill_switch": 6}
CONTROL_NAMES = {v: k for k, v in CONTROL_IDS.items()}
QUERY = 0  # AccountControl::Query
ROUTER_SESSION = 0  # the engine's address for the router itself


class ControlRefused(Exception):
    """The engine refused the command (a bad value), or it could not be offered (engine busy/down)."""


def config_controls(accounts: Iterable[AccountConfig]) -> list[tuple[int, int, int]]:
    """(account, control id, value) for every limit and SMP mode the config names."""
    out = []
    for acct in accounts:
        for name in ACCOUNT_LIMITS:
            out.append((acct.account, CONTROL_IDS[name], getattr(acct, name)))
        out.append((acct.account, CONTROL_IDS["smp"], SMP_MODES[acct.smp]))
    return out


class ControlDesk:
    """Issues control commands and hands back the engine's answer (an event tuple) per command."""

    def __init__(self, order_entry: OrderEntry) -> None:
        self.order_entry = order_entry
        # command_seq -> (future, events expected, events so far)
        self._waiting: dict[int, tuple[asyncio.Future, int, list]] = {}
        order_entry.register_sink(ROUTER_SESSION, self._on_events)

    def seed_from_config(self, accounts: list[AccountConfig]) -> int:
        """Sends the config's account controls (a new journal only: the caller decides); returns how many."""
        controls = config_controls(accounts)
        for account, control, value in controls:
            self._offer(lib.UDR_CMD_ACCOUNT_CONTROL, account=account, ord_type=control, value=value)
        self.order_entry.flush()
        if controls:
            log.info("accounts: %d controls for %d accounts from the config", len(controls), len(accounts))
        return len(controls)

    async def account_control(self, account: int, control: str, value: int) -> tuple:
        """Sets one control; returns the ACCOUNT_UPDATED event (its qty: orders a kill switch canceled)."""
        (event,) = await self._call(lib.UDR_CMD_ACCOUNT_CONTROL, account=account,
                                    ord_type=CONTROL_IDS[control], value=value)
        return event

    async def account_state(self, account: int) -> dict[str, int]:
        """Every control of the account as the engine holds it now ({name: value})."""
        events = await self._call(lib.UDR_CMD_ACCOUNT_CONTROL, account=account, ord_type=QUERY,
                                  expect=len(CONTROL_IDS))
        return {CONTROL_NAMES[ev[EV_REASON]]: ev[EV_PRICE] for ev in events}

    async def mass_cancel(self, *, session_id: int = 0, account: int = 0, security_id: int = 0, side: int = 0,
                          reason: int = CANCEL_REASON_MASS_CANCEL) -> tuple:
        """Cancels the matching orders (0 = any); returns the report event (its qty: orders canceled)."""
        (event,) = await self._call(lib.UDR_CMD_MASS_CANCEL, session_id=session_id, account=account,
                                    security_id=security_id, side=side, ord_type=reason)
        return event

    async def _call(self, kind: int, expect: int = 1, **fields) -> list[tuple]:
        """Offers the command and waits for the `expect` events the engine addresses to the router."""
        seq = self._offer(kind, **fields)
        future = asyncio.get_running_loop().create_future()
        self._waiting[seq] = (future, expect, [])
        self.order_entry.flush()
        events = await future
        if events[0][EV_FLAGS] & FLAG_REFUSED:
            raise ControlRefused(f"the engine refused the command (reason {events[0][EV_REASON]})")
        return events

    def _offer(self, kind: int, *, session_id: int = 0, account: int = 0, security_id: int = 0, side: int = 0,
               ord_type: int = 0, value: int = 0) -> int:
        result = self.order_entry.command(kind, session_id, account, security_id=security_id, side=side,
                                          ord_type=ord_type, value=value)
        if result.__class__ is not int:
            raise ControlRefused(f"engine not available ({result.business_reject_reason.name})")
        return result

    def _on_events(self, events: list[tuple]) -> None:
        for ev in events:
            kind = ev[EV_KIND]
            if kind != EVT_ACCOUNT_UPDATED and kind != EVT_MASS_ACTION_REPORT:
                continue
            waiting = self._waiting.get(ev[EV_COMMAND_SEQ])
            if waiting is not None:
                future, expect, got = waiting
                got.append(ev)
                if len(got) == expect or ev[EV_FLAGS] & FLAG_REFUSED:
                    del self._waiting[ev[EV_COMMAND_SEQ]]
                    if not future.done():
                        future.set_result(got)
            elif ev[EV_FLAGS] & FLAG_REFUSED:
                log.warning("engine refused router command %d (kind %d)", ev[EV_COMMAND_SEQ], kind)
            else:
                log.debug("router command %d done, %d orders", ev[EV_COMMAND_SEQ], ev[EV_QTY])
