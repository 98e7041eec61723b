"""The OpenAPI 3.1 document, generated from the route table and the msgspec schemas.

Nothing is written per route: paths, parameters, bodies, responses, roles and
error answers come from each :class:`~.routing.Endpoint`, and the components from
``msgspec.json.schema_components`` over the same structs that validate requests.
:func:`render_docs` turns the document into a self-contained HTML page (no
scripts, no external assets).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

import msgspec

from .auth import ALLOWED_ROLES, Access
from .routing import Endpoint, RawBody
from .schemas import ErrorBody

REF = "#/components/schemas/{name}"
_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-z]+))?}")
_CONVERTOR_SCHEMA: dict[str | None, dict[str, Any]] = {
    None: {"type": "string"},
    "str": {"type": "string"},
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number"},
    "path": {"type": "string"},
    "uuid": {"type": "string", "format": "uuid"},
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def openapi_path(path: str) -> str:
    """``/x/{v:int}`` -> ``/x/{v}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _error(status: int) -> dict[str, Any]:
    return {
        "description": HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": REF.format(name="ErrorBody")}}},
    }


def build_openapi(
    endpoints: Sequence[Endpoint], *, title: str, version: str, description: str = ""
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``endpoints``."""
    types: list[Any] = [ErrorBody]
    for ep in endpoints:
        if isinstance(ep.body, type):
            types.append(ep.body)
        if ep.query is not None:
            types.append(ep.query)
        if ep.response is not None:
            types.append(ep.response)
    unique: list[Any] = []
    for t in types:
        if t not in unique:
            unique.append(t)
    schemas, components = msgspec.json.schema_components(unique, ref_template=REF)

    def schema_of(t: Any) -> dict[str, Any]:
        return schemas[unique.index(t)]  # by equality: Page[X] aliases may be distinct objects

    query_names = {ep.query.__name__ for ep in endpoints if ep.query is not None}

    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        operation: dict[str, Any] = {
            "operationId": ep.name,
            "summary": ep.summary,
            "tags": [ep.tag],
        }
        if ep.description:
            operation["description"] = ep.description
        parameters: list[dict[str, Any]] = [
            {
                "name": match.group(1),
                "in": "path",
                "required": True,
                "schema": dict(_CONVERTOR_SCHEMA.get(match.group(2)) or {"type": "string"}),
            }
            for match in _PARAM.finditer(ep.path)
        ]
        if ep.query is not None:
            component = components[ep.query.__name__]
            required = set(component.get("required", ()))
            for name, prop in component.get("properties", {}).items():
                param: dict[str, Any] = {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k != "description"},
                }
                if "description" in prop:
                    param["description"] = prop["description"]
                parameters.append(param)
        if parameters:
            operation["parameters"] = parameters
        if isinstance(ep.body, RawBody):
            operation["requestBody"] = {
                "required": True,
                "description": ep.body.description,
                "content": {
                    media: {"schema": {"type": "string", "contentMediaType": media}}
                    for media in ep.body.media_types
                },
            }
        elif ep.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of(ep.body)}},
            }
        responses: dict[str, Any] = {}
        if ep.response is None:
            responses["204" if ep.status == 200 else str(ep.status)] = {
                "description": "Done (no content)."
            }
        else:
            responses[str(ep.status)] = {
                "description": HTTPStatus(ep.status).phrase,
                "content": {ep.media_type: {"schema": schema_of(ep.response)}},
            }
        errors = set(ep.errors)
        if ep.access is not Access.PUBLIC:
            errors |= {401, 403}
            operation["security"] = [{"basicAuth": []}, {"bearerAuth": []}]
            operation["x-roles"] = sorted(ALLOWED_ROLES[ep.access])
        if ep.body is not None or ep.query is not None:
            errors.add(422)
        if isinstance(ep.body, type):
            errors |= {400, 413}
        if "{" in ep.path:
            errors.add(404)
        if ep.method in _WRITES and ep.access is Access.WRITE:
            errors.add(409)
        for status in sorted(errors):
            responses[str(status)] = _error(status)
        operation["responses"] = responses
        paths.setdefault(openapi_path(ep.path), {})[ep.method.lower()] = operation

    for name in query_names:  # inlined as parameters above
        components.pop(name, None)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "Agent id and password of an agent account.",
                },
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The token is `agent_id:password`.",
                },
            },
        },
    }


def _schema_label(schema: dict[str, Any] | None) -> str:
    if not schema:
        return ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{html.escape(name)}">{html.escape(name)}</a>'
    if schema.get("type") == "array":
        return f"array of {_schema_label(schema.get('items'))}"
    return html.escape(json.dumps(schema, ensure_ascii=False))


def render_docs(doc: dict[str, Any]) -> str:
    """A static, readable HTML page of ``doc`` (paths table, then every schema)."""
    esc = html.escape
    info = doc["info"]
    rows: list[str] = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            params = ", ".join(
                f"{esc(p['name'])} ({esc(p['in'])}{', required' if p.get('required') else ''})"
                for p in op.get("parameters", ())
            )
            body = op.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                request = _schema_label(body["application/json"]["schema"])
            else:
                request = esc(", ".join(body))
            success = [(code, r) for code, r in op["responses"].items() if code.startswith("2")]
            answers = "; ".join(
                f"{esc(code)} "
                + "".join(_schema_label(c.get("schema")) for c in r.get("content", {}).values())
                for code, r in success
            )
            errors = " ".join(esc(code) for code in op["responses"] if not code.startswith("2"))
            roles = ", ".join(op.get("x-roles", ["public"]))
            rows.append(
                "<tr>"
                f"<td><code>{esc(method.upper())}</code></td><td><code>{esc(path)}</code></td>"
                f"<td>{esc(op.get('summary', ''))}</td><td>{esc(roles)}</td>"
                f"<td>{params}</td><td>{request}</td><td>{answers}</td><td>{errors}</td>"
                "</tr>"
            )
    schemas = "\n".join(
        f'<h3 id="schema-{esc(name)}">{esc(name)}</h3>'
        f"<pre>{esc(json.dumps(schema, indent=2, ensure_ascii=False))}</pre>"
        for name, schema in sorted(doc["components"]["schemas"].items())
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(info["title"])} - REST API</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: 4px 6px; text-align: left; vertical-align: top; }}
th {{ background: #f0f0f0; }}
pre {{ background: #f7f7f7; padding: 8px; overflow-x: auto; }}
</style></head>
<body>
<h1>{esc(info["title"])} <small>{esc(info["version"])}</small></h1>
<p>{esc(info.get("description", ""))}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI {esc(doc["openapi"])}).
Authenticate with HTTP Basic or <code>Bearer agent_id:password</code>.</p>
<h2>Endpoints</h2>
<table>
<tr><th>Method</th><th>Path</th><th>Summary</th><th>Roles</th><th>Parameters</th>
<th>Request body</th><th>Success</th><th>Errors</th></tr>
{"".join(rows)}
</table>
<h2>Schemas</h2>
{schemas}
</body></html>
"""
