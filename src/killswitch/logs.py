"""Logging: structlog for our lines, and every stdlib logger (APScheduler, httpx, botocore, Python
warnings) routed through the same processors, so JSON output is JSON on every line.

``auto`` picks structlog's coloured console renderer on a terminal and JSON otherwise (a journal,
a container log, a pipe). Secret scrubbing is the last word before rendering, for our events and
foreign ones alike. Levels carry meaning: kills are ``warning``, failures ``error``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, cast

import structlog
from structlog.stdlib import ProcessorFormatter

from killswitch.secrets import redact_tree

NOISY = (
    "alembic",
    "apscheduler",
    "httpx",
    "httpcore",
    "botocore",
    "boto3",
    "urllib3",
    "azure",
    "google",
)

# The level an event's log line gets (the event kind is the line's name).
_ERROR_EVENTS = frozenset({"blast_radius"})
_WARNING_EVENTS = frozenset(
    {
        "kill",
        "forecast_kill",
        "forecast_warning",
        "kill_dry_run",
        "breach",
        "protected",
        "warning",
        "incomplete",
        "source_stale",
        "estimate_drift",
        "native_cap_drift",
    }
)


def event_level(kind: str) -> int:
    """Failures are errors, kills and breaches warnings, the rest (restores, recoveries) info."""
    if kind.endswith("_failed") or kind in _ERROR_EVENTS:
        return logging.ERROR
    if kind in _WARNING_EVENTS:
        return logging.WARNING
    return logging.INFO


def _scrub(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: redact_tree(v) for k, v in event.items()}


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is now, not the object seen at setup (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def use_json(fmt: str) -> bool:
    if fmt == "auto":
        return not sys.stderr.isatty()
    return fmt == "json"


def _renderer(json: bool) -> Any:
    if json:
        return structlog.processors.JSONRenderer()
    colors = (
        sys.stderr.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )
    return structlog.dev.ConsoleRenderer(colors=colors)


def setup(level: str = "info", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger for this process (idempotent)."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    json = use_json(fmt)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            cast(Any, _scrub),
            _renderer(json),
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(lvl)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    logging.captureWarnings(True)
    threading.excepthook = _thread_crashed


def setup_cli() -> None:
    """Commands other than ``run`` print their result on stdout; only failures reach stderr."""
    setup("error", "auto")


def _thread_crashed(args: threading.ExceptHookArgs) -> None:
    name = args.thread.name if args.thread else "?"
    logging.getLogger("killswitch").error(
        "thread crashed", exc_info=args.exc_value, extra={"thread": name}
    )
