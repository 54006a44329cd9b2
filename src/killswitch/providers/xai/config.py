"""Config of an ``xai`` provider entry: a management key and the team it manages."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from killswitch.plugins import ProviderConfig


class XaiConfig(ProviderConfig):
    management_key: SecretStr = Field(
        description="a management key (Console > Settings > Management Keys): "
        "${env:XAI_MANAGEMENT_KEY}"
    )
    team_id: str = Field(description="the team to read and act on: ${env:XAI_TEAM_ID}")
    base_url: str = "https://management-api.x.ai"

    @field_validator("team_id")
    @classmethod
    def _team(cls, v: str) -> str:
        v = v.strip()
        if not v or "/" in v:
            raise ValueError("team_id must be the team's id (console.x.ai team settings)")
        return v
