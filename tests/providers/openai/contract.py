"""Contract checks against OpenAI's official OpenAPI document (``shared/specs/openai/openapi.json``).

openapi-core validates method, path, path/query parameters (arrays as repeated keys: form +
explode), security, request bodies and response bodies. Two adjustments, both faithful:

* The spec's discriminators (e.g. ``UsageTimeBucket.results``: a ``oneOf`` over 11 result types,
  discriminated by ``object``) carry no ``mapping``, and openapi-schema-validator would then look
  the ``object`` value up as a schema name. We add the mapping the spec implies: each member's
  ``object`` enum value -> that member's ``$ref``.
* openapi-core ignores query parameters the operation does not declare; we refuse them.

The document is 3.4 MB: it is loaded once per test session (``load_contract`` is cached).
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

HOST = "https://api.openai.com"
BASE = "/v1"


def shared_dir() -> Path:
    env = os.environ.get("KILLSWITCH_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / ".." / "shared"


SPEC_PATH = shared_dir() / "specs" / "openai" / "openapi.json"


class ContractError(AssertionError):
    pass


def _add_mappings(node: Any, schemas: dict[str, Any]) -> int:
    added = 0
    if isinstance(node, dict):
        disc = node.get("discriminator")
        members = node.get("oneOf") or node.get("anyOf")
        if isinstance(disc, dict) and "mapping" not in disc and isinstance(members, list):
            prop = disc["propertyName"]
            mapping = {}
            for m in members:
                ref = m.get("$ref", "") if isinstance(m, dict) else ""
                target = schemas.get(ref.rsplit("/", 1)[-1], {})
                enum = target.get("properties", {}).get(prop, {}).get("enum")
                if ref and enum and len(enum) == 1:
                    mapping[enum[0]] = ref
            if mapping:
                disc["mapping"] = mapping
                added += 1
        for v in node.values():
            added += _add_mappings(v, schemas)
    elif isinstance(node, list):
        for v in node:
            added += _add_mappings(v, schemas)
    return added


class Contract:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = json.loads(path.read_text())
        self.mapped = _add_mappings(self.doc, self.doc["components"]["schemas"])
        self.api = OpenAPI(SchemaPath.from_dict(self.doc), config=Config(spec_validator_cls=None))
        self._routes = [
            (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$"), t, item)
            for t, item in self.doc["paths"].items()
        ]

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        p = path[len(BASE) :] if path.startswith(BASE + "/") else path
        for rx, template, item in self._routes:
            if rx.match(p) and method.lower() in item:
                return template, item[method.lower()]
        raise ContractError(f"{method} {p} is not an operation of the spec")

    def _mock(self, method: str, url: str, headers: dict[str, str], body: bytes) -> MockRequest:
        parts = urlsplit(url)
        path = (
            parts.path[parts.path.index(BASE + "/") :] if BASE + "/" in parts.path else parts.path
        )
        args: dict[str, Any] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            args.setdefault(k, []).append(v)
        flat = {
            k: (v if len(v) > 1 or self._is_array(method, path, k) else v[0])
            for k, v in args.items()
        }
        ctype = headers.get("content-type", "application/json")
        return MockRequest(
            HOST,
            method.lower(),
            path,
            args=flat,
            headers=headers,
            data=body.decode() if body else None,
            content_type=ctype.split(";")[0],
        )

    def _is_array(self, method: str, path: str, name: str) -> bool:
        _, op = self.operation(method, path)
        for prm in op.get("parameters", []):
            if prm.get("name") == name and prm.get("in") == "query":
                return bool(prm.get("schema", {}).get("type") == "array")
        return False

    def check_request(
        self, method: str, url: str, headers: dict[str, str], body: bytes = b""
    ) -> None:
        parts = urlsplit(url)
        path = (
            parts.path[parts.path.index(BASE + "/") :] if BASE + "/" in parts.path else parts.path
        )
        template, op = self.operation(method, path)
        declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
        for k, _ in parse_qsl(parts.query, keep_blank_values=True):
            if k not in declared:
                raise ContractError(f"{method} {template}: query parameter {k!r} not declared")
        try:
            self.api.validate_request(self._mock(method, url, headers, body))
        except Exception as exc:
            raise ContractError(f"{method} {template}: {_why(exc)}") from None

    def check_response(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        status: int,
        response: Any,
    ) -> None:
        parts = urlsplit(url)
        path = (
            parts.path[parts.path.index(BASE + "/") :] if BASE + "/" in parts.path else parts.path
        )
        template, _ = self.operation(method, path)
        req = self._mock(method, url, headers, body)
        resp = MockResponse(
            json.dumps(response).encode(), status_code=status, content_type="application/json"
        )
        try:
            self.api.validate_response(req, resp)
        except Exception as exc:
            raise ContractError(f"{method} {template} -> {status}: {_why(exc)}") from None

    def check_schema(self, name: str, instance: Any) -> None:
        """Validate against one component schema (e.g. error bodies on undeclared statuses)."""
        import jsonschema

        schema = {**self.doc, "$ref": f"#/components/schemas/{name}"}
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
        if errors:
            raise ContractError(f"{name}: {errors[0].message}")


def _why(exc: BaseException) -> str:
    parts = [f"{type(exc).__name__}: {exc}"]
    cause = exc.__cause__
    while cause is not None:
        parts.append(str(cause)[:500])
        cause = cause.__cause__
    return " <- ".join(parts)[:1500]


@cache
def load_contract() -> Contract:
    if not SPEC_PATH.exists():
        raise FileNotFoundError(
            f"OpenAI spec not found at {SPEC_PATH}: clone the repo with shared/ beside it or set "
            "KILLSWITCH_SHARED_DIR"
        )
    return Contract(SPEC_PATH)
