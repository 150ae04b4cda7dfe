"""Checking vendor payloads against the parts of the vendors' published schemas that the console
ships (``shadow_ai/casb/vendor_schemas/``, ``risk/ingest/vendor_schemas/``).

Two checks, both used by the tests:

- ``validate(document, name, value)``: a replayed payload (or a telemetry row) against a named
  schema: every member it carries must be one the vendor documents, with the documented type.
- ``tracked(document, name, value)`` + ``unread_by_schema()``: the payload handed to a connector
  as mappings that remember which members were read; afterwards, every member read that the
  vendor's schema lacks is reported. A mapping that reads a field the vendor dropped or renamed
  fails its test even when the hand-written fixture still carries the old field.

A schema document is JSON: ``{"source": ..., "schemas": {Name: schema}}`` where a schema is the
subset of JSON Schema that OpenAPI component schemas and our extracts use: ``type`` (a name or a
list), ``properties``, ``items``, ``$ref`` (a name in ``schemas``), ``anyOf``/``oneOf``/``allOf``,
``enum``, ``const``, ``additionalProperties`` and ``x-base`` (an OData base type). Members whose
name starts with ``@odata.`` are OData control information and always allowed. An object schema
without ``properties`` is open (its members are not checked)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

CASB_SCHEMAS = Path(__file__).resolve().parent / "vendor_schemas"


@cache
def load(path: str | Path) -> dict[str, Any]:
    """A schema document; a bare name is looked up in the CASB folder (``"microsoft_graph_v1"``)."""
    where = Path(path)
    if not where.suffix:
        where = CASB_SCHEMAS / f"{path}.json"
    return json.loads(where.read_text())


@dataclass(frozen=True)
class Problem:
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where or '(root)'}: {self.reason}"


def _schemas(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return document["schemas"]


def resolve(document: Mapping[str, Any], schema: Mapping[str, Any] | str) -> Mapping[str, Any]:
    if isinstance(schema, str):
        schema = {"$ref": schema}
    seen = 0
    while "$ref" in schema:
        name = schema["$ref"]
        if name not in _schemas(document):
            name = name.rsplit("/", 1)[-1]  # "#/components/schemas/Invite"
        if name not in _schemas(document):
            raise KeyError(f"the schema document has no schema {name!r}")
        schema = _schemas(document)[name]
        seen += 1
        if seen > 50:
            raise ValueError(f"$ref loop at {name}")
    return schema


def _derived(document: Mapping[str, Any], schema: Mapping[str, Any], value: Mapping[str, Any]) -> Mapping[str, Any]:
    """An OData derived type named by ``@odata.type`` (``#microsoft.graph.fido2AuthenticationMethod``)."""
    odata = value.get("@odata.type")
    if isinstance(odata, str):
        name = odata.rsplit(".", 1)[-1]
        if name in _schemas(document):
            return _schemas(document)[name]
    return schema


def _type_ok(kind: str, value: Any) -> bool:
    match kind:
        case "null":
            return value is None
        case "boolean":
            return isinstance(value, bool)
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "array":
            return isinstance(value, list)
        case "object":
            return isinstance(value, Mapping)
    return True


def _fits_type(document: Mapping[str, Any], schema: Mapping[str, Any], value: Any) -> bool:
    schema = resolve(document, schema)
    kinds = schema.get("type")
    if kinds is None:
        return True
    return any(_type_ok(kind, value) for kind in ([kinds] if isinstance(kinds, str) else kinds))


def properties(document: Mapping[str, Any], schema: Mapping[str, Any] | str) -> dict[str, Any] | None:
    """The documented members of an object schema (its ``allOf`` parts and OData base types
    included), or None when the schema leaves the object open."""
    schema = resolve(document, schema)
    found: dict[str, Any] = {}
    open_object = True
    for part in [schema, *schema.get("allOf", [])]:
        part = resolve(document, part)
        if "properties" in part:
            open_object = False
            found.update(part["properties"])
        if part is not schema and "allOf" in part:
            inner = properties(document, part)
            if inner is not None:
                open_object = False
                found.update(inner)
        base = part.get("x-base")
        while base:
            parent = _schemas(document)[base]
            found = {**parent.get("properties", {}), **found}
            base = parent.get("x-base")
    return None if open_object else found


def _alternatives(schema: Mapping[str, Any]) -> list[Any] | None:
    return schema.get("anyOf") or schema.get("oneOf")


def validate(document: Mapping[str, Any], schema: Mapping[str, Any] | str, value: Any, where: str = "",
             ) -> list[Problem]:
    """Every way ``value`` departs from the schema: members the vendor does not document, wrong
    types, values outside an enum."""
    schema = resolve(document, schema)
    options = _alternatives(schema)
    if options:
        # The alternative whose type the value has speaks for it (a null or an object, say).
        fitting = [o for o in options if _fits_type(document, o, value)] or options
        return min((validate(document, option, value, where) for option in fitting), key=len)
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_type_ok(kind, value) for kind in kinds):
            return [Problem(where, f"is {type(value).__name__}, the vendor documents {' or '.join(kinds)}")]
    if value is None:
        return []
    if "const" in schema and value != schema["const"]:
        return [Problem(where, f"is {value!r}, the vendor documents only {schema['const']!r}")]
    if "enum" in schema and value not in schema["enum"] and None not in schema["enum"]:
        return [Problem(where, f"{value!r} is not one of the documented values {schema['enum']}")]
    problems: list[Problem] = []
    if isinstance(value, Mapping):
        schema = _derived(document, schema, value)
        documented = properties(document, schema)
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            path = f"{where}.{key}" if where else key
            if key.startswith("@odata."):
                continue
            if documented is not None and key in documented:
                problems += validate(document, documented[key], item, path)
            elif documented is not None and isinstance(extra, Mapping):
                problems += validate(document, extra, item, path)
            elif documented is not None and extra is not True:
                problems.append(Problem(path, "is not a member the vendor documents"))
    elif isinstance(value, list) and "items" in schema:
        for n, item in enumerate(value):
            problems += validate(document, schema["items"], item, f"{where}[{n}]")
    return problems


