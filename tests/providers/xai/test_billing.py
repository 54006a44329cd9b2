"""xai.billing: the invoice preview -> month-to-date team spend; key inventory; wrong shapes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from killswitch import config as cfgmod
from killswitch.errors import ConfigError, MalformedResponse
from killswitch.model import ObservationKind
from killswitch.providers.xai import XaiProvider
from killswitch.providers.xai.shapes import cents_string, invoice_preview

from .conftest import build
from .fake import TEAM, FakeXai, key, preview

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PREVIEW = f"/v1/billing/teams/{TEAM}/postpaid/invoice/preview"
KEYS = f"/auth/teams/{TEAM}/api-keys"


async def poll(p: XaiProvider) -> Any:
    return await p.sources()["xai.billing"].poll(NOW, datetime(2026, 11, 1, tzinfo=UTC))


async def test_recorded_invoice_preview_becomes_month_to_date_team_spend(
    provider: XaiProvider, fake: FakeXai
) -> None:
    fake.spend_cents = 123456
    res = await poll(provider)
    assert res.ok, res.error
    (o,) = res.observations
    assert o.kind is ObservationKind.TO_DATE
    assert (o.start, o.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert o.target == f"team:{TEAM}" and o.dims == {"team": TEAM}
    assert o.amount.amount == Decimal("1234.56") and o.amount.currency == "USD"
    tl = (("team", TEAM),)
    assert res.gauges["xai_spending_limit_usd"] == {tl: Decimal(1000)}
    assert res.gauges["xai_invoice_due_usd"] == {tl: Decimal("1234.56")}
    k1 = (("key", "key-0001"), ("name", "service-1"))
    assert res.gauges["xai_key_disabled"][k1] == 0
    assert res.gauges["xai_key_qpm"][k1] == 100
    assert k1 not in res.gauges.get("xai_key_tpm", {})  # unset stays absent, not 0


def test_december_cycle_ends_on_new_year() -> None:
    inv = invoice_preview(preview(5, 2026, 12), "p")
    assert (inv.cycle_start, inv.cycle_end) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_the_recorded_zero_preview_of_a_prepaid_team() -> None:
    # A third-party client's recorded response (amounts only) for a prepaid team in a month
    # without usage: spend is exactly zero, and it is read as a real zero, not a missing value.
    body = {
        "coreInvoice": {
            "lines": [],
            "amountBeforeVat": "0",
            "amountAfterVat": "0",
            "vatCost": "0",
            "amountBeforeVatLimited": {"val": "0"},
            "amountBeforeVatUnlimited": {"val": "0"},
            "amountBeforeVatLimitedAndUnlimited": {"val": "0"},
            "autoCreditsIssued": "0",
            "defaultCreditsIssued": "0",
            "totalWithCorr": {"val": "0"},
            "prepaidCredits": {"val": "-5170"},
            "prepaidCreditsUsed": {"val": "0"},
        },
        "effectiveSpendingLimit": "0",
        "defaultCredits": "0",
        "billingCycle": {"year": 2026, "month": 10},
    }
    inv = invoice_preview(body, "p")
    assert inv.spend_usd == 0 and inv.due_usd == 0


@pytest.mark.parametrize(
    ("raw", "usd"), [("123456", "1234.56"), ("0", "0"), ("5", "0.05"), ("12.5", "0.125")]
)
def test_cents_strings(raw: str, usd: str) -> None:
    assert cents_string(raw, "x") == Decimal(usd)


@pytest.mark.parametrize("raw", [1234, 12.5, None, "", "1,000", "NaN", {"val": "5"}])
def test_not_a_cents_string(raw: Any) -> None:
    with pytest.raises(MalformedResponse):
        cents_string(raw, "x")


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node = body
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is KeyError:
        node.pop(last)
    else:
        node[last] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        _set(preview(500), "coreInvoice.amountBeforeVat", 5.0),
        _set(preview(500), "coreInvoice.amountBeforeVat", KeyError),
        _set(preview(500), "coreInvoice.amountBeforeVat", "-500"),
        _set(preview(500), "coreInvoice.totalWithCorr", "500"),
        _set(preview(500), "coreInvoice", KeyError),
        _set(preview(500), "billingCycle", "2026-11"),
        _set(preview(500), "billingCycle.month", 13),
        _set(preview(500), "billingCycle.year", "2026"),
        _set(preview(500), "effectiveSpendingLimit", 1000),
        {"timeSeries": [{"groupLabels": [], "dataPoints": []}]},  # another endpoint's shape
        {"amount": {"val": "500"}},
        [],
    ],
    ids=[
        "number",
        "missing",
        "negative",
        "total-not-val",
        "no-core",
        "cycle-string",
        "month-13",
        "year-string",
        "limit-number",
        "usage-shape",
        "other-shape",
        "list",
    ],
)
async def test_an_invoice_shaped_otherwise_is_an_error_never_zero(
    provider: XaiProvider, fake: FakeXai, body: Any
) -> None:
    fake.override[PREVIEW] = body
    res = await poll(provider)
    assert not res.ok and res.observations == ()
    assert "invoice/preview" in (res.error or "")


async def test_not_json_is_an_error(provider: XaiProvider, fake: FakeXai) -> None:
    fake.override[PREVIEW] = b"<html>maintenance</html>"
    res = await poll(provider)
    assert not res.ok and "not JSON" in (res.error or "")


@pytest.mark.parametrize(
    "body",
    [
        {"data": [key(1)]},
        {"apiKeys": [{**key(1), "disabled": "no"}]},
        {"apiKeys": [{**key(1), "tpm": 5000}]},
        {"apiKeys": [{**key(1), "apiKeyId": None}]},
    ],
    ids=["other-envelope", "disabled-string", "tpm-number", "no-id"],
)
async def test_an_unreadable_key_list_is_announced_and_spend_still_counts(
    provider: XaiProvider, fake: FakeXai, body: Any
) -> None:
    fake.spend_cents = 700
    fake.override[KEYS] = body
    res = await poll(provider)
    assert res.ok and res.observations[0].amount.amount == 7
    (ev,) = res.events
    assert ev.kind == "key_list_unreadable" and "xai.disable-key" in ev.summary
    assert "xai_key_disabled" not in res.gauges


async def test_key_list_pages_are_followed(provider: XaiProvider, fake: FakeXai) -> None:
    for i in range(4, 12):
        fake.keys[f"key-{i:04d}"] = key(i)
    fake.page_size = 5
    assert len(await provider.api.keys()) == 11
    assert [p for m, p in fake.requests] == [KEYS] * 3


async def test_auth_failure_is_an_error_without_the_key(fake: FakeXai) -> None:
    p = build(fake)
    fake.token = "xai-mgmt-rotated-elsewhere"
    res = await poll(p)
    assert not res.ok and "HTTP 401" in (res.error or "") and "xai-mgmt" not in (res.error or "")
    await p.aclose()


async def test_doctor(provider: XaiProvider, fake: FakeXai) -> None:
    findings = await provider.doctor(["xai.disable-key"])
    assert all(f.ok for f in findings) and len(findings) == 3
    assert fake.requests[0] == ("GET", "/auth/management-keys/validation")
    fake.override[KEYS] = {"keys": []}
    findings = await provider.doctor([])
    assert [f.ok for f in findings] == [True, False, True]


def test_config_needs_a_team() -> None:
    base = {"type": "xai", "management_key": "xai-mgmt-abcdef"}
    with pytest.raises(ConfigError) as e:
        cfgmod.parse({"providers": {"xai": base}})
    assert e.value.problems[0][0] == "providers.xai.team_id"
    with pytest.raises(ConfigError):
        cfgmod.parse({"providers": {"xai": {**base, "team_id": " "}}})
