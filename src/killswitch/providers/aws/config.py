"""Config of an ``aws`` provider entry and of each of its sources.

Source settings live in sub-mappings of the provider entry (``cost_explorer:``, ``bedrock:``,
``budgets:``) because a budget names its source by a plain string; every key has a default, so
the minimal entry is just ``type: aws``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from killswitch.durations import Duration
from killswitch.plugins import ProviderConfig
from killswitch.providers._kit.validators import one_of

_CE_DIMENSIONS = {
    "service": "SERVICE",
    "account": "LINKED_ACCOUNT",
    "region": "REGION",
    "usage_type": "USAGE_TYPE",
}
# Periods CloudWatch accepts that also divide its coarser retention resolutions (60/300/3600 s),
# so older data read at a coarser resolution splits into whole buckets of this size.
BEDROCK_PERIODS = (1, 5, 10, 30, 60, 300, 3600)
_PERIOD_CHOICES = f"period must be one of {', '.join(map(str, BEDROCK_PERIODS))}"


class _Sub(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetsSourceConfig(_Sub):
    min_interval: Duration = Field(
        default=timedelta(minutes=10),
        description="AWS refreshes budget spend every 8-12 h; calls closer than this reuse the "
        "last answer",
    )


class CostExplorerSourceConfig(_Sub):
    min_interval: Duration = Field(
        default=timedelta(hours=1),
        description="each GetCostAndUsage request costs $0.01; calls closer than this reuse "
        "the cached result",
    )
    error_retry: Duration = Field(
        default=timedelta(minutes=5), description="after a failed request, wait this long"
    )
    metric: str = Field(
        default="UnblendedCost",
        pattern=r"^(UnblendedCost|BlendedCost|AmortizedCost|NetUnblendedCost|NetAmortizedCost)$",
    )
    services: list[str] = Field(default_factory=list, description="filter: SERVICE values")
    accounts: list[str] = Field(default_factory=list, description="filter: LINKED_ACCOUNT ids")
    tags: dict[str, list[str]] = Field(
        default_factory=dict, description="filter: tag key -> allowed values"
    )
    group_by: list[str] = Field(
        default_factory=lambda: ["service"],
        max_length=2,
        description="up to two of service, account, region, usage_type, tag:<key>",
    )

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: list[str]) -> list[str]:
        for g in v:
            if g not in _CE_DIMENSIONS and not (g.startswith("tag:") and len(g) > 4):
                raise ValueError(
                    f"group_by {g!r}: use service, account, region, usage_type or tag:<key>"
                )
        return v

    def group_definitions(self) -> list[dict[str, str]]:
        out = []
        for g in self.group_by:
            if g.startswith("tag:"):
                out.append({"Type": "TAG", "Key": g[4:]})
            else:
                out.append({"Type": "DIMENSION", "Key": _CE_DIMENSIONS[g]})
        return out

    def dim_names(self) -> list[str]:
        """Observation dimension per group_by entry (``tag:team`` -> ``tag_team``)."""
        return [g.replace("tag:", "tag_") if g.startswith("tag:") else g for g in self.group_by]

    def filter_expression(self) -> dict[str, Any] | None:
        parts: list[dict[str, Any]] = []
        if self.services:
            parts.append({"Dimensions": {"Key": "SERVICE", "Values": self.services}})
        if self.accounts:
            parts.append({"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": self.accounts}})
        for key, values in sorted(self.tags.items()):
            parts.append({"Tags": {"Key": key, "Values": values}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"And": parts}


class BedrockSourceConfig(_Sub):
    regions: list[str] = Field(
        default_factory=list, description="CloudWatch regions to read (default: the provider's)"
    )
    period: Annotated[int, one_of(BEDROCK_PERIODS, _PERIOD_CHOICES)] = Field(
        default=60,
        description="bucket length in seconds (Bedrock publishes 1-minute data; shorter periods "
        "only make sense for high-resolution metrics)",
    )
    settle: Duration = Field(
        default=timedelta(minutes=5),
        description="re-read this much recent history each poll: CloudWatch data arrives late",
    )
    models: list[str] = Field(
        default_factory=list,
        description="model ids to read even if ListMetrics does not return them (it only lists "
        "metrics with data in the last two weeks)",
    )
    model_map: dict[str, str] = Field(
        default_factory=dict,
        description="ModelId -> model id genai-prices knows (e.g. application inference "
        "profile ids)",
    )


class AwsConfig(ProviderConfig):
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[\w-]*:iam::\d{12}:role/.+$", description="assume this"
    )
    external_id: str | None = None
    role_session_name: str = Field(default="killswitch", pattern=r"^[\w+=,.@-]{2,64}$")
    endpoint_url: str | None = Field(
        default=None, description="override every AWS endpoint (tests point this at moto)"
    )
    account_id: str | None = Field(
        default=None, pattern=r"^\d{12}$", description="default: the caller's account (STS)"
    )
    budgets: BudgetsSourceConfig = Field(default_factory=BudgetsSourceConfig)
    cost_explorer: CostExplorerSourceConfig = Field(default_factory=CostExplorerSourceConfig)
    bedrock: BedrockSourceConfig = Field(default_factory=BedrockSourceConfig)
