"""The OpenAPI document and the problem catalogue in schemas/ agree with the running code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ledger import problems
from ledger.app import routes
from ledger.schemas import SCHEMA_FILES, load

from .conftest import DEFINITION, AppClient, paper

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("schemas").joinpath("openapi.json").read_text()
    )
    return data


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method.upper(), item[method]


def walk(node: Any, base: str, seen: list[tuple[str, str]]) -> None:
    """Collect (base URI, $ref) pairs; a ``$id`` starts a new base (JSON Schema 2020-12)."""
    if isinstance(node, dict):
        base = node.get("$id", base)
        if isinstance(node.get("$ref"), str):
            seen.append((base, node["$ref"]))
        for value in node.values():
            walk(value, base, seen)
    elif isinstance(node, list):
        for value in node:
            walk(value, base, seen)


def resolve_pointer(root: Any, pointer: str) -> Any:
    node = root
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def schema_files() -> dict[str, Any]:
    """The JSON Schemas of schemas/*.schema.json, by their ``$id`` (what the document refers to)."""
    return {load(name)["$id"]: load(name) for name in SCHEMA_FILES}


def test_every_route_is_documented_and_every_operation_is_a_route() -> None:
    """Each registered aiohttp route is an OpenAPI operation, and nothing else is."""
    registered = {(r.method, r.path) for r in routes}  # type: ignore[attr-defined]
    documented = {(method, path) for path, method, _ in operations(document())}
    assert registered - documented == set(), "routes missing from openapi.json"
    assert documented - registered == set(), "openapi.json documents routes that do not exist"


def test_every_problem_type_is_documented() -> None:
    """Every slug in problems.TYPES is in x-problem-types, Problem.type and some operation."""
    doc = document()
    slugs = {kind.slug for kind in problems.TYPES.values()}
    listed = {p["type"].removeprefix(problems.PREFIX): p["status"] for p in doc["x-problem-types"]}
    assert set(listed) == slugs
    assert {problems.PREFIX + s for s in slugs} == set(
        doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    )
    used: set[str] = set()
    for _, _, op in operations(doc):
        for status, response in op["responses"].items():
            for urn in response.get("x-problem-types", []):
                slug = urn.removeprefix(problems.PREFIX)
                assert listed[slug] == int(status), (slug, status)
                used.add(slug)
    assert slugs - used == set(), "problem types no operation can answer"
    assert doc["x-problem-types"] == problems.catalogue()


def test_problems_json_is_the_catalogue() -> None:
    """schemas/problems.json is exactly ledger.problems.catalogue()."""
    text = resources.files("schemas").joinpath("problems.json").read_text()
    assert json.loads(text) == {"problems": problems.catalogue()}


def test_document_is_openapi_3_1_with_resolvable_refs() -> None:
    """openapi starts with 3.1, and every $ref resolves (local pointers and schema URNs)."""
    doc = document()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] and doc["info"]["version"]
    resources_ = schema_files()
    refs: list[tuple[str, str]] = []
    walk(doc, "", refs)
    assert refs
    for base, ref in refs:
        uri, _, pointer = ref.partition("#")
        if uri:
            assert uri in resources_, f"$ref to unknown resource {ref}"
            target = resources_[uri]
        elif base:
            target = resources_[base]  # a local ref inside a schema resource
        else:
            assert pointer.startswith("/components/"), ref
            target = doc
        try:
            resolve_pointer(target, pointer)
        except (KeyError, IndexError, ValueError) as exc:
            pytest.fail(f"unresolvable $ref {ref} (base {base or 'document'}): {exc}")
    for path, method, op in operations(doc):
        assert op.get("operationId"), (method, path)
        assert "security" in op, (method, path)
        for status in op["responses"]:
            assert status.isdigit(), (method, path, status)
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_schema_urns_name_the_schema_files() -> None:
    """x-schema-files maps every referenced schema URN to the file in schemas/ with that $id."""
    doc = document()
    files = doc["info"]["x-schema-files"]
    assert set(files) == set(schema_files())
    for urn, path in files.items():
        assert load(path.removeprefix("schemas/"))["$id"] == urn
    refs: list[tuple[str, str]] = []
    walk(doc, "", refs)
    assert {ref.partition("#")[0] for _, ref in refs} - {""} == set(files)


def test_documented_request_bodies_accept_the_sample_bodies() -> None:
    """The request-body schemas of the document validate real bodies and reject bad ones."""
    doc = document()
    registry = Registry().with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT202012))
        for uri, schema in schema_files().items()
    )

    def body_validator(path: str, method: str) -> Draft202012Validator:
        ref = doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        target = resolve_pointer(doc, ref["$ref"].removeprefix("#"))
        return Draft202012Validator(target, registry=registry)

    define = body_validator("/v1/elections/{election}", "put")
    assert define.is_valid(DEFINITION)
    assert not define.is_valid({**DEFINITION, "colour": "red"})
    cast = body_validator("/v1/elections/{election}/ballots", "post")
    assert cast.is_valid(paper("v001"))
    assert not cast.is_valid({"voter_id": "v001"})


def test_every_authenticated_operation_names_its_roles() -> None:
    """Writers carry a bearer requirement with roles and a 401/403; reads are public."""
    for path, method, op in operations(document()):
        if method == "GET":
            assert op["security"] == [], path
            continue
        roles = op["security"][0]["bearer"]
        assert roles and set(roles) <= {"admin", "frontend", "counter"}, path
        assert op["x-roles"] == roles
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
        assert "403" in op["responses"]


async def test_get_openapi_json_serves_the_document(client: AppClient) -> None:
    """GET /openapi.json returns schemas/openapi.json as JSON."""
    r = await client.get("/openapi.json")
    assert r.status == 200
    assert r.content_type == "application/json"
    assert await r.json() == document()
    r = await client.get("/problems")
    assert r.status == 200
    assert await r.json() == {"problems": problems.catalogue()}


def test_catalogue_details_are_clean() -> None:
    """Each published detail is its problem's own default message, on one normalised line."""
    by_type = {p["type"]: p for p in problems.catalogue()}
    internal = by_type[problems.PREFIX + "internal"]["detail"]
    assert internal == (problems.Internal.__doc__ or "").strip()
    for p in by_type.values():
        assert "  " not in p["detail"], p
