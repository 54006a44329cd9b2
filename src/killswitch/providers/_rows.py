"""Rows of spend read from a system that already counts it, turned into observations.

The ``prometheus``, ``http-json`` and ``ingest`` plugins differ in how they read (a PromQL vector,
a JSON document, pushed events) but not in what a row means: some dimensions, an amount in a
currency, and when it held. This module owns that meaning once: how a row's dimensions name a
target, how a declared ``period`` turns a to-date amount into a window the core can match, and
why rows of the same target add up. Private to the providers (the registry skips ``_`` modules).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from killswitch.core.windows import WindowSpec
from killswitch.errors import MalformedResponse
from killswitch.model import Money, ObservationKind, SpendObservation, Window
from killswitch.providers._admin_api.shapes import decimal

NO_DIMS_TARGET = "*"
MAX_TARGET = 256  # the state table holds 512; longer dimension sets are hashed


class PeriodFields(BaseModel):
    """``kind`` + ``period`` + ``timezone`` + ``currency`` of one source, validated together.

    ``to_date`` amounts are spend since the start of ``period``; the core matches them to a
    budget whose ``window`` and ``timezone`` are the same. ``counter`` amounts are running totals;
    any window takes differences of samples.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["to_date", "counter", "bucket"] = Field(
        description="to_date: spend since the period start; counter: a monotonic running total; "
        "bucket: spend between a start and an end"
    )
    period: str | None = Field(
        default=None,
        description="to_date only: daily | weekly | monthly | rolling:<d> | interval:<d>; "
        "budgets on this source use the same window",
    )
    timezone: str = Field(default="UTC", description="where the period's days start")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        WindowSpec.parse("daily", v)
        return v

    @field_validator("period")
    @classmethod
    def _period(cls, v: str | None) -> str | None:
        if v is not None:
            WindowSpec.parse(v)
        return v

    @model_validator(mode="after")
    def _period_matches_kind(self) -> PeriodFields:
        if self.kind == "to_date" and self.period is None:
            raise ValueError(
                "a to_date source needs period: (daily, weekly, monthly, rolling:<d> or "
                "interval:<d>) saying since when its amount counts"
            )
        if self.kind != "to_date" and self.period is not None:
            raise ValueError(f"period only applies to kind: to_date (this one is {self.kind})")
        return self

    @property
    def period_spec(self) -> WindowSpec | None:
        return None if self.period is None else WindowSpec.parse(self.period, self.timezone)


@dataclass(frozen=True, slots=True)
class Row:
    """One amount read for one set of dimensions. ``at`` is when it held (default: the poll)."""

    dims: Mapping[str, str]
    amount: Decimal
    currency: str
    at: datetime | None = None
    start: datetime | None = None  # buckets only
    end: datetime | None = None
    notes: tuple[str, ...] = field(default=())


def target_of(dims: Mapping[str, str]) -> str:
    """A stable name for one set of dimensions: ``key=a,team=b`` (sorted), or ``*`` for none."""
    if not dims:
        return NO_DIMS_TARGET
    text = ",".join(f"{k}={v}" for k, v in sorted(dims.items()))
    if len(text) <= MAX_TARGET:
        return text
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def amount_of(value: object, where: str) -> Decimal:
    """A finite, non-negative amount, or MalformedResponse naming ``where``: never zero."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MalformedResponse(f"{where}: expected a number, got {_kind(value)}")
    return decimal(value, where, negative="{where}: spend cannot be negative ({amount})")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def observations(
    source: str,
    kind: ObservationKind,
    rows: Iterable[Row],
    now: datetime,
    period: WindowSpec | None = None,
) -> tuple[SpendObservation, ...]:
    """Rows -> observations; rows of one target and one period (or instant) add up.

    Adding is right for every kind: two series that differ only in labels nobody mapped are two
    parts of the same target's spend, and a sum of running totals is a running total.
    """
    sums: dict[tuple[str, datetime, datetime | None, datetime | None], _Sum] = {}
    for row in rows:
        at = row.at or now
        start, end = row.start, row.end
        if kind is ObservationKind.TO_DATE:
            assert period is not None, "to_date rows need their period"
            w: Window = period.at(at)
            start, end = w.start, w.end
        key = (target_of(row.dims), at, start, end)
        acc = sums.setdefault(key, _Sum(row.dims, Money(Decimal(0), row.currency)))
        if row.currency != acc.total.currency:
            raise MalformedResponse(
                f"target {key[0]}: rows in {acc.total.currency} and {row.currency} cannot be "
                "added; map the currency to a dimension or split the source"
            )
        acc.total = acc.total + Money(row.amount, row.currency)
        acc.notes.update(row.notes)
    return tuple(
        SpendObservation(
            source=source,
            target=target,
            kind=kind,
            amount=acc.total,
            observed_at=at,
            start=start,
            end=end,
            dims=dict(acc.dims),
            complete=not acc.notes,
            note="; ".join(sorted(acc.notes)),
        )
        for (target, at, start, end), acc in sums.items()
    )


@dataclass(slots=True)
class _Sum:
    dims: Mapping[str, str]
    total: Money
    notes: set[str] = field(default_factory=set)
