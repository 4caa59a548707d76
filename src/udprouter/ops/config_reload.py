"""ConfigReloader: SIGHUP re-reads the config file and applies keys, risk limits and instrument limits.

Sessions stay up: established sessions keep the key they logged in with, and every later login
and gRPC call is checked against the new keys. The risk checks (Python and the C fast path) take
the new limits at once, between two datagrams. Everything else (ports, engine, journal, timing)
needs a restart, so a file that changes it, or adds or removes an instrument, or changes a tick,
or does not load at all is refused: one log line naming the key, and the old config stays in
force. The engine's own instrument limits (its backstop) take the new values at its next start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

import msgspec

from udprouter.config import KeyConfig, RouterConfig, instruments_of, load_config
from udprouter.errors import ConfigError
from udprouter.fastpath.fast_ingest import limits_table
from udprouter.ops.oplog import get_logger

if TYPE_CHECKING:
    from udprouter.fastpath.fast_ingest import FastIngest
    from udprouter.order_entry import OrderEntry
    from udprouter.risk import Risk

RELOADABLE_SESSION_FIELDS = ("max_open_orders", "throttle_msgs_per_s")
FIXED_SECTIONS = ("udp", "grpc", "metrics", "engine", "journal")

log = get_logger()


class KeyTable(Protocol):
    """Something that checks logins or calls against the configured keys."""

    def set_keys(self, keys: Iterable[KeyConfig]) -> None: ...


class ConfigReloader:
    def __init__(self, path: str | None, config: RouterConfig, key_tables: Iterable[KeyTable], risk: Risk,
                 fast: FastIngest, order_entry: OrderEntry) -> None:
        """Changes, on a reload that passes its checks: config in place (the running config, which
        the supervisor also holds: a restarted engine gets the new limits), every key table (the
        UDP sessions' Authenticator, the gRPC trading keys' BearerAuthenticator), risk's limits,
        the fast path's copy of them and the order entry's per-instrument statistics."""
        self.path = path
        self.config = config
        self.key_tables = tuple(key_tables)
        self.risk = risk
        self.fast = fast
        self.order_entry = order_entry
        self.applied = 0
        self.refused = 0

    def reload(self) -> bool:
        if self.path is None:
            self.refused += 1
            log.error("config_reload_refused", file="<built-in>",
                      error="the router runs on the built-in config: there is no file to read again")
            return False
        try:
            new = load_config(self.path)
            changes = self._check(self.config, new)
        except ConfigError as exc:
            self.refused += 1
            log.error("config_reload_refused", file=self.path, error=str(exc))
            return False
        self._apply(new)
        self.applied += 1
        log.info("config_reloaded", file=self.path, keys=len(new.keys), instruments=len(new.instruments),
                 changed=",".join(changes) or "nothing")
        return True

    @staticmethod
    def _check(old: RouterConfig, new: RouterConfig) -> list[str]:
        """The reloadable parts that changed; ConfigError naming the first change that needs a restart."""
        for name in FIXED_SECTIONS:
            before, after = msgspec.to_builtins(getattr(old, name)), msgspec.to_builtins(getattr(new, name))
            for key in sorted(set(before) | set(after)):
                if before.get(key) != after.get(key):
                    raise ConfigError(f"{name}.{key}: changing it needs a restart (reload applies keys, "
                                      "risk limits and instrument limits)")
        before, after = msgspec.to_builtins(old.session), msgspec.to_builtins(new.session)
        for key in sorted(before):
            if key not in RELOADABLE_SESSION_FIELDS and before[key] != after[key]:
                raise ConfigError(f"session.{key}: changing it needs a restart")
        old_ids = [inst.security_id for inst in old.instruments]
        new_ids = [inst.security_id for inst in new.instruments]
        if sorted(old_ids) != sorted(new_ids):
            raise ConfigError("instruments: adding or removing an instrument needs a restart "
                              f"(running {sorted(old_ids)}, file has {sorted(new_ids)})")
        old_ticks = {i.security_id: i for i in instruments_of(old).values()}
        for index, inst in enumerate(instruments_of(new).values()):
            if inst.tick != old_ticks[inst.security_id].tick:
                raise ConfigError(f"instruments[{index}].tick: changing a tick needs a restart")
        changes = [f"session.{k}" for k in RELOADABLE_SESSION_FIELDS if before[k] != after[k]]
        if msgspec.to_builtins(old.keys) != msgspec.to_builtins(new.keys):
            changes.append("keys")
        if msgspec.to_builtins(old.instruments) != msgspec.to_builtins(new.instruments):
            changes.append("instruments")
        return changes

    def _apply(self, new: RouterConfig) -> None:
        config = self.config  # the supervisor holds the same object: a restarted engine gets the new limits
        config.keys, config.instruments = new.keys, new.instruments
        config.session.max_open_orders = new.session.max_open_orders
        config.session.throttle_msgs_per_s = new.session.throttle_msgs_per_s
        for table in self.key_tables:
            table.set_keys(new.keys)
        risk = self.risk
        risk.instruments = instruments_of(new)
        risk.max_open_orders = new.session.max_open_orders
        risk.throttle_per_s = float(new.session.throttle_msgs_per_s)
        self.fast.set_limits(*limits_table(risk))
        self.order_entry.set_stat_instruments(sorted(risk.instruments))
