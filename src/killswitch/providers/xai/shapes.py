"""Every xAI Management API shape killswitch relies on, in one place, with how sure we are.

There is no public OpenAPI or proto for the management plane (xai-org/xai-proto#36). Sources:
docs.x.ai "Management API" reference pages (billing, auth) [D]; third-party clients [3P];
our best reading where neither says [U]. Each parser accepts exactly the shape described and
raises :class:`MalformedResponse` for anything else, so a wrong guess shows up as a loud poll or
action error, never as $0 spend or a silent no-op. When xAI publishes a spec, this module is the
only one to change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from killswitch.errors import MalformedResponse
from killswitch.providers._admin_api.shapes import decimal, obj

KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def cents_string(v: Any, where: str) -> Decimal:
    """USD cents as a string of digits ("1234" is $12.34) [D: "in USD cents", string]."""
    if not isinstance(v, str):
        raise MalformedResponse(f"{where} is not a string of USD cents")
    return decimal(v, where) / 100


def _val(v: Any, where: str) -> Decimal:
    """A ``{"val": "<cents>"}`` amount object [3P: prepaid balance and invoice totals]."""
    return cents_string(obj(v, where).get("val"), f"{where}.val")


# ---- GET /v1/billing/teams/{team_id}/postpaid/invoice/preview -------------------------------
INVOICE_PREVIEW = "/v1/billing/teams/{team_id}/postpaid/invoice/preview"


@dataclass(frozen=True, slots=True)
class InvoicePreview:
    spend_usd: Decimal  # usage charged in the billing cycle so far, before VAT and credits
    due_usd: Decimal | None  # what the invoice would ask for now (after credits)
    spending_limit_usd: Decimal
    default_credits_usd: Decimal
    cycle_start: datetime
    cycle_end: datetime


def invoice_preview(body: Any, where: str) -> InvoicePreview:
    """Parse the invoice preview.

    [D] top level: ``coreInvoice`` (object), ``effectiveSpendingLimit`` and ``defaultCredits``
    (strings, USD cents), ``billingCycle`` (object).
    [U] ``billingCycle`` is ``{"year": int, "month": int}`` and the cycle is that UTC calendar
    month (3P clients and a recorded response agree on the shape).
    [U] spend is ``coreInvoice.amountBeforeVat``, a string of cents: the cycle's usage subtotal
    before VAT and before prepaid/default credits are applied (its siblings ``vatCost``,
    ``amountAfterVat``, ``prepaidCreditsUsed`` and ``totalWithCorr`` are the steps after it).
    [3P] ``coreInvoice.totalWithCorr`` is ``{"val": "<cents>"}``, the amount due; optional.
    """
    b = obj(body, where)
    core = obj(b.get("coreInvoice"), f"{where}.coreInvoice")
    cycle = obj(b.get("billingCycle"), f"{where}.billingCycle")
    year, month = cycle.get("year"), cycle.get("month")
    if (
        isinstance(year, bool)
        or not isinstance(year, int)
        or isinstance(month, bool)
        or not isinstance(month, int)
        or not 1 <= month <= 12
        or not 2000 <= year <= 9999
    ):
        raise MalformedResponse(f"{where}.billingCycle is not {{year, month}}")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    spend = cents_string(core.get("amountBeforeVat"), f"{where}.coreInvoice.amountBeforeVat")
    if spend < 0:
        raise MalformedResponse(f"{where}.coreInvoice.amountBeforeVat is negative")
    due = (
        _val(core["totalWithCorr"], f"{where}.coreInvoice.totalWithCorr")
        if core.get("totalWithCorr") is not None
        else None
    )
    return InvoicePreview(
        spend_usd=spend,
        due_usd=due,
        spending_limit_usd=cents_string(
            b.get("effectiveSpendingLimit"), f"{where}.effectiveSpendingLimit"
        ),
        default_credits_usd=cents_string(b.get("defaultCredits"), f"{where}.defaultCredits"),
        cycle_start=start,
        cycle_end=end,
    )


# ---- GET /auth/teams/{teamId}/api-keys ------------------------------------------------------
LIST_KEYS = "/auth/teams/{team_id}/api-keys"
# [U] the list envelope: a proto-style ListApiKeysResponse rendered as JSON.
LIST_FIELD = "apiKeys"
NEXT_PAGE_FIELD = "nextPageToken"  # [U] followed when present and non-empty
PAGE_TOKEN_PARAM = "pageToken"  # noqa: S105 - a query parameter name [U]


@dataclass(frozen=True, slots=True)
class ApiKey:
    """[D] ApiKey fields: apiKeyId, name, disabled (bool), qps/qpm (int), tpm (string)."""

    id: str
    name: str
    disabled: bool
    qps: int | None  # None: unset (no limit)
    qpm: int | None
    tpm: int | None
    raw: dict[str, Any]  # the object as listed, sent back whole on update


def _opt_int(v: Any, where: str, *, string: bool = False) -> int | None:
    if v is None:
        return None
    if string:  # [D] tpm is an integer rendered as a string
        if not isinstance(v, str) or not v.isdigit():
            raise MalformedResponse(f"{where} is not a string of digits")
        return int(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise MalformedResponse(f"{where} is not a non-negative integer")
    return v


def api_key(item: Any, where: str) -> ApiKey:
    k = obj(item, where)
    kid = k.get("apiKeyId")
    if not isinstance(kid, str) or not KEY_ID.match(kid):
        raise MalformedResponse(f"{where}.apiKeyId is missing or not an id")
    disabled = k.get("disabled", False)  # [U] proto JSON omits false booleans
    if not isinstance(disabled, bool):
        raise MalformedResponse(f"{where}.disabled is not a boolean")
    return ApiKey(
        id=kid,
        name=str(k.get("name") or ""),
        disabled=disabled,
        qps=_opt_int(k.get("qps"), f"{where}.qps"),
        qpm=_opt_int(k.get("qpm"), f"{where}.qpm"),
        tpm=_opt_int(k.get("tpm"), f"{where}.tpm", string=True),
        raw=k,
    )


def key_page(body: Any, where: str) -> tuple[list[ApiKey], str | None]:
    b = obj(body, where)
    items = b.get(LIST_FIELD)
    if not isinstance(items, list):
        raise MalformedResponse(f"{where}: no '{LIST_FIELD}' list")
    nxt = b.get(NEXT_PAGE_FIELD)
    if nxt is not None and not isinstance(nxt, str):
        raise MalformedResponse(f"{where}.{NEXT_PAGE_FIELD} is not a string")
    return [api_key(x, f"{where}.{LIST_FIELD}[{i}]") for i, x in enumerate(items)], nxt or None


# ---- PUT /auth/api-keys/{api_key_id} --------------------------------------------------------
UPDATE_KEY = "/auth/api-keys/{api_key_id}"


def update_key_request(key: ApiKey, changes: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """The update call for ``changes`` (a subset of disabled/qps/qpm/tpm).

    [D] the endpoint is ``PUT /auth/api-keys/{api_key_id}``. [U] the body: a third-party client
    sends ``{"apiKey": {...}, "fieldMask": "qpm,..."}`` (to the team path). We send the key as
    listed with the changes applied, plus a field mask naming only the changed fields: correct
    whether the server honours the mask or replaces the whole object. Whatever the server does,
    callers read the key back and fail loudly if the change did not take.
    """
    body_key = dict(key.raw)
    for field, value in changes.items():
        if field == "tpm":
            value = None if value is None else str(value)
        body_key[field] = value
    mask = ",".join(sorted(changes))
    return "PUT", UPDATE_KEY.format(api_key_id=key.id), {"apiKey": body_key, "fieldMask": mask}


# ---- GET /auth/management-keys/validation ---------------------------------------------------
VALIDATE_KEY = "/auth/management-keys/validation"  # [D]; any 2xx means valid [U]
