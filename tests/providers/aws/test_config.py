"""The config in the brief loads unchanged; bad action params fail with a field path."""

from __future__ import annotations

import pytest
import yaml

from killswitch.config import json_schema, parse
from killswitch.errors import ConfigError
from killswitch.plugins import registry
from killswitch.providers.aws.actions import DeactivateKeysParams, DenyPolicyParams
from killswitch.providers.aws.config import AwsConfig

BRIEF = """
providers:
  aws:
    type: aws
    region: us-east-1
    role_arn: arn:aws:iam::123456789012:role/killswitch   # optional assume-role
    endpoint_url: null                                     # override (tests use moto_server)
budgets:
  - name: bedrock-daily
    provider: aws
    source: aws.bedrock
    scope: {all: true}
    window: daily
    limit_usd: 200
    actions:
      - type: aws.deny-policy
        principals: [arn:aws:iam::123456789012:role/app]
        deny: ["bedrock:*"]
    restore: on_reset
  - name: account-monthly
    provider: aws
    source: aws.budgets
    scope: {budgets: [monthly-total]}
    window: monthly
    limit_usd: 5000
    actions:
      - type: aws.deactivate-access-keys
        users: [ci-bot]
"""


def test_brief_config_loads_unchanged() -> None:
    cfg = parse(yaml.safe_load(BRIEF))
    pc = cfg.providers["aws"]
    assert isinstance(pc, AwsConfig)
    assert pc.role_arn == "arn:aws:iam::123456789012:role/killswitch"
    assert pc.endpoint_url is None
    (deny,) = cfg.actions["bedrock-daily"]
    assert deny.name == "aws.deny-policy" and not deny.irreversible
    assert isinstance(deny.params, DenyPolicyParams)
    assert deny.params.principals == ["arn:aws:iam::123456789012:role/app"]
    assert deny.params.resources == ["*"]
    (keys,) = cfg.actions["account-monthly"]
    assert isinstance(keys.params, DeactivateKeysParams) and keys.params.users == ["ci-bot"]


@pytest.mark.parametrize(
    ("action", "path"),
    [
        (
            {"type": "aws.deny-policy", "principals": ["not-an-arn"], "deny": ["bedrock:*"]},
            "principals",
        ),
        (
            {
                "type": "aws.deny-policy",
                "principals": ["arn:aws:iam::123456789012:role/app"],
                "deny": ["bedrock *"],
            },
            "deny",
        ),
        ({"type": "aws.deny-policy", "principals": ["arn:aws:iam::123456789012:role/app"]}, "deny"),
        ({"type": "aws.deactivate-access-keys", "users": []}, "users"),
        (
            {"type": "aws.deactivate-access-keys", "users": ["arn:aws:iam::123456789012:role/x"]},
            "users",
        ),
        (
            {"type": "aws.scp", "policy_id": "p-FullAWSAccess", "target_ids": ["111122223333"]},
            "policy_id",
        ),
        ({"type": "aws.scp", "policy_id": "p-abcd1234", "target_ids": ["acct-1"]}, "target_ids"),
        ({"type": "aws.revoke-role-sessions", "roles": ["bad name!"]}, "roles"),
        (
            {
                "type": "aws.deny-policy",
                "principals": ["arn:aws:iam::123456789012:role/app"],
                "deny": ["bedrock:*"],
                "typo": 1,
            },
            "typo",
        ),
    ],
)
def test_bad_action_params_name_the_field(action: dict[str, object], path: str) -> None:
    data = yaml.safe_load(BRIEF)
    data["budgets"][0]["actions"] = [action]
    with pytest.raises(ConfigError) as err:
        parse(data)
    assert any(
        p.startswith("budgets[0].actions[0]") and path in p for p, _ in err.value.problems
    ), err.value.problems


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("region", "moon-1"),
        ("role_arn", "arn:aws:iam::1:user/x"),
        ("bedrock", {"period": 45}),
        ("cost_explorer", {"group_by": ["colour"]}),
        ("cost_explorer", {"metric": "Dollars"}),
    ],
)
def test_bad_provider_fields_are_rejected(key: str, value: object) -> None:
    data = yaml.safe_load(BRIEF)
    data["providers"]["aws"][key] = value
    with pytest.raises(ConfigError) as err:
        parse(data)
    assert any(p.startswith(f"providers.aws.{key}") for p, _ in err.value.problems)


def test_a_bedrock_period_outside_the_choices_names_them() -> None:
    data = yaml.safe_load(BRIEF)
    data["providers"]["aws"]["bedrock"] = {"period": 45}
    with pytest.raises(ConfigError, match="period must be one of 1, 5, 10, 30, 60, 300, 3600"):
        parse(data)
    data["providers"]["aws"]["bedrock"] = {"period": "300"}  # YAML may quote it
    cfg = parse(data).providers["aws"]
    assert isinstance(cfg, AwsConfig) and cfg.bedrock.period == 300


def test_unknown_source_is_rejected() -> None:
    data = yaml.safe_load(BRIEF)
    data["budgets"][0]["source"] = "aws.bedrok"
    with pytest.raises(ConfigError, match=r"aws\.bedrock"):
        parse(data)


def test_registered_with_schema_and_metadata() -> None:
    reg = registry.load()
    assert reg.providers["aws"].source_names == ("aws.budgets", "aws.cost-explorer", "aws.bedrock")
    acts = reg.actions_for("aws")
    assert set(acts) == {
        "aws.deny-policy",
        "aws.deactivate-access-keys",
        "aws.revoke-role-sessions",
        "aws.scp",
    }
    for a in acts.values():
        assert a.permissions and a.summary and a.undo_summary and a().reversible
    schema = json_schema()
    assert "action_aws.deny-policy" in schema["$defs"]
    assert "provider_aws" in schema["$defs"]
