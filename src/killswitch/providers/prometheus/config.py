"""Config of the ``prometheus`` provider: a server, optional auth headers, and named queries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, ConfigDict, Field, SecretStr, field_validator, model_validator

from killswitch.plugins import ProviderConfig
from killswitch.providers._kit.named import unique_names
from killswitch.providers._rows import PeriodFields

# Replaced, in a to_date query, by the time since the period started (e.g. 37800000ms), so an
# ``increase(x[$__range])`` counts exactly the budget's window. Grafana users know the name.
RANGE = "$__range"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class PromQuery(PeriodFields):
    """One PromQL instant query; each is a source budgets name with ``source: <name>``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the source name budgets refer to")
    kind: Literal["to_date", "counter"] = Field(
        description="to_date: spend since the period start ($__range); counter: a raw total"
    )
    promql: str = Field(
        min_length=1,
        description="an instant-vector expression, e.g. "
        "sum by (hashed_api_key) (increase(litellm_spend_metric_total[$__range]))",
    )
    dims: dict[str, str] = Field(
        default_factory=dict,
        description="result label -> budget dimension, e.g. {hashed_api_key: key, team: team}",
    )

    @field_validator("dims")
    @classmethod
    def _dims(cls, v: dict[str, str]) -> dict[str, str]:
        for label, dim in v.items():
            if not label or not dim:
                raise ValueError("dims maps a result label to a dimension name; neither is empty")
        if len(set(v.values())) != len(v):
            raise ValueError("two labels map to the same dimension")
        return v

    @model_validator(mode="after")
    def _range(self) -> PromQuery:
        if self.kind == "to_date" and RANGE not in self.promql:
            raise ValueError(
                f"a to_date query must take its range from {RANGE} (e.g. "
                f"increase(x[{RANGE}])): killswitch sets it to the time since the period "
                "started, so the amount is spend in the budget's window. A fixed range such as "
                f"[1d] is a rolling day, not today: write period: rolling:1d with {RANGE}"
            )
        if self.kind == "counter" and RANGE in self.promql:
            raise ValueError(
                f"{RANGE} only applies to to_date queries; a counter query reads the raw total "
                "(e.g. sum by (key) (my_spend_total))"
            )
        return self


class PrometheusConfig(ProviderConfig):
    url: AnyHttpUrl = Field(
        description="the Prometheus (or compatible) server, e.g. http://prometheus:9090"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="sent with every query, e.g. {Authorization: 'Bearer ${env:PROM_TOKEN}'}",
    )
    queries: Annotated[list[PromQuery], unique_names("query")] = Field(min_length=1)


__all__ = ["RANGE", "PromQuery", "PrometheusConfig"]
