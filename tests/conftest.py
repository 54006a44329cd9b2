"""Shared fixtures. Provider-specific fixtures live beside their tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    env = os.environ.get("KILLSWITCH_SHARED_DIR")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture
def shared() -> Path:
    d = shared_dir()
    if not d.exists():
        pytest.fail(
            f"shared/ not found at {d}: clone the repo with shared/ beside it "
            "or set KILLSWITCH_SHARED_DIR"
        )
    return d


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


@contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    """A throwaway schema on the test PostgreSQL; yields a URL whose search_path points at it."""
    url = os.environ.get("KILLSWITCH_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("KILLSWITCH_TEST_POSTGRES_URL is not set in CI (.ci/run sets it)")
        pytest.skip(
            "PostgreSQL tests need KILLSWITCH_TEST_POSTGRES_URL "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{name}"'))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{name}"
    finally:
        with eng.begin() as c:
            c.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both backends: the same store code must pass on each."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    with postgres_schema(f"ks_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**8}") as url:
        yield url
