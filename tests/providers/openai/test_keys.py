"""``killswitch keys`` on OpenAI: a project service account per managed key (its key is the
secret), deleted on revoke or when the daemon sees the key's usage pass its cap.

Every exchange is checked against the official spec (the ``fake`` fixture, and
``check_exchanges`` after the end-to-end run). The secret must appear in the create command's
stdout only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from killswitch.errors import RefusedAction
from killswitch.model import ManagedKey, Money
from killswitch.plugins import KeyRequest, registry
from killswitch.testing import DaemonProcess

from .conftest import K1, P1, build, check_exchanges
from .contract import load_contract
from .fake import FakeOpenAI
from .test_e2e import stand_in

ADMIN_KEY = "sk-admin-keys-test-admin-key"
MODEL = "keys-model"  # $1 per million input tokens in the config below


async def test_create_makes_a_service_account_and_revoke_deletes_it(fake: FakeOpenAI) -> None:
    p = build(fake, keys_project=P1)
    issued = await p.create_key(KeyRequest("ci-run-7", Money(Decimal(5)), "daily"))
    (acct,) = fake.service_accounts.values()
    assert acct["name"] == "ci-run-7" and acct["_project"] == P1
    assert issued.id == acct["_key"] and not issued.native_cap
    assert issued.ref == {"project": P1, "service_account": acct["id"]}
    assert issued.secret.get_secret_value() == fake.secrets[issued.id]
    key = ManagedKey("ci-run-7", "openai", issued.id, Money(Decimal(5)), "daily", False, issued.ref)
    assert p.key_actions(key) == [
        {"type": "openai.delete-service-account", "project": P1, "service_account": acct["id"]}
    ]
    await p.revoke_key(key)
    assert fake.service_accounts == {} and issued.id not in fake.keys
    await p.revoke_key(key)  # 404: already gone, still revoked
    posts = fake.requests("POST", ".*")
    assert [json.loads(e.body) for e in posts] == [{"name": "ci-run-7"}]
    await p.aclose()


async def test_create_without_a_keys_project_is_refused(fake: FakeOpenAI) -> None:
    p = build(fake)
    with pytest.raises(RefusedAction, match="keys_project: not set"):
        await p.create_key(KeyRequest("x", Money(Decimal(5)), "daily"))
    assert fake.exchanges == []
    await p.aclose()


def _config(url: str) -> dict[str, Any]:
    return {
        "metrics": {"per_target": "all"},
        "providers": {
            "openai": {
                "type": "openai",
                "admin_key": "${env:OPENAI_ADMIN_KEY}",
                "base_url": f"{url}/v1",
                "poll_interval": "1s",
                "page_interval": 0,
                "usage_types": ["completions"],
                "reconcile": False,
                "keys_project": P1,
            }
        },
        "prices": {"openai": {MODEL: {"input": 1, "output": 4}}},
    }


def test_create_enforce_revoke_e2e(tmp_path: Path) -> None:
    fake = FakeOpenAI(lambda: datetime.now(UTC), admin_key=ADMIN_KEY)
    fake.add_project(P1)
    fake.add_key(P1, K1)
    server = stand_in(fake).start()
    d = DaemonProcess(_config(server.url), tmp_path, env={"OPENAI_ADMIN_KEY": ADMIN_KEY})
    others: list[str] = []
    try:
        with d:
            d.start()
            r = d.cli("keys", "create", "--provider", "openai", "--name", "ci-run-7",
                      "--limit-usd", "5", "--window", "daily", "--json")  # fmt: skip
            others.append(r.stderr)
            out = json.loads(r.stdout)
            kid = out["id"]
            secret = fake.secrets[kid]
            assert out["secret"] == secret and out["cap"] == "enforced"
            (sid,) = fake.service_accounts
            r = d.cli("keys", "create", "--provider", "openai", "--name", "x", "--limit-usd",
                      "5", "--window", "daily", "--expires", "1h", check=False)  # fmt: skip
            assert r.returncode == 2 and "--expires: openai keys cannot expire" in r.stderr

            now = datetime.now(UTC)
            fake.add_completion(now, P1, K1, MODEL, input=9_000_000)  # not managed: untouched
            fake.add_completion(now, P1, kid, MODEL, input=4_000_000)  # $4 of its $5
            budget = "managed-keys.openai.ci-run-7"

            def state() -> str | None:
                r = d.cli("status", "--json", check=False)
                others.append(r.stdout + r.stderr)
                rows = json.loads(r.stdout or "[]")
                return next((x["state"] for x in rows if x["budget"] == budget), None)

            d.wait_for(lambda: state() == "warning")
            assert sid in fake.service_accounts
            fake.add_completion(datetime.now(UTC), P1, kid, MODEL, input=2_000_000)  # $6
            d.wait_for(lambda: sid not in fake.service_accounts)
            assert K1 in fake.keys
            d.wait_for(lambda: state() == "killed")
            hist = d.cli("history", "--json").stdout
            others.append(hist)
            kills = [x for x in json.loads(hist) if x["op"] == "kill"]
            assert [(x["budget"], x["action"], x["target"], x["status"]) for x in kills] == [
                (budget, "openai.delete-service-account", kid, "done")
            ]
            r = d.cli("keys", "revoke", "ci-run-7")  # already deleted by the kill: still fine
            others += [r.stdout, r.stderr, d.cli("keys", "list").stdout]
            assert "revoked ci-run-7" in r.stdout
            assert d.stop() == 0
        for f in d.workdir.rglob("*"):
            if f.is_file():
                assert secret.encode() not in f.read_bytes(), f"secret found in {f.name}"
        assert all(secret not in o for o in others)
    finally:
        server.stop()
    deletes = [e.url.split("/v1", 1)[1] for e in fake.requests("DELETE", ".*")]
    assert deletes == [f"/organization/projects/{P1}/service_accounts/{sid}"] * 2
    check_exchanges(load_contract(), fake)


def test_the_managed_key_action_is_registered_and_irreversible() -> None:
    acls = registry.actions["openai.delete-service-account"]
    assert acls.irreversible and acls.target_dim == "key"
