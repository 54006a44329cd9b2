"""OpenAI: Admin API usage (estimate) and costs (billed); spend-limit, rate-limit, key, project."""

from killswitch.providers.openai import caps as caps  # registers native caps
from killswitch.providers.openai.actions import (
    ArchiveProject,
    DeleteKey,
    LowerRateLimits,
    SetSpendLimit,
)
from killswitch.providers.openai.provider import OpenAIProvider

__all__ = ["ArchiveProject", "DeleteKey", "LowerRateLimits", "OpenAIProvider", "SetSpendLimit"]
