"""Bedrock ``ModelId`` values -> prices, via genai-prices (provider id ``aws``).

The ``ModelId`` dimension of ``AWS/Bedrock`` metrics is whatever the caller invoked: a
foundation model id (``anthropic.claude-3-5-sonnet-20240620-v1:0``), a cross-region inference
profile (``us.anthropic...``, ``eu.``, ``apac.``, ``global.``), a context-length variant
(``...-v1:0:200k``) or a full ARN (``arn:aws:bedrock:...:foundation-model/...`` or
``.../inference-profile/...``). genai-prices matches most of these directly, and knows that
``global.`` and regional profiles are priced differently, so the raw id is tried first; then the
ARN's resource id, without a context suffix, then without the geography prefix. Application
inference profiles (random ids) need ``bedrock.model_map`` or a ``prices.aws.<id>`` entry.

A config ``"*"`` fallback price only applies after every candidate failed: a normalised id that
genai-prices knows beats a blanket guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from killswitch.pricing import PriceBook, TokenUsage

PROVIDER_ID = "aws"
GEO_PREFIX = re.compile(r"^(us|eu|apac|au|ca|jp|in|us-gov|global)\.")
CONTEXT_SUFFIX = re.compile(r"(:\d+:\d+k|:\d+k)$")


def candidates(model_id: str, model_map: Mapping[str, str] | None = None) -> list[str]:
    """Ids to look up, most specific first, without duplicates."""
    out: list[str] = []

    def add(x: str) -> None:
        if x and x not in out:
            out.append(x)

    if model_map and model_id in model_map:
        add(model_map[model_id])
    add(model_id)
    base = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    add(base)
    trimmed = CONTEXT_SUFFIX.sub("", base)
    if trimmed != base:
        # ``...-v1:0:200k`` -> ``...-v1:0``
        add(re.sub(r":\d+k$", "", base))
    add(trimmed)
    for x in list(out):
        add(GEO_PREFIX.sub("", x))
    return out


@dataclass(frozen=True)
class Rates:
    """USD per token for each TokenUsage field, and the id (and basis) that priced them."""

    per_token: Mapping[str, Decimal]
    priced_as: str
    basis: str

    def cost(self, usage: TokenUsage) -> Decimal:
        return sum((Decimal(getattr(usage, f)) * r for f, r in self.per_token.items()), Decimal(0))


PROBE = 1000  # tokens: far below any long-context tier (128k/200k), so the base rate
FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")


def rates(
    prices: PriceBook,
    model_id: str,
    at: datetime | None = None,
    model_map: Mapping[str, str] | None = None,
) -> Rates | None:
    """Per-token rates of ``model_id``, or None when no candidate id has a price.

    CloudWatch sums tokens over a minute of many requests, so pricing the sum directly would
    apply long-context tiers (>200k input tokens per *request*) to ordinary traffic. Rates from a
    small probe are linear and give the base tier; long-context requests are under-counted by
    their premium (documented).
    """
    fallback: Rates | None = None
    for cand in candidates(model_id, model_map):
        r = prices.price(PROVIDER_ID, cand, TokenUsage(input_tokens=PROBE), at)
        if not r.known or r.amount is None:
            continue
        if r.basis == "fallback" and fallback is not None:
            continue
        per = {}
        for f in FIELDS:
            probe: dict[str, Any] = {f: PROBE}
            fr = prices.price(PROVIDER_ID, cand, TokenUsage(**probe), at)
            if fr.amount is None:
                break
            per[f] = fr.amount / PROBE
        else:
            found = Rates(per, cand, r.basis)
            if r.basis != "fallback":
                return found
            fallback = found
    return fallback


class RateCache:
    """Rates per (model, UTC day): prices change by date in genai-prices, rarely within one."""

    def __init__(self, prices: PriceBook, model_map: Mapping[str, str] | None = None) -> None:
        self.prices = prices
        self.model_map = dict(model_map or {})
        self._cache: dict[tuple[str, str], Rates | None] = {}

    def get(self, model_id: str, at: datetime) -> Rates | None:
        key = (model_id, at.date().isoformat())
        if key not in self._cache:
            self._cache[key] = rates(self.prices, model_id, at, self.model_map)
        return self._cache[key]
