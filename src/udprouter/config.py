"""Router configuration: a TOML file decoded into msgspec Structs, with a built-in default.

Every section has defaults, so a file only names what it changes. A wrong key or value raises
ConfigError naming the key path (``instruments[1].tick: expected a decimal string``). Prices are
decimal strings converted exactly (Decimal) to int64 mantissas with the constant exponent -9.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import typing
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import msgspec

from udprouter.errors import ConfigError

PRICE_SCALE = 10**9
ENGINE_BIN_ENV = "UDPROUTER_ENGINE_BIN"
DEFAULT_ENGINE_BIN = Path("build/engine/udprouter-engine")
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_ENGINE_BIN = Path(__file__).resolve().parent / "bin" / "udprouter-engine"  # a wheel's (setup.py)
ACCOUNT_ID_LIMIT = 1 << 20  # the engine's account table (account_table.h kMaxAccount)
DECIMAL_FIELDS = frozenset({"tick", "reference_price", "band"})


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class UdpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = msgspec.field(default=9000)
    # recvmmsg/sendmmsg and the C ingest of the common case (src/udprouter/c); false = the plain
    # asyncio datagram endpoint and the Python decoder for everything (both paths are tested).
    fast_path: bool = True
    # A pass that offered commands waits this long (yielding the CPU) for the engine's events, so
    # an order at a low rate is answered in the same pass instead of after another wake-up; a
    # datagram that arrives meanwhile ends the wait (at high rates the next pass has work).
    answer_wait_us: int = 50
    # Between passes (fast path only): "adaptive" spins on the socket, yielding the CPU, while fewer
    # than low_rate datagrams/s come, up to low_rate_spin_us after the last one, so a datagram at a
    # low rate does not wait for the router's wake-up; "sleep" always waits in epoll.
    wait: Literal["sleep", "adaptive"] = "adaptive"
    low_rate: int = 3000  # from 4,000/s on, the spin cost the p99 more than it saved the p50 (README)
    low_rate_spin_us: int = 2000


class GrpcConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 50051
    enabled: bool = True
    tls_cert: str = ""  # PEM certificate chain; with tls_key, serve TLS (required off loopback)
    tls_key: str = ""  # PEM private key


class MetricsConfig(_Section):
    host: str = "127.0.0.1"
    port: int = 9100
    enabled: bool = True


class EngineSection(_Section):
    binary: str = ""  # empty: $UDPROUTER_ENGINE_BIN, else build/engine/udprouter-engine
    shm_name: str = ""  # empty: udprouter-<16 hex of SHA-256 of the journal dir's real path> (reattached)
    inbound_capacity: int = 65536
    outbound_capacity: int = 262144
    wait: Literal["spin", "sleep", "hybrid", "adaptive"] = "adaptive"
    # hybrid: a short spin catches back-to-back batches; longer ones only burn the core. The engine
    # skips it after 8 misses in a row, trying again every 32nd wait (udprouter_engine_short_spins_total).
    spin_us: int = 5
    low_rate: int = 12000  # adaptive: below this many commands/s the engine spins between batches ...
    low_rate_spin_us: int = 2000  # ... up to this long, yielding the CPU every few looks
    max_orders: int = 1_000_000
    # Filled and canceled orders the engine keeps for OrderStatusRequest, oldest evicted first
    # (40 bytes each plus its index slots); an evicted one answers as unknown. 0: keep none.
    # The engine's snapshot carries them, and the engine stops while it copies its state (the file
    # is written by a thread of its own): 65,536 make a 2.6 MB snapshot, a ~2 ms copy; at
    # 1,000,000 (40 MB) a snapshot written in line stalled the engine ~0.4 s.
    terminal_orders: int = 65_536
    max_sessions: int = 4096
    # The SMP mode of accounts without their own ([[accounts]] smp): on = cancel the resting order.
    self_match_prevention: bool = True
    ready_timeout_s: float = 20.0
    restart_backoff_s: float = 0.2
    max_restarts: int = 10


class JournalConfig(_Section):
    dir: str = "var/journal"
    durability: Literal["none", "os", "fsync"] = "os"
    snapshot_every: int = 1_000_000  # commands between engine snapshots (and one at each stop); 0: never
    router_log_segment_bytes: int = 16 << 20  # a router log segment is closed once it holds this much


OPEN_ORDERS_SHARE = 10  # session.max_open_orders not set: engine.max_orders // this


class SessionConfig(_Section):
    keepalive_ms: int = 5000
    timestamp_window_s: float = 5.0
    retransmit_buffer: int = 65536
    retransmit_max_count: int = 4096
    # Retransmission budget per session: bytes of resent frames per second (and a burst of as many),
    # so RetransmitRequests cannot turn a few bytes in into megabytes out (RetransmitReject beyond).
    retransmit_bytes_per_s: int = 256 << 10
    throttle_msgs_per_s: int = 1_000_000
    # Resting orders per session (beyond it: OrderExceedsLimit). Not set in the file: a tenth of
    # engine.max_orders (OPEN_ORDERS_SHARE), so no one session can fill the engine's order table;
    # set, it may not exceed engine.max_orders. This default is that tenth of the engine's default.
    max_open_orders: int = 100_000
    reject_rate_per_s: float = 10.0
    # Rejects an established session gets that name no sequence number (a frame that breaks the
    # framing, a Sequence out of range): at most this many per second per session (burst as many).
    session_reject_rate_per_s: float = 100.0
    # Live sessions (negotiated and not ended) over all keys and per key; a login beyond either is
    # refused with NegotiationReject(SessionLimit).
    max_sessions: int = 1024
    max_sessions_per_key: int = 1024
    # An ended session (terminated, or its peer silent) is kept this long for a reconnect to
    # resume it (same SessionId: numbers, retransmission), then released with its memory.
    ended_retention_s: float = 60.0
    # Negotiate/Establish signature checks per second over all sources (HMAC work an unauthenticated
    # flood can make the router do); past it such requests are dropped and the client retries.
    login_rate_per_s: float = 2000.0
    # Every client datagram of an established session must end with a right MAC (SPEC.md 4.9).
    # Turn off only to measure its cost: without it a forged source address is accepted.
    authenticate_datagrams: bool = True
    # Upper bound of an Establish's CODTimeoutWindow (a larger one is cut to it).
    cod_timeout_window_max_ms: int = 60_000


class KeyConfig(_Section):
    key_id: str
    secret: str
    account: int
    # A drop-copy key (SPEC 4.12): its sessions are read-only and receive a copy of every execution
    # report of these accounts ("all" or a list); None: an ordinary trading key.
    drop_copy: str | list[int] | None = None

    def copies_account(self, account: int) -> bool:
        return self.drop_copy == "all" or (self.drop_copy is not None and account in self.drop_copy)


class AdminKeyConfig(_Section):
    """A key for the Admin gRPC service (kill switch, limits, sessions): never a trading key."""

    key_id: str
    secret: str


SmpModeName = Literal["none", "cancel_resting", "cancel_aggressing", "cancel_both"]
SMP_MODES: dict[str, int] = {"none": 0, "cancel_resting": 1, "cancel_aggressing": 2, "cancel_both": 3}
ACCOUNT_LIMITS = ("max_order_notional", "max_open_notional", "max_position", "max_orders_per_s")


class AccountConfig(_Section):
    """Per-account controls the engine applies across the account's sessions (0 = no limit).

    Notional limits are in whole price units (Price x OrderQty); max_position is a quantity per
    instrument. They seed a new journal; after that the journal holds them and the Admin API changes
    them (a restart does not put the file's values back over an admin's change).
    """

    account: int
    max_order_notional: int = 0
    max_open_notional: int = 0
    max_position: int = 0
    max_orders_per_s: int = 0
    smp: SmpModeName = "cancel_resting"


class InstrumentConfig(_Section):
    security_id: int
    symbol: str
    tick: str
    reference_price: str
    band: str
    max_qty: int


class RouterConfig(_Section):
    udp: UdpConfig = msgspec.field(default_factory=UdpConfig)
    grpc: GrpcConfig = msgspec.field(default_factory=GrpcConfig)
    metrics: MetricsConfig = msgspec.field(default_factory=MetricsConfig)
    engine: EngineSection = msgspec.field(default_factory=EngineSection)
    journal: JournalConfig = msgspec.field(default_factory=JournalConfig)
    session: SessionConfig = msgspec.field(default_factory=SessionConfig)
    keys: list[KeyConfig] = msgspec.field(default_factory=list)
    admin_keys: list[AdminKeyConfig] = msgspec.field(default_factory=list)
    accounts: list[AccountConfig] = msgspec.field(default_factory=list)
    instruments: list[InstrumentConfig] = msgspec.field(default_factory=list)


class Instrument(msgspec.Struct, frozen=True):
    """An instrument with its prices resolved to -9 mantissas (what risk and the engine use)."""

    security_id: int
    symbol: str
    tick: int
    reference_price: int
    min_price: int
    max_price: int
    max_qty: int

    def engine_arg(self) -> str:
        return f"{self.security_id}:{self.tick}:{self.min_price}:{self.max_price}:{self.max_qty}"


# For local use only: these keys are public (README says so).
DEFAULT_TOML = """
[[keys]]
key_id = "demo"
secret = "demo-secret"
account = 1

