"""The metrics port: /metrics (Prometheus text), /healthz, /readyz; 404 for any other path.

Served from a thread (as prometheus-client's own exporter is), so a scrape or a probe never waits
for the event loop. /healthz answers 200 while the process is alive and its event loop turned
recently (a stuck loop makes it 503); /readyz answers 200 only while the engine is attached, the
journal directory is writable and orders are accepted, else 503 naming what is missing. Both
bodies are one line of text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

Probe = Callable[[], tuple[bool, str]]  # (ok, one line saying why)


class _Handler(BaseHTTPRequestHandler):
    server: _OpsServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept"))
            self._reply(200, encoder(self.server.registry), content_type)
        elif path in self.server.probes:
            ok, why = self.server.probes[path]()
            self._reply(200 if ok else 503, f"{why}\n".encode(), "text/plain; charset=utf-8")
        else:
            self._reply(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain; charset=utf-8")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - probes every few seconds: not logged
        pass


class _OpsServer(ThreadingHTTPServer):
    daemon_threads = True
    registry: CollectorRegistry
    probes: dict[str, Probe]


class OpsHttpServer:
    def __init__(self, registry: CollectorRegistry, healthz: Probe, readyz: Probe) -> None:
        self.registry = registry
        self.probes = {"/healthz": healthz, "/readyz": readyz}
        self._server: _OpsServer | None = None
        self._thread: threading.Thread | None = None

    def serve(self, host: str, port: int) -> int:
        """Starts the server thread; returns the bound port (port 0 picks one)."""
        server = self._server = _OpsServer((host, port), _Handler)
        server.registry, server.probes = self.registry, self.probes
        self._thread = threading.Thread(target=server.serve_forever, name="udprouter-metrics", daemon=True)
        self._thread.start()
        return server.server_address[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
