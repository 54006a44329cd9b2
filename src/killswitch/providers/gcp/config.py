"""Configuration of a ``gcp`` provider entry.

Credentials are Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``, workload
identity, the metadata server, ``gcloud auth application-default login``): nothing secret lives in
the killswitch config. Endpoints can be overridden (Private Service Connect, tests).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from killswitch.durations import Duration
from killswitch.plugins import ProviderConfig
from killswitch.providers._kit.validators import matching, parsed_by, unique

# Project ids are 6-30 characters today; older and domain-scoped ones ("example.com:x") differ,
# so accept what can be a project id in a resource name rather than reject a working setup.
PROJECT = r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{1,61}[a-z0-9]"
SUBSCRIPTION = re.compile(rf"^projects/({PROJECT})/subscriptions/([^/\s]+)$")
PROJECT_ID = rf"^{PROJECT}$"
MAX_ACK_DEADLINE = 600  # seconds; Pub/Sub's upper bound


def _zone(name: str) -> str:
    """An IANA zone name zoneinfo knows (a budget month is reported in it)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}: use an IANA name like UTC") from None
    return name


ProjectId = Annotated[str, matching(PROJECT_ID, "{value!r} is not a project id")]


class GcpEndpoints(BaseModel):
    """API endpoints, ``https://host`` or ``http://127.0.0.1:port``; unset = Google's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pubsub: str | None = None
    cloudbilling: str | None = None
    serviceusage: str | None = None
    cloudresourcemanager: str | None = None


class GcpConfig(ProviderConfig):
    subscription: Annotated[
        str, matching(SUBSCRIPTION, "use the full name: projects/<project-id>/subscriptions/<name>")
    ] = Field(
        description="Pub/Sub subscription receiving budget notifications: "
        "projects/<project>/subscriptions/<name>"
    )
    own_project: str | None = Field(
        default=None,
        pattern=PROJECT_ID,
        description="the daemon's own project (default: the ADC project); actions refuse it",
    )
    allow_own_project: bool = Field(
        default=False,
        description="let actions touch the daemon's own project (and the subscription's project)",
    )
    window_timezones: Annotated[tuple[Annotated[str, parsed_by(_zone)], ...], unique] = Field(
        default=("UTC",),
        description="time zones of the monthly windows of budgets on this provider; each GCP "
        "budget month (Pacific time) is also reported as that zone's calendar month",
    )
    transport: Literal["rest", "grpc"] = "rest"
    endpoints: GcpEndpoints = GcpEndpoints()
    max_messages: int = Field(default=100, ge=1, le=1000, description="per pull request")
    max_pulls: int = Field(default=10, ge=1, le=100, description="pull requests per poll")
    pull_timeout: Duration = Field(
        default=timedelta(seconds=10), description="how long one pull may wait for messages"
    )
    operation_timeout: Duration = Field(
        default=timedelta(minutes=2), description="wait for a Service Usage operation"
    )
    doctor_projects: tuple[ProjectId, ...] = Field(
        default=(),
        description="projects `killswitch doctor` checks action permissions on (the projects "
        "your gcp actions name)",
    )

    @model_validator(mode="after")
    def _poll_fits_ack_deadline(self) -> GcpConfig:
        if self.ack_deadline_seconds > MAX_ACK_DEADLINE:
            raise ValueError(
                "poll_interval is too long: messages are acknowledged at the next poll, after "
                "their spend is stored, and Pub/Sub holds them for at most 600 s; use "
                "poll_interval <= 4m30s"
            )
        return self

    @property
    def ack_deadline_seconds(self) -> int:
        """Held until the next poll acknowledges them: two intervals plus a margin."""
        return int(2 * self.poll_interval.total_seconds()) + 30

    @property
    def subscription_project(self) -> str:
        m = SUBSCRIPTION.match(self.subscription)
        assert m is not None
        return m.group(1)
