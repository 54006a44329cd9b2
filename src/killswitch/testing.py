"""Test doubles shipped with the product: for our tests and for anyone writing a plugin.

* :class:`DaemonProcess` runs the real daemon as a subprocess and reads it the way an operator
  would: /readyz, /metrics, ``killswitch history --json``.
* :class:`StandIn` is a loopback HTTP server whose routes a test writes as plain functions; it
  records every request, so a test can assert exactly what the daemon sent.
* :class:`FakeClock` lets in-process tests drive days of windows in milliseconds.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def simulated_config(
    *,
    rate: float = 1,
    limit_usd: float = 1000,
    budget: dict[str, Any] | None = None,
    **provider: Any,
) -> dict[str, Any]:
    """The smallest daemon config with teeth: one simulated key ``a`` and a per-key budget ``b``.

    Tests add what they exercise (``state``, ``ha``, provider options such as ``fail_polls``,
    budget options such as ``restore``) instead of restating the whole document.
    """
    return {
        "providers": {
            "sim": {
                "type": "simulated",
                "poll_interval": "1s",
                "targets": [{"id": "a", "rate_usd_per_second": rate}],
                **provider,
            }
        },
        "budgets": [
            {
                "name": "b",
                "provider": "sim",
                "scope": {"each": "key"},
                "window": "interval:1h",
                "limit_usd": limit_usd,
                "actions": ["simulated.disable"],
                **(budget or {}),
            }
        ],
    }


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


Handler = Callable[[Request], tuple[int, Any] | tuple[int, Any, dict[str, str]]]


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a daemon sending its kills side by side opens more
    # connections at once, and a dropped SYN costs a 1 s retransmit (a real API has no such
    # limit, so the stand-in must not add one)
    request_queue_size = 128


@dataclass
class StandIn:
    """A loopback HTTP server: ``routes[(METHOD, regex)] = handler(request) -> (status, body)``."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    port: int = 0

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes[(method, pattern)] = fn
            return fn

        return deco

    def start(self) -> StandIn:
        stand = self

        class H(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                req = Request(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                stand.requests.append(req)
                for (method, pattern), fn in stand.routes.items():
                    if method == self.command and re.fullmatch(pattern, parts.path):
                        out = fn(req)
                        status, body = out[0], out[1]
                        headers = out[2] if len(out) > 2 else {}
                        break
                else:
                    status, body, headers = 404, {"error": "no route"}, {}
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _Server(("127.0.0.1", self.port), H)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def matching(self, method: str, pattern: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]


class DaemonProcess:
    """The real daemon in a subprocess, configured from a dict, on a free loopback port."""

    def __init__(
        self, config: dict[str, Any], workdir: Path, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "state": f"sqlite:///{self.workdir / 'state.db'}",
            **config,
            "listen": f"127.0.0.1:{self.port}",
        }
        self.config = config
        self.config_path = self.workdir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.env = {**os.environ, **(env or {})}
        self.log_path = self.workdir / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str, wait_ready: bool = True, timeout: float = 30) -> DaemonProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "killswitch", "run", "-c", str(self.config_path), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.logs()}")
            code = self.get_status("/readyz" if wait_ready else "/healthz")
            if code == 200:
                return self
            time.sleep(0.1)
        raise TimeoutError(f"daemon not ready in {timeout}s:\n{self.logs()[-4000:]}")

    def get_status(self, path: str) -> int | None:
        try:
            with urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return int(r.status)
        except URLError as exc:
            code = getattr(exc, "code", None)
            return int(code) if code is not None else None
        except OSError:
            return None

    def metrics_text(self) -> str:
        with urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, /, **labels: str) -> float | None:
        """The value of one series, or None when absent."""
        for line in self.metrics_text().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.fullmatch(r"([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
        return None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "killswitch", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.workdir,
            check=check,
            timeout=120,
        )

    def history(self) -> list[dict[str, Any]]:
        out = json.loads(self.cli("history", "--json").stdout)
        assert isinstance(out, list)
        return out

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 30, every: float = 0.2
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{self.logs()}")
            time.sleep(every)
        raise TimeoutError(
            f"condition not met in {timeout}s; daemon log tail:\n{self.logs()[-4000:]}"
        )

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def __enter__(self) -> DaemonProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
