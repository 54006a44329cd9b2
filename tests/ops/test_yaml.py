"""yamllint over the YAML we ship (Helm templates are Go templates, not YAML: helm lint covers
them)."""

from __future__ import annotations

import subprocess

import pytest

from tests.ops.conftest import tool
from tests.ops.live import REPO

pytestmark = pytest.mark.ops

CONFIG = """
extends: default
rules:
  line-length:
    max: 120
    # expected alert texts are long single-line strings
    ignore: [deploy/prometheus/rules.test.yml]
  document-start: disable
  comments: {min-spaces-from-content: 1}
  truthy: {check-keys: false}
  braces: {max-spaces-inside: 1}
  brackets: {max-spaces-inside: 1}
"""
FILES = [
    "deploy/prometheus/rules.yml",
    "deploy/prometheus/rules.test.yml",
    "deploy/docker/config.yaml",
    "deploy/helm/killswitch/Chart.yaml",
    "deploy/helm/killswitch/values.yaml",
    "deploy/helm/killswitch/values-ha.yaml",
    "deploy/helm/killswitch/files/prometheus-rules.yml",
    "deploy/helm/killswitch/files/demo-config.yaml",
]


def test_shipped_yaml_is_lint_clean() -> None:
    r = subprocess.run(
        [
            tool("yamllint", "pip install yamllint"),
            "--strict",
            "-f",
            "parsable",
            "-d",
            CONFIG,
            *FILES,
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stdout + r.stderr
