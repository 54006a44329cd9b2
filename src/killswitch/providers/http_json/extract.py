"""Rows out of a JSON document by the paths a request declares, or an error naming the path.

Every declared path must match exactly one value on every row. A path that matches nothing is
the shape having changed (a renamed field, an error page that is valid JSON), and must never be
read as $0. The only way to "no data" is a rows array that is present and empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from jsonpath_ng import JSONPath
from jsonpath_ng.ext.filter import Filter
from jsonpath_ng.jsonpath import Child, Slice, Wildcard

from killswitch.errors import MalformedResponse
from killswitch.providers._rows import Row, amount_of
from killswitch.providers.http_json.config import JsonRequest, compile_path

MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Path:
    """A JSONPath as configured (for messages) and compiled (to match)."""

    text: str
    expr: JSONPath

    @classmethod
    def of(cls, text: str) -> Path:
        return cls(text, compile_path(text))

    @classmethod
    def maybe(cls, text: str | None) -> Path | None:
        return None if text is None else cls.of(text)


@dataclass(frozen=True)
class Paths:
    """A request's paths, compiled once."""

    rows: Path
    amount: Path
    currency: Path | None
    dims: dict[str, Path]
    as_of: Path | None
    start: Path | None
    end: Path | None

    @classmethod
    def of(cls, r: JsonRequest) -> Paths:
        return cls(
            Path.of(r.rows),
            Path.of(r.amount),
            Path.maybe(r.currency_path),
            {d: Path.of(p) for d, p in r.dims.items()},
            Path.maybe(r.as_of),
            Path.maybe(r.start),
            Path.maybe(r.end),
        )


def one(path: Path, data: Any, where: str) -> Any:
    """The single value ``path`` matches in ``data``."""
    matches = path.expr.find(data)
    if not matches:
        raise MalformedResponse(f"{where}: {path.text} matched nothing")
    if len(matches) > 1:
        raise MalformedResponse(f"{where}: {path.text} matched {len(matches)} values, expected one")
    return matches[0].value


def rows_of(document: Any, paths: Paths) -> list[Any]:
    """The rows: items of the one array ``rows`` names, or every match of ``$.items[*]``-style
    paths (whose arrays must exist: an absent ``items`` is an error, an empty one no data)."""
    expr = paths.rows.expr
    if isinstance(expr, Child) and isinstance(expr.right, Wildcard | Slice | Filter):
        arrays = [m.value for m in expr.left.find(document)]
        if not arrays:
            raise MalformedResponse(f"rows: {paths.rows.text} matched nothing (no array there)")
        if not all(isinstance(a, list) for a in arrays):
            raise MalformedResponse(f"rows: {paths.rows.text} does not select items of an array")
        return [m.value for m in expr.find(document)]
    found = one(paths.rows, document, "rows")
    if isinstance(found, list):
        return found
    if isinstance(found, dict):
        return [found]
    raise MalformedResponse(
        f"rows: {paths.rows.text} is {_kind(found)}, expected an array or object"
    )


def read_rows(document: Any, req: JsonRequest, paths: Paths, now: datetime) -> list[Row]:
    return [read_row(item, i, req, paths, now) for i, item in enumerate(rows_of(document, paths))]


def read_row(item: Any, i: int, req: JsonRequest, paths: Paths, now: datetime) -> Row:
    where = f"rows[{i}]"
    if not isinstance(item, dict):
        raise MalformedResponse(f"{where} is {_kind(item)}, expected an object")
    amount = amount_of(one(paths.amount, item, f"{where}.amount"), f"{where}.amount")
    currency = req.currency
    if paths.currency is not None:
        currency = _currency(one(paths.currency, item, f"{where}.currency"), where)
    dims = {
        d: _dim(one(p, item, f"{where}.dims.{d}"), f"{where}.dims.{d}")
        for d, p in paths.dims.items()
    }
    tz = ZoneInfo(req.timezone)

    def time(path: Path | None, name: str) -> datetime | None:
        if path is None:
            return None
        return parse_time(one(path, item, f"{where}.{name}"), tz, f"{where}.{name}")

    at, start, end = time(paths.as_of, "as_of"), time(paths.start, "start"), time(paths.end, "end")
    if at is not None and at > now + MAX_CLOCK_SKEW:
        raise MalformedResponse(
            f"{where}.as_of {at.isoformat()} is in the future: check the timezone setting"
        )
    if start is not None and end is not None and end <= start:
        raise MalformedResponse(f"{where}: bucket end {end.isoformat()} is not after its start")
    return Row(dims, amount, currency, at=at, start=start, end=end)


def parse_time(value: Any, tz: ZoneInfo, where: str) -> datetime:
    """ISO 8601 (a zone-less value is in ``tz``; a date is its midnight) or epoch seconds."""
    if isinstance(value, bool):
        raise MalformedResponse(f"{where}: expected a time, got a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedResponse(f"{where}: {value!r} is not an epoch time") from None
    if not isinstance(value, str):
        raise MalformedResponse(f"{where}: expected a time, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise MalformedResponse(f"{where}: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)


def _currency(value: Any, where: str) -> str:
    if not (isinstance(value, str) and len(value) == 3 and value.isalpha()):
        raise MalformedResponse(f"{where}.currency: {value!r} is not an ISO 4217 code")
    return value.upper()


def _dim(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise MalformedResponse(f"{where}: expected a string or integer, got {_kind(value)}")
    text = str(value)
    if not text:
        raise MalformedResponse(f"{where}: empty value")
    return text


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