[[keys]]
key_id = "demo2"
secret = "demo2-secret"
account = 2

[[admin_keys]]
key_id = "admin"
secret = "admin-secret"

[[instruments]]
security_id = 1
symbol = "ALPHA"
tick = "0.01"
reference_price = "100.00"
band = "0.10"
max_qty = 1000000

[[instruments]]
security_id = 2
symbol = "BRAVO"
tick = "0.01"
reference_price = "100.00"
band = "0.10"
max_qty = 1000000

[[instruments]]
security_id = 3
symbol = "CHARLIE"
tick = "0.01"
reference_price = "100.00"
band = "0.10"
max_qty = 1000000
"""

_PATH_RE = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN_RE = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")


def _error_from_validation(exc: msgspec.ValidationError) -> ConfigError:
    match = _PATH_RE.match(str(exc))
    msg, path = match.group("msg"), (match.group("path") or "").lstrip(".")
    unknown = _UNKNOWN_RE.match(msg)
    if unknown:
        path = f"{path}.{unknown.group('field')}" if path else unknown.group("field")
        return ConfigError(f"{path}: unknown key")
    leaf = re.split(r"[.\[]", path)[-1] if path else ""
    if leaf in DECIMAL_FIELDS:
        return ConfigError(f'{path}: expected a decimal string (e.g. "0.01")')
    msg = msg[:1].lower() + msg[1:]
    choices = _choices(path)
    if choices and msg.startswith("invalid enum value"):
        msg += f" (expected one of {', '.join(map(repr, choices))})"
    return ConfigError(f"{path or '<root>'}: {msg}")


def _choices(path: str) -> tuple | None:
    """The Literal values a section key (e.g. engine.wait) accepts, else None."""
    kind = RouterConfig
    for name in path.split("."):
        hints = typing.get_type_hints(kind) if isinstance(kind, type) else {}
        if name not in hints:
            return None
        kind = hints[name]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else None


def parse_config(text: str) -> RouterConfig:
    """Decode TOML text into a RouterConfig; an empty section list falls back to the defaults."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"<toml>: {exc}") from exc
    try:
        config = msgspec.convert(raw, RouterConfig)
    except msgspec.ValidationError as exc:
        raise _error_from_validation(exc) from exc
    defaults = msgspec.convert(tomllib.loads(DEFAULT_TOML), RouterConfig)
    if "keys" not in raw:
        config.keys = defaults.keys
    if "instruments" not in raw:
        config.instruments = defaults.instruments
    if "admin_keys" not in raw:
        config.admin_keys = defaults.admin_keys
    if "max_open_orders" not in raw.get("session", {}):
        config.session.max_open_orders = max(1, config.engine.max_orders // OPEN_ORDERS_SHARE)
    _check(config)
    return config


def load_config(path: str | os.PathLike[str] | None) -> RouterConfig:
    """Load a config file, or the built-in default (local use only) when path is None."""
    if path is None:
        return parse_config("")
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    return parse_config(text)


# The accepted range of every numeric key (inclusive). A value outside it would be accepted and
# then fail later and quietly (a negative buffer refuses every login, a negative throttle every
# order), or crash the engine's argument parser: the load refuses it instead, naming the range.
_U32 = 2**32 - 1
RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("udp", "port"): (0, 65535),
    ("udp", "answer_wait_us"): (0, 10_000),
    ("udp", "low_rate"): (0, _U32),
    ("udp", "low_rate_spin_us"): (0, 1_000_000),
    ("grpc", "port"): (0, 65535),
    ("metrics", "port"): (0, 65535),
    ("engine", "spin_us"): (0, 1_000_000),
    ("engine", "low_rate"): (0, _U32),
    ("engine", "low_rate_spin_us"): (0, 1_000_000),
    ("engine", "max_orders"): (1, 2**31 - 1),
    ("engine", "terminal_orders"): (0, 2**31 - 2),  # with max_orders, below 2^31 (checked below)
    ("engine", "max_sessions"): (1, 2**24 - 1),  # ExecID holds session_id in 24 bits (SPEC 3)
    ("engine", "ready_timeout_s"): (0.1, 3600),
    ("engine", "restart_backoff_s"): (0, 600),
    ("engine", "max_restarts"): (0, 1_000_000),
    ("journal", "snapshot_every"): (0, 2**63 - 1),
    ("journal", "router_log_segment_bytes"): (1 << 12, 1 << 40),
    ("session", "keepalive_ms"): (100, 60_000),
    ("session", "timestamp_window_s"): (0.001, 300),  # the replay cache holds a window of logins
    ("session", "retransmit_buffer"): (1, 10_000_000),
    ("session", "retransmit_max_count"): (1, 10_000_000),
    ("session", "retransmit_bytes_per_s"): (1, 2**40),
    ("session", "throttle_msgs_per_s"): (1, 10**9),
    ("session", "max_open_orders"): (1, _U32),
    ("session", "reject_rate_per_s"): (0, 1e6),
    ("session", "session_reject_rate_per_s"): (0, 1e6),
    ("session", "login_rate_per_s"): (0.001, 1e7),
    ("session", "max_sessions"): (1, 2**24 - 1),
    ("session", "max_sessions_per_key"): (1, 2**24 - 1),
    ("session", "ended_retention_s"): (0, 86_400 * 30),
}
CAPACITY_RANGE = (2, 2**30)


