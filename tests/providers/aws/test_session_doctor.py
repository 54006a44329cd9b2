"""Sessions (default chain, assume-role), error wrapping, and doctor, on moto in-process."""

from __future__ import annotations

from typing import Any

import pytest

from killswitch.errors import ActionError, MalformedResponse, SourceError
from killswitch.providers.aws.arns import Principal
from killswitch.providers.aws.session import AwsSession, SessionSettings, home_region

from .conftest import ACCOUNT, make_provider
from .test_actions import role

pytestmark = pytest.mark.usefixtures("aws")


async def test_default_chain_identity() -> None:
    me = await make_provider().session.identity()
    assert me.account == ACCOUNT


async def test_assume_role_runs_every_call_as_the_role() -> None:
    arn = role("killswitch", path="/ops/")
    p = make_provider(role_arn=arn, external_id="ext-1", role_session_name="ks-test")
    me = await p.session.identity()
    assert me.kind == "role" and me.name == "killswitch" and "assumed-role" in me.arn
    assert me.same_as(Principal.parse(arn))  # path in the role ARN, none in the session ARN
    own = await p.session.own_principals()
    assert [o.kind for o in own] == ["role", "user"]  # the role and the base that assumes it


async def test_client_errors_become_source_or_action_errors_without_secrets() -> None:
    s = make_provider().session
    with pytest.raises(SourceError) as err:
        await s.call("iam", "get_role", RoleName="nope")
    assert "NoSuchEntity" in str(err.value) and "testing" not in str(err.value)
    with pytest.raises(ActionError) as aerr:
        await s.call("iam", "get_role", for_action=True, RoleName="nope")
    assert not aerr.value.retryable
    assert (
        await s.call("iam", "get_role", ok_codes=frozenset({"NoSuchEntity"}), RoleName="nope") == {}
    )


async def test_unimplemented_or_unreadable_calls_are_malformed() -> None:
    s = make_provider().session
    with pytest.raises(MalformedResponse, match="not implemented"):
        await s.call(
            "iam",
            "simulate_principal_policy",
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:user/x",
            ActionNames=["s3:*"],
        )


def test_global_services_use_the_partition_home_region() -> None:
    assert home_region("eu-west-1") == "us-east-1"
    assert home_region("cn-north-1") == "cn-northwest-1"
    assert home_region("us-gov-east-1") == "us-gov-west-1"
    s = AwsSession(SessionSettings(region="eu-west-1"))
    assert s.client("ce").meta.region_name in ("us-east-1", "aws-global")
    assert s.client("cloudwatch").meta.region_name == "eu-west-1"


def test_principal_parsing() -> None:
    p = Principal.parse("arn:aws:iam::123456789012:role/team/app")
    assert (p.kind, p.name, p.path) == ("role", "app", "/team/")
    s = Principal.parse("arn:aws:sts::123456789012:assumed-role/app/session-1")
    assert s.same_as(p) and not s.same_as(Principal.parse("arn:aws:iam::123456789012:user/app"))
    assert Principal.parse("arn:aws:iam::123456789012:root").kind == "root"
    assert not Principal.parse("garbage").same_as(Principal.parse("garbage"))


async def test_doctor_in_moto_checks_identity_and_reads_and_says_what_it_could_not() -> None:
    findings = await make_provider().doctor(["aws.deny-policy"])
    by = {f.check: f for f in findings}
    assert by["credentials"].ok and ACCOUNT in by["credentials"].detail
    assert by["read aws.budgets"].ok and by["read aws.bedrock"].ok
    sim = by["permission simulation"]
    assert not sim.ok and "not verified" in sim.detail and "not implemented" in sim.detail


async def test_doctor_reports_denied_permissions_per_action(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = make_provider()
    calls: list[dict[str, Any]] = []
    real_pages = p.session.pages

    async def pages(service: str, op: str, **kw: Any) -> list[dict[str, Any]]:
        if op != "simulate_principal_policy":
            return await real_pages(service, op, **kw)
        calls.append(kw)
        return [
            {
                "EvaluationResults": [
                    {
                        "EvalActionName": a,
                        "EvalDecision": "implicitDeny"
                        if a == "iam:AttachRolePolicy"
                        else "allowed",
                    }
                    for a in kw["ActionNames"]
                ]
            }
        ]

    monkeypatch.setattr(p.session, "pages", pages)
    findings = {f.check: f for f in await p.doctor(["aws.deny-policy", "aws.scp"])}
    assert calls and calls[0]["PolicySourceArn"].endswith(":user/moto")
    deny = findings["permissions for aws.deny-policy"]
    assert not deny.ok and deny.detail == "not allowed: iam:AttachRolePolicy"
    assert findings["permissions for aws.scp"].ok
    assert findings["permissions for aws.cost-explorer"].ok


async def test_doctor_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    p = make_provider()

    async def boom(**_: Any) -> Principal:
        raise SourceError("sts get_caller_identity: NoCredentialsError: Unable to locate")

    monkeypatch.setattr(p.session, "identity", boom)
    (f,) = await p.doctor([])
    assert f.check == "credentials" and not f.ok


def test_error_messages_keep_only_the_first_line_and_drop_signature_dumps() -> None:
    from botocore.exceptions import ClientError

    from killswitch.providers.aws.session import describe_error

    multi = ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded\nx-amz-security-token:SECRET"}},
        "GetMetricData",
    )
    assert describe_error("cloudwatch", "get_metric_data", multi) == (
        "cloudwatch get_metric_data: Throttling: Rate exceeded"
    )
    sig = ClientError(
        {"Error": {"Code": "SignatureDoesNotMatch", "Message": "canonical: SECRET"}}, "X"
    )
    assert "SECRET" not in describe_error("iam", "get_role", sig)


async def test_aclose_closes_clients() -> None:
    p = make_provider()
    await p.session.identity()
    await p.aclose()
    assert p.session._clients == {}
