"""One POST with safe failure messages (webhook URLs are credentials for Slack)."""

from __future__ import annotations

import httpx


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
