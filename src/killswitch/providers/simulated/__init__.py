"""A simulated provider: deterministic spend ramps, for the demo and for tests."""

from killswitch.providers.simulated.provider import SimulatedProvider

__all__ = ["SimulatedProvider"]
