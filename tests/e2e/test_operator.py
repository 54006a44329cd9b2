"""What an operator meets at 3 a.m., run as they would: the real command, loopback only.

Every failure is one line on stderr naming the thing and the fix, with the documented exit code
and no traceback; logs are one format per line; manual kills refuse what they should.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.testing import DaemonProcess, free_port

pytestmark = pytest.mark.e2e


def sim(limit: float = 1000, **over: Any) -> dict[str, Any]:
    return {
        "providers": {
            "sim": {
                "type": "simulated",
                "poll_interval": "1s",
                "targets": [
                    {"id": "a", "rate_usd_per_second": 1},
                    {"id": "z", "rate_usd_per_second": 1},
                ],
                **over,
            }
        },
        "budgets": [
            {
                "name": "b",
                "provider": "sim",
                "scope": {"each": "key"},
                "window": "interval:1h",
                "limit_usd": limit,
                "actions": ["simulated.disable"],
            }
        ],
    }


def killswitch(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "KILLSWITCH_DEBUG": ""},
    )


def write(tmp_path: Path, cfg: dict[str, Any], name: str = "c.yaml") -> Path:
    p = tmp_path / name
    cfg = {"listen": f"127.0.0.1:{free_port()}", **cfg}
    p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return p


def one_line_error(res: subprocess.CompletedProcess[str], code: int, start: str) -> str:
    """The run failed with ``code``; stderr's first line starts with ``start``; no traceback."""
    out = res.stdout + res.stderr
    assert res.returncode == code, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    # the daemon may have logged (JSON) before failing, e.g. a first migration of a new state
    lines = [line for line in res.stderr.splitlines() if not line.startswith("{")]
    first = lines[0] if lines else ""
    assert first.startswith(start), res.stderr[-3000:]
    return first


# ---- one-line start-up errors ----------------------------------------------------------------


def test_port_in_use_names_the_address(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = {**sim(), "state": f"sqlite:///{tmp_path / 's.db'}", "listen": f"127.0.0.1:{port}"}
        res = killswitch("run", "-c", str(write(tmp_path, cfg)))
    first = one_line_error(res, 1, f"error: listen 127.0.0.1:{port}: address already in use")
    assert "listen:" in first  # the fix: which setting to change


def test_state_directory_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = {**sim(), "state": f"sqlite:///{blocker / 'state.db'}"}
    path = write(tmp_path, cfg)
    for cmd in ("check-config", "run"):
        first = one_line_error(killswitch(cmd, "-c", str(path)), 1, "error: state: cannot create")
        assert str(blocker) in first


def test_state_directory_without_write_permission(tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through mode bits; a kernel-owned directory does not
        where = Path("/sys/killswitch-test/state.db")
        if os.access("/sys", os.W_OK) and Path("/sys").stat().st_dev == 0:
            pytest.skip("no unwritable directory available")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o555)
        where = ro / "state.db"
    cfg = {**sim(), "state": f"sqlite:///{where}"}
    path = write(tmp_path, cfg)
    for cmd in ("check-config", "run"):
        first = one_line_error(killswitch(cmd, "-c", str(path)), 1, "error: state: cannot write")
        assert "point state: at a writable path" in first
    assert not (tmp_path / "ro" / "state.db").exists()


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("/tmp/x.db", "did you mean sqlite:////tmp/x.db?"),
        ("sqlite:////proc/killswitch/x.db", "/proc is not a place for a database"),
    ],
)
def test_state_that_run_cannot_open_fails_check_config_too(
    tmp_path: Path, state: str, words: str
) -> None:
    path = write(tmp_path, {**sim(), "state": state})
    for cmd in ("check-config", "run"):
        res = killswitch(cmd, "-c", str(path))
        one_line_error(res, 2, "invalid configuration (1 problem(s)):")
        assert f"state: {words}" not in res.stderr or words in res.stderr
        assert words in res.stderr


