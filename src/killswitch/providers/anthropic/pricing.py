"""Per-token rates for one usage row, with the context-window tier the report names.

A usage row aggregates many requests. genai-prices picks a model's long-context tier (Sonnet 4.x
above 200k input tokens) from the token count it is given, so pricing a whole bucket in one call
would price a busy minute of short requests at the long-context rate. The report tells us the
tier instead (``group_by[]=context_window``), so rates are probed once per (model, tier, batch,
day) with a request-sized sample inside that tier and then multiplied out. Probes go through
``PriceBook.price`` so config overrides and ``"*"`` fallbacks apply as everywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from killswitch.pricing import PriceBook, TokenUsage
from killswitch.providers.anthropic.shapes import UsageRow

PROVIDER = "anthropic"
BASE_PROBE = 100_000  # tokens: inside the 0-200k tier
LONG_PROBE = 1_000_000  # tokens: inside the 200k-1M tier
SEARCH_PROBE = 1_000
LONG_TIER = "200k-1M"
BATCH_TIERS = frozenset({"batch"})
# Tiers the usage report has that the price book has no rate for: priced at standard rates,
# which is what Priority Tier bills for usage above commitment, and an upper bound for flex.
STANDARD_PRICED = frozenset({"priority", "priority_on_demand", "flex", "flex_discount"})


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token (per search for web searches)."""

    input: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    output: Decimal
    web_search: Decimal
    web_search_fallback: bool

    def cost(self, r: UsageRow) -> Decimal:
        return (
            r.uncached_input * self.input
            + r.cache_read * self.cache_read
            + r.cache_write_5m * self.cache_write_5m
            + r.cache_write_1h * self.cache_write_1h
            + r.output * self.output
            + r.web_searches * self.web_search
        )


class RateBook:
    def __init__(self, prices: PriceBook, web_search_per_1000: Decimal) -> None:
        self.prices = prices
        self.web_search_fallback = web_search_per_1000 / SEARCH_PROBE
        self._cache: dict[tuple[str, bool, bool, str], Rates | None] = {}

    def rates(self, model: str, long: bool, batch: bool, at: datetime) -> Rates | None:
        key = (model, long, batch, at.date().isoformat())
        if key not in self._cache:
            self._cache[key] = self._probe(model, long, batch, at)
        return self._cache[key]

    def _price(self, model: str, usage: TokenUsage, at: datetime) -> Decimal | None:
        res = self.prices.price(PROVIDER, model, usage, at)
        return res.amount if res.known else None

    def _probe(self, model: str, long: bool, batch: bool, at: datetime) -> Rates | None:
        n = LONG_PROBE if long else BASE_PROBE
        per: dict[str, Decimal] = {}
        names = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
        for name in names:
            p = self._price(model, TokenUsage(**{name: n}, batch=batch), at)
            if p is None:
                return None
            per[name] = p / n
        # Output: the tier is chosen by input size, so price output beside a tier-sized input.
        base = n if long else 0
        with_out = self._price(
            model, TokenUsage(input_tokens=base, output_tokens=n, batch=batch), at
        )
        if with_out is None:
            return None
        per["output_tokens"] = (with_out - per["input_tokens"] * base) / n
        search = self._price(model, TokenUsage(web_searches=SEARCH_PROBE), at)
        fallback = search is None or search == 0
        return Rates(
            input=per["input_tokens"],
            cache_read=per["cache_read_tokens"],
            cache_write_5m=per["cache_write_tokens"],
            cache_write_1h=per["cache_write_1h_tokens"],
            output=per["output_tokens"],
            web_search=self.web_search_fallback
            if search is None or fallback
            else search / SEARCH_PROBE,
            web_search_fallback=fallback,
        )


@dataclass(frozen=True, slots=True)
class Priced:
    amount: Decimal | None  # None: the model has no known price
    note: str = ""


def price_row(book: RateBook, r: UsageRow) -> Priced:
    """USD for one row, or no amount (never 0) when the model cannot be priced."""
    if r.model is None:
        return Priced(None, "usage row without a model cannot be priced")
    batch = r.service_tier in BATCH_TIERS
    rates = book.rates(r.model, r.context_window == LONG_TIER, batch, r.start)
    if rates is None:
        return Priced(
            None,
            f"no price for Anthropic model {r.model}: set prices.anthropic.{r.model} "
            '(or prices.anthropic."*"); its spend is not counted',
        )
    notes = []
    if r.service_tier in STANDARD_PRICED:
        notes.append(f"{r.service_tier} tier priced at standard rates")
    if r.web_searches and rates.web_search_fallback:
        notes.append("web searches priced at web_search_usd_per_1000")
    return Priced(rates.cost(r), "; ".join(notes))
