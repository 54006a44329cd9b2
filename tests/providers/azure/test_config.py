"""Config of the azure provider and its actions, and the custom role kept in sync."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from killswitch.config import parse
from killswitch.errors import ConfigError
from killswitch.plugins import registry
from killswitch.providers.azure.config import AzureConfig
from killswitch.providers.azure.permissions import ACTIONS, DOCTOR, SOURCES, allowed, every
from tests.conftest import REPO
from tests.providers.azure.arm import ACCOUNT, SUB

SAMPLE = """
providers:
  azure:
    type: azure
    subscription_id: 00000000-0000-0000-0000-000000000000
budgets:
  - name: aoai-monthly
    provider: azure
    source: azure.budgets
    scope: {budgets: [ai-monthly]}
    window: monthly
    limit_usd: 800
    actions:
      - type: azure.disable-local-auth
        accounts: [/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/ai/providers/Microsoft.CognitiveServices/accounts/aoai]
"""
ROLE = REPO / "deploy" / "permissions" / "azure-role-definition.json"


def test_sample_config_loads_unchanged() -> None:
    cfg = parse(yaml.safe_load(SAMPLE))
    p = cfg.providers["azure"]
    assert isinstance(p, AzureConfig)
    assert p.budget_scopes == (f"/subscriptions/{SUB}",)
    assert p.base_url is None and not p.plain_http
    (ra,) = cfg.actions["aoai-monthly"]
    assert ra.name == "azure.disable-local-auth" and not ra.irreversible
    assert ra.params.accounts == (ACCOUNT,)  # type: ignore[attr-defined]


def provider(**entry: Any) -> AzureConfig:
    cfg = parse({"providers": {"azure": {"type": "azure", "subscription_id": SUB, **entry}}})
    p = cfg.providers["azure"]
    assert isinstance(p, AzureConfig)
    return p


def test_scopes_are_normalised_and_validated() -> None:
    p = provider(scope=[f"subscriptions/{SUB}/resourceGroups/ai/", f"/subscriptions/{SUB}"])
    assert p.budget_scopes == (f"/subscriptions/{SUB}/resourceGroups/ai", f"/subscriptions/{SUB}")
    assert provider(scope=f"/subscriptions/{SUB}").budget_scopes == (f"/subscriptions/{SUB}",)
    bad: object
    for bad in ("/providers/Microsoft.Management/managementGroups/x", "ai", []):
        with pytest.raises(ConfigError, match=r"providers\.azure\.scope"):
            provider(scope=bad)


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://management.usgovcloudapi.net", True),
        ("http://127.0.0.1:8443", True),
        ("http://localhost:1", True),
        ("http://[::1]:9", True),
        ("http://management.azure.com", False),
        ("http://10.0.0.5:80", False),
        ("ftp://127.0.0.1", False),
    ],
)
def test_plain_http_only_for_loopback(url: str, ok: bool) -> None:
    if ok:
        assert provider(base_url=url).base_url == url.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="loopback"):
            provider(base_url=url)


def test_subscription_id_is_a_uuid_and_unknown_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="subscription_id"):
        provider(subscription_id="my-sub")
    with pytest.raises(ConfigError, match="unknown field"):
        provider(subscriptions="x")


def test_unknown_source_is_refused() -> None:
    data = yaml.safe_load(SAMPLE)
    data["budgets"][0]["source"] = "azure.usage"
    with pytest.raises(ConfigError, match=r"azure\.budgets, azure\.cost-query"):
        parse(data)


def test_action_table_matches_registered_actions() -> None:
    azure_actions = registry.load().actions_for("azure")
    assert set(azure_actions) == set(ACTIONS)
    for name, cls in azure_actions.items():
        assert tuple(cls.permissions) == ACTIONS[name]
        assert cls.summary and (cls.irreversible or cls().reversible)
        assert cls.target_dim is None  # explicit ids from params, never guessed from spend


def test_role_definition_grants_exactly_what_the_provider_needs() -> None:
    role = json.loads(ROLE.read_text())
    assert role["Actions"] == every()
    entries = [{"actions": role["Actions"], "notActions": role["NotActions"]}]
    for ops in (*SOURCES.values(), *ACTIONS.values(), DOCTOR):
        assert all(allowed(entries, op) for op in ops)
    assert role["DataActions"] == [] and not any("*" in a for a in role["Actions"])
    assert role["AssignableScopes"] == [f"/subscriptions/{SUB}"]


def test_docs_name_every_permission_and_source() -> None:
    text = (REPO / "docs" / "providers" / "azure.md").read_text()
    for op in every():
        assert op in text
    for name in (*SOURCES, *ACTIONS):
        assert f"`{name}`" in text


def test_allowed_follows_azure_wildcards_and_not_actions() -> None:
    contributor = {"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}
    reader = {"actions": ["*/read"], "notActions": []}
    assert allowed([contributor], "Microsoft.CognitiveServices/accounts/write")
    assert not allowed([reader], "Microsoft.CognitiveServices/accounts/write")
    assert allowed([reader], "microsoft.consumption/BUDGETS/read")  # case-insensitive
    assert not allowed([contributor], "Microsoft.Authorization/roleAssignments/write")
    # notActions only subtract from their own entry: another role can still grant it
    owner = {"actions": ["*"], "notActions": []}
    assert allowed([contributor, owner], "Microsoft.Authorization/roleAssignments/write")
    assert not allowed([], "Microsoft.Consumption/budgets/read")


def test_without_the_azure_sdk_the_provider_is_skipped_with_an_install_hint() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "sys.modules['azure'] = None\n"
        "from killswitch.plugins import registry\n"
        "registry.load()\n"
        "assert 'azure' not in registry.providers and 'openrouter' in registry.providers\n"
        "print(registry.unavailable['azure'])\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "pip install 'killswitch-daemon[azure]'" in res.stdout
