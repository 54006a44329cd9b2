"""The demo daemon loads only what its config uses: memory is the idle cost operators see.

The simulated provider on SQLite with no notifiers needs no HTTP client, no PostgreSQL dialect
and no cloud SDK; each of those is megabytes resident (httpx with what it pulls in about 3 MB,
PostgreSQL's dialect 2.7 MB, alembic 10 MB, boto3 far more).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
HEAVY = (
    "httpx",
    "httpcore",
    "sqlalchemy.dialects.postgresql",
    "alembic",
    "boto3",
    "google",
    "azure",
)

PROBE = """
import atexit, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED", sorted(h for h in heavy if h in sys.modules)))
sys.argv = ["killswitch", "run", "--once", "-c", {config!r}]
from killswitch.cli import main
main()
"""


def _demo(tmp_path: Path) -> Path:
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["providers"]["sim"]["state_file"] = str(tmp_path / "world.json")
    cfg["state"] = f"sqlite:///{tmp_path / 'state.db'}"
    cfg.pop("listen", None)
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _loaded(config: Path) -> str:
    probe = PROBE.format(heavy=HEAVY, config=str(config))
    res = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return next(line for line in res.stdout.splitlines() if line.startswith("LOADED"))


def test_a_demo_restart_loads_no_http_stack_no_postgres_dialect_no_sdk(tmp_path: Path) -> None:
    config = _demo(tmp_path)
    _loaded(config)  # the first start migrates (alembic is expected there)
    assert _loaded(config) == "LOADED []"


def test_cli_help_loads_neither_pydantic_nor_sqlalchemy() -> None:
    """``killswitch --help`` answers before the daemon's libraries would have loaded."""
    probe = (
        "import sys\n"
        "sys.argv = ['killswitch', '--help']\n"
        "import killswitch.cli\n"
        "print(sorted(m for m in ('pydantic', 'sqlalchemy', 'httpx', 'yaml') if m in sys.modules))"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"
