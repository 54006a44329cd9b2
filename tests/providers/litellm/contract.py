"""Contract checks against the LiteLLM proxy's own OpenAPI document.

The document is produced by the real ``litellm[proxy]`` package (``app.openapi()``), not copied
from docs: ``scripts/litellm-openapi.sh`` builds it in a venv of its own under
``.ci/cache/litellm/`` (the package is too heavy for the test extra) and the session fixture runs
that script when the cached document is missing. ``KILLSWITCH_LITELLM_OPENAPI`` points at an
existing document instead; ``LITELLM_PYTHON`` at an interpreter that has the package.

openapi-core validates method, path, query parameters, the ``x-litellm-api-key`` security
scheme, request bodies and response bodies; it ignores query parameters an operation does not
declare, so we refuse those ourselves (FastAPI would silently ignore them too, which is exactly
how a misspelt filter would go unnoticed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

ROOT = Path(__file__).resolve().parents[3]
VERSION = os.environ.get("LITELLM_VERSION", "1.108.7")
HOST = "http://litellm.test:4000"


class ContractError(AssertionError):
    pass


def spec_path() -> Path:
    explicit = os.environ.get("KILLSWITCH_LITELLM_OPENAPI")
    if explicit:
        return Path(explicit)
    cached = ROOT / ".ci" / "cache" / "litellm" / f"openapi-{VERSION}.json"
    if not cached.exists():
        proc = subprocess.run(
            [str(ROOT / "scripts" / "litellm-openapi.sh"), str(cached)],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-3:]
            raise RuntimeError(
                f"could not build the LiteLLM OpenAPI document ({'; '.join(tail)}): run "
                "scripts/litellm-openapi.sh, or set KILLSWITCH_LITELLM_OPENAPI to a document"
            )
    return cached


class Contract:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text())
        self.api = OpenAPI(SchemaPath.from_dict(self.doc), config=Config(spec_validator_cls=None))
        self._routes = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"), t, item)
            for t, item in self.doc["paths"].items()
        ]

    @property
    def package_version(self) -> str:
        return str(self.doc["info"].get("x-litellm-package-version", ""))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for rx, template, item in self._routes:
            if rx.match(path) and method.lower() in item:
                return template, item[method.lower()]
        raise ContractError(f"{method} {path} is not an operation of the LiteLLM proxy")

    def _mock(self, method: str, url: str, headers: dict[str, str], body: bytes) -> MockRequest:
        parts = urlsplit(url)
        args: dict[str, Any] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            args.setdefault(k, []).append(v)
        flat = {k: v if len(v) > 1 else v[0] for k, v in args.items()}
        return MockRequest(
            HOST,
            method.lower(),
            parts.path,
            args=flat,
            headers=headers,
            data=body.decode() if body else None,
            content_type=headers.get("content-type", "application/json").split(";")[0],
        )

    def check_request(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> None:
        parts = urlsplit(url)
        template, op = self.operation(method, parts.path)
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        for k, _ in parse_qsl(parts.query, keep_blank_values=True):
            if k not in declared:
                raise ContractError(f"{method} {template}: query parameter {k!r} not declared")
        try:
            self.api.validate_request(self._mock(method, url, headers, body))
        except Exception as exc:
            raise ContractError(f"{method} {template}: {_why(exc)}") from None

    def check_response(
        self, method: str, url: str, headers: dict[str, str], body: bytes, status: int, resp: Any
    ) -> None:
        template, _ = self.operation(method, urlsplit(url).path)
        mock = MockResponse(
            json.dumps(resp).encode(), status_code=status, content_type="application/json"
        )
        try:
            self.api.validate_response(self._mock(method, url, headers, body), mock)
        except Exception as exc:
            raise ContractError(f"{method} {template} -> {status}: {_why(exc)}") from None


def _why(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(str(cause)[:400])
        cause = cause.__cause__
    return " <- ".join(parts)[:1200]


@cache
def load_contract() -> Contract:
    return Contract(spec_path())
