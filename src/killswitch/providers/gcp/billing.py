"""Cloud Billing calls shared by ``gcp.detach-billing`` and the doctor (on the clients alone)."""

from __future__ import annotations

from typing import Any

from killswitch.providers.gcp.clients import GcpClients


async def billing_info(clients: GcpClients, project: str) -> dict[str, Any]:
    def get() -> Any:
        return clients.billing().get_project_billing_info(
            name=f"projects/{project}", **clients.opts
        )

    info = await clients.action_call(f"cloudbilling getBillingInfo projects/{project}", get)
    return {
        "billing_account_name": str(info.billing_account_name),
        "billing_enabled": bool(info.billing_enabled),
    }


async def set_billing_account(clients: GcpClients, project: str, account: str) -> None:
    def put() -> Any:
        return clients.billing().update_project_billing_info(
            name=f"projects/{project}",
            project_billing_info={"billing_account_name": account},
            **clients.opts,
        )

    await clients.action_call(f"cloudbilling updateBillingInfo projects/{project}", put)
