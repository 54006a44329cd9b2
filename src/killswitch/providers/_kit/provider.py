"""A provider base for plugins whose sources are fixed once the config is known."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping

from killswitch.plugins import ConfigT, Provider, ProviderContext, Source


class BuiltProvider(Provider[ConfigT]):
    """Builds its sources once, in the constructor, and serves that mapping from ``sources()``.

    Every API provider used to repeat the same constructor (check the config, build clients,
    store a source dict) and the same one-line ``sources()``; subclasses now only say how to
    build their clients (``setup``) and sources (``build_sources``).
    """

    def __init__(self, name: str, config: ConfigT, context: ProviderContext) -> None:
        super().__init__(name, config, context)
        self.setup()
        self._sources: Mapping[str, Source] = self.build_sources()

    def setup(self) -> None:
        """Create the clients ``build_sources`` and the actions share (none by default)."""

    @abstractmethod
    def build_sources(self) -> Mapping[str, Source]:
        """The sources by name, built once; the first is the budgets' default."""

    def sources(self) -> Mapping[str, Source]:
        return self._sources
