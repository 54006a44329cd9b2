"""The alert rules: promtool-valid, unit-tested alert by alert, documented, and identical in the
Helm chart."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.conftest import tool
from tests.ops.live import REPO, RULES

pytestmark = pytest.mark.ops

RULE_TESTS = RULES.with_name("rules.test.yml")
HELM_COPY = REPO / "deploy" / "helm" / "killswitch" / "files" / "prometheus-rules.yml"
DOCS = REPO / "docs" / "operations.md"
REQUIRED = {
    "KillswitchDown",
    "KillswitchSourceStale",
    "KillswitchActionFailed",
    "KillswitchBudgetWarning",
    "KillswitchBudgetBreached",
    "KillswitchKilled",
    "KillswitchEstimateDrift",
}
RUNBOOK_BASE = "https://killswitch.invalid/docs/operations.md"


def alerts() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, check=False)


def test_promtool_check_rules() -> None:
    r = run(tool("promtool"), "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_pass() -> None:
    r = run(tool("promtool"), "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout + r.stderr


def test_required_alerts_exist_with_annotations() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names)), "duplicate alert names"
    assert set(names) >= REQUIRED, REQUIRED - set(names)
    for a in alerts():
        ann = a.get("annotations", {})
        assert {"summary", "description", "runbook_url"} <= set(ann), a["alert"]
        assert ann["runbook_url"] == f"{RUNBOOK_BASE}#{a['alert'].lower()}", a["alert"]
        assert a["labels"]["severity"] in {"critical", "warning", "info"}, a["alert"]


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [c for t in tests for c in t.get("alert_rule_test", [])]
    for a in alerts():
        mine = [c for c in cases if c["alertname"] == a["alert"]]
        assert any(c.get("exp_alerts") for c in mine), f"{a['alert']}: no test where it fires"
        assert any(not c.get("exp_alerts") for c in mine), (
            f"{a['alert']}: no test where it stays silent"
        )


def test_every_runbook_anchor_is_a_heading_in_operations_md() -> None:
    text = DOCS.read_text()
    headings = {
        re.sub(r"[^a-z0-9 _-]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    }
    for a in alerts():
        anchor = a["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor in headings, f"docs/operations.md has no heading for #{anchor}"


def test_helm_chart_carries_the_same_rules() -> None:
    assert HELM_COPY.read_bytes() == RULES.read_bytes(), (
        "the chart's rules drifted from deploy/prometheus/rules.yml: "
        "cp deploy/prometheus/rules.yml deploy/helm/killswitch/files/prometheus-rules.yml"
    )


def test_rule_expressions_only_use_exported_metrics() -> None:
    """Every killswitch_* name in a rule is one the daemon exports (README's metric table)."""
    readme = (REPO / "README.md").read_text()
    metrics_py = (REPO / "src" / "killswitch" / "metrics.py").read_text()
    for a in alerts():
        for name in re.findall(r"killswitch_[a-z_]+", a["expr"]):
            base = re.sub(r"_total$", "", name)
            assert name in readme or f'"{base}"' in metrics_py, f"{a['alert']}: unknown {name}"
