"""``killswitch keys`` on OpenRouter: POST /keys with the native cap, DELETE to revoke, and the
daemon enforcing the managed key as its own budget, against the spec-checking stand-in.

The key's secret must appear in the create command's stdout and nowhere else: not in the state
database, the daemon's log, the journal, status, the key list or any stderr.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from killswitch.model import ManagedKey, Money
from killswitch.plugins import KeyIssuer, KeyRequest, ProviderContext
from killswitch.providers.openrouter import OpenRouterProvider
from killswitch.providers.openrouter.provider import OpenRouterConfig
from killswitch.testing import DaemonProcess
from tests.contract.openapi import Spec
from tests.providers.openrouter.fixtures import SpecServer, loopback, make_key, spec_key

MGMT = "sk-or-v1-keys-test-management-key"


@pytest.fixture(scope="module")
def spec() -> Spec:
    from tests.conftest import shared_dir

    return Spec(shared_dir() / "specs" / "openrouter" / "in.openapi.yaml", base_path="/api/v1")


def provider(server: SpecServer) -> OpenRouterProvider:
    cfg = OpenRouterConfig(type="openrouter", api_key=MGMT)
    return OpenRouterProvider(
        "or", cfg, ProviderContext(http_transport=httpx.MockTransport(server))
    )


async def test_create_sends_the_native_cap_and_revoke_deletes(spec: Spec) -> None:
    server = SpecServer(spec, [])
    p = provider(server)
    assert isinstance(p, KeyIssuer)
    expires = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    issued = await p.create_key(KeyRequest("ci-run-42", Money(Decimal("5.5")), "weekly", expires))
    (post,) = [r for r in server.requests if r.method == "POST"]
    assert json.loads(post.content) == {
        "name": "ci-run-42",
        "limit": 5.5,
        "limit_reset": "weekly",
        "expires_at": "2026-12-03T17:00:00Z",
    }
    assert issued.native_cap and issued.id in server.keys
    assert issued.secret.get_secret_value() == server.secrets[issued.id]
    assert server.secrets[issued.id] not in repr(issued)  # a stray log of it shows no secret
    key = ManagedKey("ci-run-42", "or", issued.id, Money(Decimal(5)), "weekly", True)
    await p.revoke_key(key)
    assert issued.id not in server.keys
    await p.revoke_key(key)  # already gone: still revoked, no error
    assert [r.method for r in server.requests] == ["POST", "DELETE", "DELETE"]


def _config(url: str) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},
        "providers": {
            "openrouter": {
                "type": "openrouter",
                "api_key": "${env:OR_KEY}",
                "base_url": f"{url}/api/v1",
                "poll_interval": "1s",
            },
            "sim": {"type": "simulated", "poll_interval": "1s", "targets": [{"id": "a"}]},
        },
        "budgets": [],
    }


def assert_secret_nowhere(secret: str, d: DaemonProcess, *outputs: str) -> None:
    """Not in any file of the daemon's directory (state db and its WAL, log, config), nor in the
    output of any command but ``keys create``."""
    for f in d.workdir.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f"secret found in {f.name}"
    for out in outputs:
        assert secret not in out


def test_create_enforce_revoke_e2e(spec: Spec, tmp_path: Path) -> None:
    template = spec_key(spec)
    bystander = make_key(template, 1, usage_daily=50.0)  # no budget covers it: never touched
    server = SpecServer(spec, [bystander])
    stand = loopback(server).start()
    d = DaemonProcess(_config(stand.url), tmp_path, env={"OR_KEY": MGMT})
    seen: list[str] = []

    def cli(*args: str, check: bool = True) -> Any:
        r = d.cli(*args, check=check)
        seen.extend([r.stderr] if args[:2] == ("keys", "create") else [r.stdout, r.stderr])
        return r

    try:
        with d:
            d.start()
            made = cli(
                "keys", "create", "--provider", "openrouter", "--name", "ci-run-42",
                "--limit-usd", "5", "--window", "daily", "--expires", "24h", "--json",
            )  # fmt: skip
            out = json.loads(made.stdout)
            h = out["id"]
            secret = server.secrets[h]
            assert out["secret"] == secret and out["cap"] == "native"
            assert out["budget"] == "managed-keys.openrouter.ci-run-42"
            assert server.keys[h]["limit"] == 5 and server.keys[h]["limit_reset"] == "daily"
            expires = datetime.fromisoformat(server.keys[h]["expires_at"].replace("Z", "+00:00"))
            assert abs(expires - (datetime.now(UTC) + timedelta(hours=24))) < timedelta(minutes=2)
            text = cli(
                "keys", "create", "--provider", "openrouter", "--name", "ci-run-43",
                "--limit-usd", "2.5", "--window", "monthly",
            )  # fmt: skip
            other = next(k for k, v in server.keys.items() if v["name"] == "ci-run-43")
            assert text.stdout.rstrip().splitlines()[-1] == server.secrets[other]

            listed = json.loads(cli("keys", "list", "--json").stdout)
            assert [(k["name"], k["limit"], k["window"], k["cap"]) for k in listed] == [
                ("ci-run-42", "5", "daily", "native"),
                ("ci-run-43", "2.5", "monthly", "native"),
            ]
            assert all(k["enforced_by_daemon"] and "secret" not in k for k in listed)

            # The running daemon enforces the new key from its next cycle: no config edit.
            d.wait_for(lambda: _status(cli, "managed-keys.openrouter.ci-run-42", h) == "ok")
            server.keys[h]["usage_daily"] = 6.0  # over its own $5 cap
            d.wait_for(lambda: server.keys[h]["disabled"] is True)
            d.wait_for(lambda: _status(cli, "managed-keys.openrouter.ci-run-42", h) == "killed")
            assert server.keys[other]["disabled"] is False  # under its cap
            assert server.keys[bystander["hash"]]["disabled"] is False
            kills = [r for r in json.loads(cli("history", "--json").stdout) if r["op"] == "kill"]
            assert [(r["budget"], r["target"], r["status"]) for r in kills] == [
                ("managed-keys.openrouter.ci-run-42", h, "done")
            ]

            revoked = cli("keys", "revoke", "ci-run-42")
            assert "revoked ci-run-42" in revoked.stdout and h not in server.keys
            assert [k["name"] for k in json.loads(cli("keys", "list", "--json").stdout)] == [
                "ci-run-43"
            ]
            d.wait_for(lambda: _status(cli, "managed-keys.openrouter.ci-run-42", h) is None)
            assert d.stop() == 0
        assert_secret_nowhere(secret, d, *seen)
        assert_secret_nowhere(server.secrets[other], d, *seen)
    finally:
        stand.stop()
    assert server.violations == []


def _status(cli: Any, budget: str, group: str) -> str | None:
    rows = json.loads(cli("status", "--json", check=False).stdout or "[]")
    return next((r["state"] for r in rows if r["budget"] == budget and r["group"] == group), None)


def test_refusals_name_the_option_and_create_nothing(spec: Spec, tmp_path: Path) -> None:
    server = SpecServer(spec, [])
    stand = loopback(server).start()
    d = DaemonProcess(_config(stand.url), tmp_path, env={"OR_KEY": MGMT})
    base = ("keys", "create", "--limit-usd", "5", "--window", "daily")
    try:
        cases = {
            ("--provider", "nope", "--name", "a"): "--provider: no provider named 'nope'",
            ("--provider", "sim", "--name", "a"): "--provider: sim (simulated) cannot create keys",
            ("--provider", "openrouter", "--name", "-bad"): "--name: use 1-40 letters",
        }
        for extra, msg in cases.items():
            r = d.cli(*base, *extra, check=False)
            assert r.returncode == 2 and msg in r.stderr, r.stderr
        r = d.cli("keys", "create", "--provider", "openrouter", "--name", "a",
                  "--limit-usd", "5", "--window", "hourly", check=False)  # fmt: skip
        assert r.returncode == 2 and "--window: use one of daily, weekly, monthly" in r.stderr
        r = d.cli("keys", "create", "--provider", "openrouter", "--name", "a",
                  "--limit-usd", "0", "--window", "daily", check=False)  # fmt: skip
        assert r.returncode == 2 and "--limit-usd: must be above 0" in r.stderr
        assert server.requests == []
        d.cli(*base, "--provider", "openrouter", "--name", "a")
        r = d.cli(*base, "--provider", "openrouter", "--name", "a", check=False)
        assert r.returncode == 2 and "a managed key named 'a' exists" in r.stderr
        r = d.cli("keys", "revoke", "zzz", check=False)
        assert r.returncode == 2 and "no managed key named 'zzz' (managed: a)" in r.stderr
        assert len(server.keys) == 1
    finally:
        stand.stop()
    assert server.violations == []


async def test_a_failed_create_is_not_retried(spec: Spec) -> None:
    """A retry after a lost answer could mint a second key whose secret nobody ever sees."""
    from killswitch.http import HTTPStatusError

    server = SpecServer(spec, [])
    server.override = lambda r: httpx.Response(
        500, json={"error": {"code": 500, "message": "Internal Server Error"}}
    )
    with pytest.raises(HTTPStatusError, match="POST /keys -> HTTP 500"):
        await provider(server).create_key(KeyRequest("k", Money(Decimal(1)), "daily"))
    assert [r.method for r in server.requests] == ["POST"]
