"""Anthropic's native cap: declared unsupported, with the reason, until its shape can be checked.

Anthropic's Spend Limits API (``POST /v1/organizations/spend_limits``, upsert by scope and
period, amounts as strings of cents) is an early-access preview: it is not in any published
OpenAPI document (the SDKs' spec is hosted, not in a repository), and its scopes are the
organisation and workspaces, not the API keys killswitch budgets are usually scoped to. Writing a
provider's hard cap from an unverified shape could set the wrong limit silently, so
``native_cap`` on an Anthropic budget is a config error naming this, and the poll-and-kill path
(``anthropic.deactivate-key``) is the enforcement.
"""

from __future__ import annotations

from typing import NoReturn

from killswitch.core.caps import NativeCap
from killswitch.plugins import CapRequest, CapUnsupported, NativeCaps, registry
from killswitch.providers.anthropic.provider import AnthropicProvider

REASON = (
    "Anthropic's Spend Limits API is an early-access preview with no published spec to check "
    "its shape against; killswitch does not write it (the daemon's kill path still enforces)"
)


@registry.caps
class AnthropicCaps(NativeCaps[AnthropicProvider]):
    summary = "unsupported: " + REASON

    @classmethod
    def desired(cls, request: CapRequest) -> NativeCap:
        raise CapUnsupported(REASON)

    async def targets(self, provider: AnthropicProvider, request: CapRequest) -> list[str]:
        _refuse()

    async def read(self, provider: AnthropicProvider, target: str) -> NativeCap:
        _refuse()

    async def write(self, provider: AnthropicProvider, target: str, cap: NativeCap) -> NativeCap:
        _refuse()


def _refuse() -> NoReturn:
    raise CapUnsupported(REASON)
