"""Config of the ``http-json`` provider: named GET requests and the JSONPaths that read them."""

from __future__ import annotations

from typing import Annotated

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse as parse_path
from pydantic import AnyHttpUrl, ConfigDict, Field, SecretStr, field_validator, model_validator

from killswitch.plugins import ProviderConfig
from killswitch.providers._kit.named import unique_names
from killswitch.providers._rows import PeriodFields

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


def compile_path(text: str) -> JSONPath:
    """A JSONPath (jsonpath-ng's extended syntax, filters included), or ValueError."""
    if not text.startswith("$"):
        raise ValueError(f"{text!r} is not a JSONPath: start it with $ (e.g. $.cost_usd)")
    try:
        return parse_path(text)
    except (JSONPathError, ValueError, TypeError, AttributeError) as exc:
        raise ValueError(f"{text!r} is not a valid JSONPath ({exc})") from None


class JsonRequest(PeriodFields):
    """One GET whose JSON answer holds rows of spend; each request is a source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="the source name budgets refer to")
    url: AnyHttpUrl
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="added to the provider's headers; values are secrets"
    )
    params: dict[str, SecretStr] = Field(
        default_factory=dict, description="query parameters; values are secrets"
    )
    rows: str = Field(
        default="$",
        description="JSONPath to the array of rows (or to one object, a single row); "
        "it must match exactly once",
    )
    amount: str = Field(description="JSONPath, on each row, to the amount (number or string)")
    currency_path: str | None = Field(
        default=None, description="JSONPath, on each row, to an ISO currency code (else currency)"
    )
    dims: dict[str, str] = Field(
        default_factory=dict, description="dimension -> JSONPath on each row, e.g. {key: $.key_id}"
    )
    as_of: str | None = Field(
        default=None,
        description="JSONPath, on each row, to when the amount held (ISO 8601 or epoch seconds); "
        "to_date rows count for the period containing it",
    )
    start: str | None = Field(default=None, description="bucket only: JSONPath to its start")
    end: str | None = Field(default=None, description="bucket only: JSONPath to its end")

    @field_validator("rows", "amount", "currency_path", "as_of", "start", "end")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            compile_path(v)
        return v

    @field_validator("dims")
    @classmethod
    def _dim_paths(cls, v: dict[str, str]) -> dict[str, str]:
        for dim, path in v.items():
            if not dim:
                raise ValueError("a dimension name cannot be empty")
            compile_path(path)
        return v

    @model_validator(mode="after")
    def _bucket_edges(self) -> JsonRequest:
        has = (self.start is not None, self.end is not None)
        if self.kind == "bucket" and has != (True, True):
            raise ValueError("a bucket source needs start: and end: paths on each row")
        if self.kind != "bucket" and any(has):
            raise ValueError("start: and end: only apply to kind: bucket")
        return self


class HttpJsonConfig(ProviderConfig):
    headers: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="sent with every request, e.g. {Authorization: 'Bearer ${env:VENDOR_TOKEN}'}",
    )
    requests: Annotated[list[JsonRequest], unique_names("request")] = Field(min_length=1)
