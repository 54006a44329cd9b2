"""Config of a budget across providers (``sources:``): the issue's example loads; every mistake is
one line naming the field and the fix."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from killswitch import config
from killswitch.errors import ConfigError

PROVIDERS: dict[str, Any] = {
    "openai": {"type": "openai", "admin_key": "sk-admin-x"},
    "anthropic": {"type": "anthropic", "admin_key": "sk-ant-admin-x"},
    "openrouter": {"type": "openrouter", "api_key": "sk-or-x"},
}
ORG = {
    "name": "all-llm-daily",
    "sources": ["openai/openai.usage", "anthropic/anthropic.usage", "openrouter/openrouter"],
    "scope": {"all": True},
    "window": "daily",
    "limit_usd": 500,
    "actions": ["openai.spend-limit", "anthropic.deactivate-key", "openrouter.disable-key"],
}


def doc(providers: dict[str, Any] | None = None, **budget: Any) -> dict[str, Any]:
    b = {k: v for k, v in {**ORG, **budget}.items() if v is not None}
    return {"providers": copy.deepcopy(providers or PROVIDERS), "budgets": [b]}


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        config.parse(data)
    return dict(exc.value.problems)


def test_the_issue_example_loads_and_each_action_gets_its_own_provider() -> None:
    cfg = config.parse(doc())
    (b,) = cfg.budgets
    assert b.multi and b.providers == ("openai", "anthropic", "openrouter")
    assert [(f.provider, f.source) for f in b.feeds] == [
        ("openai", "openai.usage"),
        ("anthropic", "anthropic.usage"),
        ("openrouter", "openrouter"),
    ]
    acts = {a.name: a.provider for a in cfg.actions["all-llm-daily"]}
    assert acts == {
        "openai.spend-limit": "openai",
        "anthropic.deactivate-key": "anthropic",
        "openrouter.disable-key": "openrouter",
    }


def test_provider_and_sources_together_is_one_error_naming_both() -> None:
    (msg,) = problems(doc(provider="openai")).values()
    assert "provider: and sources: are both set" in msg and "either one provider" in msg
    (msg,) = problems(doc(source="openai.usage")).values()
    assert "source: and sources: are both set" in msg


def test_neither_provider_nor_sources_says_what_to_add() -> None:
    (msg,) = problems(doc(sources=None)).values()
    assert msg.startswith("provider: is missing") and "sources: [provider/source" in msg


@pytest.mark.parametrize(
    ("sources", "field", "words"),
    [
        (["openai/openai.usage", "mistral/usage"], "budgets[0].sources[1]", "no provider named"),
        (
            ["openai/openai.usage", "anthropic/anthropic.bills"],
            "budgets[0].sources[1]",
            "anthropic has no source 'anthropic.bills'; known: anthropic.usage, anthropic.costs",
        ),
        (["openai"], "budgets[0].sources", "is not provider/source: write e.g."),
        (["openai/openai.usage", "openai/openai.usage"], "budgets[0].sources", "listed twice"),
        ([], "budgets[0].sources", "list at least one"),
    ],
)
def test_a_bad_source_entry_names_the_entry_and_the_fix(
    sources: list[str], field: str, words: str
) -> None:
    got = problems(doc(sources=sources, actions=["openai.spend-limit"]))
    assert words in got[field], got


def test_an_action_of_a_provider_not_among_the_sources_is_refused() -> None:
    got = problems(doc(sources=["openai/openai.usage", "anthropic/anthropic.usage"]))
    msg = got["budgets[0].actions[2]"]
    assert "openrouter.disable-key acts on a openrouter provider" in msg
    assert "its sources are from: openai (openai), anthropic (anthropic)" in msg
    assert len(got) == 1


def test_two_providers_of_one_type_need_provider_on_the_action() -> None:
    providers = {
        **PROVIDERS,
        "or-team-a": {"type": "openrouter", "api_key": "sk-or-a"},
    }
    # one source name per budget: two openrouter entries both have source "openrouter"
    got = problems(doc(providers, sources=["openrouter/openrouter", "or-team-a/openrouter"]))
    assert "cannot be summed apart" in got["budgets[0].sources[1]"]
    # an action with several candidates must say which one
    got = problems(
        doc(
            providers,
            sources=["openai/openai.usage", "openrouter/openrouter"],
            actions=[{"type": "openrouter.disable-key", "provider": "or-team-a"}],
        )
    )
    assert "is not one of this budget's openrouter providers (openrouter)" in str(got)


def test_provider_on_an_action_entry_picks_the_provider() -> None:
    cfg = config.parse(
        doc(
            actions=[
                "openai.spend-limit",
                {"type": "openrouter.disable-key", "provider": "openrouter"},
            ]
        )
    )
    assert [a.provider for a in cfg.actions["all-llm-daily"]] == ["openai", "openrouter"]


def test_a_source_declared_in_another_currency_is_a_config_error() -> None:
    providers = {
        **PROVIDERS,
        "vendor": {
            "type": "http-json",
            "requests": [
                {
                    "name": "vendor.eur",
                    "url": "https://vendor.example/spend",
                    "kind": "to_date",
                    "period": "daily",
                    "currency": "EUR",
                    "amount": "$.total",
                }
            ],
        },
    }
    got = problems(doc(providers, sources=["openai/openai.usage", "vendor/vendor.eur"]))
    msg = got["budgets[0].sources[1]"]
    assert "vendor/vendor.eur reports EUR but the limit is in USD" in msg
    assert "never summed" in msg
    # the same source in a EUR budget is fine (and an undeclared currency is checked when read)
    cfg = config.parse(
        doc(
            providers,
            sources=["vendor/vendor.eur"],
            limit_usd=None,
            limit={"amount": 100, "currency": "EUR"},
            actions=[],
            mode="alert-only",
        )
    )
    assert cfg.budgets[0].limit_money.currency == "EUR"


def test_a_one_provider_budget_is_unchanged() -> None:
    cfg = config.parse(
        {
            "providers": PROVIDERS,
            "budgets": [
                {
                    "name": "k",
                    "provider": "openrouter",
                    "scope": {"each": "key"},
                    "limit_usd": 5,
                    "actions": ["openrouter.disable-key"],
                }
            ],
        }
    )
    (b,) = cfg.budgets
    assert not b.multi and b.feeds == (("openrouter", None),) and b.home == "openrouter"
    assert cfg.actions["k"][0].provider is None  # the budget's own provider
    got = problems(
        {
            "providers": PROVIDERS,
            "budgets": [{**ORG, "sources": None, "provider": "openrouter"}],
        }
    )
    assert "but this budget's provider is 'openrouter'" in got["budgets[0].actions[0]"]
