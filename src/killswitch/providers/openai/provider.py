"""The ``openai`` provider: usage (estimate) and costs (billed) sources, doctor, capabilities.

OpenAI has no per-key disable, so the capability notes say plainly what a per-key budget can do
(act on the key's project, or delete the key) rather than let an operator assume otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from killswitch.errors import MalformedResponse, SourceError
from killswitch.http import HTTPStatusError
from killswitch.plugins import (
    Capabilities,
    DoctorFinding,
    IssuedKey,
    KeyRequest,
    ManagedKey,
    Source,
    registry,
)
from killswitch.providers._admin_api.costs import floor_day
from killswitch.providers._kit.provider import BuiltProvider
from killswitch.providers.openai import keys
from killswitch.providers.openai.client import COSTS_PATH, PROJECTS_PATH, USAGE_PATH, AdminAPI, unix
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.costs import CostReader, CostsSource
from killswitch.providers.openai.shapes import list_page, page
from killswitch.providers.openai.usage import UsageSource

USAGE_HINT = "an Admin API key (sk-admin-...) with Usage: Read (scope api.usage.read) is needed"
MGMT_HINT = (
    "the admin key needs Organization Administration: Read to check and Write to act "
    "(scopes api.management.read / api.management.write)"
)


@registry.provider
class OpenAIProvider(BuiltProvider[OpenAIConfig]):
    type = "openai"
    config_model = OpenAIConfig
    source_names = ("openai.usage", "openai.costs")
    capabilities = Capabilities(
        reads=[
            "openai.usage: per key/project/model token, audio and image usage x price "
            "(estimate), 1m reads summed into 1h (or 1m) buckets",
            "openai.costs: billed USD per project and line item, daily",
        ],
        granularity="usage: 1 hour per key (1 minute with resolution: 1m); costs: 1 day per "
        "project (no per-key cost)",
        latency="usage: near-real-time, lag undocumented (re-read over `lookback`, 1h); "
        "costs: hours, read at most every reconcile_interval",
        scopes=["all", "key", "keys", "project", "projects", "model", "models"],
        notes=[
            "OpenAI has no reversible per-key disable: per-key budgets act on the key's project "
            "(openai.spend-limit, openai.rate-limit) or delete the key (irreversible)",
            "resolution: 1h (default) suits daily/weekly/monthly windows in whole-hour zones; "
            "use 1m for rolling:/interval: windows",
            "estimate_drift_usd{project,day} = usage x price - billed, completed UTC days only; "
            "web/file search, storage and fine-tuning are billed but not in usage",
            "priority/flex tiers priced by service_tier_multipliers; audio and image tokens at "
            "the price book's text rates; TTS, transcription and DALL-E by unit_prices",
        ],
    )

    def setup(self) -> None:
        self.api = AdminAPI(self.cfg, self.context.http_transport)
        self.costs = CostReader(self.api, self.cfg.reconcile_interval)
        # Key id -> project id, learned from usage rows: DELETE needs the key's project.
        self.key_projects: dict[str, str] = {}

    def build_sources(self) -> Mapping[str, Source]:
        usage = UsageSource(self.api, self.cfg, self.context, self.costs, self.key_projects)
        return {"openai.usage": usage, "openai.costs": CostsSource(self.costs)}

    # ---- KeyIssuer: ``killswitch keys`` (see keys.py) ----------------------------------
    key_cap: ClassVar[Literal["native", "enforced"]] = "enforced"
    key_expiry: ClassVar[bool] = False

    async def create_key(self, request: KeyRequest) -> IssuedKey:
        return await keys.create(self.api, self.cfg.keys_project, request)

    async def revoke_key(self, key: ManagedKey) -> None:
        await keys.revoke(self.api, key)

    @classmethod
    def key_actions(cls, key: ManagedKey) -> list[str | dict[str, Any]]:
        """Delete the key's service account: OpenAI has no per-key disable or cap."""
        return [
            {
                "type": "openai.delete-service-account",
                "project": key.ref["project"],
                "service_account": key.ref["service_account"],
            }
        ]

    async def doctor(self, actions: Sequence[str]) -> list[DoctorFinding]:
        """One cheap read per capability in use; writes cannot be checked without writing."""
        now = datetime.now(UTC)
        http = self.api.http
        findings: list[DoctorFinding] = []

        async def check(name: str, call: Callable[[], Awaitable[Any]], hint: str) -> bool:
            try:
                await call()
            except SourceError as exc:
                extra = (
                    f" ({hint})"
                    if isinstance(exc, HTTPStatusError) and exc.status in (401, 403)
                    else ""
                )
                findings.append(DoctorFinding(name, False, f"{exc}{extra}"))
                return False
            findings.append(DoctorFinding(name, True, "ok"))
            return True

        async def usage() -> None:
            path = USAGE_PATH.format("completions")
            q = {"start_time": unix(now - timedelta(minutes=5)), "bucket_width": "1m", "limit": 1}
            page(await http.json("GET", path, params=q), f"GET {path}")

        async def costs() -> None:
            q = {"start_time": unix(floor_day(now)), "limit": 1}
            page(await http.json("GET", COSTS_PATH, params=q), f"GET {COSTS_PATH}")

        if not await check("admin key: read usage", usage, USAGE_HINT):
            return findings
        await check("read costs (openai.costs, drift)", costs, USAGE_HINT)
        ours = [a for a in actions if a.startswith("openai.")]
        if not ours:
            return findings
        project: list[str] = []

        async def projects() -> None:
            lp = list_page(
                await http.json("GET", PROJECTS_PATH, params={"limit": 1}), f"GET {PROJECTS_PATH}"
            )
            if lp.data:
                pid = lp.data[0].get("id")
                if not isinstance(pid, str):
                    raise MalformedResponse(f"GET {PROJECTS_PATH}: a project has no id")
                project.append(pid)

        if not await check("list projects (actions)", projects, MGMT_HINT) or not project:
            return findings
        p = f"{PROJECTS_PATH}/{project[0]}"
        reads = {
            "openai.spend-limit": (f"{p}/spend_limit", "read a project spend limit"),
            "openai.rate-limit": (f"{p}/rate_limits", "list project rate limits"),
            "openai.delete-key": (f"{p}/api_keys", "list project API keys"),
        }
        for action in sorted(set(ours) & set(reads)):
            path, what = reads[action]
            await check(f"{what} ({action})", self._reader(path), MGMT_HINT)
        return findings

    def _reader(self, path: str) -> Callable[[], Awaitable[None]]:
        limit_path = path.endswith("/spend_limit")

        async def read() -> None:
            try:
                await self.api.http.json("GET", path, params=None if limit_path else {"limit": 1})
            except HTTPStatusError as exc:
                if not (limit_path and exc.status == 404):  # 404: readable, no limit set
                    raise

        return read

    async def aclose(self) -> None:
        await self.api.aclose()
