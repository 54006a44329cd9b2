"""Exception types that cross layer boundaries.

Their messages are shown to operators and written to logs, so they are built from facts we chose
(status codes, field names), never from request headers or bodies that may hold credentials.
"""

from __future__ import annotations


class KillswitchError(Exception):
    """Base class."""


class ConfigError(KillswitchError):
    """The configuration is invalid; ``problems`` lists (field path, what is wrong and the fix)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in problems))

    def render(self) -> str:
        lines = [f"invalid configuration ({len(self.problems)} problem(s)):"]
        lines += [f"  - {path}: {msg}" for path, msg in self.problems]
        return "\n".join(lines)


class SourceError(KillswitchError):
    """A spend source could not produce trustworthy data. The poll yields no observation."""


class MalformedResponse(SourceError):
    """A provider answered with something we cannot read. Never interpreted as zero spend."""


class ActionError(KillswitchError):
    """An action failed. ``retryable`` says whether the next cycle should try again."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class RefusedAction(ActionError):
    """A safety rule refused the action (irreversible without opt-in, own principal, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class StartupError(KillswitchError):
    """The daemon (or a command) cannot start: the message names the thing and the fix.

    Shown to the operator as one line with exit code 1, never as a traceback.
    """
