"""IAM permissions, per resource they are checked on, for each source and action.

One table feeds ``Action.permissions`` (what ``killswitch providers`` prints), ``doctor``'s
``testIamPermissions`` calls and the test that keeps ``deploy/permissions/gcp-custom-role.yaml``
complete.
"""

from __future__ import annotations

from collections.abc import Mapping

# resource kind -> permissions
PermissionSet = Mapping[str, tuple[str, ...]]

SOURCE: PermissionSet = {"subscription": ("pubsub.subscriptions.consume",)}

DETACH_BILLING: PermissionSet = {
    # getBillingInfo (prior state) needs projects.get; unlinking needs deleteBillingAssignment.
    # Re-linking (undo) needs createBillingAssignment on the project AND
    # billing.resourceAssociations.create on the billing account.
    "project": (
        "resourcemanager.projects.get",
        "resourcemanager.projects.deleteBillingAssignment",
        "resourcemanager.projects.createBillingAssignment",
    ),
    "billing_account": ("billing.resourceAssociations.create",),
}

DISABLE_SERVICE: PermissionSet = {
    "project": (
        "serviceusage.services.get",
        "serviceusage.services.disable",
        "serviceusage.services.enable",
        "serviceusage.operations.get",
    ),
}


def flat(perms: PermissionSet) -> tuple[str, ...]:
    return tuple(p for group in perms.values() for p in group)
