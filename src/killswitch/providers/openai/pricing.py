"""Usage rows to USD.

Token usage (completions, embeddings) is priced by the deployment's :class:`PriceBook` (config
``prices.openai`` overrides, then genai-prices, then the ``"*"`` fallback), batch at the batch
rate, and then multiplied by the ``service_tier`` factor (flex is half price; priority costs about
twice standard: 1.7-2x depending on the model, so 2 by default, an over-estimate). Audio speeches
(characters), transcriptions (seconds) and images (count) are not token-priced by OpenAI: they
use per-unit prices (``unit_prices``), because the catalogue's token prices for ``tts-1`` or
``whisper-1`` are $0 and would make that spend free.

A model nobody can price gives ``amount=None`` and a note: never $0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from killswitch.pricing import PriceBook, TokenUsage
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.shapes import UsageRow

MILLION = Decimal(1_000_000)
UNIT_SCALE = {"audio_speeches": MILLION, "audio_transcriptions": Decimal(60), "images": Decimal(1)}
UNIT_NAMES = {
    "audio_speeches": "USD per 1M characters",
    "audio_transcriptions": "USD per minute",
    "images": "USD per image",
}


@dataclass(frozen=True, slots=True)
class Priced:
    amount: Decimal | None
    note: str = ""


def _tokens(prices: PriceBook, model: str, usage: TokenUsage, at: datetime) -> Decimal | None:
    parts = [usage]
    if usage.cache_read_tokens and usage.input_audio_tokens:
        # genai-prices refuses cache reads together with audio input unless cached audio is
        # given separately (which TokenUsage cannot say), and the price book then reports the
        # model as unknown. Prices are linear, so the audio input is priced on its own.
        audio = TokenUsage(input_audio_tokens=usage.input_audio_tokens, batch=usage.batch)
        parts = [replace(usage, input_audio_tokens=0), audio]
    total = Decimal(0)
    for part in parts:
        result = prices.price("openai", model, part, at)
        if not result.known or result.amount is None:
            return None
        total += result.amount
    return total


def price_row(prices: PriceBook, cfg: OpenAIConfig, row: UsageRow) -> Priced:
    if row.tokens is not None:
        amount = _tokens(prices, row.model, row.tokens, row.start)
        if amount is None:
            return Priced(
                None,
                f"no price for OpenAI model {row.model!r}: set prices.openai.{row.model} "
                'or a prices.openai."*" fallback',
            )
        factor = cfg.service_tier_multipliers.get(row.service_tier or "", Decimal(1))
        return Priced(amount * factor)
    if row.units == 0:
        return Priced(Decimal(0))
    unit_price = cfg.unit_price(row.usage_type, row.model, row.size)
    if unit_price is None:
        return Priced(
            None,
            f"no {row.usage_type} price for OpenAI model {row.model!r}: set "
            f"unit_prices.{row.usage_type}.{row.model} ({UNIT_NAMES[row.usage_type]})",
        )
    return Priced(Decimal(row.units) * unit_price / UNIT_SCALE[row.usage_type])
