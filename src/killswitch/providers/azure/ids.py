"""ARM resource ids: the scopes we read and the Cognitive Services resources we act on.

Action params name resources by their full ARM id (what the portal's "JSON view" and
``az resource show --query id`` print), so a config says exactly what is touched. ARM treats ids
case-insensitively, but returns them in the case they were created with, so we keep the user's
spelling and compare case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SUB = r"/subscriptions/(?P<sub>[0-9a-fA-F-]{36})"
_RG = r"/resourceGroups/(?P<rg>[-\w._()]{1,90})"
_ACCOUNT = _SUB + _RG + r"/providers/Microsoft\.CognitiveServices/accounts/(?P<account>[\w-]{2,64})"
SCOPE = re.compile(rf"^{_SUB}(?:{_RG})?$", re.IGNORECASE)
ACCOUNT = re.compile(rf"^{_ACCOUNT}$", re.IGNORECASE)
DEPLOYMENT = re.compile(rf"^{_ACCOUNT}/deployments/(?P<deployment>[\w.-]{{1,64}})$", re.IGNORECASE)


def normalize_scope(scope: str) -> str:
    """``/subscriptions/<id>[/resourceGroups/<rg>]`` with a leading slash and no trailing one."""
    s = "/" + scope.strip().strip("/")
    if not SCOPE.match(s):
        raise ValueError(
            f"{scope!r} is not a subscription or resource-group scope: use "
            "/subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name>"
        )
    return s


def _match(pattern: re.Pattern[str], text: str, what: str, form: str) -> re.Match[str]:
    """Match a resource id, or raise ValueError naming the form it should have."""
    m = pattern.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a {what}: use /subscriptions/<id>/{form}")
    return m


_ACCOUNT_FORM = "resourceGroups/<rg>/providers/Microsoft.CognitiveServices/accounts/<name>"


@dataclass(frozen=True, slots=True)
class AccountId:
    """A Cognitive Services (Azure OpenAI / AI Services) account."""

    subscription: str
    resource_group: str
    account: str

    @classmethod
    def parse(cls, text: str) -> AccountId:
        m = _match(ACCOUNT, text, "Cognitive Services account id", _ACCOUNT_FORM)
        return cls(m["sub"], m["rg"], m["account"])

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.CognitiveServices/accounts/{self.account}"
        )


@dataclass(frozen=True, slots=True)
class DeploymentId:
    """A model deployment inside a Cognitive Services account."""

    account: AccountId
    deployment: str

    @classmethod
    def parse(cls, text: str) -> DeploymentId:
        form = f"{_ACCOUNT_FORM}/deployments/<deployment>"
        m = _match(DEPLOYMENT, text, "deployment id", form)
        return cls(AccountId(m["sub"], m["rg"], m["account"]), m["deployment"])

    @property
    def id(self) -> str:
        return f"{self.account.id}/deployments/{self.deployment}"


def resource_id(raw: str) -> str:
    """An id as ARM sometimes returns it (no leading slash): with a leading slash."""
    return "/" + raw.strip().lstrip("/")
