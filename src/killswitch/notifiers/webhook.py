"""Generic webhook: the event as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>"."""

from __future__ import annotations

import json
import time

from killswitch.config import WebhookNotifierConfig
from killswitch.notifiers._post import HttpNotifier, post
from killswitch.notifiers.events import Event
from killswitch.signing import signed_headers


class WebhookNotifier(HttpNotifier[WebhookNotifierConfig]):
    async def send(self, event: Event) -> None:
        body = json.dumps(event.to_json(), sort_keys=True).encode()
        ts = str(int(time.time()))
        secret = self.cfg.secret.get_secret_value() if self.cfg.secret else None
        await post(
            str(self.cfg.url),
            body,
            signed_headers(secret, ts, body),
            self.cfg.timeout,
            self.transport,
        )
