"""Google Cloud: budget spend from Pub/Sub budget notifications; detach billing, disable services.

Importing the package registers the provider and its actions.
"""

from killswitch.providers.gcp.actions_billing import DetachBilling
from killswitch.providers.gcp.actions_services import DisableService
from killswitch.providers.gcp.provider import GcpProvider

__all__ = ["DetachBilling", "DisableService", "GcpProvider"]
