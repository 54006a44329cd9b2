"""killswitch: hard spending caps for LLM APIs and clouds."""

__version__ = "0.1.0"
