"""ledger.http.openapi.bundle: schema resources into components/schemas, every $ref made local."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.http.openapi import bundle

DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {"/x": {"get": {"parameters": [{"schema": {"$ref": "urn:a#/$defs/id"}}]}}},
    "components": {"schemas": {"Thing": {"$ref": "urn:b"}, "Local": {"$ref": "#/x"}}},
}
A = {
    "$id": "urn:a",
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"id": {"type": "string"}, "list": {"type": "array", "items": {"$ref": "#/$defs/id"}}},
}
B = {"$id": "urn:b", "type": "object", "properties": {"a": {"$ref": "urn:a#/$defs/list"}}}


def test_refs_become_pointers_into_the_bundled_components() -> None:
    """URN refs, and a schema's own #-refs, point into components/schemas; others stay."""
    out = bundle(DOC, {"a.schema": A, "b.schema": B})
    schemas = out["components"]["schemas"]
    param = out["paths"]["/x"]["get"]["parameters"][0]["schema"]
    assert param == {"$ref": "#/components/schemas/a.schema/$defs/id"}
    assert schemas["Thing"] == {"$ref": "#/components/schemas/b.schema"}
    assert schemas["Local"] == {"$ref": "#/x"}
    assert schemas["a.schema"] == {
        "$defs": {
            "id": {"type": "string"},
            "list": {"type": "array", "items": {"$ref": "#/components/schemas/a.schema/$defs/id"}},
        }
    }
    assert schemas["b.schema"]["properties"]["a"] == {
        "$ref": "#/components/schemas/a.schema/$defs/list"
    }
    assert DOC["components"]["schemas"]["Thing"] == {"$ref": "urn:b"}  # the input is untouched


def test_a_ref_to_a_schema_not_bundled_is_refused() -> None:
    """A $ref to a document the bundle does not hold, or a name taken, is a ValueError."""
    with pytest.raises(ValueError, match="urn:b"):
        bundle(DOC, {"a.schema": A})
    with pytest.raises(ValueError, match="exists already"):
        bundle(DOC, {"a.schema": A, "Thing": B})
