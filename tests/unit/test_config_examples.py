"""Every config/*.example.yaml the README points to validates (secret references set)."""

from __future__ import annotations

from pathlib import Path

import pytest

from killswitch import config as cfgmod

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config").glob("*.example.yaml"))
SECRETS = ("PROM_TOKEN", "KILL_HOOK_SECRET", "VENDOR_TOKEN", "INGEST_TOKEN", "INGEST_HMAC_SECRET")


def test_there_are_examples() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_is_valid(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SECRETS:
        monkeypatch.setenv(name, f"example-{name.lower()}-value")
    cfg = cfgmod.load(path)
    assert cfg.budgets, "an example shows at least one budget"
