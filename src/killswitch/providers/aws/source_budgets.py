"""``aws.budgets``: actual spend of each AWS Budget, as computed by AWS.

``DescribeBudgets`` returns, per budget, ``CalculatedSpend.ActualSpend`` (spend so far in the
budget's *current* period) and ``ForecastedSpend``. The period follows ``TimeUnit`` on the UTC
calendar (DAILY, MONTHLY, QUARTERLY, ANNUALLY); ``TimePeriod`` is the budget's lifetime (its end
defaults to 2087), so it bounds the period rather than being it, except for CUSTOM budgets whose
one period *is* ``TimePeriod``. A killswitch budget matches when its window is the same calendar
period in UTC (``window: monthly`` for a MONTHLY AWS budget).

AWS refreshes these numbers every 8-12 hours: ``data_as_of`` is the oldest ``LastUpdatedTime``,
and the source reuses its last answer for ``budgets.min_interval``. Budgets whose unit is not a
currency (usage, RI/Savings Plans utilisation) are not spend and are skipped; a budget without
``CalculatedSpend`` yet gives no observation (no data, never $0).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from killswitch.core.windows import WindowSpec
from killswitch.errors import MalformedResponse, SourceError
from killswitch.model import Money, ObservationKind, PollResult, SpendObservation, to_decimal
from killswitch.providers.aws.config import BudgetsSourceConfig
from killswitch.providers.aws.session import AwsSession
from killswitch.providers.aws.throttle import Throttle

NAME = "aws.budgets"
CURRENCY = re.compile(r"^[A-Z]{3}$")
FORECAST_GAUGE = "aws_budget_forecasted_spend"


def _aware(v: Any, field: str) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return datetime.fromtimestamp(v, UTC)
    raise MalformedResponse(f"DescribeBudgets: {field} is not a timestamp")


def current_period(
    time_unit: str, now: datetime, lifetime: tuple[datetime, datetime] | None
) -> tuple[datetime, datetime] | None:
    """The budget period containing ``now`` (UTC), or None when the budget is not running."""
    if time_unit == "CUSTOM":
        if lifetime is None:
            raise MalformedResponse("DescribeBudgets: CUSTOM budget without TimePeriod")
        start, end = lifetime
    elif time_unit in ("DAILY", "MONTHLY"):
        w = WindowSpec("daily" if time_unit == "DAILY" else "monthly").at(now)
        start, end = w.start, w.end
    elif time_unit in ("QUARTERLY", "ANNUALLY"):
        first = 1 if time_unit == "ANNUALLY" else 3 * ((now.month - 1) // 3) + 1
        span = 12 if time_unit == "ANNUALLY" else 3
        start = datetime(now.year, first, 1, tzinfo=UTC)
        m = first - 1 + span
        end = datetime(now.year + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    else:
        raise MalformedResponse(f"DescribeBudgets: unknown TimeUnit {time_unit!r}")
    if lifetime is not None and not lifetime[0] <= now < lifetime[1]:
        return None
    return start, end


def _spend(obj: Any, field: str) -> tuple[Decimal, str] | None:
    """Parse a Spend {Amount, Unit}; None when the unit is not a currency."""
    if not isinstance(obj, dict):
        raise MalformedResponse(f"DescribeBudgets: {field} is not an object")
    unit = obj.get("Unit")
    if not isinstance(unit, str) or not unit:
        raise MalformedResponse(f"DescribeBudgets: {field}.Unit is missing")
    if not CURRENCY.match(unit):
        return None
    try:
        return to_decimal(obj.get("Amount"), field_name=f"{field}.Amount"), unit
    except ValueError as exc:
        raise MalformedResponse(f"DescribeBudgets: {exc}") from None


class BudgetsSource:
    name = NAME

    def __init__(self, session: AwsSession, cfg: BudgetsSourceConfig, account_id: str | None):
        self.session = session
        self.cfg = cfg
        self.account_id = account_id
        self.throttle = Throttle(cfg.min_interval)

    async def _account(self) -> str:
        if self.account_id is None:
            self.account_id = (await self.session.identity()).account
            if not self.account_id:
                raise SourceError("could not tell the account id; set account_id on the provider")
        return self.account_id

    async def poll(self, now: datetime, since: datetime) -> PollResult:
        # Keyed by UTC day: budget periods are at least a day, and a new period must not wait
        # for min_interval before its first observation.
        key = now.astimezone(UTC).date()
        cached = self.throttle.cached(key, now)
        if cached is not None:
            return cached
        try:
            account = await self._account()
            pages = await self.session.pages("budgets", "describe_budgets", AccountId=account)
            result = self.parse(pages, account, now)
        except SourceError as exc:
            result = PollResult(self.name, error=str(exc))
        return self.throttle.remember(key, now, result)

    def parse(self, pages: list[dict[str, Any]], account: str, now: datetime) -> PollResult:
        obs: list[SpendObservation] = []
        gauge: dict[tuple[tuple[str, str], ...], Decimal] = {}
        updated: list[datetime] = []
        for page in pages:
            budgets = page.get("Budgets", []) if isinstance(page, dict) else None
            if not isinstance(budgets, list):
                raise MalformedResponse("DescribeBudgets: Budgets is not a list")
            for i, b in enumerate(budgets):
                o = self._budget(b, i, account, now, gauge, updated)
                if o is not None:
                    obs.append(o)
        return PollResult(
            self.name,
            tuple(obs),
            data_as_of=min(updated) if updated else None,
            gauges={FORECAST_GAUGE: gauge} if gauge else {},
        )

    def _budget(
        self,
        b: Any,
        i: int,
        account: str,
        now: datetime,
        gauge: dict[tuple[tuple[str, str], ...], Decimal],
        updated: list[datetime],
    ) -> SpendObservation | None:
        if not isinstance(b, dict) or not isinstance(b.get("BudgetName"), str):
            raise MalformedResponse(f"DescribeBudgets: Budgets[{i}] has no BudgetName")
        name = b["BudgetName"]
        calc = b.get("CalculatedSpend")
        if calc is None:
            return None  # not computed yet: no data
        if not isinstance(calc, dict) or "ActualSpend" not in calc:
            raise MalformedResponse(f"DescribeBudgets: {name}: CalculatedSpend has no ActualSpend")
        actual = _spend(calc["ActualSpend"], f"{name}.ActualSpend")
        if actual is None:
            return None  # a usage or utilisation budget: not money
        lifetime = None
        tp = b.get("TimePeriod")
        if isinstance(tp, dict) and "Start" in tp and "End" in tp:
            lifetime = (_aware(tp["Start"], "TimePeriod.Start"), _aware(tp["End"], "End"))
        period = current_period(str(b.get("TimeUnit", "")), now, lifetime)
        if period is None:
            return None
        if b.get("LastUpdatedTime") is not None:
            updated.append(_aware(b["LastUpdatedTime"], f"{name}.LastUpdatedTime"))
        amount, unit = actual
        if amount < 0:
            raise MalformedResponse(f"DescribeBudgets: {name}: ActualSpend is negative")
        forecast = calc.get("ForecastedSpend")
        if forecast is not None:
            parsed = _spend(forecast, f"{name}.ForecastedSpend")
            if parsed is not None:
                labels = (("budget", name), ("account", account), ("currency", parsed[1]))
                gauge[labels] = parsed[0]
        return SpendObservation(
            self.name,
            name,
            ObservationKind.TO_DATE,
            Money(amount, unit),
            now,
            period[0],
            period[1],
            {"budget": name, "account": account},
        )
