"""The Helm chart: lints, renders, validates against Kubernetes' schemas (and the Prometheus
Operator's for its CRDs), enforces its values schema, and carries the shipped alert rules."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import need, node_tool, tool
from tests.ops.live import REPO, RULES

pytestmark = pytest.mark.ops

CHART = REPO / "deploy" / "helm" / "killswitch"
HA_VALUES = yaml.safe_load((CHART / "values-ha.yaml").read_text())
MONITORED = {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}
KUBE_VERSIONS = ("1.25.0", "1.37.0")  # the chart's kubeVersion floor and the newest known
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.fixture(scope="module")
def helm() -> Any:
    try:
        import helm_python
    except ImportError:
        need("helm-python-sdk (import helm_python)", False)
    return helm_python


@pytest.fixture(scope="module")
def chart(helm: Any) -> Any:
    return helm.Chart.load(str(CHART))


def render(chart: Any, values: dict[str, Any]) -> list[dict[str, Any]]:
    out = chart.render(values, name="ks", namespace="spend")
    docs = []
    for path, text in sorted(out.items()):
        if path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


@pytest.mark.parametrize("values", [{}, HA_VALUES], ids=["default", "ha"])
def test_lint_is_clean(helm: Any, values: dict[str, Any]) -> None:
    report = helm.lint(str(CHART), values, namespace="spend")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("values", [{}, MONITORED, HA_VALUES], ids=["default", "monitored", "ha"])
def test_rendered_manifests_validate_strictly(
    chart: Any, values: dict[str, Any], tmp_path: Path
) -> None:
    docs = render(chart, values)
    builtin = [d for d in docs if d["kind"] not in CRD_KINDS]
    files = []
    for i, d in enumerate(builtin):
        f = tmp_path / f"{i:02d}-{d['kind'].lower()}.yaml"
        f.write_text(yaml.safe_dump(d))
        files.append(str(f))
    for version in KUBE_VERSIONS:
        r = subprocess.run(
            [tool("kubernetes-validate"), "-k", version, "--strict", "--quiet", *files],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0, f"k8s {version}:\n{r.stdout}{r.stderr}"
        assert "Couldn't find schema" not in r.stdout + r.stderr


def test_crds_validate_against_the_operator_schemas(chart: Any, tmp_path: Path) -> None:
    docs = [d for d in render(chart, MONITORED) if d["kind"] in CRD_KINDS]
    assert {d["kind"] for d in docs} == CRD_KINDS
    files = []
    for d in docs:
        f = tmp_path / f"{d['kind']}.json"
        f.write_text(json.dumps(d))
        files.append(str(f))
    node_tool("tsc")  # node + node_modules present
    r = subprocess.run(
        ["node", str(Path(__file__).with_name("crd_validate.mjs")), *files],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_crd_validator_rejects_a_bad_resource(chart: Any, tmp_path: Path) -> None:
    sm = by_kind(render(chart, MONITORED), "ServiceMonitor")
    sm["spec"]["endpoints"][0]["interval"] = 30  # must be a duration string
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(sm))
    node_tool("tsc")
    r = subprocess.run(
        ["node", str(Path(__file__).with_name("crd_validate.mjs")), str(f)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert r.returncode == 1 and "INVALID" in r.stdout, r.stdout + r.stderr


def test_prometheus_rule_carries_the_shipped_rules(chart: Any) -> None:
    rule = by_kind(render(chart, MONITORED), "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_prometheus_rule_follows_job_name_and_runbook_base(chart: Any) -> None:
    values = {
        "serviceMonitor": {"enabled": True, "jobName": "spend-guard"},
        "prometheusRule": {"enabled": True, "runbookBaseUrl": "https://wiki.example.org/ks"},
    }
    docs = render(chart, values)
    text = yaml.safe_dump(by_kind(docs, "PrometheusRule"))
    assert 'job="killswitch"' not in text and 'job="spend-guard"' in text
    assert "https://wiki.example.org/ks#killswitchkilled" in text
    relabel = by_kind(docs, "ServiceMonitor")["spec"]["endpoints"][0]["relabelings"][0]
    assert relabel == {"action": "replace", "targetLabel": "job", "replacement": "spend-guard"}


def test_pod_is_locked_down(chart: Any) -> None:
    docs = render(chart, {})
    pod = by_kind(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"ARG UID={pod['securityContext']['runAsUser']}" in dockerfile
    (c,) = pod["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/etc/killswitch/config.yaml", "/var/lib/killswitch", "/tmp"} <= mounts
    svc = by_kind(docs, "Service")
    assert svc["spec"]["ports"][0]["name"] == c["ports"][0]["name"] == "http-metrics"
    assert by_kind(docs, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    assert by_kind(docs, "Deployment")["spec"]["strategy"]["type"] == "Recreate"  # SQLite
    assert by_kind(docs, "PersistentVolumeClaim")


def test_ha_values_run_two_replicas_on_postgres(chart: Any) -> None:
    docs = render(chart, HA_VALUES)
    dep = by_kind(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = dep["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]
    (c,) = pod["containers"]
    assert c["envFrom"] == [{"secretRef": {"name": "killswitch"}}]
    assert {
        "name": "KILLSWITCH_IDENTITY",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
    } in c["env"]
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    cfg = yaml.safe_load(by_kind(docs, "ConfigMap")["data"]["config.yaml"])
    assert cfg["ha"]["enabled"] is True
    assert cfg["state"] == "${env:KILLSWITCH_STATE_URL}"


@pytest.mark.parametrize("values", [{}, HA_VALUES], ids=["default", "ha"])
def test_rendered_config_passes_check_config(
    chart: Any, values: dict[str, Any], tmp_path: Path
) -> None:
    cm = by_kind(render(chart, values), "ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    env = {**os.environ, "KILLSWITCH_STATE_URL": "postgresql+psycopg://ks:pw@db:5432/ks"}
    r = subprocess.run(
        # --offline: the chart's database (host "db") does not exist on this machine
        [tool("killswitch"), "check-config", "--offline", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr


BAD_VALUES = {
    "two replicas on sqlite": {"replicaCount": 2, "ha": {"enabled": True}},
    "two replicas without ha": {
        "replicaCount": 2,
        "state": {"url": "postgresql+psycopg://db/ks"},
    },
    "unknown key": {"imagee": {"repository": "x"}},
    "replicaCount as a string": {"replicaCount": "1"},
    "listen set in config": {"config": {"listen": "0.0.0.0:1"}},
    "unknown state url": {"state": {"url": "mysql://db/ks"}},
    "privileged container": {"securityContext": {"privileged": True}},
    "root pod": {"podSecurityContext": {"runAsNonRoot": False}},
    "bad digest": {"image": {"repository": "killswitch", "digest": "latest"}},
    "port out of range": {"port": 80},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_values_violating_the_schema_fail(helm: Any, chart: Any, values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name="ks", namespace="spend")


def test_demo_config_in_chart_is_the_container_demo() -> None:
    assert (CHART / "files" / "demo-config.yaml").read_bytes() == (
        REPO / "deploy" / "docker" / "config.yaml"
    ).read_bytes(), "cp deploy/docker/config.yaml deploy/helm/killswitch/files/demo-config.yaml"
