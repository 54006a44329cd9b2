"""The Grafana dashboard: type-checked against @grafana/schema, and every query answered with data
by the real Prometheus that scraped the real demo daemon."""

from __future__ import annotations

import copy
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ops import grafana
from tests.ops.conftest import node_tool
from tests.ops.live import REPO, LiveStack

pytestmark = pytest.mark.ops

TSC_DIR = REPO / ".ci" / "cache" / "tsc"  # inside the repo so node_modules resolves


def tsc(source: str, name: str) -> subprocess.CompletedProcess[str]:
    TSC_DIR.mkdir(parents=True, exist_ok=True)
    path = TSC_DIR / name
    path.write_text(source)
    argv = [node_tool("tsc"), "--noEmit", "--strict", "--skipLibCheck"]
    argv += ["--module", "nodenext", "--moduleResolution", "nodenext", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO)


def test_dashboard_type_checks_against_grafana_schema() -> None:
    r = tsc(grafana.typescript(grafana.load()), "dashboard_check.ts")
    assert r.returncode == 0, r.stdout + r.stderr


def test_type_check_rejects_a_misspelt_option() -> None:
    dash = copy.deepcopy(grafana.load())
    ts = next(p for p in grafana.panels(dash) if p["type"] == "timeseries")
    ts["options"]["legend"]["placment"] = "right"
    r = tsc(grafana.typescript(dash), "dashboard_broken.ts")
    assert r.returncode != 0 and "placment" in r.stdout, r.stdout


def test_layout_ids_and_datasources() -> None:
    dash = grafana.load()
    ids = [p["id"] for p in grafana.panels(dash)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for p in grafana.panels(dash):
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        cells |= mine
        for t in p.get("targets", []):
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
    titles = " ".join(p["title"].lower() for p in grafana.panels(dash))
    for needed in ("spend vs limit", "utilization", "poll", "data age", "notification failures"):
        assert needed in titles
    assert {a["name"] for a in dash["annotations"]["list"]} >= {"Kills", "Restores"}


def nonempty(series: list[dict[str, Any]]) -> bool:
    return any(s.get("values") for s in series)


def test_every_metric_in_the_dashboard_exists(live: LiveStack) -> None:
    names = set()
    for q in grafana.queries(grafana.load()):
        names |= set(re.findall(r"\b(killswitch_[a-z_]+)", q.expr))
    live.wait_for(lambda: live.query("killswitch_spend_usd"), "spend series")
    missing = [n for n in sorted(names) if not live.query(f"count({{__name__={n!r}}})")]
    assert not missing, f"metrics the dashboard queries but Prometheus never saw: {missing}"


def test_every_panel_and_annotation_query_returns_data(live: LiveStack) -> None:
    live.wait_kill_and_restore()
    dash = grafana.load()
    empty: list[str] = []

    def all_answered() -> bool:
        # a PromQL error (HTTP 400 bad_data) raises at once; no data is retried for a while,
        # since the last event can still be between two range steps
        end = time.time()
        start = live.started - 5
        empty[:] = [
            f"{q.where}: {q.expr}"
            for q in grafana.queries(dash, range_s=int(end - start) + 1)
            if not nonempty(live.query_range(q.expr, start, end, step=2))
        ]
        return not empty

    try:
        live.wait_for(all_answered, "every dashboard query to return data", timeout=30)
    except AssertionError:
        if not empty:
            raise  # a PromQL error, with Prometheus' message
        pytest.fail("queries with no data:\n" + "\n".join(empty))


def test_every_variable_has_values(live: LiveStack) -> None:
    live.wait_for(lambda: live.query("killswitch_spend_usd"), "spend series")
    for name, label, selector in grafana.variable_queries(grafana.load()):
        values = live.api(f"label/{label}/values", **{"match[]": selector})
        assert values, f"variable ${name}: label_values({selector}, {label}) is empty"


def test_rendered_screenshot_is_in_docs() -> None:
    png = REPO / "docs" / "dashboard.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", (
        "docs/dashboard.png missing: python tests/ops/render_dashboard.py"
    )
    assert Path(__file__).with_name("render_dashboard.py").exists()
