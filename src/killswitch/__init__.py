"""killswitch: hard spending caps for LLM APIs and clouds."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "killswitch-daemon"  # the PyPI name; `killswitch` there is an unrelated project

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
