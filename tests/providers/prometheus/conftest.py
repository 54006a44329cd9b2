"""One real Prometheus + exporter for the whole module session (starting one costs ~6 s)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.providers.prometheus.stack import PromStack, prom_stack


@pytest.fixture(scope="session")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    with prom_stack(tmp_path_factory.mktemp("prometheus")) as stack:
        yield stack
