"""Parameters shared by the gcp actions: they name their projects explicitly."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from killswitch.plugins import ActionParams
from killswitch.providers._kit.actions import require_each
from killswitch.providers.gcp.config import PROJECT_ID

SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]*(\.[a-z0-9-]+)+$")


class ProjectsParams(ActionParams):
    projects: list[str] = Field(
        min_length=1, description="project ids to act on, e.g. [my-sandbox]"
    )

    @field_validator("projects")
    @classmethod
    def _projects(cls, v: list[str]) -> list[str]:
        require_each(
            v,
            PROJECT_ID,
            "a project id (lowercase letters, digits, hyphens: the id, not the project number "
            "or display name)",
        )
        return list(dict.fromkeys(v))


class DisableServiceParams(ProjectsParams):
    services: list[str] = Field(
        min_length=1,
        description="service names, e.g. [aiplatform.googleapis.com]; list dependents before "
        "what they depend on",
    )

    @field_validator("services")
    @classmethod
    def _services(cls, v: list[str]) -> list[str]:
        require_each(v, SERVICE, "a service name like aiplatform.googleapis.com")
        return list(dict.fromkeys(v))
