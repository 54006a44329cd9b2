"""Native caps: the pure judge (first set, drift episodes, verify), and the config errors that
name why a budget's shape has no native cap at its provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from killswitch import config
from killswitch.core.caps import CapStatus, Drift, NativeCap, judge
from killswitch.errors import ConfigError

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
WANT = NativeCap(Decimal(10), "USD", "daily")
NONE = NativeCap(None)
RAISED = NativeCap(Decimal(50), "USD", "daily")


def test_in_sync_compares_numbers_not_spellings() -> None:
    v = judge(WANT, NativeCap(Decimal("10.00"), "USD", "daily"), **_ctx())
    assert (v.status, v.write, v.announce, v.drift) == (CapStatus.IN_SYNC, False, False, None)
    assert not WANT.matches(NativeCap(Decimal(10), "USD", "monthly"))
    assert not WANT.matches(NONE) and NONE.matches(NativeCap(None, "USD", "daily"))


def test_never_synced_is_set_without_an_alert() -> None:
    v = judge(WANT, NONE, **_ctx(synced=False))
    assert (v.status, v.write, v.announce) == (CapStatus.UNSET, True, False)


def test_a_drift_is_announced_once_per_episode() -> None:
    first = judge(WANT, RAISED, **_ctx())
    assert (first.status, first.write, first.announce) == (CapStatus.DRIFT, True, True)
    assert first.drift == Drift(RAISED, NOW)
    later = judge(WANT, RAISED, **_ctx(drift=first.drift, now=NOW + timedelta(minutes=5)))
    assert (later.announce, later.write, later.drift) == (False, True, first.drift)
    other = NativeCap(Decimal(70), "USD", "daily")
    again = judge(WANT, other, **_ctx(drift=first.drift, now=NOW + timedelta(minutes=6)))
    assert again.announce and again.drift == Drift(other, NOW + timedelta(minutes=6))


def test_verify_never_writes_and_every_difference_is_drift() -> None:
    v = judge(WANT, NONE, **_ctx(enforce=False, synced=False))
    assert (v.status, v.write, v.announce) == (CapStatus.DRIFT, False, True)


def test_cap_json_round_trip() -> None:
    assert NativeCap.from_json(RAISED.to_json()) == RAISED
    assert NativeCap.from_json(NONE.to_json()) == NONE
    assert RAISED.describe() == "50 USD daily" and NONE.describe() == "no cap"


def _ctx(
    *,
    enforce: bool = True,
    synced: bool = True,
    drift: Drift | None = None,
    now: datetime = NOW,
) -> dict[str, Any]:
    return {"enforce": enforce, "synced": synced, "drift": drift, "now": now}


def _cfg(ptype: str, budget: dict[str, Any]) -> dict[str, Any]:
    keys = {"openai": "admin_key", "anthropic": "admin_key", "openrouter": "api_key"}
    provider: dict[str, Any] = {"type": ptype}
    if ptype in keys:
        provider[keys[ptype]] = "secret-value"
    else:
        provider["targets"] = [{"id": "t"}]
    return {
        "providers": {"p": provider},
        "budgets": [{"name": "b", "provider": "p", "actions": [], "mode": "alert-only", **budget}],
    }


OPENAI_MONTHLY = {"scope": {"each": "project"}, "window": "monthly", "limit_usd": 500}


@pytest.mark.parametrize(
    ("ptype", "over", "why"),
    [
        ("openai", {"scope": {"each": "key"}}, "per project"),
        ("openai", {"window": "daily"}, "monthly only"),
        ("openai", {"timezone": "Europe/Kyiv"}, "monthly only"),
        ("openai", {"limit_usd": Decimal("10.005")}, "whole cents"),
        ("openai", {"limit_usd": None, "limit": {"amount": 5, "currency": "EUR"}}, "USD only"),
        ("anthropic", {"scope": {"each": "key"}}, "early-access preview"),
        ("simulated", {"scope": {"each": "target"}}, "has no native cap"),
    ],
)
def test_native_cap_where_the_shape_has_none_names_why(
    ptype: str, over: dict[str, Any], why: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        config.parse(_cfg(ptype, {**OPENAI_MONTHLY, "native_cap": True, **over}))
    rendered = exc.value.render()
    assert "budgets[0].native_cap" in rendered and why in rendered, rendered


def test_native_cap_accepts_true_verify_false_only() -> None:
    for mode in (True, "verify", False):
        cfg = config.parse(_cfg("openai", {**OPENAI_MONTHLY, "native_cap": mode}))
        assert cfg.budgets[0].native_cap == mode
    one = {**OPENAI_MONTHLY, "scope": {"projects": ["proj_a"]}, "native_cap": True}
    config.parse(_cfg("openai", one))
    with pytest.raises(ConfigError) as exc:
        config.parse(_cfg("openai", {**OPENAI_MONTHLY, "native_cap": "sometimes"}))
    assert "budgets[0].native_cap" in exc.value.render()
