"""Render deploy/grafana/killswitch.json's panels from a real run into docs/dashboard.png.

Grafana itself cannot be installed here (not in Debian, PyPI or npm), so this draws each panel
with matplotlib from the same data Grafana would get: it starts the demo daemon and a real
Prometheus (tests/ops/live.py), lets the demo go through kills and restores, then runs every
panel's and annotation's query against Prometheus' HTTP API over the run.

    .venv/bin/pip install matplotlib          # only this script needs it, not the tests
    .venv/bin/python tests/ops/render_dashboard.py [--minutes 3] [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.ops import grafana
from tests.ops.live import REPO, LiveStack, start_live_stack

BG, PANEL, TEXT, GRID = "#111217", "#181b1f", "#ccccdc", "#2c3235"
COLORS = {
    "green": "#73bf69", "red": "#f2495c", "yellow": "#fade2a", "orange": "#ff9830",
    "blue": "#5794f2", "purple": "#b877d9", "dark-red": "#c4162a", "text": "#8e8e8e",
    "dark-orange": "#fa6400",
}  # fmt: skip
PALETTE = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#5794f2", "#b877d9", "#705da0", "#96d98d"]
STEP = 2.0


def legend(fmt: str, labels: dict[str, str]) -> str:
    if fmt in ("", "__auto"):
        return ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


class Source:
    """Range queries against the live Prometheus, recorded so a render can be replayed
    (--data) without another run."""

    def __init__(self, live: LiveStack | None, recorded: dict[str, Any] | None = None) -> None:
        self.live = live
        self.data: dict[str, Any] = recorded or {}
        if live is not None:
            self.data.update(start=live.started, end=time.time(), queries={})

    def range(self, expr: str) -> list[dict[str, Any]]:
        start, end = self.data["start"], self.data["end"]
        q = grafana.substitute(expr, int(end - start))
        if self.live is not None:
            self.data["queries"][q] = self.live.query_range(q, start, end, STEP)
        return list(self.data["queries"].get(q, []))


def series_xy(s: dict[str, Any]) -> tuple[list[datetime], list[float]]:
    xs = [datetime.fromtimestamp(float(t)) for t, _ in s["values"]]
    return xs, [float(v) for _, v in s["values"]]


def color_of(name: str | None, fallback: str) -> str:
    return COLORS.get(name or "", name or fallback)


def style(ax: Any, title: str) -> None:
    ax.set_facecolor(PANEL)
    ax.set_title(title, color=TEXT, fontsize=9, loc="left", pad=4)
    ax.tick_params(colors=TEXT, labelsize=7)
    for spine in ax.spines.values():
        spine.set_color(GRID)
    ax.grid(color=GRID, linewidth=0.5)


def time_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    ax.xaxis_date()
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=6))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))


def draw_timeseries(
    ax: Any,
    p: dict[str, Any],
    data: list[tuple[dict[str, Any], list[dict[str, Any]]]],
    events: list[tuple[float, str]],
) -> None:
    i = 0
    bars = p["fieldConfig"]["defaults"].get("custom", {}).get("drawStyle") == "bars"
    for target, result in data:
        override = {
            prop["id"]: prop["value"]
            for o in p["fieldConfig"].get("overrides", [])
            if o["matcher"]["id"] == "byFrameRefID" and o["matcher"]["options"] == target["refId"]
            for prop in o["properties"]
        }
        for s in result:
            xs, ys = series_xy(s)
            label = legend(target.get("legendFormat", ""), s["metric"])
            fixed = override.get("color", p["fieldConfig"]["defaults"].get("color", {}))
            color = color_of(fixed.get("fixedColor"), PALETTE[i % len(PALETTE)])
            if "error" in label or "failure" in label:
                color = COLORS["red"]
            dashed = "custom.lineStyle" in override
            if bars and not override:
                ax.bar(xs, ys, width=STEP / 86400, color=color, label=label, alpha=0.8)
            else:
                ax.step(
                    xs,
                    ys,
                    where="post",
                    color=color,
                    label=label,
                    linewidth=1.8 if dashed else 1.1,
                    linestyle="--" if dashed else "-",
                )
            i += 1
    for t, kind in events:
        ax.axvline(
            datetime.fromtimestamp(t),
            color=COLORS["red" if kind == "Kills" else "green"],
            linewidth=0.8,
            alpha=0.7,
            linestyle=":",
        )
    time_axis(ax)
    if i:
        ax.legend(
            fontsize=6,
            loc="upper left",
            facecolor=PANEL,
            edgecolor=GRID,
            labelcolor=TEXT,
            ncol=2 if i > 4 else 1,
        )


def draw_stat(
    ax: Any, p: dict[str, Any], data: list[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    value = 0.0
    for _, result in data:
        for s in result:
            value = float(s["values"][-1][1])
    steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    color = steps[0]["color"]
    for st in steps:
        if st["value"] is None or value >= st["value"]:
            color = st["color"]
    ax.set_facecolor(color_of(color, COLORS["green"]))
    ax.text(
        0.5,
        0.42,
        f"{value:.0f}",
        ha="center",
        va="center",
        fontsize=22,
        color="white",
        weight="bold",
        transform=ax.transAxes,
    )
    ax.set_title(p["title"], color=TEXT, fontsize=9, loc="left", pad=4)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_heatmap(
    ax: Any, p: dict[str, Any], data: list[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    import matplotlib.dates as mdates
    import numpy as np

    size = float(p["options"]["calculation"]["yBuckets"]["value"])
    times: dict[float, list[float]] = {}
    for _, result in data:
        for s in result:
            for t, v in s["values"]:
                times.setdefault(float(t), []).append(float(v))
    if not times:
        return
    ts = sorted(times)
    top = max(1.2, max(max(v) for v in times.values()) + size)
    edges = np.arange(0, top + size, size)
    grid = np.array([np.histogram(times[t], bins=edges)[0] for t in ts]).T.astype(float)
    grid[grid == 0] = np.nan
    x = mdates.date2num([datetime.fromtimestamp(t) for t in ts])
    ax.pcolormesh(
        np.append(x, x[-1] + STEP / 86400), edges, grid, cmap="YlOrRd", vmin=0, shading="flat"
    )
    ax.axhline(1.0, color=COLORS["red"], linewidth=0.8, linestyle="--")
    ax.set_ylabel("spend / limit", color=TEXT, fontsize=7)
    time_axis(ax)


def draw_state_timeline(
    ax: Any, p: dict[str, Any], data: list[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    import matplotlib.dates as mdates
    from matplotlib.patches import Patch

    mapping = p["fieldConfig"]["defaults"]["mappings"][0]["options"]
    rows = []
    for target, result in data:
        for s in result:
            rows.append((legend(target["legendFormat"], s["metric"]), s["values"]))
    rows.sort()
    for y, (_name, values) in enumerate(rows):
        for t, v in values:
            m = mapping.get(str(int(float(v))), {})
            ax.barh(
                y,
                STEP / 86400,
                left=mdates.date2num(datetime.fromtimestamp(float(t))),
                color=color_of(m.get("color"), COLORS["text"]),
                height=0.8,
            )
    ax.set_yticks(
        range(len(rows)), [r[0].replace(" / ", "\n") for r in rows], fontsize=7, color=TEXT
    )
    time_axis(ax)
    handles = [Patch(color=color_of(m["color"], "gray"), label=m["text"]) for m in mapping.values()]
    ax.legend(
        handles=handles,
        fontsize=6,
        loc="lower right",
        bbox_to_anchor=(1, 1.0),
        ncol=7,
        facecolor=PANEL,
        edgecolor=GRID,
        labelcolor=TEXT,
        borderaxespad=0.2,
    )


def events(src: Source, dash: dict[str, Any]) -> list[tuple[float, str]]:
    out = []
    for a in dash["annotations"]["list"]:
        if "expr" not in a.get("target", {}):
            continue
        for s in src.range(a["target"]["expr"]):
            last = -1e9
            for t, _ in s["values"]:
                if float(t) - last > 10:  # one mark per event, like Grafana's region merge
                    out.append((float(t), a["name"]))
                last = float(t)
    return out


def render(src: Source, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dash = grafana.load()
    start, end = src.data["start"], src.data["end"]
    marks = events(src, dash)
    panels = [p for p in grafana.panels(dash) if p["type"] != "row"]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(16, rows * 0.42), facecolor=BG)
    gs = fig.add_gridspec(
        rows, 24, hspace=2.2, wspace=0.6, left=0.06, right=0.99, top=0.965, bottom=0.02
    )
    fig.suptitle(
        f"{dash['title']} — rendered from a real Prometheus run of the demo ({int(end - start)} s)",
        color=TEXT,
        fontsize=12,
        x=0.05,
        ha="left",
    )
    for p in panels:
        g = p["gridPos"]
        ax = fig.add_subplot(gs[g["y"] : g["y"] + g["h"], g["x"] : g["x"] + g["w"]])
        data = [(t, src.range(t["expr"])) for t in p["targets"]]
        style(ax, p["title"])
        if p["type"] == "timeseries":
            draw_timeseries(ax, p, data, marks)
        elif p["type"] == "stat":
            draw_stat(ax, p, data)
        elif p["type"] == "heatmap":
            draw_heatmap(ax, p, data)
        elif p["type"] == "state-timeline":
            draw_state_timeline(ax, p, data)
    for p in grafana.panels(dash):
        if p["type"] == "row":
            ax = fig.add_subplot(gs[p["gridPos"]["y"], :])
            ax.axis("off")
            ax.text(
                0, 0, p["title"], color=TEXT, fontsize=10, weight="bold", transform=ax.transAxes
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, facecolor=BG)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB), {len(marks)} kill/restore marks")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--minutes", type=float, default=3.0, help="how long to let the demo run")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "dashboard.png")
    ap.add_argument(
        "--data",
        type=Path,
        help="JSON of the queried data: written after a run, replayed if it exists",
    )
    args = ap.parse_args()
    if args.data and args.data.exists():
        render(Source(None, json.loads(args.data.read_text())), args.out)
        return
    prometheus = shutil.which("prometheus")
    if not prometheus:
        sys.exit("prometheus not found: scripts/ops-setup.sh installs it")
    with (
        tempfile.TemporaryDirectory(prefix="ks-render-") as tmp,
        start_live_stack(Path(tmp), prometheus) as live,
    ):
        live.wait_kill_and_restore()
        remaining = live.started + args.minutes * 60 - time.time()
        if remaining > 0:
            print(f"letting the demo run {remaining:.0f} s more")
            time.sleep(remaining)
        src = Source(live)
        render(src, args.out)
        if args.data:
            args.data.write_text(json.dumps(src.data))


if __name__ == "__main__":
    main()
