"""structlog JSON logs with secret scrubbing as the last word before output."""

from __future__ import annotations

import logging
import sys
from typing import Any, cast

import structlog

from killswitch.secrets import redact


def _scrub(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


def setup(level: str = "info", *, json: bool = True) -> None:
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=lvl, format="%(message)s")
    for noisy in ("apscheduler", "httpx", "httpcore", "botocore", "urllib3", "azure"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            cast(Any, _scrub),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        # sys.stderr looked up per logger, not bound once: survives stream swaps (tests, daemons)
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
