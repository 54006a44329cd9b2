"""LiteLLM proxy: spend per key/team/user/model/end user; block keys and teams, cap keys."""

from killswitch.providers.litellm.actions import BlockEndUser, BlockKey, BlockTeam, CapKey
from killswitch.providers.litellm.provider import LiteLLMConfig, LiteLLMProvider

__all__ = ["BlockEndUser", "BlockKey", "BlockTeam", "CapKey", "LiteLLMConfig", "LiteLLMProvider"]
