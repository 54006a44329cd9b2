"""Azure: spend from Consumption budgets and Cost Management; actions on Azure OpenAI / AI
Services (Cognitive Services) accounts, with undo.

Sources (a budget picks one with ``source:``):

* ``azure.budgets`` (default): ``currentSpend`` of each Consumption budget at the configured
  subscription / resource-group scopes, for its calendar period (dims ``budget``,
  ``budget_scope``); ``forecastSpend`` as the ``killswitch_azure_budget_forecast_spend`` gauge.
* ``azure.cost-query``: Cost Management month-to-date cost per resource (dims ``resource``,
  ``resource_group``) or per tag value (dim ``tag``).

Both lag usage by 8-24 h: they fit monthly caps, not stopping a runaway within minutes.

Actions (each names the exact ARM ids it touches):

* ``azure.disable-local-auth``: ``disableLocalAuth=true`` on accounts (API keys stop working);
  undo writes back the prior value;
* ``azure.regenerate-keys``: regenerate Key1 and Key2 (irreversible);
* ``azure.deployment-capacity``: scale deployments' ``sku.capacity`` down; undo restores it.

Credentials come from ``DefaultAzureCredential``; every SDK call runs in ``asyncio.to_thread``.
The least-privilege custom role is ``deploy/permissions/azure-role-definition.json``.
"""

from killswitch.providers.azure.actions_account import DisableLocalAuth, RegenerateKeys
from killswitch.providers.azure.actions_deployment import DeploymentCapacity
from killswitch.providers.azure.provider import AzureProvider

__all__ = ["AzureProvider", "DeploymentCapacity", "DisableLocalAuth", "RegenerateKeys"]
