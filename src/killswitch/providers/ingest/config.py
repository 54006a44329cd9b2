"""Config of the ``ingest`` provider: where it listens, who may push, and how much at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from killswitch.durations import parse_duration
from killswitch.plugins import ProviderConfig

MIN_TOKEN_LENGTH = 16


class RateLimit(BaseModel):
    """A token bucket per bearer token: ``burst`` requests at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(default=10.0, gt=0, description="requests per second, sustained")
    burst: int = Field(default=20, ge=1, description="requests at once")


class IngestConfig(ProviderConfig):
    # Reading the local state database is cheap: poll it more often than a remote API.
    poll_interval: timedelta = Field(
        default=timedelta(seconds=10), description="how often budgets read the stored events"
    )
    listen: str = Field(
        default="127.0.0.1:9465",
        description="host:port of POST /v1/spend; plain HTTP: put TLS in a reverse proxy",
    )
    tokens: list[SecretStr] = Field(
        min_length=1, description="bearer tokens that may push, e.g. [${env:INGEST_TOKEN}]"
    )
    hmac_secret: SecretStr | None = Field(
        default=None,
        description="when set, every request must also carry X-Killswitch-Timestamp and "
        "X-Killswitch-Signature (HMAC-SHA256 of '<timestamp>.<body>', as our webhooks sign)",
    )
    signature_max_age: timedelta = Field(
        default=timedelta(minutes=5), description="older (or future) signed timestamps: 401"
    )
    max_body_bytes: int = Field(default=1_048_576, ge=64, description="larger bodies: 413")
    max_events: int = Field(default=1000, ge=1, description="events per batch; more: 413")
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    currency: str = Field(
        default="USD", pattern=r"^[A-Z]{3}$", description="the one currency events may use"
    )
    source: str = Field(
        default="events",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
        description="the source name budgets refer to (unique across providers)",
    )

    @field_validator("signature_max_age", mode="before")
    @classmethod
    def _age(cls, v: Any) -> Any:
        return v if isinstance(v, timedelta) else parse_duration(v)

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen {v!r}: expected host:port, e.g. 127.0.0.1:9465")
        return v

    @field_validator("tokens")
    @classmethod
    def _strong(cls, v: list[SecretStr]) -> list[SecretStr]:
        # Never echo a token: say which entry is wrong, not what it is.
        for i, token in enumerate(v):
            if len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
                raise ValueError(
                    f"tokens[{i}] is shorter than {MIN_TOKEN_LENGTH} characters: use a long "
                    "random value (e.g. openssl rand -hex 32)"
                )
        values = [t.get_secret_value() for t in v]
        if len(set(values)) != len(values):
            raise ValueError("tokens: the same token is listed twice")
        return v

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)
