"""The real thing on loopback: the demo daemon (`killswitch run`) and a Debian Prometheus scraping
it with deploy/prometheus/rules.yml loaded. Used by the scrape and dashboard tests and by
tests/ops/render_dashboard.py (the screenshot in docs/).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from killswitch.testing import StandIn, free_port

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules.yml"
DEMO = REPO / "config" / "demo.yaml"
KILLSWITCH = Path(sys.executable).parent / "killswitch"
SCRAPE_INTERVAL = "1s"
T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, diag: Callable[[], str] = str
) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``diag()`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except (OSError, urllib.error.URLError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{diag()}")
        time.sleep(0.5)


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@dataclass
class Managed:
    """A child process with its output in a file; stopped by PID."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, argv: list[str], log: Path, **kw: Any) -> Managed:
        out = log.open("wb")
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        out.close()
        return cls(name, proc, log)

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"--- last lines of {self.name} ({self.log}):\n" + "\n".join(lines[-n:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def demo_config(tmp: Path, port: int, notifier_url: str | None = None) -> dict[str, Any]:
    """config/demo.yaml with a free port and state under ``tmp`` (plus notifiers, if given)."""
    cfg: dict[str, Any] = yaml.safe_load(DEMO.read_text())
    cfg["listen"] = f"127.0.0.1:{port}"
    cfg["state"] = f"sqlite:///{tmp / 'state.db'}"
    for p in cfg["providers"].values():
        if "state_file" in p:
            p["state_file"] = str(tmp / "demo-world.json")
    if notifier_url:
        cfg["notifiers"] = [
            {"type": "webhook", "name": "oncall", "url": f"{notifier_url}/oncall"},
            {"type": "webhook", "name": "flaky", "url": f"{notifier_url}/flaky"},
        ]
    return cfg


@dataclass
class LiveStack:
    tmp: Path
    daemon: Managed
    prometheus: Managed
    daemon_url: str
    prom_url: str
    hooks: StandIn
    started: float = field(default_factory=time.time)

    def diag(self) -> str:
        return f"{self.daemon.tail()}\n{self.prometheus.tail(15)}"

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prom_url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url, timeout=10)
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise AssertionError(f"Prometheus {path} {params} -> HTTP {status}: {doc}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        data = self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=str(step)
        )
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        alerts = self.api("alerts")["alerts"]
        return [
            a
            for a in alerts
            if a["labels"].get("alertname") == alertname and a["state"] == "firing"
        ]

    def wait_for(self, probe: Callable[[], T | None], what: str, timeout: float = 180) -> T:
        def checked() -> T | None:
            if not self.daemon.alive():
                raise AssertionError(f"the daemon exited with {self.daemon.proc.returncode}")
            return probe()

        return wait_until(checked, timeout=timeout, what=what, diag=self.diag)

    def wait_kill_and_restore(self) -> None:
        """The demo kills app-key within ~40 s of the start and restores it at the next window
        reset (<= 40 s later): wait for both in Prometheus."""
        self.wait_for(
            lambda: (self.value('sum(killswitch_kills_total{budget="demo-per-key"})') or 0) >= 1,
            "a kill in Prometheus",
        )
        self.wait_for(
            lambda: (self.value('sum(killswitch_restores_total{budget="demo-per-key"})') or 0) >= 1,
            "a restore in Prometheus",
        )


def prometheus_config(tmp: Path, target: str) -> Path:
    cfg = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": "killswitch", "static_configs": [{"targets": [target]}]},
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@contextlib.contextmanager
def start_live_stack(tmp: Path, prometheus_bin: str) -> Iterator[LiveStack]:
    hooks = StandIn()
    hooks.route("POST", "/oncall")(lambda r: (200, {"ok": True}))
    hooks.route("POST", "/flaky")(lambda r: (500, {"error": "down for the test"}))
    hooks.start()
    port = free_port()
    cfg_path = tmp / "killswitch.yaml"
    cfg_path.write_text(yaml.safe_dump(demo_config(tmp, port, hooks.url)))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    daemon = Managed.start(
        "killswitch", [str(KILLSWITCH), "run", "-c", str(cfg_path)], tmp / "killswitch.log", env=env
    )
    prom: Managed | None = None
    try:
        daemon_url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: http_get(f"{daemon_url}/readyz")[0] == 200,
            timeout=60,
            what="killswitch /readyz",
            diag=daemon.tail,
        )
        prom_port = free_port()
        prom = Managed.start(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={prometheus_config(tmp, f'127.0.0.1:{port}')}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            tmp / "prometheus.log",
            cwd=tmp,
        )
        stack = LiveStack(tmp, daemon, prom, daemon_url, f"http://127.0.0.1:{prom_port}", hooks)
        wait_until(
            lambda: http_get(f"{stack.prom_url}/-/ready")[0] == 200,
            timeout=60,
            what="Prometheus /-/ready",
            diag=prom.tail,
        )
        # The scrape manager's first sync takes ~5 s after ready.
        stack.wait_for(lambda: stack.query('up{job="killswitch"} == 1'), "the first scrape", 60)
        yield stack
    finally:
        if prom is not None:
            prom.stop()
        daemon.stop()
        hooks.stop()
