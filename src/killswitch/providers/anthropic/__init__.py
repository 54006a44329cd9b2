"""Anthropic: Admin API usage (per key, estimated) and cost (billed) reports; key actions."""

from killswitch.providers.anthropic import caps as caps  # registers native caps
from killswitch.providers.anthropic.actions import ArchiveWorkspace, DeactivateKey
from killswitch.providers.anthropic.provider import AnthropicProvider

__all__ = ["AnthropicProvider", "ArchiveWorkspace", "DeactivateKey"]
