"""Fixtures for the ops tests: tool discovery, managed processes, the live daemon + Prometheus.

Every service is started on 127.0.0.1 on a free port and stopped by PID in a finalizer. A missing
tool fails the test in CI (``CI`` set) and skips it elsewhere, with the install command.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ops.live import REPO, LiveStack, start_live_stack

VENV_BIN = Path(sys.executable).parent
SETUP_HINT = "run scripts/ops-setup.sh (as root) to install it"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ops: deployment artefacts (image, unit, chart, rules, dashboard) checked for real",
    )


def need(what: str, ok: bool, hint: str = SETUP_HINT) -> None:
    """Fail in CI, skip locally, when a tool the test needs is missing."""
    if ok:
        return
    msg = f"{what} is not available: {hint}"
    if os.environ.get("CI"):
        pytest.fail(msg)
    pytest.skip(msg)


def tool(name: str, hint: str = SETUP_HINT) -> str:
    """Path of an executable, from the project venv first, then PATH."""
    candidate = VENV_BIN / name
    path = str(candidate) if candidate.exists() else shutil.which(name)
    need(name, path is not None, hint)
    assert path is not None
    return path


def node_tool(name: str) -> str:
    path = REPO / "node_modules" / ".bin" / name
    need(f"node_modules/.bin/{name}", path.exists(), "run `npm ci` (scripts/ops-setup.sh does)")
    need("node", shutil.which("node") is not None, "install nodejs")
    return str(path)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    """The demo daemon (plus two webhook notifiers, one failing) scraped by a real Prometheus
    that has deploy/prometheus/rules.yml loaded. Shared by the scrape and dashboard tests."""
    prometheus = tool("prometheus", "apt-get install prometheus (scripts/ops-setup.sh does)")
    with start_live_stack(tmp_path_factory.mktemp("live"), prometheus) as stack:
        yield stack