def _range_text(lo: float, hi: float) -> str:
    return f"{lo}..{hi}"


def _check(config: RouterConfig) -> None:
    for (section, key), (lo, hi) in RANGES.items():
        value = getattr(getattr(config, section), key)
        if not lo <= value <= hi:  # NaN fails this too
            raise ConfigError(f"{section}.{key}: expected {_range_text(lo, hi)}, got {value}")
    for name in ("inbound_capacity", "outbound_capacity"):
        value = getattr(config.engine, name)
        lo, hi = CAPACITY_RANGE
        if not lo <= value <= hi or value & (value - 1):
            raise ConfigError(f"engine.{name}: expected a power of two in {lo}..{hi}, got {value}")
    for name in ("udp", "grpc", "metrics"):
        host = getattr(config, name).host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host != "localhost":
                raise ConfigError(f"{name}.host: expected an IP address or localhost, got {host!r}") from None
    # The engine refuses more (engine.cpp checks the same bound).
    if config.engine.max_orders + config.engine.terminal_orders >= 2**31:
        raise ConfigError(f"engine.terminal_orders: expected max_orders + terminal_orders below 2^31, got "
                          f"{config.engine.terminal_orders}")
    if not config.keys:
        raise ConfigError("keys: expected at least one key (nobody could log in)")
    if not config.instruments:
        raise ConfigError("instruments: expected at least one instrument")
    if config.session.max_open_orders > config.engine.max_orders:
        raise ConfigError(f"session.max_open_orders: expected at most engine.max_orders "
                          f"({config.engine.max_orders}), got {config.session.max_open_orders} (one session "
                          "could take every order slot)")
    if not 0 <= config.session.cod_timeout_window_max_ms < 2**32:
        raise ConfigError("session.cod_timeout_window_max_ms: expected 0..4294967295")
    key_ids = set()
    for i, key in enumerate(config.keys):
        if not key.key_id or ":" in key.key_id:
            raise ConfigError(f"keys[{i}].key_id: expected a non-empty id without ':'")
        if not key.secret:
            raise ConfigError(f"keys[{i}].secret: expected a non-empty secret")
        if key.key_id in key_ids:
            raise ConfigError(f"keys[{i}].key_id: duplicate key id {key.key_id!r}")
        if not 0 <= key.account < 2**32:
            raise ConfigError(f"keys[{i}].account: expected a uint32")
        dc = key.drop_copy
        if dc is not None and dc != "all" and (isinstance(dc, str) or not dc or not all(
                0 <= a < 2**32 for a in dc)):
            raise ConfigError(f'keys[{i}].drop_copy: expected "all" or a non-empty list of uint32 accounts')
        key_ids.add(key.key_id)
    for i, key in enumerate(config.admin_keys):
        if not key.key_id or ":" in key.key_id:
            raise ConfigError(f"admin_keys[{i}].key_id: expected a non-empty id without ':'")
        if key.key_id in key_ids:
            raise ConfigError(f"admin_keys[{i}].key_id: {key.key_id!r} is a trading key too")
        key_ids.add(key.key_id)
    accounts = set()
    for i, acct in enumerate(config.accounts):
        if not 1 <= acct.account < ACCOUNT_ID_LIMIT:
            raise ConfigError(f"accounts[{i}].account: expected 1..{ACCOUNT_ID_LIMIT - 1}")
        if acct.account in accounts:
            raise ConfigError(f"accounts[{i}].account: duplicate account {acct.account}")
        accounts.add(acct.account)
        for name in ACCOUNT_LIMITS:
            if not 0 <= getattr(acct, name) < 2**63:
                raise ConfigError(f"accounts[{i}].{name}: expected 0 (no limit) .. 2^63-1")
    ids = set()
    for i, inst in enumerate(config.instruments):
        resolve_instrument(inst, i)
        if inst.security_id in ids:
            raise ConfigError(f"instruments[{i}].security_id: duplicate {inst.security_id}")
        ids.add(inst.security_id)


