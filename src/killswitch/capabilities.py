"""The capability matrix: built from the registry, so docs and `killswitch providers` agree."""

from __future__ import annotations

from typing import Any

from killswitch.plugins import GENERIC, key_issuing, registry


def matrix() -> list[dict[str, Any]]:
    reg = registry.load()
    rows = []
    for ptype, cls in sorted(reg.providers.items()):
        caps = cls.capabilities
        rows.append(
            {
                "provider": ptype,
                "sources": _sources(cls),
                "reads": list(caps.reads),
                "granularity": caps.granularity,
                "latency": caps.latency,
                "scopes": list(caps.scopes),
                "notes": list(caps.notes),
                "keys": _keys(cls),
                "actions": [
                    _action(a)
                    for a in sorted(reg.actions_for(ptype).values(), key=lambda a: a.name)
                ],
            }
        )
    for ptype, why in sorted(reg.unavailable.items()):
        rows.append(
            {
                "provider": ptype,
                "sources": [],
                "reads": [],
                "granularity": "",
                "latency": "",
                "scopes": [],
                "notes": [f"not installed: {why}"],
                "keys": None,
                "actions": [],
            }
        )
    generic = reg.actions_for(GENERIC)
    if generic:
        rows.append(
            {
                "provider": GENERIC,
                "sources": [],
                "reads": [],
                "granularity": "",
                "latency": "",
                "scopes": [],
                "notes": ["usable with any provider"],
                "keys": None,
                "actions": [_action(a) for a in generic.values()],
            }
        )
    return rows


KEY_CAPS = {
    "native": "native: the provider caps the key itself; the daemon's budget is the second line",
    "enforced": "enforced by the daemon: the provider has no per-key cap",
}


def _keys(cls: Any) -> dict[str, Any] | None:
    """``killswitch keys create`` support: where the cap lives, and whether keys can expire."""
    cap = key_issuing(cls)
    if cap is None:
        return None
    return {"create": True, "cap": cap, "expiry": bool(getattr(cls, "key_expiry", False))}


def _sources(cls: Any) -> list[str]:
    """Fixed source names, or how a provider whose sources come from config names them."""
    fixed = list(getattr(cls, "source_names", ()) or ())
    from_config = getattr(cls, "sources_from_config", "")
    return fixed or ([str(from_config)] if from_config else [])


def _action(a: Any) -> dict[str, Any]:
    return {
        "name": a.name,
        "summary": a.summary,
        "irreversible": a.irreversible,
        "reversible": a().reversible,
        "undo": a.undo_summary,
        "permissions": list(a.permissions),
    }


def render_text(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        out.append(f"{r['provider']}")
        if r["sources"]:
            out.append(f"  sources:     {', '.join(r['sources'])}")
        if r["reads"]:
            out.append(f"  reads:       {'; '.join(r['reads'])}")
            out.append(f"  granularity: {r['granularity']}   latency: {r['latency']}")
            out.append(f"  scopes:      {', '.join(r['scopes'])}")
        if r.get("keys"):
            k = r["keys"]
            expiry = "; --expires supported" if k["expiry"] else ""
            out.append(f"  keys create: cap {KEY_CAPS[k['cap']]}{expiry}")
        for a in r["actions"]:
            flag = "IRREVERSIBLE" if a["irreversible"] else "reversible"
            out.append(f"  action {a['name']} [{flag}]: {a['summary']}")
            if not a["irreversible"]:
                out.append(f"      undo: {a['undo']}")
        for n in r["notes"]:
            out.append(f"  note: {n}")
    return "\n".join(out)


def render_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| provider | sources | reads | latency | actions (reversible ✓ / irreversible ✗) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        acts = "<br>".join(
            f"`{a['name']}` {'✗' if a['irreversible'] else '✓'}" for a in r["actions"]
        )
        lines.append(
            f"| {r['provider']} | {', '.join(r['sources']) or '-'} | "
            f"{'; '.join(r['reads']) or '-'} | {r['latency'] or '-'} | {acts} |"
        )
    return "\n".join(lines)
