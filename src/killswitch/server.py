"""/metrics, /healthz, /readyz on a small threaded stdlib server (no framework needed).

Liveness means the event loop still ticks; readiness means state is reachable and no source is
stale (and, with HA, says whether this replica is the active one in the body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from killswitch.metrics import Metrics

HEARTBEAT_MAX_AGE = 60.0


class LeaseView(Protocol):
    error: str | None

    def can_act(self) -> bool: ...

    def healthy(self) -> bool: ...


@runtime_checkable
class ShardView(Protocol):
    """A lease view with shards (``ha.shard``): which ones this replica acts for."""

    def owned(self) -> list[str]: ...


class Health:
    def __init__(
        self, metrics: Metrics, store_ok: Callable[[], bool], *, lease: LeaseView | None = None
    ) -> None:
        self.metrics = metrics
        self.store_ok = store_ok
        self.lease = lease
        self.heartbeat = time.monotonic()
        self.started = False
        self.role = "active"

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def live(self) -> tuple[bool, dict[str, Any]]:
        age = time.monotonic() - self.heartbeat
        return age < HEARTBEAT_MAX_AGE, {"loop_heartbeat_age_s": round(age, 1)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        # The published exposition, not the engine's working snapshot: no race with a cycle.
        stale = [f"{p}/{s}" for p, s, is_stale, _ in self.metrics.exposition.sources if is_stale]
        store = self.store_ok()
        # A replica that cannot renew its lease (a stuck database) is not ready, active or not.
        lease_ok = self.lease is None or self.lease.healthy()
        ok = store and lease_ok and self.started and not stale
        info: dict[str, Any] = {
            "state_store": "ok" if store else "unreachable",
            "stale_sources": stale,
            "started": self.started,
            "role": self.role,
        }
        if self.lease is not None:
            info["role"] = "active" if self.lease.can_act() else "standby"
            info["lease"] = "ok" if lease_ok else f"renewal failing: {self.lease.error}"
            if isinstance(self.lease, ShardView):
                info["shards"] = self.lease.owned()
        return ok, info


def serve(host: str, port: int, metrics: Metrics, health: Health) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                body = generate_latest(metrics.registry)
                self._send(200, body, CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, info = health.live() if path == "/healthz" else health.ready()
                self._send(
                    200 if ok else 503, json.dumps({"ok": ok, **info}).encode(), "application/json"
                )
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
