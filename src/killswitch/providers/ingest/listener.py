"""``POST /v1/spend``: the listener that takes pushed batches, on a port of its own.

Checks run cheapest first and each refusal stores nothing: the token (401) before the rate limit
(429), the declared length (411, 413) before the body is read, the signature (401) before it is
parsed, then JSON (400), the batch's size (413) and schema (422). A batch is answered 200 only
after its transaction committed; a database that cannot take it is 503 with Retry-After, and the
sender retries the same batch (event ids make that safe).
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from killswitch.pricing import PriceBook
from killswitch.providers.ingest import events
from killswitch.providers.ingest.batch import BatchError, parse
from killswitch.providers.ingest.config import IngestConfig
from killswitch.signing import verify
from killswitch.state import Store

log = structlog.get_logger("killswitch.ingest")
PATH = "/v1/spend"
READ_TIMEOUT = 10.0  # seconds a client may take to send its request (slow senders hold a thread)
PRUNE_EVERY = 60.0
RETRY_AFTER_DB = "5"


class Refused(Exception):
    """An answer other than 200; nothing of the request was stored."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class TokenBuckets:
    """Per-token rate limit (by the token's position in the config, never its value)."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.rate = per_second
        self.burst = float(burst)
        self._level: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, who: int, now: float) -> float:
        """0 if a request may go now, else the seconds until one may."""
        with self._lock:
            level, at = self._level.get(who, (self.burst, now))
            level = min(self.burst, level + (now - at) * self.rate)
            if level >= 1:
                self._level[who] = (level - 1, now)
                return 0.0
            self._level[who] = (level, now)
            return (1 - level) / self.rate


class Intake:
    """Everything a request is checked against, and where accepted batches go."""

    def __init__(
        self,
        provider: str,
        config: IngestConfig,
        store: Store,
        prices: PriceBook,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self.config = config
        self.store = store
        self.prices = prices
        self.clock = clock
        self._tokens = [t.get_secret_value().encode() for t in config.tokens]
        self._secret = config.hmac_secret.get_secret_value() if config.hmac_secret else None
        self.limits = TokenBuckets(config.rate_limit.per_second, config.rate_limit.burst)

    def caller(self, authorization: str | None) -> int:
        """Which token the request carries; every token is compared, in constant time."""
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Refused(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
        presented = given.strip().encode()
        found = -1
        for i, token in enumerate(self._tokens):
            if hmac.compare_digest(presented, token) and found < 0:
                found = i
        if found < 0:
            raise Refused(401, "unknown bearer token", {"WWW-Authenticate": "Bearer"})
        return found

    def admit(self, who: int) -> None:
        wait = self.limits.take(who, time.monotonic())
        if wait > 0:
            seconds = str(max(1, round(wait + 0.5)))
            raise Refused(429, "rate limit: slow down", {"Retry-After": seconds})

    def length(self, content_length: str | None, chunked: bool) -> int:
        if content_length is None or chunked:
            raise Refused(411, "send Content-Length (chunked bodies are not taken)")
        if not content_length.isdigit():
            raise Refused(400, "Content-Length is not a number")
        n = int(content_length)
        if n > self.config.max_body_bytes:
            raise Refused(413, f"body of {n} bytes; at most {self.config.max_body_bytes}")
        return n

    def check_signature(self, timestamp: str | None, signature: str | None, body: bytes) -> None:
        if self._secret is None:
            return
        if not timestamp or not signature:
            raise Refused(401, "missing X-Killswitch-Timestamp / X-Killswitch-Signature")
        try:
            age = abs(self.clock().timestamp() - int(timestamp))
        except ValueError:
            raise Refused(401, "X-Killswitch-Timestamp is not epoch seconds") from None
        if age > self.config.signature_max_age.total_seconds():
            raise Refused(401, "signature timestamp too old (or in the future)")
        if not verify(self._secret, timestamp, body, signature):
            raise Refused(401, "bad signature")

    def take(self, body: bytes) -> events.Stored:
        now = self.clock()
        try:
            rows = parse(
                body,
                max_events=self.config.max_events,
                currency=self.config.currency,
                prices=self.prices,
                now=now,
            )
        except BatchError as exc:
            raise Refused(exc.status, str(exc)) from None
        try:
            return events.store_batch(self.store, self.provider, rows, now)
        except SQLAlchemyError as exc:  # its text may carry the URL: the type only
            log.error("ingest: state database unavailable", error=type(exc).__name__)
            raise Refused(
                503, "state database unavailable; retry", {"Retry-After": RETRY_AFTER_DB}
            ) from None


class IngestHandler(BaseHTTPRequestHandler):
    """``POST /v1/spend``: authenticate, admit, read, verify, store; one JSON answer each.

    Bound to its :class:`Intake` by :func:`handler` (the stdlib builds a handler per request
    from a class, so the intake rides on a subclass).
    """

    intake: Intake
    timeout = READ_TIMEOUT
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._send(404, {"error": f"not found; POST {PATH}"})
            return
        try:
            stored = self._take()
        except Refused as exc:
            self._refuse(exc)
            return
        except Exception:  # a bug must not kill the thread silently; nothing was stored
            log.exception("ingest: request failed")
            self._send(500, {"error": "internal error; nothing stored"})
            return
        self._send(200, {"accepted": stored.accepted, "duplicates": stored.duplicates})

    def _take(self) -> events.Stored:
        who = self.intake.caller(self.headers.get("Authorization"))
        self.intake.admit(who)
        n = self.intake.length(
            self.headers.get("Content-Length"),
            "chunked" in (self.headers.get("Transfer-Encoding") or "").lower(),
        )
        body = self.rfile.read(n)
        if len(body) != n:
            raise Refused(400, "body shorter than Content-Length")
        self.intake.check_signature(
            self.headers.get("X-Killswitch-Timestamp"),
            self.headers.get("X-Killswitch-Signature"),
            body,
        )
        return self.intake.take(body)

    def _refuse(self, exc: Refused) -> None:
        # the body may be unread: do not let it be parsed as the next request
        self.close_connection = True
        log.info("ingest: refused", status=exc.status, reason=str(exc), peer=self.client_address[0])
        self._send(exc.status, {"error": str(exc)}, exc.headers)

    def do_GET(self) -> None:
        self._send(405, {"error": f"POST {PATH}"}, {"Allow": "POST"})

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _send(
        self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the stdlib line would carry the path and peer only; refusals are logged


def handler(intake: Intake) -> type[IngestHandler]:
    """The request handler class the server instantiates per request, bound to ``intake``."""
    return type("Handler", (IngestHandler,), {"intake": intake})


class Listener:
    """The running endpoint and its pruner; ``stop()`` ends both."""

    def __init__(self, intake: Intake, prune_before: Callable[[], datetime | None]) -> None:
        self.intake = intake
        self.prune_before = prune_before
        host, port = intake.config.host_port
        self.server = ThreadingHTTPServer((host, port), handler(intake))
        self.server.daemon_threads = True
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.server.serve_forever, name="ingest", daemon=True),
            threading.Thread(target=self._prune_loop, name="ingest-prune", daemon=True),
        ]
        for th in self._threads:
            th.start()
        log.info("ingest listening", provider=intake.provider, host=host, port=self.port)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def _prune_loop(self) -> None:
        """Drop events no window needs; only where the source polls (the leader) is it known."""
        while not self._stop.wait(PRUNE_EVERY):
            before = self.prune_before()
            if before is None:
                continue
            try:
                n = events.prune(self.intake.store, self.intake.provider, before)
            except SQLAlchemyError as exc:
                log.warning("ingest: prune failed; retried later", error=type(exc).__name__)
                continue
            if n:
                log.debug("ingest: pruned events", provider=self.intake.provider, rows=n)

    def stop(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
