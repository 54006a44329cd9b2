"""The Admin API client: auth headers, the per-endpoint poll gate, and report pagination."""

from __future__ import annotations

import httpx

from killswitch.errors import SourceError
from killswitch.providers._admin_api.client import Params, ReportClient
from killswitch.providers.anthropic.config import AnthropicConfig
from killswitch.providers.anthropic.gate import RateGate
from killswitch.providers.anthropic.shapes import Page, page

API_VERSION = "2023-06-01"
MAX_PAGES = 500
PAGE_INTERVAL = 0.2  # seconds between page requests of one poll: a short, polite burst

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
KEYS_PATH = "/v1/organizations/api_keys"
WORKSPACES_PATH = "/v1/organizations/workspaces"


class RateLimited(SourceError):
    """The local gate refused a poll: Anthropic allows one per minute sustained."""


class AdminAPI(ReportClient):
    def __init__(
        self, cfg: AnthropicConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        headers = {"x-api-key": cfg.admin_key.get_secret_value(), "anthropic-version": API_VERSION}
        super().__init__(cfg.base_url, headers, cfg.timeout, PAGE_INTERVAL, transport)
        self.gate = RateGate(cfg.gate_interval)

    async def report(self, path: str, params: Params) -> list[Page]:
        """Every page of one report: one gate token, then ``next_page`` while ``has_more``."""
        if not self.gate.acquire(path):
            raise RateLimited(
                f"GET {path}: held back by the local rate gate (Anthropic allows one poll per "
                f"minute sustained); next in {self.gate.wait_seconds(path):.0f}s"
            )
        return await self.pages(path, params, page, MAX_PAGES)
