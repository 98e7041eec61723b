"""The OpenAPI document is generated from the route table and the schemas (R-API-1)."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Route

from tests.cti_server.http.http_support import ADMIN, Stack


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_every_route_and_component_is_documented(stack: Stack) -> None:
    answer = stack.client(auth=None).get("/api/v1/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    doc = answer.json()
    assert doc["openapi"] == "3.1.0"

    routes = [r for r in stack.app.routes if isinstance(r, Route)]
    assert len(routes) > 40
    for route in routes:
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        assert route.methods is not None
        for method in route.methods - {"HEAD"}:
            assert method.lower() in doc["paths"].get(path, {}), f"{method} {path} undocumented"

    operations = [op for ops in doc["paths"].values() for op in ops.values()]
    assert len(operations) == len(routes)
    assert len({op["operationId"] for op in operations}) == len(operations)

    schemas = doc["components"]["schemas"]
    for ref in _refs(doc):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, f"dangling {ref}"
    for name in ("TierCreate", "TierPatch", "Tier", "Agent", "ErrorBody", "ImportJob"):
        assert name in schemas

    create_tier = doc["paths"]["/api/v1/tiers"]["post"]
    assert create_tier["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TierCreate"
    }
    assert {"201", "401", "403", "409", "422"} <= set(create_tier["responses"])
    assert create_tier["x-roles"] == ["admin"]
    assert schemas["TierCreate"]["properties"]["sl_target"]["maximum"] == 1
    listing = doc["paths"]["/api/v1/customers"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"q", "tier", "limit", "offset"}
    version = doc["paths"]["/api/v1/ivr-flows/{flow_id}/versions/{version}"]["get"]
    assert {p["name"]: p["schema"]["type"] for p in version["parameters"]} == {
        "flow_id": "string",
        "version": "integer",
    }
    upload = doc["paths"]["/api/v1/tiers/import"]["post"]["requestBody"]["content"]
    assert "text/csv" in upload
    assert doc["paths"]["/health"]["get"].get("security") is None


def test_docs_page_lists_every_path_without_external_assets(stack: Stack) -> None:
    page = stack.client(auth=None).get("/api/v1/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    doc = stack.client(ADMIN).get("/api/v1/openapi.json").json()
    for path in doc["paths"]:
        assert f"<code>{path}</code>" in page.text
    assert 'id="schema-TierCreate"' in page.text
    assert "<script" not in page.text
    assert "http://" not in page.text and "https://" not in page.text
