"""Building blocks the cloud providers (aws, azure, gcp) share."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from killswitch.errors import ActionError, SourceError

T = TypeVar("T")


def injected_clients(hooks: Any, *names: str) -> dict[str, Any]:
    """The ready clients a hooks dataclass carries under ``names``, by name.

    Tests and embedders inject fakes this way; a client left unset (``None``) is built lazily
    from the credentials on first use instead.
    """
    return {name: client for name in names if (client := getattr(hooks, name)) is not None}


class ThreadedCalls(ABC):
    """``source_call`` and ``action_call`` for clients whose SDK blocks (azure, gcp).

    Each call runs in a worker thread, and its failure becomes the daemon's error for what the
    call was for: a SourceError while reading (the source goes stale, never reads a zero), an
    ActionError while acting, retryable unless ``permanent`` says a human must change something
    first. An error of the right kind that the call raises itself passes through, and a
    SourceError met while acting (a malformed read) is a retryable ActionError with its message.
    Subclasses say how their SDK's errors read (``failure``) and which are permanent.
    """

    @abstractmethod
    def failure(self, what: str, exc: BaseException) -> str:
        """A one-line, secret-free description of the failed call ``what``."""

    def permanent(self, exc: BaseException) -> bool:
        """Whether retrying the same call cannot help (default: any failure may pass)."""
        return False

    async def source_call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a thread; any failure becomes a SourceError (never a zero)."""
        try:
            return await asyncio.to_thread(fn)
        except SourceError:
            raise
        except Exception as exc:  # the SDK choking on an answer of the wrong shape included
            raise SourceError(self.failure(what, exc)) from None

    async def action_call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` in a thread; failures become ActionError (retryable unless permanent)."""
        try:
            return await asyncio.to_thread(fn)
        except ActionError:
            raise
        except SourceError as exc:  # a malformed read while acting: the next cycle may do better
            raise ActionError(str(exc)) from None
        except Exception as exc:
            retryable = not self.permanent(exc)
            raise ActionError(self.failure(what, exc), retryable=retryable) from None
