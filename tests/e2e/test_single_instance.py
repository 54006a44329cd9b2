"""One instance per state: a second daemon on the same state exits at once, naming the holder,
or stands by when HA is on; ``ha.identity`` names the replica."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.testing import DaemonProcess, free_port, simulated_config

pytestmark = pytest.mark.e2e


def cfg(state: str, **ha: Any) -> dict[str, Any]:
    return {"state": state, "ha": {"lease_seconds": 3, **ha}, **simulated_config()}


def second(config: dict[str, Any], tmp: Path) -> subprocess.CompletedProcess[str]:
    path = tmp / "second.yaml"
    path.write_text(yaml.safe_dump({**config, "listen": f"127.0.0.1:{free_port()}"}))
    return subprocess.run(
        [sys.executable, "-m", "killswitch", "run", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_daemon_on_the_same_state_exits_naming_the_holder(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    with DaemonProcess(cfg(state, identity="alpha"), tmp_path / "a") as first:
        first.start()
        assert first.metric("killswitch_leader", identity="alpha") == 1.0
        t0 = time.monotonic()
        out = second(cfg(state, identity="beta"), tmp_path)
        took = time.monotonic() - t0
        assert out.returncode == 1, out.stderr
        assert "Traceback" not in out.stderr + out.stdout
        (line,) = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
        assert "in use by another killswitch (alpha on " in line
        assert "ha: {enabled: true}" in line
        assert took < 20
        assert first.proc is not None and first.proc.poll() is None  # the first one is untouched
        assert first.stop() == 0
    # once the first one has stopped (and released the lease), the next one starts at once
    with DaemonProcess(cfg(state, identity="beta"), tmp_path / "b") as nxt:
        nxt.start()
        assert nxt.metric("killswitch_leader", identity="beta") == 1.0


def test_with_ha_a_second_daemon_stands_by_and_takes_over(tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'state.db'}"
    a = DaemonProcess(cfg(state, enabled=True, identity="alpha"), tmp_path / "a")
    b = DaemonProcess(cfg(state, enabled=True, identity="beta"), tmp_path / "b")
    with a, b:
        a.start()
        b.start(wait_ready=False)
        b.wait_for(lambda: b.metric("killswitch_leader", identity="beta") == 0.0)
        assert a.metric("killswitch_leader", identity="alpha") == 1.0
        a.kill9()
        b.wait_for(lambda: b.metric("killswitch_leader", identity="beta") == 1.0, timeout=15)
