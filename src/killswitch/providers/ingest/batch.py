"""A pushed batch: parsed, checked and priced into rows to store, or one error naming the field.

Everything here happens before anything is stored, so a batch is taken whole or not at all: the
first bad event (``events[3].amount: ...``) refuses the batch and the sender fixes and resends
it. Amounts are Decimal from the JSON text itself (``parse_float=Decimal``), never via float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from killswitch.pricing import PriceBook, TokenUsage
from killswitch.providers._rows import target_of

MAX_CLOCK_SKEW = timedelta(minutes=5)
BUCKET = timedelta(minutes=1)  # the grain events are summed at (windows start on a minute)

DimName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")]
DimValue = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class BatchError(ValueError):
    """Refuses the whole batch; ``status`` is the HTTP answer (400 not JSON, 413, 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class SpendEvent(BaseModel):
    """One event: an amount in a currency, or a model's token counts priced by genai-prices."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    dims: dict[DimName, DimValue] = Field(default_factory=dict, max_length=16)
    amount: Decimal | None = Field(default=None, ge=0, allow_inf_nan=False)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    model: str | None = Field(default=None, min_length=1, max_length=256)
    provider: str | None = Field(default=None, min_length=1, max_length=64)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cache_read_tokens: int = Field(default=0, ge=0)
    cache_write_tokens: int = Field(default=0, ge=0)
    batch: bool = False

    @model_validator(mode="after")
    def _one_way_to_cost(self) -> SpendEvent:
        tokens = (
            self.input_tokens or self.output_tokens or self.cache_read_tokens
        ) or self.cache_write_tokens
        if (self.amount is None) == (self.model is None):
            raise ValueError("give either amount+currency or model+provider+tokens")
        if self.amount is not None and self.currency is None:
            raise ValueError("amount needs its currency (e.g. USD)")
        if self.amount is not None and (tokens or self.provider):
            raise ValueError("token counts and provider go with model, not with amount")
        if self.model is not None and self.provider is None:
            raise ValueError("model needs its provider (a genai-prices id: openai, groq, ...)")
        if self.model is not None and self.currency not in (None, "USD"):
            raise ValueError("model prices are in USD; leave currency out")
        return self

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            batch=self.batch,
        )


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[SpendEvent] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class EventRow:
    """What is stored for one accepted event."""

    event_id: str
    target: str
    dims: Mapping[str, str]
    time: datetime
    bucket_start: datetime
    amount: Decimal
    currency: str


def parse(
    body: bytes, *, max_events: int, currency: str, prices: PriceBook, now: datetime
) -> list[EventRow]:
    """The rows of a batch body, or BatchError; duplicate ids inside the batch are kept once."""
    document = _json(body)
    events = document.get("events") if isinstance(document, dict) else None
    if isinstance(events, list) and len(events) > max_events:
        raise BatchError(413, f"batch of {len(events)} events; at most {max_events} per request")
    try:
        batch = Batch.model_validate(document)
    except ValidationError as exc:
        raise BatchError(422, first_error(exc)) from None
    rows: dict[str, EventRow] = {}
    for i, event in enumerate(batch.events):
        row = _row(event, f"events[{i}]", currency, prices, now)
        rows.setdefault(row.event_id, row)
    return list(rows.values())


def _json(body: bytes) -> Any:
    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError):  # JSONDecodeError is a ValueError
        raise BatchError(400, "body is not JSON") from None


def _row(
    event: SpendEvent, where: str, currency: str, prices: PriceBook, now: datetime
) -> EventRow:
    at = event.time.astimezone(UTC)
    if at > now + MAX_CLOCK_SKEW:
        raise BatchError(422, f"{where}.time: {at.isoformat()} is in the future")
    if event.amount is not None:
        if event.currency != currency:
            raise BatchError(422, f"{where}.currency: this endpoint takes {currency} only")
        amount = event.amount
    else:
        amount = _priced(event, where, currency, prices, at)
    return EventRow(
        event_id=event.id,
        target=target_of(event.dims),
        dims=dict(event.dims),
        time=at,
        bucket_start=at.replace(second=0, microsecond=0),
        amount=amount,
        currency=currency,
    )


def _priced(
    event: SpendEvent, where: str, currency: str, prices: PriceBook, at: datetime
) -> Decimal:
    assert event.model is not None and event.provider is not None
    if currency != "USD":
        raise BatchError(
            422, f"{where}.model: model prices are USD; this endpoint takes {currency}"
        )
    result = prices.price(event.provider, event.model, event.usage, at)
    if result.amount is None or not prices.knows(event.provider, event.model):
        raise BatchError(
            422,
            f"{where}.model: no price known for {event.model!r} at {event.provider!r}; send "
            "amount+currency, or add it under prices: in the config",
        )
    return result.amount


def first_error(exc: ValidationError) -> str:
    """``events[3].amount: Input should be greater than or equal to 0``: the first problem."""
    err = exc.errors(include_url=False, include_input=False)[0]
    return f"{loc_text(err['loc'])}: {_message(err['msg'])}"


def loc_text(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")
