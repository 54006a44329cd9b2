"""deploy/permissions/aws-iam-policy.json grants what every source and action declares.

moto does not implement iam:SimulatePrincipalPolicy, so this checks the file statically: each
declared permission is allowed by some statement, nothing broader than needed is granted
(no service-wide wildcards), and writes are fenced to killswitch's own names where IAM allows.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from killswitch.plugins import registry
from killswitch.providers.aws.provider import DOCTOR_PERMISSIONS, SOURCE_PERMISSIONS

POLICY = Path(__file__).resolve().parents[3] / "deploy" / "permissions" / "aws-iam-policy.json"


def statements() -> list[dict[str, Any]]:
    doc = json.loads(POLICY.read_text())
    assert doc["Version"] == "2012-10-17"
    return list(doc["Statement"])


def allowed(action: str) -> list[dict[str, Any]]:
    out = []
    for st in statements():
        acts = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        if st["Effect"] == "Allow" and any(fnmatchcase(action.lower(), a.lower()) for a in acts):
            out.append(st)
    return out


def test_every_declared_permission_is_granted() -> None:
    declared = {p for perms in SOURCE_PERMISSIONS.values() for p in perms}
    declared |= set(DOCTOR_PERMISSIONS)
    for cls in registry.actions_for("aws").values():
        declared |= set(cls.permissions)
    missing = sorted(p for p in declared if not allowed(p))
    assert missing == []


def test_nothing_beyond_what_is_declared_and_no_wildcard_actions() -> None:
    declared = {p.lower() for perms in SOURCE_PERMISSIONS.values() for p in perms}
    declared |= {p.lower() for p in DOCTOR_PERMISSIONS}
    for cls in registry.actions_for("aws").values():
        declared |= {p.lower() for p in cls.permissions}
    for st in statements():
        if st["Effect"] != "Allow":
            continue
        for a in st["Action"]:
            assert "*" not in a, a
            assert a.lower() in declared, f"{a} is granted but no source or action declares it"


def test_writes_are_fenced_to_killswitch_names() -> None:
    (create,) = allowed("iam:CreatePolicy")
    assert create["Resource"] == "arn:aws:iam::*:policy/killswitch/*"
    (attach,) = allowed("iam:AttachRolePolicy")
    assert attach["Condition"]["ArnLike"]["iam:PolicyARN"] == "arn:aws:iam::*:policy/killswitch/*"
    for tagging in ("iam:TagUser", "iam:UntagUser", "organizations:TagResource"):
        (st,) = allowed(tagging)
        assert st["Condition"]["ForAllValues:StringLike"]["aws:TagKeys"] == ["killswitch:*"]
    (scp,) = allowed("organizations:AttachPolicy")
    assert any("service_control_policy" in r for r in scp["Resource"])
    denies = [s for s in statements() if s["Effect"] == "Deny"]
    assert denies and "iam:AttachRolePolicy" in denies[0]["Action"]
