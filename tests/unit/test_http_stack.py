"""The HTTP stack must not retry a failed ``import sniffio`` on every request.

httpcore's pool asks ``sniffio.current_async_library()`` for each request's lock and event; when
sniffio is not installed that is a failed import, i.e. a scan of sys.path, per request. The
package declares sniffio, so the import succeeds once and is cached in ``sys.modules``.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest

from killswitch.http import ProviderHTTP


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Watch(importlib.abc.MetaPathFinder):
    """Counts how often the import system has to look for sniffio (it never finds anything)."""

    def __init__(self) -> None:
        self.lookups = 0

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "sniffio":
            self.lookups += 1
        return None


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_sniffio_is_a_declared_dependency() -> None:
    reqs = importlib.metadata.requires("killswitch-daemon") or []
    assert any(r.split(">")[0].split(";")[0].strip() == "sniffio" for r in reqs if "extra" not in r)


async def test_requests_over_the_real_transport_do_not_repeat_the_sniffio_import(
    server: str,
) -> None:
    watch = _Watch()
    sys.meta_path.insert(0, watch)
    client = ProviderHTTP(server, timeout=5)
    try:
        for _ in range(5):
            assert (await client.json("GET", "/x")) == {"ok": True}
    finally:
        await client.aclose()
        sys.meta_path.remove(watch)
    assert "sniffio" in sys.modules
    assert watch.lookups <= 1  # at most the first import; a missing module shows 5+
