"""``gcp.budget-notifications``: spend of each GCP budget, pulled from its Pub/Sub subscription.

Each readable message becomes (after de-duplication, see ``readings.py``) a ``to_date``
observation of its budget for the billing month starting ``costIntervalStart``, in the message's
currency, with dims ``budget`` and ``billing_account``; plus the same figure labelled as the
calendar month of each ``window_timezones`` zone (``periods.py``).

Acknowledgement follows storage. The engine stores a poll's observations after ``poll()`` returns
and only then starts the next poll of this source, so the ack ids of poll N are acknowledged at
the start of poll N+1. Until then their deadline is extended to two poll intervals, and what they
said is kept in memory and reported again on every poll, so a failed write is repaired by the
next one. If the daemon dies first, Pub/Sub redelivers them: at-least-once, and de-duplicated.

A malformed message is never an amount. It is nacked (redelivered; a dead-letter policy on the
subscription moves it aside after its max delivery attempts), announced once per message id as a
``gcp_malformed_notification`` event, counted in the ``gcp_malformed_notifications`` gauge, and,
when its budget is known, makes that budget's spend incomplete until a newer readable message
arrives. The rest of the stream keeps flowing: one bad message must not blind every budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from google.api_core import exceptions as gexc

from killswitch.errors import SourceError
from killswitch.model import ObservationKind, PollResult, SourceEvent, SpendObservation
from killswitch.providers.gcp.clients import GcpClients
from killswitch.providers.gcp.config import GcpConfig
from killswitch.providers.gcp.notifications import MalformedNotification, parse
from killswitch.providers.gcp.periods import aligned_windows
from killswitch.providers.gcp.readings import Reading, Readings, Unreadable

log = structlog.get_logger("killswitch.providers.gcp")

NAME = "gcp.budget-notifications"
MALFORMED_GAUGE = "gcp_malformed_notifications"
BUDGET_AMOUNT_GAUGE = "gcp_budget_amount"
ACK_BATCH = 1000  # ack ids per acknowledge/modifyAckDeadline request (API limit is larger)
Labels = tuple[tuple[str, str], ...]


class BudgetNotificationSource:
    name = NAME

    def __init__(self, cfg: GcpConfig, clients: GcpClients) -> None:
        self.cfg = cfg
        self.clients = clients
        self.readings = Readings()
        self._to_ack: list[str] = []
        self._malformed = 0

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        await self._ack_previous()
        try:
            received = await self._pull()
        except SourceError as exc:
            return PollResult(self.name, error=str(exc))
        events, poison = self._ingest(received)
        await self._modify(poison, 0, "nack malformed")
        self.readings.prune(since - timedelta(days=1))
        return PollResult(
            self.name,
            tuple(self._observations(since)),
            data_as_of=self.readings.latest_publish(),
            gauges=self._gauges(since),
            events=tuple(events),
        )

    # ---- Pub/Sub ---------------------------------------------------------------------------
    async def _pull(self) -> list[Any]:
        """Pull until the backlog is drained or ``max_pulls``; the first failure is an error."""
        out: list[Any] = []
        for i in range(self.cfg.max_pulls):
            try:
                batch = await self.clients.source_call(
                    f"pubsub pull {self.cfg.subscription}", self._pull_once
                )
            except SourceError as exc:
                if i == 0:
                    raise
                log.warning("pull failed; keeping what was pulled", error=str(exc))
                break
            out += batch
            await self._modify(
                [m.ack_id for m in batch], self.cfg.ack_deadline_seconds, "extend deadline"
            )
            if len(batch) < self.cfg.max_messages:
                break
        return out

    def _pull_once(self) -> list[Any]:
        sub = self.clients.subscriber()
        try:
            resp = sub.pull(
                request={
                    "subscription": self.cfg.subscription,
                    "max_messages": self.cfg.max_messages,
                },
                retry=self.clients.retry,
                timeout=self.cfg.pull_timeout.total_seconds(),
            )
        except gexc.DeadlineExceeded:
            return []  # nothing arrived while the pull waited
        return list(resp.received_messages)

    async def _ack_previous(self) -> None:
        ids, self._to_ack = self._to_ack, []
        sub = self.cfg.subscription
        for i in range(0, len(ids), ACK_BATCH):
            chunk = ids[i : i + ACK_BATCH]

            def ack(c: list[str] = chunk) -> None:
                self.clients.subscriber().acknowledge(
                    request={"subscription": sub, "ack_ids": c},
                    **self.clients.opts,
                )

            try:
                await self.clients.source_call(f"pubsub acknowledge {sub}", ack)
            except SourceError as exc:  # they come back and are de-duplicated: harmless
                log.warning("acknowledge failed; messages will be redelivered", error=str(exc))

    async def _modify(self, ack_ids: Sequence[str], seconds: int, what: str) -> None:
        sub = self.cfg.subscription
        for i in range(0, len(ack_ids), ACK_BATCH):
            chunk = list(ack_ids[i : i + ACK_BATCH])

            def modify(c: list[str] = chunk) -> None:
                self.clients.subscriber().modify_ack_deadline(
                    request={"subscription": sub, "ack_ids": c, "ack_deadline_seconds": seconds},
                    **self.clients.opts,
                )

            try:
                await self.clients.source_call(f"pubsub modifyAckDeadline {sub}", modify)
            except SourceError as exc:
                log.warning(f"{what} failed", error=str(exc))

    # ---- messages -> readings --------------------------------------------------------------
    def _ingest(self, received: list[Any]) -> tuple[list[SourceEvent], list[str]]:
        events: list[SourceEvent] = []
        poison: list[str] = []
        for rm in received:
            try:
                self.readings.add(parse(rm))
            except MalformedNotification as exc:
                poison.append(rm.ack_id)
                events.append(self._malformed_event(rm, exc))
                continue
            self._to_ack.append(rm.ack_id)
        return events, poison

    def _malformed_event(self, rm: Any, exc: MalformedNotification) -> SourceEvent:
        self._malformed += 1
        msg = rm.message
        mid = str(getattr(msg, "message_id", "") or rm.ack_id[:32])
        publish = getattr(msg, "publish_time", None)
        if exc.budget_id:
            self.readings.mark_unreadable(exc.budget_id, Unreadable(mid, publish, str(exc)))
        log.error(
            "malformed budget notification; nacked",
            message_id=mid,
            budget=exc.budget_id,
            error=str(exc),
        )
        return SourceEvent(
            "gcp_malformed_notification",
            f"gcp-malformed:{self.cfg.subscription}:{mid}",
            f"budget notification {mid} on {self.cfg.subscription} could not be read ({exc}); "
            "it was not counted as spend and was nacked"
            + (
                f"; budget {exc.budget_id} is incomplete until a newer notification arrives"
                if exc.budget_id
                else ""
            ),
            {"message_id": mid, "budget": exc.budget_id or "", "error": str(exc)},
        )

    # ---- readings -> observations ------------------------------------------------------------
    def _observations(self, since: datetime) -> list[SpendObservation]:
        obs: list[SpendObservation] = []
        for r in self.readings.current(since):
            n = r.best
            dims = {"budget": n.budget_id, "billing_account": n.billing_account}
            bad = self.readings.unreadable(n.budget_id)
            note = (
                (f"notification {bad.message_id} for this budget could not be read ({bad.reason})")
                if bad
                else ""
            )
            obs.append(self._obs(r, n.interval_start, n.interval_end, dims, note))
            for w in aligned_windows(n.interval_start, self.cfg.window_timezones):
                mapped = (
                    f"GCP billing month from {n.interval_start.isoformat()} (Pacific time) "
                    f"reported as {w.start.isoformat()}..{w.end.isoformat()}"
                )
                obs.append(
                    self._obs(r, w.start, w.end, dims, "; ".join(x for x in (mapped, note) if x))
                )
        return obs

    def _obs(
        self, r: Reading, start: datetime, end: datetime, dims: dict[str, str], note: str
    ) -> SpendObservation:
        n = r.best
        return SpendObservation(
            self.name,
            n.budget_id,
            ObservationKind.TO_DATE,
            n.cost,
            r.last_publish,
            start,
            end,
            dims,
            complete=self.readings.unreadable(n.budget_id) is None,
            note=note,
        )

    def _gauges(self, since: datetime) -> dict[str, dict[Labels, Decimal]]:
        amounts: dict[Labels, Decimal] = {}
        latest: dict[str, Reading] = {}
        for r in self.readings.current(since):
            prev = latest.get(r.best.budget_id)
            if prev is None or r.best.interval_start > prev.best.interval_start:
                latest[r.best.budget_id] = r
        for bid, r in latest.items():
            amounts[(("budget", bid), ("currency", r.best.budget_amount.currency))] = (
                r.best.budget_amount.amount
            )
        return {
            MALFORMED_GAUGE: {(("subscription", self.cfg.subscription),): Decimal(self._malformed)},
            BUDGET_AMOUNT_GAUGE: amounts,
        }
