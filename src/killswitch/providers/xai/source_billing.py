"""``xai.billing``: the team's spend in the current billing cycle, and its keys' limits.

Spend comes from the postpaid invoice preview: one ``to_date`` observation for the billing
month (UTC), target ``team:<id>``, dims ``{team}``; budgets on it use ``window: monthly``. xAI
has no per-key spend in these endpoints, so a breach acts on the whole team (every key) unless
an action names keys. The key list (``GET /auth/teams/{teamId}/api-keys``) is exported as
gauges (disabled, qps, qpm, tpm per key) so operators see what the actions would touch; a key
list we cannot read is announced as an event and leaves spend data intact.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from killswitch.errors import SourceError
from killswitch.model import Money, ObservationKind, PollResult, SourceEvent, SpendObservation
from killswitch.providers.xai.client import ManagementAPI

NAME = "xai.billing"
Gauges = dict[str, dict[tuple[tuple[str, str], ...], Decimal]]


def team_target(team: str) -> str:
    return f"team:{team}"


class BillingSource:
    name = NAME

    def __init__(self, api: ManagementAPI) -> None:
        self.api = api

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        try:
            inv = await self.api.invoice_preview()
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        team = self.api.team
        tl = (("team", team),)
        gauges: Gauges = {
            "xai_cycle_spend_usd": {tl: inv.spend_usd},
            "xai_spending_limit_usd": {tl: inv.spending_limit_usd},
        }
        if inv.due_usd is not None:
            gauges["xai_invoice_due_usd"] = {tl: inv.due_usd}
        obs = SpendObservation(
            self.name,
            team_target(team),
            ObservationKind.TO_DATE,
            Money(inv.spend_usd, "USD"),
            now,
            inv.cycle_start,
            inv.cycle_end,
            {"team": team},
        )
        events: tuple[SourceEvent, ...] = ()
        try:
            for k in await self.api.keys():
                kl = (("key", k.id), ("name", k.name))
                gauges.setdefault("xai_key_disabled", {})[kl] = Decimal(int(k.disabled))
                for f in ("qps", "qpm", "tpm"):
                    v = getattr(k, f)
                    if v is not None:
                        gauges.setdefault(f"xai_key_{f}", {})[kl] = Decimal(v)
        except SourceError as exc:
            events = (
                SourceEvent(
                    "key_list_unreadable",
                    f"xai_keys:{team}:{now.date().isoformat()}",
                    f"xAI team {team}: the API key list could not be read ({exc}); spend is "
                    "still tracked, but xai.disable-key / xai.rate-limit on the team will fail",
                ),
            )
        return PollResult(self.name, (obs,), data_as_of=now, gauges=gauges, events=events)
