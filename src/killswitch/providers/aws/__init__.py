"""AWS: spend from Budgets, Cost Explorer and Bedrock's CloudWatch metrics; IAM/Organizations
actions with undo.

Sources (a budget picks one with ``source:``):

* ``aws.budgets`` (default): ``DescribeBudgets`` actual spend per AWS Budget for its current
  period, as ``to_date`` observations (dims ``budget``, ``account``), plus the forecast as the
  ``killswitch_aws_budget_forecasted_spend`` gauge. AWS refreshes it every 8-12 h.
* ``aws.cost-explorer``: ``GetCostAndUsage`` month to date, per day and group; each request
  costs $0.01, so results are cached for ``cost_explorer.min_interval`` (default 1 h).
* ``aws.bedrock``: CloudWatch ``AWS/Bedrock`` token counts per ``ModelId`` each minute, priced
  with genai-prices; near real time, the only source fast enough to stop a runaway within minutes.

Actions (all reversible, each refuses to touch the daemon's own principal):

* ``aws.deny-policy``: attach a managed deny policy to users, roles or groups;
* ``aws.deactivate-access-keys``: set a user's Active keys to Inactive, undo re-activates only
  those;
* ``aws.revoke-role-sessions``: an inline ``aws:TokenIssueTime`` deny on roles, because a deny
  policy does not end sessions that were already issued;
* ``aws.scp``: attach a service control policy to accounts or OUs from the management account.

Two operational rules the config cannot enforce:

* **The daemon's own role must be outside what it denies.** Actions refuse to target the
  daemon's own user/role (and, with ``role_arn``, the base identity that assumes it), but a deny
  policy on a group or an SCP on an OU can still catch it indirectly in ways the daemon cannot
  always see (e.g. a permission boundary). Run killswitch under a dedicated role that no budget
  targets, ideally in a separate (management or security) account.
* **Stopping EC2 instances inside an Auto Scaling group does not stick**: the group replaces
  them. Deny the launching principal (``aws.deny-policy`` with ``ec2:RunInstances``,
  ``autoscaling:*``), set the group's desired capacity to 0, or suspend its ``Launch`` process.

Credentials come from boto3's default chain; ``role_arn`` assumes a role on top of it. Every
boto3 call runs in ``asyncio.to_thread``. The least-privilege policy for all sources and actions
is ``deploy/permissions/aws-iam-policy.json``; ``killswitch doctor`` simulates it with
``iam:SimulatePrincipalPolicy``.
"""

from killswitch.providers.aws.actions import (
    AttachScp,
    DeactivateAccessKeys,
    DenyPolicy,
    RevokeRoleSessions,
)
from killswitch.providers.aws.provider import AwsProvider

__all__ = ["AttachScp", "AwsProvider", "DeactivateAccessKeys", "DenyPolicy", "RevokeRoleSessions"]
