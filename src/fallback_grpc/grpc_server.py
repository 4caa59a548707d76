"""GrpcServer: the gRPC fallback inside the router process, on the router's event loop.

start_grpc_server(...) is the one hook the router (server.py) calls once it started, with the
parts the services use: it serves OrderEntryService, the Admin API (admin_service.py) plus standard
health checking and server reflection on [grpc] host:port (127.0.0.1:50051 by default).
Plaintext is allowed on loopback only: any other bind needs [grpc] tls_cert and tls_key, because
calls carry the key's secret. Health is SERVING while the router is ready (the same checks as the
metrics port's /readyz: engine READY, journal writable, not stopping) and NOT_SERVING otherwise,
checked every HEALTH_INTERVAL_S. Calls are counted and timed per method (GrpcMetrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from udprouter.config import GrpcConfig, RouterConfig
from udprouter.errors import ConfigError
from udprouter.order_entry import OrderEntry
from udprouter.ring import ENGINE_READY

from ._generated import order_entry_pb2 as pb
from ._generated import order_entry_pb2_grpc as pb_grpc
from ._generated.admin.v1 import admin_pb2, admin_pb2_grpc
from .admin_service import AdminService
from .bearer_auth import BearerAuthenticator
from .grpc_metrics import GrpcMetrics
from .service import OrderEntryService

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from udprouter.account_controls import ControlDesk
    from udprouter.dispatcher import Dispatcher
    from udprouter.durability.session_store import SessionStore
    from udprouter.fastpath.fast_ingest import FastIngest
    from udprouter.session import SessionLayer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OrderEntry"].full_name
ADMIN_SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name
HEALTH_INTERVAL_S = 0.2
STOP_GRACE_S = 2.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_credentials(config: GrpcConfig) -> grpc.ServerCredentials | None:
    """TLS credentials from [grpc] tls_cert/tls_key, or None for loopback plaintext."""
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("grpc.tls_cert: tls_cert and tls_key must be given together")
    if not config.tls_cert:
        if not is_loopback(config.host):
            raise ConfigError(f"grpc.host: {config.host} is not loopback; serving it needs grpc.tls_cert and "
                              "grpc.tls_key (calls carry the key's secret)")
        return None
    try:
        chain, key = Path(config.tls_cert).read_bytes(), Path(config.tls_key).read_bytes()
    except OSError as exc:
        raise ConfigError(f"grpc.tls_cert/tls_key: cannot read {exc.filename}: {exc.strerror}") from exc
    return grpc.ssl_server_credentials([(key, chain)])


class GrpcServer:
    def __init__(self, service: OrderEntryService, order_entry: OrderEntry,
                 ready: Callable[[], bool] | None = None, interceptors=(),
                 admin: AdminService | None = None) -> None:
        self.service = service
        self.admin = admin
        self.order_entry = order_entry
        self.ready = ready  # the router's readiness (the same as /readyz); None: engine READY alone
        # grpc sets SO_REUSEPORT by default: a second router would share the port and take calls.
        self.server = grpc.aio.server(interceptors=list(interceptors), options=[("grpc.so_reuseport", 0)])
        self.health = health.aio.HealthServicer()
        self.port = 0
        self._health_task: asyncio.Task | None = None

    async def start(self, config: GrpcConfig) -> int:
        credentials = server_credentials(config)
        pb_grpc.add_OrderEntryServicer_to_server(self.service, self.server)
        names = [SERVICE_NAME]
        if self.admin is not None:
            admin_pb2_grpc.add_AdminServicer_to_server(self.admin, self.server)
            names.append(ADMIN_SERVICE_NAME)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        names += [health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, self.server)
        address = f"{config.host}:{config.port}"
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        await self.server.start()
        await self._update_health()
        self._health_task = asyncio.get_running_loop().create_task(self._watch_health())
        return self.port

    def engine_ready(self) -> bool:
        oe = self.order_entry
        return oe.available and oe.ring is not None and oe.ring.engine_state == ENGINE_READY

    async def _update_health(self) -> None:
        ready = self.ready() if self.ready is not None else self.engine_ready()
        status = health_pb2.HealthCheckResponse.SERVING if ready \
            else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            await self.health.set(name, status)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL_S)
            await self._update_health()

    async def stop(self) -> None:
        """NOT_SERVING, then a short grace for calls in flight (streams are cancelled)."""
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await self.health.enter_graceful_shutdown()
        await self.server.stop(STOP_GRACE_S)


async def start_grpc_server(config: RouterConfig, *, auth: BearerAuthenticator, order_entry: OrderEntry,
                            store: SessionStore, fast: FastIngest, dispatcher: Dispatcher,
                            sessions: SessionLayer, controls: ControlDesk, registry: CollectorRegistry,
                            ready: Callable[[], bool]) -> GrpcServer | None:
    """Serve the gRPC fallback beside a started router (None when [grpc] enabled = false).

    auth: the trading keys (a SIGHUP reload changes them); order_entry, store and fast: the order
    path the gRPC sessions share with UDP; dispatcher: drop copies of their reports, and the
    Admin API's disconnect of a UDP session; sessions: the UDP session table the Admin API lists;
    controls: the Admin API's engine commands; registry: where the call metrics go; ready: the
    router's readiness (/readyz), served as gRPC health."""
    if not config.grpc.enabled:
        return None
    service = OrderEntryService(order_entry, auth, store,
                                config.session.retransmit_buffer, config.session.retransmit_max_count,
                                config.session.cod_timeout_window_max_ms, fast, dispatcher.copy_reports)
    metrics = GrpcMetrics()
    registry.register(metrics)
    # The Admin API: its own keys ([[admin_keys]]), never the trading keys, on the same port and TLS.
    admin = AdminService(controls, sessions, dispatcher.disconnect, BearerAuthenticator(config.admin_keys),
                         config.keys, service.sessions)
    server = GrpcServer(service, order_entry, ready, (metrics,), admin)
    await server.start(config.grpc)
    return server
