"""ARN parsing for IAM principals, and the "is this the daemon itself?" comparison.

An assumed-role session ARN (``arn:aws:sts::123:assumed-role/app/session``) names the role but not
its path, while the role ARN in config may carry one (``arn:aws:iam::123:role/team/app``). Roles
are unique by name within an account, so the comparison is by (partition, account, kind, name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PRINCIPAL_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12}):"
    r"(?P<kind>user|role|group)(?P<path>/(?:[\x21-\x7e]+/)?)(?P<name>[\w+=,.@-]{1,128})$"
)
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}$")
ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")
SCP_ID = re.compile(r"^p-[0-9a-zA-Z_]{8,128}$")
IAM_ACTION = re.compile(r"^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$")


@dataclass(frozen=True)
class Principal:
    """An IAM user, role or group, or the caller identity STS reports."""

    arn: str
    partition: str
    account: str
    kind: str  # user | role | group | root | federated-user | unknown
    name: str
    path: str = "/"

    @classmethod
    def parse(cls, arn: str) -> Principal:
        m = PRINCIPAL_ARN.match(arn)
        if m:
            return cls(arn, m["partition"], m["account"], m["kind"], m["name"], m["path"])
        parts = arn.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn":
            return cls(arn, "", "", "unknown", arn)
        partition, account, resource = parts[1], parts[4], parts[5]
        segs = resource.split("/")
        kind = segs[0]
        if kind == "assumed-role" and len(segs) >= 2:
            return cls(arn, partition, account, "role", segs[1])
        if kind in ("user", "role", "group") and len(segs) >= 2:
            return cls(arn, partition, account, kind, segs[-1])
        if kind == "root":
            return cls(arn, partition, account, "root", "root")
        return cls(arn, partition, account, kind or "unknown", segs[-1])

    def same_as(self, other: Principal) -> bool:
        return (
            self.kind == other.kind
            and self.name == other.name
            and self.account == other.account
            and self.kind != "unknown"
        )

    @property
    def role_arn(self) -> str:
        """The IAM ARN of this principal (for an assumed role: the role, path unknown -> '/')."""
        return f"arn:{self.partition}:iam::{self.account}:{self.kind}{self.path}{self.name}"


def parse_principal(arn: str) -> Principal:
    """Parse a user/role/group ARN from config; ValueError names the expected form."""
    if not PRINCIPAL_ARN.match(arn):
        raise ValueError(
            f"{arn!r} is not an IAM user, role or group ARN "
            "(arn:aws:iam::<12-digit account>:role/<name>, :user/<name> or :group/<name>)"
        )
    return Principal.parse(arn)


def _iam_name(value: str, kind: str) -> str:
    """A ``kind`` (user or role) given as a name or an ARN of that kind -> the name."""
    if value.startswith("arn:"):
        p = parse_principal(value)
        if p.kind != kind:
            raise ValueError(f"{value!r} is a {p.kind} ARN; expected an IAM {kind}")
        return p.name
    if not IAM_NAME.match(value):
        raise ValueError(f"{value!r} is not a valid IAM {kind} name")
    return value


def user_name(value: str) -> str:
    """A user given as a name or a user ARN -> the name."""
    return _iam_name(value, "user")


def role_name(value: str) -> str:
    """A role given as a name or a role ARN -> the name."""
    return _iam_name(value, "role")
