"""Config (the brief's YAML loads), capabilities for `killswitch providers`, and doctor."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from killswitch import config as cfgmod
from killswitch.capabilities import matrix
from killswitch.errors import ConfigError
from killswitch.providers.openai import OpenAIProvider
from killswitch.providers.openai.config import OpenAIConfig

from .fake import FakeOpenAI, Fault
from .test_engine import BRIEF

ALL = [
    "openai.spend-limit",
    "openai.rate-limit",
    "openai.delete-key",
    "openai.archive-project",
    "openai.delete-service-account",
]


def test_the_brief_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env")
    cfg = cfgmod.parse(yaml.safe_load(BRIEF))
    pc = cfg.providers["openai"]
    assert isinstance(pc, OpenAIConfig)
    assert pc.admin_key.get_secret_value() == "sk-admin-from-env"
    assert pc.base_url == "https://api.openai.com/v1" and pc.poll_interval.total_seconds() == 60
    assert pc.resolution == "1h" and pc.reconcile
    assert [a.name for a in cfg.actions["openai-key-daily"]] == ["openai.delete-key"]
    assert [a.name for a in cfg.actions["openai-project-monthly"]] == ["openai.spend-limit"]


def test_delete_key_needs_the_irreversible_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "k")
    data = yaml.safe_load(BRIEF)
    del data["budgets"][0]["allow_irreversible"]
    with pytest.raises(ConfigError, match="irreversible"):
        cfgmod.parse(data)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"resolution": "5m"}, "resolution"),
        ({"usage_types": ["moderations"]}, "usage_types"),
        ({"service_tier_multipliers": {"priority": 0}}, "priority"),
        ({"lookback": "soon"}, "lookback"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"unit_prices": {"video": {"sora": 1}}}, "video"),
    ],
)
def test_bad_provider_config_is_refused(extra: dict[str, Any], problem: str) -> None:
    data = {"providers": {"openai": {"type": "openai", "admin_key": "k", **extra}}}
    with pytest.raises(ConfigError, match=problem):
        cfgmod.parse(data)


def test_rate_limit_params_validate() -> None:
    data = {
        "providers": {"openai": {"type": "openai", "admin_key": "k"}},
        "budgets": [
            {
                "name": "b",
                "provider": "openai",
                "scope": {"each": "project"},
                "limit_usd": 10,
                "actions": [{"type": "openai.rate-limit", "floor": -1}],
            }
        ],
    }
    with pytest.raises(ConfigError, match="floor"):
        cfgmod.parse(data)
    data["budgets"][0]["actions"] = [
        {"type": "openai.rate-limit", "floor": 5, "models": ["gpt-4o"]}
    ]
    assert cfgmod.parse(data).actions["b"][0].params.floor == 5  # type: ignore[attr-defined]


def test_capabilities_in_the_matrix() -> None:
    (row,) = [r for r in matrix() if r["provider"] == "openai"]
    assert row["sources"] == ["openai.usage", "openai.costs"]
    assert {"key", "project", "model"} <= set(row["scopes"])
    acts = {a["name"]: a for a in row["actions"]}
    assert set(acts) == set(ALL)
    assert acts["openai.spend-limit"]["reversible"] and acts["openai.rate-limit"]["reversible"]
    assert (
        acts["openai.delete-key"]["irreversible"] and acts["openai.archive-project"]["irreversible"]
    )
    assert all(a["permissions"] for a in acts.values())
    assert row["keys"] == {"create": True, "cap": "enforced", "expiry": False}


def test_default_source_is_usage(provider: OpenAIProvider) -> None:
    assert provider.default_source == "openai.usage"
    assert list(provider.sources()) == ["openai.usage", "openai.costs"]


async def test_doctor_all_good_reads_one_thing_per_capability(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    findings = await provider.doctor(ALL)
    assert [(f.check, f.ok) for f in findings] == [
        ("admin key: read usage", True),
        ("read costs (openai.costs, drift)", True),
        ("list projects (actions)", True),
        ("list project API keys (openai.delete-key)", True),
        ("list project rate limits (openai.rate-limit)", True),
        ("read a project spend limit (openai.spend-limit)", True),  # 404: none set, readable
    ]
    assert all(e.method == "GET" for e in fake.exchanges)
    assert len(fake.exchanges) == 6


async def test_doctor_without_actions_checks_reads_only(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    findings = await provider.doctor([])
    assert [f.check for f in findings] == [
        "admin key: read usage",
        "read costs (openai.costs, drift)",
    ]


async def test_doctor_names_a_rejected_key(fake: FakeOpenAI, provider: OpenAIProvider) -> None:
    fake.admin_key = "sk-admin-other"
    (f,) = await provider.doctor(ALL)
    assert not f.ok and "401" in f.detail and "api.usage.read" in f.detail
    assert "sk-admin" not in f.detail.replace("sk-admin-...", "")


async def test_doctor_names_missing_management_scope(
    fake: FakeOpenAI, provider: OpenAIProvider
) -> None:
    err = {
        "error": {
            "message": "Missing scopes: api.management.read",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
    fake.faults.append(Fault("GET", "/organization/projects", 403, err, spec_valid=True))
    findings = await provider.doctor(ALL)
    bad = [f for f in findings if not f.ok]
    assert [f.check for f in bad] == ["list projects (actions)"]
    assert "api.management" in bad[0].detail