def _decimal(value: str, path: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ConfigError(f'{path}: expected a decimal string (e.g. "0.01"), got {value!r}') from None
    if not number.is_finite():
        raise ConfigError(f"{path}: expected a finite decimal, got {value!r}")
    return number


def _mantissa(value: str, path: str) -> int:
    scaled = _decimal(value, path) * PRICE_SCALE
    if scaled != scaled.to_integral_value():
        raise ConfigError(f"{path}: more than 9 decimal places in {value!r}")
    return int(scaled)


def resolve_instrument(inst: InstrumentConfig, index: int = 0) -> Instrument:
    """Convert decimal strings exactly; the band's edges are rounded inward onto the tick grid."""
    at = f"instruments[{index}]"
    if not -(2**31) <= inst.security_id < 2**31:
        raise ConfigError(f"{at}.security_id: expected an int32")
    tick = _mantissa(inst.tick, f"{at}.tick")
    if tick <= 0:
        raise ConfigError(f"{at}.tick: expected > 0")
    ref = _mantissa(inst.reference_price, f"{at}.reference_price")
    if ref <= 0 or ref % tick:
        raise ConfigError(f"{at}.reference_price: expected a positive multiple of the tick")
    band = _decimal(inst.band, f"{at}.band")
    if not 0 <= band < 1:
        raise ConfigError(f"{at}.band: expected a fraction in [0, 1)")
    low = Decimal(ref) * (1 - band)
    high = Decimal(ref) * (1 + band)
    min_price = -((-int(low.to_integral_value(rounding="ROUND_CEILING"))) // tick) * tick
    max_price = (int(high.to_integral_value(rounding="ROUND_FLOOR")) // tick) * tick
    if not 0 < inst.max_qty < 2**32:
        raise ConfigError(f"{at}.max_qty: expected 1..4294967295")
    return Instrument(inst.security_id, inst.symbol, tick, ref, max(min_price, tick), max_price, inst.max_qty)


def instruments_of(config: RouterConfig) -> dict[int, Instrument]:
    return {inst.security_id: resolve_instrument(inst, i) for i, inst in enumerate(config.instruments)}


def resolve_engine_binary(config: RouterConfig) -> Path:
    """The engine executable: $UDPROUTER_ENGINE_BIN, engine.binary, the build tree's (a checkout), or
    the one shipped inside the package (an installed wheel)."""
    configured = os.environ.get(ENGINE_BIN_ENV) or config.engine.binary
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [Path.cwd() / DEFAULT_ENGINE_BIN, REPO_ROOT / DEFAULT_ENGINE_BIN, PACKAGED_ENGINE_BIN]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError(
        f"engine binary not found at {candidates[0]}: build it with `make engine` "
        f"(or point {ENGINE_BIN_ENV} / engine.binary at it)"
    )
