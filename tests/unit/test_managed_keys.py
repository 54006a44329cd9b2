"""Managed keys (``killswitch keys``): stored without a secret on both backends, turned into one
budget each (the key's own limit, window and scope), and shown by ``killswitch providers``."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from killswitch import config as cfgmod
from killswitch.capabilities import matrix, render_text
from killswitch.managed import budget_name, check_name, unenforced, with_managed
from killswitch.model import ManagedKey, Money
from killswitch.state import Store

NOW = datetime(2026, 12, 2, 17, tzinfo=UTC)
OR_KEY = ManagedKey("ci-run-42", "or", "f" * 64, Money(Decimal("5.5")), "daily", True)
OA_KEY = ManagedKey(
    "nightly",
    "oa",
    "key_svc1",
    Money(Decimal(20)),
    "monthly",
    False,
    {"project": "proj_a", "service_account": "svc_1"},
)


def _config(**extra: object) -> cfgmod.Config:
    return cfgmod.parse(
        {
            "providers": {
                "or": {"type": "openrouter", "api_key": "sk-or-v1-x"},
                "oa": {"type": "openai", "admin_key": "sk-admin-x"},
                "sim": {"type": "simulated", "targets": [{"id": "a"}]},
            },
            "budgets": [
                {
                    "name": "cfg",
                    "provider": "sim",
                    "limit_usd": 1,
                    "actions": ["simulated.disable"],
                }
            ],
            **extra,
        }
    )


def test_store_round_trip_keeps_no_secret(store_url: str) -> None:
    store = Store(store_url)
    try:
        exp = datetime(2026, 12, 3, 17, tzinfo=UTC)
        store.add_managed_key(OA_KEY, NOW)
        store.add_managed_key(
            ManagedKey("b", "or", "h", Money(Decimal("0.01")), "weekly", True, expires_at=exp), NOW
        )
        got = store.managed_keys()
        assert [k.name for k in got] == ["b", "nightly"]
        assert got[0].limit == Money(Decimal("0.01")) and got[0].expires_at == exp
        assert got[1].ref == OA_KEY.ref and got[1].created_at == NOW and not got[1].native_cap
        assert store.remove_managed_key("b", budget_name("or", "b"))
        assert not store.remove_managed_key("b", budget_name("or", "b"))
        assert [k.name for k in store.managed_keys()] == ["nightly"]
    finally:
        store.close()


def test_each_key_becomes_its_own_budget() -> None:
    base = _config()
    merged = with_managed(base, [OR_KEY, OA_KEY])
    assert [b.name for b in merged.budgets] == [
        "cfg",
        "managed-keys.or.ci-run-42",
        "managed-keys.oa.nightly",
    ]
    b = merged.budget("managed-keys.or.ci-run-42")
    assert b.provider == "or" and b.window == "daily" and b.limit_money == Money(Decimal("5.5"))
    assert b.scope_spec.each == "key" and dict(b.scope_spec.filters) == {"key": {"f" * 64}}
    assert [a.name for a in merged.actions[b.name]] == ["openrouter.disable-key"]
    assert b.restore == "on_reset" and not b.allow_irreversible
    oa = merged.budget("managed-keys.oa.nightly")
    (act,) = merged.actions[oa.name]
    assert act.name == "openai.delete-service-account" and oa.allow_irreversible
    assert act.params.service_account == "svc_1"  # type: ignore[attr-defined]
    # idempotent: merging again (every cycle) neither duplicates nor keeps revoked ones
    assert [b.name for b in with_managed(merged, [OA_KEY]).budgets] == [
        "cfg",
        "managed-keys.oa.nightly",
    ]
    assert base.budgets == _config().budgets  # the input is untouched


def test_a_key_whose_provider_left_the_config_is_named_not_enforced() -> None:
    gone = ManagedKey("old", "removed", "x", Money(Decimal(1)), "daily", True)
    wrong = ManagedKey("sim-key", "sim", "a", Money(Decimal(1)), "daily", False)  # cannot issue
    merged = with_managed(_config(), [gone, wrong, OR_KEY])
    assert unenforced(merged, [gone, wrong, OR_KEY]) == ["old", "sim-key"]
    broken = ManagedKey("broken", "oa", "k", Money(Decimal(1)), "daily", False, {"project": "p"})
    assert unenforced(with_managed(_config(), [broken]), [broken]) == ["broken"]


def test_names_fit_a_budget_name() -> None:
    assert check_name("openrouter", "ci-run-42") is None
    assert "letters" in (check_name("or", "has space") or "")
    assert "exceeds 64" in (check_name("p" * 40, "k" * 30) or "")


@pytest.mark.parametrize(
    ("provider", "cap", "expiry"), [("openrouter", "native", True), ("openai", "enforced", False)]
)
def test_providers_shows_key_creation_and_where_the_cap_lives(
    provider: str, cap: str, expiry: bool
) -> None:
    rows = {r["provider"]: r for r in matrix()}
    assert rows[provider]["keys"] == {"create": True, "cap": cap, "expiry": expiry}
    assert rows["simulated"]["keys"] is None
    text = render_text([rows[provider]])
    assert f"keys create: cap {cap}" in text
