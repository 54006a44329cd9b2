"""Config: the issue's examples load unchanged; bad input names the field and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from killswitch import config
from killswitch.errors import ConfigError

OPENROUTER_EXAMPLE = """
state: sqlite:///var/lib/killswitch/state.db   # any SQLAlchemy URL; postgresql+psycopg://... too
listen: 127.0.0.1:9464                          # /metrics /healthz /readyz
dry_run: false
protect: [or-key-hash-of-the-ci-key]            # targets never touched, whatever a budget says
max_actions_per_cycle: 20                       # blast-radius guard: above it, act on none and alert

providers:
  openrouter:
    type: openrouter
    api_key: ${env:OPENROUTER_MANAGEMENT_KEY}  # ${env:NAME} and ${file:/path} secret references
    base_url: https://openrouter.ai/api/v1
    poll_interval: 60s

budgets:
  - name: per-key-daily
    provider: openrouter
    scope: {each: key}              # one budget per key; also {keys: [h1, h2]} (summed) and {all: true}
    window: daily                   # daily | weekly | monthly | rolling:<duration>; timezone: UTC default
    limit_usd: 10
    warn_at: [0.5, 0.8]             # fractions of the limit
    kill_at: 1.0
    mode: enforce                   # enforce | alert-only
    actions: [openrouter.disable-key]
    restore: on_reset               # on_reset | manual

notifiers:
  - type: webhook
    url: https://hooks.example.com/killswitch
    secret: ${env:KILLSWITCH_WEBHOOK_SECRET}   # HMAC-SHA256 signature header on every delivery
  - type: slack
    webhook_url: ${env:SLACK_WEBHOOK_URL}
