"""A real Prometheus (Debian's package) on loopback, scraping a prometheus_client exporter.

Both run on free ports, are started by the test session and stopped by PID. Prometheus scrapes
every second; its scrape manager needs ~5 s after /-/ready before the first sample is queryable,
so tests wait on a query, never on a sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from killswitch.testing import free_port

T = TypeVar("T")
INSTALL_HINT = "apt-get install prometheus (make test runs scripts/ops-setup.sh, which does)"


def prometheus_binary() -> str:
    """The binary, or fail in CI / skip elsewhere with the install command."""
    path = shutil.which("prometheus")
    if path is None:
        msg = f"the prometheus binary is not installed: {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


@dataclass
class PromStack:
    url: str
    exporter: CollectorRegistry
    proc: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> Any:
        qs = urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{qs}", timeout=5) as r:  # noqa: S310
            return json.loads(r.read())

    def wait_samples(self, selector: str, count: int = 2, timeout: float = 30) -> None:
        """Until every series of ``selector`` has ``count`` samples in the last minute."""

        def enough() -> bool:
            result = self.query(f"count_over_time({selector}[1m])")["data"]["result"]
            return bool(result) and all(float(s["value"][1]) >= count for s in result)

        wait_until(enough, timeout, f"{count} samples of {selector} in Prometheus")

    def wait_value(self, promql: str, pred: Callable[[float], bool], timeout: float = 30) -> None:
        def ok() -> bool:
            result = self.query(promql)["data"]["result"]
            return bool(result) and all(pred(float(s["value"][1])) for s in result)

        wait_until(ok, timeout, f"{promql} to reach the expected value")


@contextmanager
def prom_stack(tmp: Path) -> Iterator[PromStack]:
    binary = prometheus_binary()
    registry = CollectorRegistry()
    exp_port = free_port()
    server, _thread = start_http_server(exp_port, addr="127.0.0.1", registry=registry)
    port = free_port()
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: spend\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exp_port}']}}]\n"
    )
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = PromStack(f"http://127.0.0.1:{port}", registry, proc, log)
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"prometheus exited:\n{log.read_text()[-2000:]}")
            with urllib.request.urlopen(f"{stack.url}/-/ready", timeout=2) as r:  # noqa: S310
                return bool(r.status == 200)

        wait_until(ready, 30, "Prometheus /-/ready")
        yield stack
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        server.shutdown()
        server.server_close()
