"""Secret references (``${env:NAME}``, ``${file:/path}``) and the redaction set.

Config files name where a secret lives, never the secret. Every value resolved here is remembered
so the log processor and error formatter can scrub it wherever it might leak (an exception
message, a URL, a provider's echoed error).
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

REF = re.compile(r"\$\{(env|file):([^}]+)\}")
# Any ``${...}`` (or an unclosed ``${...`` running to the end of the string), checked after REF.
ANY_REF = re.compile(r"\$\{([^}]*)(\}?)")
ESCAPE = "$${"  # a literal "${" in a config value
_MIN_SECRET_LEN = 6  # shorter values would scrub ordinary words
_known: set[str] = set()
_lock = threading.Lock()
MASK = "***"


class SecretReferenceError(ValueError):
    pass


def register(value: str) -> None:
    if len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """Replace every known secret in ``text`` with ``***``."""
    if not _known:
        return text
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


def check_references(text: str) -> None:
    """Reject ``${`` that is not a complete ``${env:NAME}`` or ``${file:/path}`` reference.

    Without this an unclosed ``${env:SLACK_WEBHOOK_URL`` would be used literally, as the URL.
    The message quotes the reference only (never the rest of the value, which may be a secret).
    """
    for m in ANY_REF.finditer(text.replace(ESCAPE, "")):
        inner, closed = m.group(1), m.group(2)
        shown = "${" + inner[:40] + ("}" if closed else "")
        kind, colon, arg = inner.partition(":")
        if not closed:
            raise SecretReferenceError(
                f"unclosed reference {shown}: add the closing '}}' (write $${{ for a literal '${{')"
            )
        if kind in ("env", "file") and colon and arg.strip():
            continue
        if not colon and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inner):
            hint = f"did you mean ${{env:{inner}}}?"
        elif kind in ("env", "file"):
            hint = f"name the {'variable' if kind == 'env' else 'file'} after '{kind}:'"
        else:
            hint = "use ${env:NAME} or ${file:/path} (write $${ for a literal '${')"
        raise SecretReferenceError(f"unknown reference {shown}: {hint}")


def resolve_string(text: str) -> tuple[str, bool]:
    """Resolve references in one string. Returns (value, contained_a_reference)."""
    check_references(text)
    found = False

    def sub(m: re.Match[str]) -> str:
        nonlocal found
        found = True
        kind, arg = m.group(1), m.group(2).strip()
        if kind == "env":
            if arg not in os.environ:
                raise SecretReferenceError(
                    f"environment variable {arg} is not set (referenced as ${{env:{arg}}}); "
                    "export it or use ${file:/path}"
                )
            value = os.environ[arg]
        else:
            path = Path(arg)
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise SecretReferenceError(
                    f"cannot read secret file {arg}: {exc.strerror or exc}; "
                    "check the path and its permissions"
                ) from None
        register(value)
        return value

    parts = [REF.sub(sub, part) for part in text.split(ESCAPE)]
    return "${".join(parts), found


def resolve_tree(node: Any, path: str, errors: list[tuple[str, str]]) -> Any:
    """Resolve references anywhere in a parsed YAML tree; collect errors by field path."""
    if isinstance(node, dict):
        return {
            k: resolve_tree(v, f"{path}.{k}" if path else str(k), errors) for k, v in node.items()
        }
    if isinstance(node, list):
        return [resolve_tree(v, f"{path}[{i}]", errors) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        try:
            return resolve_string(node)[0]
        except SecretReferenceError as exc:
            errors.append((path, str(exc)))
            return None
    return node


def redact_tree(node: Any) -> Any:
    """:func:`redact` on every string in a JSON-like tree (events, journal rows, outbox bodies)."""
    if isinstance(node, str):
        return redact(node)
    if isinstance(node, dict):
        return {k: redact_tree(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [redact_tree(v) for v in node]
    return node
