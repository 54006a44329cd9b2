"""xAI: team spend from the Management API billing endpoints; disable or throttle keys."""

from killswitch.providers.xai.actions import DisableKey, RateLimit
from killswitch.providers.xai.provider import XaiProvider

__all__ = ["DisableKey", "RateLimit", "XaiProvider"]
