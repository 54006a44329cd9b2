"""Checks that turn start-up failures into one line naming the thing and the fix.

``check-config`` and every command that opens the state run these first, so a state directory
that cannot be written or a database that does not answer is reported the same way before the
daemon runs as when it starts. They touch nothing: a writability probe is a temporary file that is
removed at once, and no directory is created.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from killswitch.errors import StartupError
from killswitch.secrets import redact

CONNECT_TIMEOUT_S = 5


def check_state(url: str, *, connect: bool = True) -> None:
    """Raise StartupError when the ``state:`` database cannot be opened for writing.

    ``connect=False`` skips reaching a server database, for validating a config on a machine
    that cannot see it (a CI job rendering a Helm chart); a SQLite path is still checked.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database not in (None, "", ":memory:") and not _is_uri(parsed):
            check_sqlite_path(Path(parsed.database))
        return
    if connect:
        check_reachable(parsed)


def _is_uri(url: URL) -> bool:
    return str(url.query.get("uri", "")).lower() == "true"


def check_sqlite_path(path: Path) -> None:
    shown = str(path)
    path = path if path.is_absolute() else Path.cwd() / path
    if path.is_dir():
        raise StartupError(
            f"state: {shown} is a directory; name a file in it, e.g. {shown}/state.db"
        )
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StartupError(
                f"state: {shown} is not writable by this user (uid {os.geteuid()}); "
                "fix its owner/permissions or point state: elsewhere"
            )
        _probe(path.parent, shown)  # SQLite writes its -wal and -shm files beside the database
        return
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StartupError(
            f"state: cannot create the directory for {shown}: {ancestor} is a file, not a "
            "directory; point state: at a path under a directory"
        )
    _probe(ancestor, shown)


def _probe(directory: Path, shown: str) -> None:
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".killswitch-probe-"):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EROFS:
            reason = "read-only file system"
        raise StartupError(
            f"state: cannot write in {directory} (for {shown}): {reason}; make the directory "
            "writable for this user or point state: at a writable path "
            "(e.g. sqlite:////var/lib/killswitch/state.db)"
        ) from None


def check_reachable(url: URL) -> None:
    """Open one connection with a short timeout; report the driver's first line on failure."""
    shown = url.render_as_string(hide_password=True)
    args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() == "postgresql" else {}
    try:
        engine = create_engine(url, connect_args=args, poolclass=NullPool)
    except ModuleNotFoundError as exc:
        raise StartupError(
            f"state: the driver for {url.drivername} is not installed ({exc.name}); "
            "pip install 'killswitch-daemon[postgres]'"
        ) from None
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        raise StartupError(
            f"state: cannot connect to {shown}: {first_line(exc)}; check that the database runs "
            "and the host, port, user and password in state: are right"
        ) from None
    finally:
        engine.dispose()


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line only, secrets scrubbed (no SQL, no traceback)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return redact(text[0] if text else type(orig).__name__)
