"""docs/dev/plugin-guide.md's example provider runs as written, so the guide cannot rot."""

from __future__ import annotations

import re
import sys
import types
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from killswitch.model import Money, Window
from killswitch.plugins import ActionContext, ProviderContext, Reversibility

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "dev" / "plugin-guide.md"


def example() -> Any:
    text = GUIDE.read_text()
    (code,) = re.findall(r"### A complete example.*?```python\n(.*?)```", text, re.S)
    mod = types.ModuleType("guide_example")
    sys.modules[mod.__name__] = mod  # dataclass/pydantic resolve names through the module
    exec(compile(code, str(GUIDE), "exec"), mod.__dict__)  # noqa: S102 - our own documentation
    return mod


async def test_the_guide_example_registers_polls_kills_and_undoes() -> None:
    ex = example()
    assert set(ex.registry.providers) == {"meter"}
    pause = ex.registry.actions["meter.pause"]
    assert pause.provider_type == "meter" and pause.params_model is ex.PauseParams
    assert pause.reversibility is Reversibility.FULL and not pause.irreversible

    cfg = ex.MeterConfig.model_validate({"type": "meter", "spent_usd": {"k1": "7.5"}})
    p = ex.registry.providers["meter"]("m", cfg, ProviderContext())
    now = datetime(2026, 1, 1, tzinfo=UTC)
    result = await p.sources()["meter"].poll(now, now - timedelta(days=1))
    assert [(o.target, o.amount.amount) for o in result.observations] == [("k1", Decimal("7.5"))]

    act, params = pause(), ex.PauseParams()
    ctx = ActionContext(
        "b",
        "k1",
        Window(now, now + timedelta(days=1), "daily"),
        None,
        Money(Decimal(5), "USD"),
        now,
    )
    prior = {**(await act.snapshot(p, "k1", params)), **(await act.execute(p, "k1", params, ctx))}
    assert p.paused == {"k1"}
    await act.undo(p, "k1", params, prior, ctx)
    assert p.paused == set()
