"""The OpenAPI document as served at GET /openapi.json: schemas/openapi.json, self-contained.

schemas/openapi.json refers to the JSON Schemas of schemas/*.schema.json by their ``$id`` URNs
(``urn:ballot-ledger:schema:requests#/$defs/cast``), so those files stay the one source of truth
for request bodies and events. A client or fuzzer given only the served document cannot load
those URNs, so :func:`bundled` puts each schema file into ``components/schemas`` (under its file
name without ``.json``: ``definition.schema``, ``requests.schema``, ``events.schema``) and rewrites
every ``$ref`` into a local JSON pointer, e.g. ``#/components/schemas/requests.schema/$defs/cast``.
Pure: no I/O beyond reading the packaged files.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from ledger.domain.schemas import SCHEMA_FILES, load

COMPONENTS = "#/components/schemas/"


def source() -> dict[str, Any]:
    """schemas/openapi.json as written, with its references to the schema URNs."""
    data: dict[str, Any] = json.loads(
        resources.files("schemas").joinpath("openapi.json").read_text()
    )
    return data


def _local(ref: str, base: str | None, names: dict[str, str]) -> str:
    """``ref`` (relative to the schema resource ``base``, if any) as a pointer into the bundle."""
    uri, _, pointer = ref.partition("#")
    if not uri:
        if base is None:
            return ref  # already a pointer into the OpenAPI document
        uri = base
    if uri not in names:
        raise ValueError(f"$ref to a schema the bundle does not hold: {ref}")
    return COMPONENTS + names[uri] + pointer


def _rewrite(node: Any, base: str | None, names: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = _local(value, base, names)
            else:
                out[key] = _rewrite(value, base, names)
        return out
    if isinstance(node, list):
        return [_rewrite(value, base, names) for value in node]
    return node


def bundle(doc: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``doc`` with ``schemas`` (JSON Schema resources with an ``$id``, by component name) in
    components/schemas and every ``$ref`` a local pointer. ``ValueError`` for a ``$ref`` to any
    other document, or a name components/schemas holds already."""
    names = {schema["$id"]: name for name, schema in schemas.items()}
    out: dict[str, Any] = _rewrite(copy.deepcopy(doc), None, names)
    components = out.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name in components:
            raise ValueError(f"components/schemas/{name} exists already")
        body = {k: v for k, v in schema.items() if k not in ("$id", "$schema")}
        components[name] = _rewrite(body, schema["$id"], names)
    return out


def bundled() -> dict[str, Any]:
    """The served document: schemas/openapi.json with the schema files bundled in."""
    return bundle(source(), {name.removesuffix(".json"): load(name) for name in SCHEMA_FILES})


@cache
def bundled_text() -> str:
    """:func:`bundled` as the JSON text GET /openapi.json answers with."""
    return json.dumps(bundled(), ensure_ascii=False, indent=2) + "\n"
