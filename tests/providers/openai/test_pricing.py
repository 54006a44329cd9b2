"""Pricing of usage rows: cached input, cache writes, batch, audio, reasoning, service tiers,
per-unit prices, and unknown models (never free)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch.errors import MalformedResponse
from killswitch.pricing import ModelPrice, PriceBook
from killswitch.providers.openai.config import OpenAIConfig
from killswitch.providers.openai.pricing import price_row
from killswitch.providers.openai.shapes import Bucket, usage_row

from .conftest import BRIEF_PRICES, K1, NOW, P1, build
from .fake import FakeOpenAI

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CFG = OpenAIConfig.model_validate({"type": "openai", "admin_key": "sk-admin-x"})
BOOK = PriceBook(BRIEF_PRICES)


def row(usage_type: str = "completions", **fields: Any) -> dict[str, Any]:
    obj = f"organization.usage.{usage_type}.result"
    base: dict[str, Any] = {
        "object": obj,
        "num_model_requests": 1,
        "project_id": P1,
        "api_key_id": K1,
    }
    if usage_type == "completions":
        base |= {"input_tokens": 0, "output_tokens": 0}
    return base | fields


def price(
    fields: dict[str, Any],
    usage_type: str = "completions",
    book: PriceBook = BOOK,
    cfg: OpenAIConfig = CFG,
) -> Decimal | None:
    r = usage_row(usage_type, Bucket(AT, AT.replace(minute=1), []), fields, "t")
    return price_row(book, cfg, r).amount


def test_cached_input_at_the_cached_rate() -> None:
    # 1M input of which 400k cached: 600k x 0.15 + 400k x 0.075 + 200k out x 0.60
    f = row(
        model="gpt-4o-mini",
        input_tokens=1_000_000,
        input_cached_tokens=400_000,
        output_tokens=200_000,
    )
    assert price(f) == Decimal("0.09") + Decimal("0.03") + Decimal("0.12")


def test_cache_writes_at_the_input_rate_when_no_write_price() -> None:
    f = row(model="gpt-4o-mini", input_tokens=1_000_000, input_cache_write_tokens=1_000_000)
    assert price(f) == Decimal("0.15")


def test_batch_is_half_price_override_and_catalogue() -> None:
    f = row(
        model="gpt-4o-mini",
        input_tokens=1_000_000,
        input_cached_tokens=400_000,
        output_tokens=200_000,
        batch=True,
    )
    assert price(f) == Decimal("0.12")
    f = row(model="gpt-4o", input_tokens=1_000_000, batch=True)
    assert price(f, book=PriceBook()) == Decimal("1.25")  # catalogue 2.50/M, batch half


def test_configured_batch_discount_is_used() -> None:
    book = PriceBook(
        {
            "openai": {
                "m": ModelPrice(
                    input=Decimal(10), output=Decimal(10), batch_discount=Decimal("0.4")
                )
            }
        }
    )
    assert price(row(model="m", input_tokens=1_000_000, batch=True), book=book) == Decimal("4")


def test_audio_tokens_at_the_audio_rates() -> None:
    # gpt-4o-realtime-preview (catalogue): text 5/20, cached 2.5, audio in 40, audio out 80.
    f = row(
        model="gpt-4o-realtime-preview",
        input_tokens=1_100_000,
        input_cached_tokens=100_000,
        input_audio_tokens=500_000,
        output_tokens=300_000,
        output_audio_tokens=200_000,
    )
    text_in, cached, audio_in = Decimal("2.5"), Decimal("0.25"), Decimal(20)
    text_out, audio_out = Decimal(2), Decimal(16)
    assert price(f, book=PriceBook()) == text_in + cached + audio_in + text_out + audio_out


def test_reasoning_tokens_are_output_tokens() -> None:
    # o3: 8/M output; reasoning tokens are inside output_tokens and billed as output.
    assert price(row(model="o3", output_tokens=1_000_000), book=PriceBook()) == Decimal(8)


@pytest.mark.parametrize(
    ("tier", "factor"), [("default", 1), ("flex", "0.5"), ("priority", 2), (None, 1), ("scale", 1)]
)
def test_service_tier_multipliers(tier: str | None, factor: Any) -> None:
    f = row(model="gpt-4o-mini", input_tokens=1_000_000, service_tier=tier)
    assert price(f) == Decimal("0.15") * Decimal(str(factor))


def test_configured_tier_multiplier() -> None:
    cfg = OpenAIConfig.model_validate(
        {"type": "openai", "admin_key": "k", "service_tier_multipliers": {"priority": "1.75"}}
    )
    f = row(model="gpt-4o-mini", input_tokens=1_000_000, service_tier="priority")
    assert price(f, cfg=cfg) == Decimal("0.2625")
    f = row(model="gpt-4o-mini", input_tokens=1_000_000, service_tier="flex")
    assert price(f, cfg=cfg) == Decimal("0.15")  # flex no longer listed: standard rates


def test_disagreeing_totals_take_the_larger_uncached_input() -> None:
    # input 1000 = 50 cached + 950 uncached, but input_uncached_tokens says 900: 950 is used.
    f = row(model="m", input_tokens=1000, input_cached_tokens=50, input_uncached_tokens=900)
    book = PriceBook(
        {
            "openai": {
                "m": ModelPrice(
                    input=Decimal(1_000_000), output=Decimal(0), cached_input=Decimal(0)
                )
            }
        }
    )
    assert price(f, book=book) == Decimal(950)


def test_unknown_model_has_no_amount_and_a_note() -> None:
    r = usage_row("completions", Bucket(AT, AT, []), row(model="nope-1", input_tokens=5), "t")
    got = price_row(PriceBook(), CFG, r)
    assert got.amount is None and "nope-1" in got.note


def test_empty_usage_of_an_unknown_model_is_zero_and_known() -> None:
    assert price(row(model="nope-1"), book=PriceBook()) == 0


@pytest.mark.parametrize(
    ("usage_type", "fields", "want"),
    [
        ("audio_speeches", {"model": "tts-1-hd", "characters": 500_000}, Decimal(15)),
        (
            "audio_transcriptions",
            {"model": "gpt-4o-mini-transcribe", "seconds": 120},
            Decimal("0.006"),
        ),
        ("images", {"model": "dall-e-2", "images": 10, "size": "256x256"}, Decimal("0.16")),
        ("images", {"model": "dall-e-2", "images": 10, "size": None}, Decimal("0.2")),
    ],
)
def test_unit_prices(usage_type: str, fields: dict[str, Any], want: Decimal) -> None:
    assert price(row(usage_type, **fields), usage_type) == want


def test_unit_prices_from_config_and_unknown_units() -> None:
    cfg = OpenAIConfig.model_validate(
        {
            "type": "openai",
            "admin_key": "k",
            "unit_prices": {"audio_speeches": {"gpt-4o-mini-tts": 16, "tts-1": 20}},
        }
    )
    assert (
        price(
            row("audio_speeches", model="gpt-4o-mini-tts", characters=1_000_000),
            "audio_speeches",
            cfg=cfg,
        )
        == 16
    )
    assert (
        price(row("audio_speeches", model="tts-1", characters=1_000_000), "audio_speeches", cfg=cfg)
        == 20
    )
    r = usage_row(
        "audio_speeches",
        Bucket(AT, AT, []),
        row("audio_speeches", model="gpt-4o-mini-tts", characters=9),
        "t",
    )
    got = price_row(BOOK, CFG, r)
    assert got.amount is None and "unit_prices.audio_speeches.gpt-4o-mini-tts" in got.note
    # The token price book never prices characters: tts-1 costs $0/token in the catalogue.
    assert (
        BOOK.price(
            "openai", "tts-1", __import__("killswitch.pricing").pricing.TokenUsage(input_tokens=1)
        ).amount
        == 0
    )


def test_unit_price_star_fallback_only_after_known_models() -> None:
    cfg = OpenAIConfig.model_validate(
        {"type": "openai", "admin_key": "k", "unit_prices": {"images": {"*": 1}}}
    )
    assert price(
        row("images", model="dall-e-3", images=1, size="1024x1024"), "images", cfg=cfg
    ) == Decimal("0.08")
    assert price(row("images", model="gpt-image-1", images=3), "images", cfg=cfg) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"input_tokens": "1"},
        {"input_tokens": True},
        {"output_tokens": None},
        {"input_cached_tokens": "3"},
        {"output_audio_tokens": 10, "output_tokens": 5},
        {"service_tier": 3},
        {"model": 7},
        {"api_key_id": {"id": "k"}},
    ],
)
def test_malformed_rows(fields: dict[str, Any]) -> None:
    with pytest.raises(MalformedResponse):
        usage_row(
            "completions",
            Bucket(AT, AT, []),
            row(model="gpt-4o-mini", input_tokens=1, output_tokens=1) | fields,
            "t",
        )


async def test_cached_and_batch_through_the_api(fake: FakeOpenAI) -> None:
    fake.add_completion(
        NOW.replace(minute=2),
        P1,
        K1,
        "gpt-4o-mini",
        input=1_000_000,
        cached=400_000,
        output=200_000,
    )
    fake.add_completion(
        NOW.replace(minute=3),
        P1,
        K1,
        "gpt-4o-mini",
        input=1_000_000,
        cached=400_000,
        output=200_000,
        batch=True,
    )
    fake.add_completion(
        NOW.replace(minute=4), P1, K1, "gpt-4o-mini", input=1_000_000, tier="priority"
    )
    p = build(fake, usage_types=["completions"])
    (o,) = (await p.sources()["openai.usage"].poll(NOW, AT.replace(hour=0))).observations
    assert o.amount.amount == Decimal("0.24") + Decimal("0.12") + Decimal("0.30")
    await p.aclose()
