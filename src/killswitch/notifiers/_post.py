"""One POST with safe failure messages (webhook URLs are credentials for Slack)."""

from __future__ import annotations

from typing import Generic, TypeVar

import httpx

CfgT = TypeVar("CfgT")


class DeliveryError(Exception):
    pass


async def post(
    url: str,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        try:
            resp = await client.post(url, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"delivery failed: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise DeliveryError(f"delivery failed: HTTP {resp.status_code}")


class HttpNotifier(Generic[CfgT]):
    """What every HTTP notifier holds: its name, its typed config, and the transport that tests
    (and embedders) inject in place of the network."""

    def __init__(
        self, name: str, cfg: CfgT, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.transport = transport
