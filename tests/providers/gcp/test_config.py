"""Config of the gcp provider and its actions, and the custom role kept in sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch.config import json_schema, parse
from killswitch.errors import ConfigError
from killswitch.providers.gcp.config import GcpConfig
from killswitch.providers.gcp.permissions import DETACH_BILLING, DISABLE_SERVICE, SOURCE, flat
from tests.providers.gcp.test_engine import SAMPLE

REPO = Path(__file__).resolve().parents[3]


def sample() -> dict[str, Any]:
    return dict(yaml.safe_load(SAMPLE))


def test_the_sample_config_loads_unchanged() -> None:
    cfg = parse(sample())
    pc = cfg.providers["gcp"]
    assert isinstance(pc, GcpConfig)
    assert pc.type == "gcp" and pc.subscription == "projects/ops/subscriptions/budget-alerts"
    (ra,) = cfg.actions["sandbox-monthly"]
    assert ra.name == "gcp.detach-billing" and ra.irreversible
    assert ra.params.projects == ["my-sandbox"]  # type: ignore[attr-defined]
    assert cfg.budget("sandbox-monthly").limit_money.currency == "EUR"


def test_detach_billing_needs_allow_irreversible() -> None:
    data = sample()
    del data["budgets"][0]["allow_irreversible"]
    with pytest.raises(ConfigError, match="irreversible; set allow_irreversible"):
        parse(data)


@pytest.mark.parametrize(
    ("action", "why"),
    [
        ({"type": "gcp.detach-billing"}, "projects"),
        ({"type": "gcp.detach-billing", "projects": []}, "projects"),
        ({"type": "gcp.detach-billing", "projects": ["My Project"]}, "not a project id"),
        ({"type": "gcp.detach-billing", "projects": ["p1x"], "force": True}, "unknown field"),
        ({"type": "gcp.disable-service", "projects": ["my-sandbox"]}, "services"),
        (
            {
                "type": "gcp.disable-service",
                "projects": ["my-sandbox"],
                "services": ["serviceusage.googleapis.com"],
            },
            "undo impossible",
        ),
        (
            {"type": "gcp.disable-service", "projects": ["my-sandbox"], "services": ["Vertex AI"]},
            "not a service name",
        ),
    ],
)
def test_action_params_are_validated(action: dict[str, Any], why: str) -> None:
    data = sample()
    data["budgets"][0]["actions"] = [action]
    with pytest.raises(ConfigError, match=why):
        parse(data)


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ({"subscription": "budget-alerts"}, "projects/<project-id>/subscriptions/<name>"),
        ({"window_timezones": ["Mars/Olympus"]}, "unknown timezone"),
        ({"poll_interval": "10m"}, "poll_interval <= 4m30s"),
        ({"own_project": "Not_An_Id"}, "own_project"),
        ({"endpoints": {"billing": "http://x"}}, "unknown field"),
    ],
)
def test_provider_entry_is_validated(entry: dict[str, Any], why: str) -> None:
    data = sample()
    data["providers"]["gcp"].update(entry)
    with pytest.raises(ConfigError, match=why):
        parse(data)


def test_schema_lists_the_gcp_entry_and_actions() -> None:
    schema = json_schema()
    assert "provider_gcp" in schema["$defs"]
    assert "action_gcp.detach-billing" in schema["$defs"]
    assert "action_gcp.disable-service" in schema["$defs"]


def test_custom_role_has_exactly_the_declared_permissions() -> None:
    role = yaml.safe_load((REPO / "deploy/permissions/gcp-custom-role.yaml").read_text())
    declared = set(flat(SOURCE)) | set(flat(DETACH_BILLING)) | set(flat(DISABLE_SERVICE))
    assert set(role["includedPermissions"]) == declared
    assert len(role["includedPermissions"]) == len(declared)
    assert role["stage"] == "GA" and role["title"]


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"doctor_projects": ["my-sandbox", "Not_An_Id"]}, "doctor_projects.1"),
        ({"window_timezones": ["UTC", "Mars/Olympus"]}, "window_timezones.1"),
    ],
)
def test_a_bad_list_item_is_reported_at_its_index(entry: dict[str, Any], where: str) -> None:
    data = sample()
    data["providers"]["gcp"].update(entry)
    with pytest.raises(ConfigError, match=where):
        parse(data)


def test_window_timezones_are_deduplicated_in_order() -> None:
    data = sample()
    data["providers"]["gcp"]["window_timezones"] = ["Europe/Paris", "UTC", "Europe/Paris"]
    pc = parse(data).providers["gcp"]
    assert isinstance(pc, GcpConfig)
    assert pc.window_timezones == ("Europe/Paris", "UTC")
