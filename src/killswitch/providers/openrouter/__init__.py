"""OpenRouter: per-key spend counters from the management API; disable/delete keys."""

from killswitch.providers.openrouter import caps as caps  # registers native caps
from killswitch.providers.openrouter.actions import DeleteKey, DisableKey
from killswitch.providers.openrouter.provider import OpenRouterProvider

__all__ = ["DeleteKey", "DisableKey", "OpenRouterProvider"]
