"""Configuration of an ``azure`` provider entry.

Credentials come from ``DefaultAzureCredential`` (environment, workload identity, managed
identity, Azure CLI...): nothing secret lives in the killswitch config. Source settings live in
sub-mappings (``budgets:``, ``cost_query:``) because a budget names its source by a plain string;
every key has a default, so the minimal entry is ``type: azure`` plus ``subscription_id``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from killswitch.durations import Duration
from killswitch.plugins import ProviderConfig
from killswitch.providers._kit.validators import is_loopback
from killswitch.providers.azure.ids import normalize_scope

UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class _Sub(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetsSourceConfig(_Sub):
    min_interval: Duration = Field(
        default=timedelta(minutes=5),
        description="Azure re-evaluates budgets about once a day; polls closer than this reuse "
        "the last answer (refetched anyway when the UTC day changes)",
    )
    reset_grace: Duration = Field(
        default=timedelta(hours=24),
        description="after a budget period starts, a figure that has not dropped below the last "
        "one of the previous period may still be that period's: it is withheld for this long",
    )


class CostQuerySourceConfig(_Sub):
    scope: str | None = Field(
        default=None,
        description="ARM scope of the query: /subscriptions/<id>[/resourceGroups/<rg>] "
        "(default: the subscription)",
    )
    group_by: str = Field(
        default="resource", description="resource (ResourceId) or tag:<key> (one group per value)"
    )
    cost_type: Literal["ActualCost", "AmortizedCost"] = "ActualCost"
    resource_types: tuple[str, ...] = Field(
        default=(),
        description="only these resource types, e.g. [microsoft.cognitiveservices/accounts]",
    )
    min_interval: Duration = Field(
        default=timedelta(minutes=30),
        description="Cost Management throttles queries and refreshes every few hours; polls "
        "closer than this reuse the last answer",
    )

    @field_validator("scope")
    @classmethod
    def _scope(cls, v: str | None) -> str | None:
        return None if v is None else normalize_scope(v)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: str) -> str:
        if v == "resource" or (v.startswith("tag:") and len(v) > 4):
            return v
        raise ValueError("use resource or tag:<key>, e.g. tag:team")

    @property
    def tag(self) -> str | None:
        return self.group_by[4:] if self.group_by.startswith("tag:") else None


class AzureConfig(ProviderConfig):
    subscription_id: str = Field(pattern=UUID, description="the subscription killswitch reads")
    scope: str | list[str] | None = Field(
        default=None,
        description="ARM scope(s) whose Consumption budgets azure.budgets reads: "
        "/subscriptions/<id> or /subscriptions/<id>/resourceGroups/<rg> (default: the "
        "subscription)",
    )
    base_url: str | None = Field(
        default=None,
        description="Azure Resource Manager endpoint (default: https://management.azure.com); "
        "plain http is accepted only for a loopback stand-in",
    )
    managed_identity_client_id: str | None = Field(
        default=None, description="client id of a user-assigned managed identity"
    )
    data_lag: Duration = Field(
        default=timedelta(hours=8),
        description="Azure cost data lands 8-24 h after use; data_as_of is the read minus this",
    )
    polling_interval: Duration = Field(
        default=timedelta(seconds=5),
        description="how often to poll a long-running ARM operation (without Retry-After)",
    )
    operation_timeout: Duration = Field(
        default=timedelta(seconds=90),
        description="give up waiting for a long-running ARM operation after this (the action "
        "is retried next cycle)",
    )
    budgets: BudgetsSourceConfig = BudgetsSourceConfig()
    cost_query: CostQuerySourceConfig = CostQuerySourceConfig()
    doctor_resources: tuple[str, ...] = Field(
        default=(),
        description="account or deployment ids `killswitch doctor` checks action permissions on "
        "(the ids your azure actions name)",
    )

    @field_validator("scope")
    @classmethod
    def _scopes(cls, v: str | list[str] | None) -> str | list[str] | None:
        if v is None:
            return None
        items = [v] if isinstance(v, str) else v
        if not items:
            raise ValueError("name at least one scope, or leave scope out for the subscription")
        out = [normalize_scope(s) for s in items]
        return out[0] if isinstance(v, str) else out

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.scheme == "https" and parts.hostname:
            return v.rstrip("/")
        if parts.scheme == "http" and is_loopback(parts.hostname):
            return v.rstrip("/")
        raise ValueError(
            "use https://<host>; plain http only for a loopback stand-in (127.0.0.1, localhost)"
        )

    @property
    def budget_scopes(self) -> tuple[str, ...]:
        if self.scope is None:
            return (f"/subscriptions/{self.subscription_id}",)
        return (self.scope,) if isinstance(self.scope, str) else tuple(self.scope)

    @property
    def query_scope(self) -> str:
        return self.cost_query.scope or f"/subscriptions/{self.subscription_id}"

    @property
    def plain_http(self) -> bool:
        """A loopback http endpoint: bearer tokens may go to it without TLS."""
        return self.base_url is not None and self.base_url.startswith("http://")


__all__ = ["AzureConfig", "BudgetsSourceConfig", "CostQuerySourceConfig"]
