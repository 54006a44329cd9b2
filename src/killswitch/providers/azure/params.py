"""Action parameters: every Azure action names the exact resources it touches by ARM id."""

from __future__ import annotations

from pydantic import Field, field_validator

from killswitch.plugins import ActionParams
from killswitch.providers.azure.ids import AccountId, DeploymentId


def _unique(ids: list[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for i in ids:
        seen.setdefault(i.lower(), i)
    return tuple(seen.values())


class AccountsParams(ActionParams):
    accounts: tuple[str, ...] = Field(
        min_length=1,
        description="Cognitive Services (Azure OpenAI / AI Services) account ids: /subscriptions/"
        "<id>/resourceGroups/<rg>/providers/Microsoft.CognitiveServices/accounts/<name>",
    )

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique([AccountId.parse(a).id for a in v])


class DeploymentCapacityParams(ActionParams):
    deployments: tuple[str, ...] = Field(
        min_length=1,
        description="deployment ids: <account id>/deployments/<deployment name>",
    )
    capacity: int = Field(
        default=1,
        ge=1,
        description="sku.capacity to scale down to (Standard: units of 1,000 tokens per minute)",
    )

    @field_validator("deployments")
    @classmethod
    def _deployments(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return _unique([DeploymentId.parse(d).id for d in v])