# --- What a connector reads ----------------------------------------------------------------------


class TrackedDict(dict):
    """A decoded JSON object that remembers which of its members were asked for (``get``,
    ``[]``, ``in``), with the schema it is an instance of."""

    def __init__(self, data: Mapping[str, Any], *, where: str, documented: dict[str, Any] | None,
                 log: list[TrackedDict]) -> None:
        super().__init__(data)
        self.where, self.documented, self.read = where, documented, set()
        log.append(self)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return super().__contains__(key)

    def undocumented_reads(self) -> set[str]:
        if self.documented is None:
            return set()
        return {k for k in self.read if isinstance(k, str) and not k.startswith("@odata.")
                and k not in self.documented}


@dataclass
class ReadLog:
    """Every tracked object handed out, so a test can ask afterwards what was read."""
    objects: list[TrackedDict] = field(default_factory=list)

    def wrap(self, document: Mapping[str, Any], schema: Mapping[str, Any] | str, value: Any, where: str = "") -> Any:
        schema = resolve(document, schema)
        options = _alternatives(schema)
        if options:
            # The alternative the value fits best decides what its members are.
            fitting = [o for o in options if _fits_type(document, o, value)] or options
            schema = resolve(document, min(fitting, key=lambda o: len(validate(document, o, value, where))))
        if isinstance(value, Mapping):
            schema = _derived(document, schema, value)
            documented = properties(document, schema)
            members = {}
            for key, item in value.items():
                inner = (documented or {}).get(key, {})
                members[key] = self.wrap(document, inner, item, f"{where}.{key}" if where else key)
            return TrackedDict(members, where=where, documented=documented, log=self.objects)
        if isinstance(value, list):
            items = schema.get("items", {})
            return [self.wrap(document, items, item, f"{where}[{n}]") for n, item in enumerate(value)]
        return value

    def undocumented(self) -> Iterator[str]:
        """``"value[0].publisherName"``-style paths of members read that the schema lacks."""
        for obj in self.objects:
            for key in sorted(obj.undocumented_reads()):
                yield f"{obj.where}.{key}" if obj.where else key

    def read_paths(self) -> set[str]:
        """Every member read, as ``value[].verifiedPublisher.displayName`` (list positions folded)."""
        paths = set()
        for obj in self.objects:
            prefix = re.sub(r"\[\d+\]", "[]", obj.where)
            for key in obj.read:
                if isinstance(key, str):
                    paths.add(f"{prefix}.{key}" if prefix else key)
        return paths


# --- Routes --------------------------------------------------------------------------------------


def _matches(template: str, path: str) -> bool:
    want, got = template.strip("/").split("/"), path.strip("/").split("/")
    return len(want) == len(got) and all(
        w == g or (w.startswith("{") and w.endswith("}")) for w, g in zip(want, got, strict=True))


def route_schema(document: Mapping[str, Any], method: str, path: str) -> Mapping[str, Any] | None:
    """The documented answer of ``METHOD /path`` (a route of ``document["routes"]``, whose
    ``{...}`` segments match any one segment), or None when the document has no such route.
    ``collection:Name`` is a Graph collection page: ``{"value": [Name, ...]}``."""
    for route, name in document.get("routes", {}).items():
        route_method, template = route.split(" ", 1)
        if route_method == method and _matches(template, path):
            if name.startswith("collection:"):
                return {"type": "object", "properties": {"value": {"type": "array", "items": {"$ref": name[11:]}}}}
            return {"$ref": name}
    return None
