"""The fake ARM behind a loopback HTTP server, plus an App Service managed-identity endpoint.

The daemon subprocess gets its credential the production way: ``DefaultAzureCredential`` with
``AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential`` and the App Service variables
``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` pointing here, so MSAL fetches a token from this
server exactly as it would from App Service or Container Apps. ARM calls must carry that token.
Nothing test-only exists in the product for this; only ``base_url`` (an http loopback URL, which
the config accepts for loopback hosts only) points the SDK clients here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from killswitch.testing import Request, StandIn
from tests.providers.azure.arm import TOKEN, FakeArm

IDENTITY_HEADER = "identity-header-for-tests"


class ArmStandIn:
    def __init__(self) -> None:
        self.arm = FakeArm(token=TOKEN)
        self.http = StandIn()
        self.token_requests: list[Request] = []
        self.http.route("GET", "/msi/token")(self._token)
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            self.http.route(method, r"/(subscriptions|providers)/.*")(self._arm)

    def start(self) -> ArmStandIn:
        self.http.start()
        self.arm.base = self.http.url
        return self

    def stop(self) -> None:
        self.http.stop()

    @property
    def url(self) -> str:
        return self.http.url

    def _token(self, req: Request) -> tuple[int, Any]:
        self.token_requests.append(req)
        if req.headers.get("x-identity-header") != IDENTITY_HEADER:
            return 401, {"error": "missing X-IDENTITY-HEADER"}
        return 200, {
            "access_token": TOKEN,
            "expires_on": str(int(time.time()) + 3600),
            "resource": req.query.get("resource", [""])[0],
            "token_type": "Bearer",
            "client_id": "11111111-1111-1111-1111-111111111111",
        }

    def _arm(self, req: Request) -> tuple[int, Any, dict[str, str]]:
        url = f"{self.http.url}{req.path}"
        if req.query:
            url += "?" + urlencode(req.query, doseq=True)
        return self.arm.handle(req.method, url, req.headers, req.body)

    def env(self, tmp: Path) -> dict[str, str]:
        """The daemon's environment: managed identity here, nothing else to fall back on."""
        return {
            "IDENTITY_ENDPOINT": f"{self.http.url}/msi/token",
            "IDENTITY_HEADER": IDENTITY_HEADER,
            "AZURE_TOKEN_CREDENTIALS": "ManagedIdentityCredential",
            "AZURE_CONFIG_DIR": str(tmp / "azure-cli"),  # no developer login can leak in
            "AZURE_CLIENT_ID": "",
            "AZURE_CLIENT_SECRET": "",
            "AZURE_TENANT_ID": "",
            "AZURE_FEDERATED_TOKEN_FILE": "",
            "MSI_ENDPOINT": "",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
