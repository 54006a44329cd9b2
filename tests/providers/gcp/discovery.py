"""A contract checker for Google API Discovery documents (which are not OpenAPI).

For each request a stand-in receives: the method exists for the HTTP method and path (``flatPath``
templates, ``{+name}`` paths as a fallback), every query parameter is declared by the method or is
one of the document's system parameters, the path parameters match their declared ``pattern``,
and the body validates against the method's ``request`` schema: known fields only, declared JSON
types, no output-only (``readOnly``) fields. Responses the stand-in returns are checked against
the ``response`` schema, so the stand-in cannot drift from the real API either.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


class ContractError(AssertionError):
    pass


@dataclass(frozen=True)
class Method:
    id: str
    http: str
    rx: re.Pattern[str]
    template: str
    doc: dict[str, Any]


@cache
def _load(path: str) -> dict[str, Any]:
    return dict(json.loads(Path(path).read_text()))


def _template_rx(template: str) -> re.Pattern[str]:
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{+"):
            name = re.sub(r"\W", "_", part[2:-1])
            out += rf"(?P<{name}>.+)"
        elif part.startswith("{"):
            name = re.sub(r"\W", "_", part[1:-1])
            out += rf"(?P<{name}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out)


class Discovery:
    def __init__(self, path: Path) -> None:
        self.doc = _load(str(path))
        self.name = self.doc["name"]
        self.methods: list[Method] = []
        self._walk(self.doc.get("resources", {}))

    def _walk(self, resources: dict[str, Any]) -> None:
        prefix = "/" + self.doc.get("servicePath", "")
        for res in resources.values():
            for m in res.get("methods", {}).values():
                template = prefix + (m.get("flatPath") or m["path"])
                self.methods.append(
                    Method(m["id"], m["httpMethod"], _template_rx(template), template, m)
                )
            self._walk(res.get("resources", {}))

    def method(self, http: str, path: str) -> Method:
        for m in self.methods:
            if m.http == http and m.rx.fullmatch(path):
                return m
        raise ContractError(f"{self.name}: {http} {path} is not a method of the Discovery doc")

    def check_request(
        self, http: str, path: str, query: dict[str, list[str]], body: bytes
    ) -> Method:
        m = self.method(http, path)
        params = m.doc.get("parameters", {})
        system = set(self.doc.get("parameters", {})) | {"$alt"}  # $alt: alias of alt
        for name in query:
            declared = params.get(name)
            if name in system:
                continue
            if declared is None or declared.get("location") != "query":
                raise ContractError(f"{m.id}: query parameter {name!r} is not declared")
        self._check_path_params(m, path)
        req = m.doc.get("request")
        if req is None:
            if body.strip():
                raise ContractError(f"{m.id}: takes no body, got {body[:80]!r}")
            return m
        try:
            data = json.loads(body or b"null")
        except json.JSONDecodeError:
            raise ContractError(f"{m.id}: body is not JSON") from None
        self.validate(req["$ref"], data, f"{m.id} request", request=True)
        return m

    def _check_path_params(self, m: Method, path: str) -> None:
        # Map flatPath captures back to the ``{+name}`` parameter and check its pattern.
        full = _template_rx("/" + self.doc.get("servicePath", "") + m.doc["path"]).fullmatch(path)
        if full is None:
            raise ContractError(f"{m.id}: {path} does not fit path {m.doc['path']}")
        for name, value in full.groupdict().items():
            pattern = m.doc.get("parameters", {}).get(name, {}).get("pattern")
            if pattern and not re.match(pattern, value):
                raise ContractError(f"{m.id}: path parameter {name}={value!r} !~ {pattern}")

    def check_response(self, m: Method, body: Any) -> None:
        resp = m.doc.get("response")
        if resp is not None:
            self.validate(resp["$ref"], body, f"{m.id} response", request=False)

    # ---- schema validation -------------------------------------------------------------
    def validate(self, ref: str, value: Any, where: str, *, request: bool) -> None:
        self._value({"$ref": ref}, value, where, request)

    def _value(self, schema: dict[str, Any], value: Any, where: str, request: bool) -> None:
        if "$ref" in schema:
            schema = self.doc["schemas"][schema["$ref"]]
        t = schema.get("type")
        if t == "object" or "properties" in schema:
            self._object(schema, value, where, request)
        elif t == "array":
            if not isinstance(value, list):
                raise ContractError(f"{where}: expected an array")
            for i, item in enumerate(value):
                self._value(schema["items"], item, f"{where}[{i}]", request)
        elif t == "string":
            ok = isinstance(value, str)
            if ok and "enum" in schema and value not in schema["enum"]:
                raise ContractError(f"{where}: {value!r} not in {schema['enum']}")
            if not ok:
                raise ContractError(f"{where}: expected a string, got {type(value).__name__}")
        elif t == "boolean":
            if not isinstance(value, bool):
                raise ContractError(f"{where}: expected a boolean")
        elif t == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ContractError(f"{where}: expected an integer")
        elif t == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ContractError(f"{where}: expected a number")
        elif t not in (None, "any"):
            raise ContractError(f"{where}: unsupported schema type {t!r}")

    def _object(self, schema: dict[str, Any], value: Any, where: str, request: bool) -> None:
        if not isinstance(value, dict):
            raise ContractError(f"{where}: expected an object, got {type(value).__name__}")
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                if request and props[k].get("readOnly"):
                    raise ContractError(f"{where}.{k}: output-only field sent in a request")
                self._value(props[k], v, f"{where}.{k}", request)
            elif extra is not None:
                self._value(extra, v, f"{where}.{k}", request)
            else:
                raise ContractError(f"{where}: unknown field {k!r}")
