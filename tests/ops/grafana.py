"""The Grafana dashboard as data: its queries with Grafana's variables filled in, and a TypeScript
check file that types it against @grafana/schema (the dashboard and each panel's options)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ops.live import REPO

DASHBOARD = REPO / "deploy" / "grafana" / "killswitch.json"
SCHEMA = "@grafana/schema/dist/esm/raw/composable"
PANEL_TYPES = {  # panel type -> (module dir, generated module name, has its own FieldConfig)
    "timeseries": ("timeseries", "TimeSeriesPanelCfg", True),
    "stat": ("stat", "StatPanelCfg", False),
    "heatmap": ("heatmap", "HeatmapPanelCfg", True),
    "state-timeline": ("statetimeline", "StateTimelinePanelCfg", True),
}

# JSON cannot spell a TypeScript string enum member; map enum types to their literal values.
JSON_TYPE = """
type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends readonly (infer U)[]
      ? Json<U>[]
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// @grafana/schema has no Prometheus query type (the data source plugin owns it): these are the
// fields of its PromQuery (dataquery.gen.ts) and of its annotation editor that we use.
interface PromQuery extends Json<DataQuery> {
  expr: string;
  legendFormat?: string;
  interval?: string;
  instant?: boolean;
  range?: boolean;
  exemplar?: boolean;
  format?: 'time_series' | 'table' | 'heatmap';
  editorMode?: 'code' | 'builder';
}
interface PromAnnotation extends Omit<Json<AnnotationQuery>, 'target'> {
  target?: PromQuery;
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
}
type Dash = Omit<Json<Dashboard>, 'annotations' | 'panels'> & {
  annotations: { list: PromAnnotation[] };
  panels: unknown[]; // each panel is checked on its own below
};
type PanelOf<O, F> = Omit<Json<Panel<O, F>>, 'targets' | 'options'> & {
  options: Json<O>;
  targets: PromQuery[];
};
"""


@dataclass(frozen=True)
class Query:
    where: str  # "panel 'Spend vs limit' A" or "annotation Kills"
    expr: str


def load() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def substitute(expr: str, range_s: int) -> str:
    """Fill in Grafana's variables the way Grafana would for a short, fine-grained view."""
    out = (
        expr.replace("$__rate_interval", "15s")
        .replace("$__interval", "5s")
        .replace("$__range", f"{range_s}s")
    )
    out = re.sub(r"\$\{?(job|budget|provider)\}?", ".*", out)
    assert "$" not in out, f"unhandled Grafana variable in {expr!r}"
    return out


def queries(dash: dict[str, Any], range_s: int = 600) -> list[Query]:
    out = []
    for p in panels(dash):
        for t in p.get("targets", []):
            out.append(Query(f"panel {p['title']!r} {t['refId']}", substitute(t["expr"], range_s)))
    for a in dash["annotations"]["list"]:
        if "expr" in a.get("target", {}):
            out.append(Query(f"annotation {a['name']}", substitute(a["target"]["expr"], range_s)))
    return out


def variable_queries(dash: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(variable, label, series selector) of each label_values() variable."""
    out = []
    for v in dash["templating"]["list"]:
        if v["type"] != "query":
            continue
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["query"]["query"])
        assert m, f"variable {v['name']}: expected label_values(selector, label)"
        out.append((v["name"], m.group(2), substitute(m.group(1), 600)))
    return out


def typescript(dash: dict[str, Any]) -> str:
    """A module that only compiles if the dashboard and every panel's options type-check."""
    lines = [
        "import type { AnnotationQuery, Dashboard, DataQuery, Panel, RowPanel } from '@grafana/schema';"
    ]
    for key, (folder, mod, _) in PANEL_TYPES.items():
        alias = key.replace("-", "_")
        lines.append(
            f"import type * as {alias} from '{SCHEMA}/{folder}/panelcfg/x/{mod}_types.gen';"
        )
    lines.append(JSON_TYPE)
    lines.append(f"export const dashboard: Dash = {json.dumps(dash, indent=1)};")
    for i, p in enumerate(panels(dash)):
        if p["type"] == "row":
            lines.append(f"export const p{i}: Json<RowPanel> = {json.dumps(p)};")
            continue
        assert p["type"] in PANEL_TYPES, f"panel {p['title']!r}: add {p['type']} to PANEL_TYPES"
        alias = p["type"].replace("-", "_")
        custom = f"{alias}.FieldConfig" if PANEL_TYPES[p["type"]][2] else "Record<string, unknown>"
        lines.append(f"export const p{i}: PanelOf<{alias}.Options, {custom}> = {json.dumps(p)};")
    return "\n".join(lines) + "\n"


def write_check(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "dashboard_check.ts"
    path.write_text(typescript(load()))
    return path
