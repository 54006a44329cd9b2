"""Keeps the daemon's state bounded: applies each source's horizon after every poll.

The ledger (memory) is pruned every cycle; the database every ``retention.prune_every``, which
also deletes sent notifications after ``retention.outbox_sent`` and, when set, closed journal
history after ``retention.journal``. Only the replica that polls (the leader) prunes; with
``ha.shard`` each replica prunes the sources it polls and ``housekeeper`` says which one prunes
the outbox and the journal (the holder of the global shard).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from killswitch.core.ledger import Ledger
from killswitch.core.retention import horizon
from killswitch.core.windows import WindowSpec
from killswitch.state.store import Store

if TYPE_CHECKING:
    from killswitch.config import BudgetConfig, Config

log = structlog.get_logger("killswitch.retention")


class Retention:
    def __init__(
        self,
        config: Config,
        ledger: Ledger,
        store: Store,
        sources_of: Callable[[BudgetConfig], list[str]],
    ) -> None:
        self.settings = config.base.retention
        self.budgets = config.budgets
        self.ledger = ledger
        self.store = store
        self.sources_of = sources_of
        self._pruned: dict[str, datetime] = {}
        self._housekept: datetime | None = None
        self.housekeeper: Callable[[], bool] = lambda: True  # set by the daemon with ha.shard

    def windows_of(self, source: str) -> list[WindowSpec]:
        out = []
        for b in self.budgets:
            try:
                if source in self.sources_of(b):
                    out.append(b.window_spec)
            except KeyError:  # a budget on a provider this runtime did not build
                continue
        return out

    def after_poll(self, source: str, now: datetime, *, persist: bool = True) -> None:
        """Forget what no window of this source needs; with ``persist``, in the store too."""
        h = horizon(self.windows_of(source), now, self.settings.observation_margin)
        self.ledger.prune(source, h)
        if not persist:
            return
        every = self.settings.prune_every
        last = self._pruned.get(source)
        if last is None or now - last >= every:
            self._pruned[source] = now
            n = self.store.prune_observations(source, h)
            if n:
                log.debug("pruned observations", source=source, rows=n)
        due = self._housekept is None or now - self._housekept >= every
        if due and self.housekeeper():
            self._housekept = now
            self.housekeeping(now)

    def housekeeping(self, now: datetime) -> None:
        sent = self.store.prune_outbox(now - self.settings.outbox_sent)
        journal = 0
        if self.settings.journal is not None:
            journal = self.store.prune_journal(now - self.settings.journal)
        if sent or journal:
            log.info("pruned state", outbox_rows=sent, journal_rows=journal)
