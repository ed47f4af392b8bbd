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

from ledger.domain.schemas import SCHEMA_FILES, load
from ledger.http import problems
from ledger.http.app import routes
from ledger.http.openapi import bundled

from ..conftest import AUTH_FRONTEND, DEFINITION, AppClient, paper, setup_election

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
    """schemas/problems.json is exactly ledger.http.problems.catalogue()."""
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
    """Writers carry a bearer requirement with roles and a 401/403; reads are public, except
    the officer's count of ballots waiting to be released (admin only)."""
    for path, method, op in operations(document()):
        if method == "GET" and not path.endswith("/pending"):
            assert op["security"] == [], path
            continue
        roles = op["security"][0]["bearer"]
        assert roles and set(roles) <= {"admin", "frontend", "counter"}, path
        assert op["x-roles"] == roles
        assert "WWW-Authenticate" in op["responses"]["401"]["headers"]
        assert "403" in op["responses"]


async def test_get_openapi_json_serves_the_document(client: AppClient) -> None:
    """GET /openapi.json returns schemas/openapi.json with the schema files bundled in."""
    r = await client.get("/openapi.json")
    assert r.status == 200
    assert r.content_type == "application/json"
    served = await r.json()
    assert served == bundled()
    source = document()
    assert served["paths"].keys() == source["paths"].keys()
    assert set(served["components"]["schemas"]) == set(source["components"]["schemas"]) | {
        name.removesuffix(".json") for name in SCHEMA_FILES
    }
    r = await client.get("/problems")
    assert r.status == 200
    assert await r.json() == {"problems": problems.catalogue()}


async def test_served_document_is_self_contained(client: AppClient) -> None:
    """Every $ref of the served /openapi.json is a local pointer that resolves within it."""
    r = await client.get("/openapi.json")
    served = await r.json()
    refs: list[tuple[str, str]] = []
    walk(served, "", refs)
    assert len(refs) > 50
    for base, ref in refs:
        assert base == "", f"a $id inside the served document: {base}"
        assert ref.startswith("#/"), f"$ref out of the document: {ref}"
        try:
            resolve_pointer(served, ref.removeprefix("#"))
        except (KeyError, IndexError, ValueError) as exc:
            pytest.fail(f"unresolvable $ref {ref}: {exc}")


async def test_served_schemas_are_the_schema_files(client: AppClient) -> None:
    """The bundled schemas judge bodies exactly as schemas/*.schema.json (one source of truth)."""
    r = await client.get("/openapi.json")
    served = await r.json()
    registry = Registry().with_resource(
        "urn:served", Resource.from_contents(served, default_specification=DRAFT202012)
    )
    files = Registry().with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT202012))
        for uri, schema in schema_files().items()
    )

    def both(component: str, ref: str) -> tuple[Draft202012Validator, Draft202012Validator]:
        return (
            Draft202012Validator(
                {"$ref": f"urn:served#/components/schemas/{component}"}, registry=registry
            ),
            Draft202012Validator({"$ref": ref}, registry=files),
        )

    cases: list[tuple[str, str, list[Any]]] = [
        ("Definition", "urn:ballot-ledger:schema:definition", [DEFINITION, {**DEFINITION, "x": 1}]),
        (
            "Cast",
            "urn:ballot-ledger:schema:requests#/$defs/cast",
            [paper("v001"), {"voter_id": "v001"}, paper("v001", members=["Ann"])],
        ),
        (
            "Nomination",
            "urn:ballot-ledger:schema:requests#/$defs/nomination",
            [{"contest": "members", "candidate": "ann", "body": "b"}, {"contest": "members"}],
        ),
    ]
    for component, ref, bodies in cases:
        served_v, file_v = both(component, ref)
        for body in bodies:
            assert served_v.is_valid(body) == file_v.is_valid(body), (component, body)
    served_v, _ = both("Definition", "urn:ballot-ledger:schema:definition")
    assert served_v.is_valid(DEFINITION)
    assert not served_v.is_valid({**DEFINITION, "colour": "red"})


def test_integer_query_parameters_state_the_18_digit_cap() -> None:
    """Every integer query parameter has maximum 999999999999999999 (the server's 18 digits)."""
    seen = 0
    for path, method, op in operations(document()):
        for prm in op.get("parameters", []):
            if prm.get("in") == "query" and prm["schema"].get("type") == "integer":
                assert prm["schema"].get("maximum") == 10**18 - 1, (method, path, prm["name"])
                seen += 1
    assert seen >= 7


def test_inclusion_parameters_say_exactly_one_of_index_and_code() -> None:
    """proofs/inclusion documents that exactly one of index and code is required."""
    op = document()["paths"]["/v1/elections/{election}/proofs/inclusion"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert "exactly one of `index` and `code`" in op["description"].lower()
    for name in ("index", "code"):
        assert params[name]["required"] is False
        text = params[name]["description"].lower()
        assert "exactly one of `index` and `code` is required" in text


async def test_inclusion_with_both_index_and_code_is_bad_request(client: AppClient) -> None:
    """proofs/inclusion with both index and code (or neither) is 400, as documented."""
    await setup_election(client)
    r = await client.post(
        "/v1/elections/nec-2026/ballots", json=paper("v001"), headers=AUTH_FRONTEND
    )
    assert r.status == 201, await r.text()
    code = (await r.json())["receipts"]["members"]["code"]
    base = "/v1/elections/nec-2026/proofs/inclusion"
    r = await client.get(f"{base}?index=0")
    assert r.status == 200, await r.text()
    r = await client.get(f"{base}?code={code}")  # accepted, not yet released: no entry yet
    assert (await r.json(content_type=None))["type"] == problems.PREFIX + "not-found"
    for query in (f"?index=0&code={code}", f"?code={code}&index=0", "", "?size=1"):
        r = await client.get(base + query)
        assert r.status == 400, (query, await r.text())
        body = await r.json(content_type="application/problem+json")
        assert body["type"] == problems.PREFIX + "bad-request"


def test_catalogue_details_are_clean() -> None:
    """Each published detail is its problem's own default message, on one normalised line."""
    by_type = {p["type"]: p for p in problems.catalogue()}
    internal = by_type[problems.PREFIX + "internal"]["detail"]
    assert internal == (problems.Internal.__doc__ or "").strip()
    for p in by_type.values():
        assert "  " not in p["detail"], p
