"""A small OpenAPI 3.1 contract checker on jsonschema.

openapi-core rejects OpenRouter's vendor spec (3.0-style ``exclusiveMinimum: true`` and type lists in
parameters), so we check what matters directly: the operation exists for the method and path,
every query parameter we send is declared and its value fits the declared schema, the request body
validates, and the responses our client accepts validate against the declared response schema.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml


class ContractError(AssertionError):
    pass


@cache
def load(path: str) -> dict[str, Any]:
    with open(path) as f:
        if path.endswith(".json"):
            return dict(json.load(f))
        return dict(yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))  # noqa: S506 - a safe loader


class Spec:
    def __init__(self, path: Path, base_path: str = "") -> None:
        self.doc = load(str(path))
        self.base_path = base_path
        self._routes = []
        for template, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            self._routes.append((re.compile(rx), template, item))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        p = path[len(self.base_path) :] if path.startswith(self.base_path) else path
        for rx, template, item in self._routes:
            if rx.match(p) and method.lower() in item:
                return template, item[method.lower()]
        raise ContractError(f"{method} {p} is not an operation of the spec")

    def _validate(self, pointer: str, instance: Any, what: str) -> None:
        schema = {**self.doc, "$ref": pointer}
        schema.pop("$schema", None)
        v = jsonschema.Draft202012Validator(schema)
        errors = sorted(v.iter_errors(instance), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            raise ContractError(f"{what}: {e.message} at {list(e.path)}")

    @staticmethod
    def _esc(s: str) -> str:
        return s.replace("~", "~0").replace("/", "~1")

    def check_request(
        self, method: str, path: str, query: dict[str, list[str]], body: Any = None
    ) -> None:
        template, op = self.operation(method, path)
        declared = {}
        for prm in op.get("parameters", []):
            if "$ref" in prm:
                prm = self._resolve(prm["$ref"])
            if prm.get("in") == "query":
                declared[prm["name"]] = prm
        for name, values in query.items():
            if name not in declared:
                raise ContractError(f"{method} {template}: query parameter {name!r} not declared")
            schema = declared[name].get("schema", {})
            for raw in values:
                value = _coerce(raw, schema)
                try:
                    jsonschema.Draft202012Validator({**self.doc, **schema}).validate(value)
                except jsonschema.ValidationError as exc:
                    raise ContractError(
                        f"{method} {template}: {name}={raw!r}: {exc.message}"
                    ) from None
        for name, prm in declared.items():
            if prm.get("required") and name not in query:
                raise ContractError(f"{method} {template}: required query {name!r} missing")
        rb = op.get("requestBody")
        if body is not None:
            if rb is None:
                raise ContractError(f"{method} {template} takes no body")
            ptr = (
                f"#/paths/{self._esc(template)}/{method.lower()}/requestBody/content/"
                f"application~1json/schema"
            )
            self._validate(ptr, body, f"{method} {template} request body")

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        template, op = self.operation(method, path)
        if str(status) not in op.get("responses", {}):
            raise ContractError(f"{method} {template}: status {status} not declared")
        resp = op["responses"][str(status)]
        if "$ref" in resp:
            raise ContractError("response $ref not supported by this checker")
        ptr = (
            f"#/paths/{self._esc(template)}/{method.lower()}/responses/{status}/content/"
            f"application~1json/schema"
        )
        self._validate(ptr, body, f"{method} {template} {status} response")

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return dict(node)


def _coerce(raw: str, schema: dict[str, Any]) -> Any:
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw)
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true"
    return raw
