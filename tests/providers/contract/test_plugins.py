"""The typed plugin contract: what a plugin author gets refused at import, not mid-kill."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from killswitch.plugins import (
    Action,
    ActionContext,
    ActionParams,
    Capabilities,
    Provider,
    ProviderConfig,
    ProviderContext,
    Reversibility,
    Source,
    registry,
)


class ToyConfig(ProviderConfig):
    region: str = "here"


class OtherConfig(ProviderConfig):
    pass


class Toy(Provider[ToyConfig]):
    type = "toy"
    config_model = ToyConfig
    capabilities = Capabilities(reads=[], granularity="", latency="")

    def sources(self) -> Mapping[str, Source]:
        return {}


class Params(ActionParams):
    n: int = 1


def test_reversibility_is_inferred_from_undo() -> None:
    class OneWay(Action[Toy, Params]):
        name = "toy.one-way"
        provider_type = "toy"
        params_model = Params

        async def execute(
            self, provider: Toy, target: str, params: Params, ctx: ActionContext
        ) -> dict[str, Any]:
            return {}

    class RoundTrip(OneWay):
        name = "toy.round-trip"

        async def undo(
            self,
            provider: Toy,
            target: str,
            params: Params,
            prior: Mapping[str, Any],
            ctx: ActionContext,
        ) -> None:
            pass

    assert OneWay.reversibility is Reversibility.NONE
    assert OneWay.irreversible and not OneWay().reversible
    assert RoundTrip.reversibility is Reversibility.FULL  # a subclass that adds undo is FULL
    assert not RoundTrip.irreversible and RoundTrip().reversible


def test_access_only_has_an_undo_and_still_needs_opt_in() -> None:
    gcp = registry.actions["gcp.detach-billing"]
    assert gcp.reversibility is Reversibility.ACCESS_ONLY
    assert gcp.irreversible and gcp().reversible


def test_contradicting_declarations_are_refused_at_import() -> None:
    with pytest.raises(TypeError, match="undo is missing"):

        class Liar(Action[Toy, Params]):
            name = "toy.liar"
            provider_type = "toy"
            params_model = Params
            reversibility = Reversibility.FULL

            async def execute(
                self, provider: Toy, target: str, params: Params, ctx: ActionContext
            ) -> dict[str, Any]:
                return {}

    with pytest.raises(TypeError, match="irreversible is derived"):

        class Old(Action[Toy, Params]):
            name = "toy.old"
            provider_type = "toy"
            params_model = Params
            irreversible = True  # type: ignore[misc]  # the point: assigning it is refused

            async def execute(
                self, provider: Toy, target: str, params: Params, ctx: ActionContext
            ) -> dict[str, Any]:
                return {}


def test_type_arguments_must_match_the_declared_models() -> None:
    with pytest.raises(TypeError, match="params_model ActionParams is not the Params"):

        class Wrong(Action[Toy, Params]):
            name = "toy.wrong"
            params_model = ActionParams

            async def execute(
                self, provider: Toy, target: str, params: Params, ctx: ActionContext
            ) -> dict[str, Any]:
                return {}

    class Inferred(Action[Toy, Params]):
        name = "toy.inferred"

        async def execute(
            self, provider: Toy, target: str, params: Params, ctx: ActionContext
        ) -> dict[str, Any]:
            return {}

    assert Inferred.params_model is Params and Inferred.provider_type == "toy"

    with pytest.raises(TypeError, match="config_model OtherConfig is not the ToyConfig"):

        class WrongProvider(Toy):
            config_model = OtherConfig


def test_a_provider_refuses_a_config_of_another_type() -> None:
    with pytest.raises(TypeError, match="Toy needs a ToyConfig, got OtherConfig"):
        Toy("t", OtherConfig(type="toy"), ProviderContext())  # type: ignore[arg-type]
    assert Toy("t", ToyConfig(type="toy"), ProviderContext()).cfg.region == "here"


def test_hooks_are_found_by_type() -> None:
    @dataclass(frozen=True)
    class ClockHook:
        at: int

    ctx = ProviderContext(hooks=("unrelated", ClockHook(7)))
    hook = ctx.hook(ClockHook)
    assert hook is not None and hook.at == 7
    assert ProviderContext().hook(ClockHook) is None


def test_permissions_are_a_function_of_the_params() -> None:
    deny = registry.actions["aws.deny-policy"]
    role = deny.params_model.model_validate(
        {"principals": ["arn:aws:iam::111122223333:role/app"], "deny": ["bedrock:*"]}
    )
    need = set(deny().permissions_for(role))
    assert {"iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:CreatePolicy"} <= need
    assert not need & {"iam:AttachUserPolicy", "iam:AttachGroupPolicy", "iam:GetGroup"}
    assert need < set(deny.permissions)  # never more than the declared whole
    webhook = registry.actions["webhook"]
    params = webhook.params_model.model_validate({"url": "http://127.0.0.1:1/"})
    assert tuple(webhook().permissions_for(params)) == tuple(webhook.permissions)


LAZY = """
import json, sys
from killswitch.config import load
from killswitch.daemon import build
rt = build(load(sys.argv[1]))
loaded = sorted(m for m in sys.modules if m.startswith("killswitch.providers."))
sdks = sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "botocore", "google", "azure"})
from killswitch.plugins import registry
listed = sorted(registry.providers)
print(json.dumps({"loaded": loaded, "sdks": sdks, "listed": listed}))
rt.store.close()
"""


def test_a_daemon_imports_only_the_providers_its_config_uses(tmp_path: Any) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"state: sqlite:///{tmp_path / 's.db'}\n"
        "providers: {sim: {type: simulated, targets: [{id: k, rate_usd_per_second: 1}]}}\n"
        "budgets: [{name: b, provider: sim, window: daily, limit_usd: 5,"
        " actions: [simulated.disable, webhook]}]\n".replace(
            "webhook]", "{type: webhook, url: 'http://127.0.0.1:9/'}]"
        )
    )
    out = subprocess.run(
        [sys.executable, "-c", LAZY, str(cfg)], capture_output=True, text=True, check=True
    )
    got = json.loads(out.stdout)
    # shared kits (underscore packages such as _kit) are building blocks, not providers
    providers = {m.split(".")[2] for m in got["loaded"]}
    assert {p for p in providers if not p.startswith("_")} == {"simulated", "webhook"}
    assert got["sdks"] == []
    # listing (killswitch providers, schema) still imports every installed provider
    assert {"simulated", "openai", "aws", "gcp", "azure"} <= set(got["listed"])
