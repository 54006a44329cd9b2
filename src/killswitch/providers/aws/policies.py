"""Names and documents of the IAM policies and tags killswitch creates.

Every name carries the budget, so what one budget puts in place only that budget's restore takes
away: two budgets denying ``bedrock:*`` to the same role attach two policies, and the first
restore leaves the second kill standing. Ownership by name also makes execute replay-safe: if a
crash lands between the AWS call and the journal, the replay finds the policy attached *by this
budget* and the undo still removes it. Names also carry a hash of the denied actions, so a config
change makes a new policy rather than silently widening an old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

PATH = "/killswitch/"
TAG_PREFIX = "killswitch:"
MAX_NAME = 128


def _short(*parts: object) -> str:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def _fit(name: str, *parts: object) -> str:
    """Names over IAM's 128-character limit keep their prefix and end in a hash of the whole."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[: MAX_NAME - 11]}-{_short(name, *parts)}"


def deny_hash(deny: Sequence[str], resources: Sequence[str]) -> str:
    return _short(sorted(set(deny)), sorted(set(resources)))


def deny_policy_name(budget: str, deny: Sequence[str], resources: Sequence[str]) -> str:
    return _fit(f"killswitch-deny-{budget}-{deny_hash(deny, resources)}")


def deny_document(deny: Sequence[str], resources: Sequence[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KillswitchDeny",
                "Effect": "Deny",
                "Action": sorted(set(deny)),
                "Resource": sorted(set(resources)),
            }
        ],
    }


def revoke_policy_name(budget: str) -> str:
    return _fit(f"killswitch-revoke-sessions-{budget}")


def revoke_document(issued_before: datetime) -> dict[str, Any]:
    """Deny everything to sessions issued before ``issued_before`` (what the console's "Revoke
    active sessions" does): an attached deny policy does not end STS sessions already issued
    with broader policies cached in them, this condition does."""
    stamp = issued_before.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "KillswitchRevokeOlderSessions",
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": stamp}},
            }
        ],
    }


def keys_tag(budget: str) -> str:
    """User tag listing the access keys this budget holds inactive."""
    return _fit(f"{TAG_PREFIX}keys:{budget}")


def scp_tag(policy_id: str, budget: str) -> str:
    """Tag on an account/OU/root: this budget holds this SCP attached there."""
    return _fit(f"{TAG_PREFIX}scp:{policy_id}:{budget}", policy_id, budget)


def scp_tag_prefix(policy_id: str) -> str:
    return f"{TAG_PREFIX}scp:{policy_id}:"