def test_database_unreachable(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test"
    path = write(tmp_path, {**sim(), "state": url})
    for cmd in ("check-config", "run", "history"):
        first = one_line_error(
            killswitch(cmd, "-c", str(path)),
            1,
            f"error: state: cannot connect to postgresql+psycopg://postgres@127.0.0.1:{port}/test",
        )
        assert "check that the database runs" in first
    offline = killswitch("check-config", "--offline", "-c", str(path))
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert offline.stdout.startswith("ok: ")


def test_config_mistakes_are_caught_by_check_config(tmp_path: Path) -> None:
    cfg = sim()
    cfg["budgets"][0]["warn_at"] = [50, 80]
    cfg["notifiers"] = [{"type": "slack", "webhook_url": "${env:SLACK_WEBHOOK_URL"}]
    res = killswitch("check-config", "-c", str(write(tmp_path, cfg)))
    one_line_error(res, 2, "invalid configuration (")
    assert "budgets[0].warn_at: warn_at takes fractions" in res.stderr
    assert "did you mean 0.5?" in res.stderr
    assert "notifiers[0].webhook_url: unclosed reference ${env:SLACK_WEBHOOK_URL" in res.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    res = killswitch("check-config", "-c", str(empty))
    one_line_error(res, 2, "invalid configuration (1 problem(s)):")
    assert "the config is empty" in res.stderr


# ---- logs ------------------------------------------------------------------------------------


def test_json_logs_are_json_on_every_line_even_from_apscheduler(tmp_path: Path) -> None:
    cfg = {**sim(limit=2), "outbox_interval": 0.2}
    d = DaemonProcess(cfg, tmp_path)
    with d:
        d.start("--log-format", "json")
        d.wait_for(lambda: '"kill"' in d.logs())
        assert d.stop() == 0
    lines = [json.loads(line) for line in d.logs().splitlines()]  # raises on any non-JSON line
    kills = [r for r in lines if r["event"] == "kill"]
    assert kills and kills[0]["level"] == "warning" and kills[0]["budget"] == "b"
    assert not [r for r in lines if r["event"] == "event"]


def test_console_logs_when_asked(tmp_path: Path) -> None:
    d = DaemonProcess(sim(), tmp_path)
    with d:
        d.start("--log-format", "console")
        assert d.stop() == 0
    text = d.logs()
    assert "killswitch starting" in text
    for line in text.splitlines():
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_cli_commands_print_results_not_log_lines(tmp_path: Path) -> None:
    d = DaemonProcess(sim(), tmp_path)
    res = d.cli("kill", "b", "--target", "a")
    assert res.stderr == "" and res.stdout.startswith("#1 kill done: simulated.disable on a")
    for cmd in ("history", "check-config"):
        res = d.cli(cmd)
        assert res.returncode == 0 and res.stderr == "", (cmd, res.stderr)
        assert not any(line.startswith("{") for line in res.stdout.splitlines()), res.stdout


# ---- manual kill / restore ---------------------------------------------------------------------


def test_kill_and_restore_refuse_unknown_targets(tmp_path: Path) -> None:
    d = DaemonProcess(sim(), tmp_path)
    res = d.cli("kill", "b", "--target", "nosuch", check=False)
    first = one_line_error(res, 2, "--target: unknown target 'nosuch' for budget b")
    assert first.endswith("known: a, z")  # the source was polled to list them
    res = d.cli("restore", "b", "--target", "nosuch", check=False)
    one_line_error(res, 2, "--target: unknown target 'nosuch' for budget b")
    assert d.history() == []
    d.cli("kill", "b", "--target", "a")
    d.cli("restore", "b", "--target", "a")
    res = d.cli("restore", "b", "--target", "a", check=False)
    assert res.returncode == 0 and res.stdout.startswith("nothing to restore: a has no open kill")


def test_kill_refuses_a_protected_target(tmp_path: Path) -> None:
    cfg = {**sim(), "protect": ["z"]}
    d = DaemonProcess(cfg, tmp_path)
    res = d.cli("kill", "b", "--target", "z", check=False)
    one_line_error(res, 2, "--target: z is on the protect list")
    assert d.history() == []


def test_kill_prints_only_what_it_did(tmp_path: Path) -> None:
    d = DaemonProcess(sim(), tmp_path)
    assert d.cli("kill", "b", "--target", "a").stdout.startswith("#1 kill done")
    d.cli("restore", "b", "--target", "a")
    res = d.cli("kill", "b", "--target", "z")
    assert res.stdout.splitlines() == ["#3 kill done: simulated.disable on z"]
    hist = d.cli("history").stdout.splitlines()
    assert "manual kill from the CLI" in hist[0] and "on z" in hist[0]
