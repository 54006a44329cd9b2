"""HMAC-SHA256 signatures for outgoing webhooks (notifier and the webhook action).

Receivers verify ``X-Killswitch-Signature: sha256=<hex HMAC(secret, "<timestamp>.<body>")>`` and
reject stale ``X-Killswitch-Timestamp`` values, which defeats replays.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str | None, timestamp: str, body: bytes) -> dict[str, str]:
    headers = {"content-type": "application/json", "x-killswitch-timestamp": timestamp}
    if secret:
        headers["x-killswitch-signature"] = sign(secret, timestamp, body)
    return headers


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