"""

SECRETS = {
    "OPENROUTER_MANAGEMENT_KEY": "sk-or-v1-supersecretvalue",
    "KILLSWITCH_WEBHOOK_SECRET": "whsec-supersecret",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secretpath",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        config.parse(data)
    return dict(exc.value.problems)


def test_issue_example_loads_unchanged(env: None) -> None:
    cfg = config.parse(yaml.safe_load(OPENROUTER_EXAMPLE))
    b = cfg.budget("per-key-daily")
    assert str(b.limit_money) == "10.00 USD" and b.scope_spec.each == "key"
    assert cfg.actions["per-key-daily"][0].name == "openrouter.disable-key"
    assert (
        cfg.providers["openrouter"].api_key.get_secret_value()
        == SECRETS[  # type: ignore[attr-defined]
            "OPENROUTER_MANAGEMENT_KEY"
        ]
    )


def test_demo_config_loads() -> None:
    cfg = config.load(Path(__file__).resolve().parents[2] / "config" / "demo.yaml")
    assert cfg.providers["sim"].type == "simulated"


def test_file_secret_reference(tmp_path: Path, env: None) -> None:
    f = tmp_path / "key"
    f.write_text("sk-from-file-123\n")
    data = yaml.safe_load(
        OPENROUTER_EXAMPLE.replace("${env:OPENROUTER_MANAGEMENT_KEY}", f"${{file:{f}}}")
    )
    cfg = config.parse(data)
    assert cfg.providers["openrouter"].api_key.get_secret_value() == "sk-from-file-123"  # type: ignore[attr-defined]


def test_missing_env_names_field_and_fix(monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY")
    p = problems(yaml.safe_load(OPENROUTER_EXAMPLE))
    assert "OPENROUTER_MANAGEMENT_KEY is not set" in p["providers.openrouter.api_key"]


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"limit_usd": -1}, "budgets[0].limit_usd", "greater than 0"),
        ({"window": "hourly"}, "budgets[0].window", "rolling:<duration>"),
        ({"timezone": "Mars/Base"}, "budgets[0].timezone", "IANA"),
        ({"actions": ["openrouter.nuke"]}, "budgets[0].actions[0]", "unknown action"),
        ({"actions": ["openrouter.delete-key"]}, "budgets[0].actions[0]", "allow_irreversible"),
        ({"scope": {"each": ["key"]}}, "budgets[0].scope", "one dimension"),
        ({"provider": "nope"}, "budgets[0].provider", "no provider named"),
        ({"limitusd": 5}, "budgets[0].limitusd", "unknown field"),
    ],
)
def test_bad_budget_fields(env: None, patch: dict[str, Any], field: str, words: str) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["budgets"][0].update(patch)
    p = problems(data)
    assert field in p, p
    assert words in p[field]


def test_bad_provider_field_never_echoes_the_secret(env: None) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["providers"]["openrouter"]["poll_interval"] = "soon"
    data["providers"]["openrouter"]["api_key"] = {"nested": "${env:OPENROUTER_MANAGEMENT_KEY}"}
    with pytest.raises(ConfigError) as exc:
        config.parse(data)
    text = exc.value.render()
    assert "providers.openrouter.poll_interval" in text
    assert SECRETS["OPENROUTER_MANAGEMENT_KEY"] not in text


def test_irreversible_opt_in_accepted(env: None) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["budgets"][0].update(actions=["openrouter.delete-key"], allow_irreversible=True)
    assert config.parse(data).actions["per-key-daily"][0].irreversible


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "killswitch", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_cli_check_config_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(OPENROUTER_EXAMPLE)
    ok = run_cli("check-config", "-c", str(good), env=SECRETS)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(OPENROUTER_EXAMPLE.replace("limit_usd: 10", "limit_usd: ten"))
    res = run_cli("check-config", "-c", str(bad), env=SECRETS)
    assert res.returncode == 2
    assert "budgets[0].limit_usd" in res.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("budgets: [\n")
    res = run_cli("check-config", "-c", str(broken))
    assert res.returncode == 2 and "not valid YAML at line" in res.stderr
    assert run_cli("check-config", "-c", str(tmp_path / "missing.yaml")).returncode == 2
    assert run_cli("run").returncode == 2  # missing required option


def test_schema_is_valid_json_schema_and_validates_the_example(env: None) -> None:
    import jsonschema

    res = run_cli("schema")
    assert res.returncode == 0
    schema = json.loads(res.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "openrouter.disable-key" in json.dumps(schema)
    assert "provider_openrouter" in schema["$defs"]


# ---- sanity checks an operator would otherwise meet at run time ------------------------------


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"warn_at": [50, 80]}, "budgets[0].warn_at", "not percent: did you mean 0.5?"),
        ({"kill_at": 100}, "budgets[0].kill_at", "did you mean 1?"),
        ({"kill_at": 90}, "budgets[0].kill_at", "did you mean 0.9?"),
        ({"warn_at": [0.5, 1.2], "kill_at": 1.0}, "budgets[0]", "warn_at 1.2 is not below kill_at"),
        ({"warn_at": [1.0]}, "budgets[0]", "a warning must fire before the kill"),
        ({"warn_at": [0]}, "budgets[0].warn_at", "above 0"),
    ],
)
def test_thresholds_are_fractions_below_kill_at(
    env: None, patch: dict[str, Any], field: str, words: str
) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["budgets"][0].update(patch)
    p = problems(data)
    assert field in p, p
    assert words in p[field]


def test_kill_at_above_the_limit_is_allowed(env: None) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["budgets"][0].update(kill_at=1.5, warn_at=[0.8, 1.2])
    assert config.parse(data).budget("per-key-daily").kill_at == Decimal("1.5")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("${env:SLACK_WEBHOOK_URL", "unclosed reference ${env:SLACK_WEBHOOK_URL: add the closing"),
        ("https://x/${env:SLACK_WEBHOOK_URL", "unclosed reference"),
        ("${vault:slack}", "unknown reference ${vault:slack}: use ${env:NAME} or ${file:/path}"),
        ("${SLACK_WEBHOOK_URL}", "did you mean ${env:SLACK_WEBHOOK_URL}?"),
        ("${env:}", "name the variable after 'env:'"),
        ("${env:SLACK_WEBHOOK_URL}${oops", "unclosed reference ${oops"),
    ],
)
def test_bad_secret_references_are_errors(env: None, value: str, words: str) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["notifiers"][1]["webhook_url"] = value
    p = problems(data)
    assert words in p["notifiers[1].webhook_url"], p
    assert SECRETS["SLACK_WEBHOOK_URL"] not in json.dumps(p)


def test_a_literal_dollar_brace_is_written_doubled(env: None) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["budgets"][0]["description"] = "costs $${env:X} and ${env:SLACK_WEBHOOK_URL}"
    got = config.parse(data).budget("per-key-daily").description
    assert got == f"costs ${{env:X}} and {SECRETS['SLACK_WEBHOOK_URL']}"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_config_is_an_error(tmp_path: Path, text: str) -> None:
    f = tmp_path / "empty.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        config.load(f)
    assert "the config is empty" in exc.value.render()


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("/tmp/x.db", "did you mean sqlite:////tmp/x.db?"),
        ("state.db", "did you mean sqlite:///./state.db?"),
        ("postgres://u@h/db", "unknown database dialect 'postgres'"),
        ("sqlite:////proc/x.db", "/proc is not a place for a database"),
    ],
)
def test_state_must_be_a_database_url(env: None, state: str, words: str) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["state"] = state
    p = problems(data)
    assert words in p["state"], p


def test_log_format_is_a_choice(env: None) -> None:
    data = yaml.safe_load(OPENROUTER_EXAMPLE)
    data["log_format"] = "console"
    assert config.parse(data).base.log_format == "console"
    data["log_format"] = "xml"
    assert "log_format" in problems(data)
