"""Thin HTTP handlers and the route table of the REST admin API (``/api/v1``).

Handlers only translate: path/query/body in, one service call (in a worker
thread), a struct out. Validation lives in :mod:`.schemas`, domain work in
:mod:`.service` and the store, error mapping in :mod:`.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from cti_server.store.flows import FlowRejected, save_flow

from . import schemas as s
from .auth import Access
from .errors import ApiError
from .imports import ImportOptions
from .routing import Call, Endpoint, Handler, RawBody, Reply
from .voicemails import voicemail_endpoints

API = "/api/v1"

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")


def _page(items: list[Any], total: int, query: Any) -> dict[str, Any]:
    return {"items": items, "total": total, "limit": query.limit, "offset": query.offset}


# --- generic configuration CRUD -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resource:
    entity: str
    """ConfigStore kind."""
    path: str
    """Collection path under /api/v1."""
    singular: str
    tag: str
    create: type[msgspec.Struct]
    patch: type[msgspec.Struct]
    out: type[msgspec.Struct]
    deletable: bool = True
    creatable: bool = True

    @property
    def item_path(self) -> str:
        return f"{API}{self.path}/{{{self.singular}_id}}"

    @property
    def id_param(self) -> str:
        return f"{self.singular}_id"


def _crud(res: Resource) -> list[Endpoint]:
    entity, id_param = res.entity, res.id_param
    forget_agent = entity == "agent"

    async def list_(call: Call) -> Any:
        items, total = await call.run(
            call.ctx.service.page, entity, call.query.limit, call.query.offset
        )
        return _page(items, total, call.query)

    async def get(call: Call) -> Any:
        return await call.run(call.ctx.service.get, entity, call.path(id_param))

    async def create(call: Call) -> Any:
        values = s.to_store(call.body)
        entity_id = values.pop("id")
        item = await call.run(call.ctx.service.create, call.actor, entity, entity_id, values)
        return Reply(item, headers={"Location": f"{API}{res.path}/{entity_id}"})

    async def patch(call: Call) -> Any:
        entity_id = call.path(id_param)
        item = await call.run(
            call.ctx.service.update, call.actor, entity, entity_id, s.to_store(call.body)
        )
        if forget_agent:
            call.ctx.credentials.forget(entity_id)
        return item

    async def delete(call: Call) -> Any:
        entity_id = call.path(id_param)
        await call.run(call.ctx.service.delete, call.actor, entity, entity_id)
        if forget_agent:
            call.ctx.credentials.forget(entity_id)

    name = res.singular
    label = name.replace("_", " ")
    a_label = f"{'an' if label[0] in 'aeiou' else 'a'} {label}"
    endpoints = [
        Endpoint(
            "GET",
            f"{API}{res.path}",
            list_,
            f"list_{name}s",
            f"List {label}s (paged, by id).",
            res.tag,
            Access.READ,
            query=s.PageQuery,
            response=s.Page[res.out],  # type: ignore[name-defined]
        ),
        Endpoint(
            "GET",
            res.item_path,
            get,
            f"get_{name}",
            f"One {label}.",
            res.tag,
            Access.READ,
            response=res.out,
        ),
        Endpoint(
            "PATCH",
            res.item_path,
            patch,
            f"update_{name}",
            f"Change fields of {a_label} (absent fields stay as they are).",
            res.tag,
            Access.WRITE,
            body=res.patch,
            response=res.out,
        ),
    ]
    if res.creatable:
        endpoints.insert(
            1,
            Endpoint(
                "POST",
                f"{API}{res.path}",
                create,
                f"create_{name}",
                f"Create {a_label}.",
                res.tag,
                Access.WRITE,
                body=res.create,
                response=res.out,
                status=201,
            ),
        )
    if res.deletable:
        endpoints.append(
            Endpoint(
                "DELETE",
                res.item_path,
                delete,
                f"delete_{name}",
                f"Delete {a_label} (409 while still referenced).",
                res.tag,
                Access.WRITE,
            )
        )
    return endpoints


RESOURCES = (
    Resource("tier", "/tiers", "tier", "tiers", s.TierCreate, s.TierPatch, s.Tier),
    Resource("skill", "/skills", "skill", "skills", s.SkillCreate, s.SkillPatch, s.Skill),
    Resource("agent", "/agents", "agent", "agents", s.AgentCreate, s.AgentPatch, s.Agent),
    Resource(
        "agent_group",
        "/agent-groups",
        "agent_group",
        "agent groups",
        s.AgentGroupCreate,
        s.AgentGroupPatch,
        s.AgentGroup,
    ),
    Resource("queue", "/queues", "queue", "queues", s.QueueCreate, s.QueuePatch, s.Queue),
    Resource(
        "reason_code",
        "/reason-codes",
        "reason_code",
        "reason codes",
        s.ReasonCodeCreate,
        s.ReasonCodePatch,
        s.ReasonCode,
    ),
    Resource(
        "calendar",
        "/calendars",
        "calendar",
        "calendars",
        s.CalendarCreate,
        s.CalendarPatch,
        s.Calendar,
    ),
)


# --- relations ------------------------------------------------------------------------------


async def put_agent_skills(call: Call) -> Any:
    return await call.run(
        call.ctx.service.set_agent_skills, call.actor, call.path("agent_id"), call.body.skills
    )


async def put_agent_password(call: Call) -> Any:
    agent_id = call.path("agent_id")
    await call.run(call.ctx.service.set_agent_password, call.actor, agent_id, call.body.password)
    call.ctx.credentials.forget(agent_id)


async def put_group_members(call: Call) -> Any:
    return await call.run(
        call.ctx.service.set_group_members,
        call.actor,
        call.path("agent_group_id"),
        call.body.agents,
    )


async def put_group_tiers(call: Call) -> Any:
    return await call.run(
        call.ctx.service.set_group_tiers, call.actor, call.path("agent_group_id"), call.body.tiers
    )


# --- customers ------------------------------------------------------------------------------


async def search_customers(call: Call) -> Any:
    q: s.CustomerQuery = call.query
    items, total = await call.run(
        call.ctx.service.search_customers,
        text=q.q,
        tier_id=q.tier,
        blacklisted=q.blacklisted,
        limit=q.limit,
        offset=q.offset,
    )
    return _page(items, total, q)


async def get_customer(call: Call) -> Any:
    return await call.run(call.ctx.service.get, "customer", call.path("customer_id"))


async def patch_customer(call: Call) -> Any:
    return await call.run(
        call.ctx.service.update,
        call.actor,
        "customer",
        call.path("customer_id"),
        s.to_store(call.body),
    )


async def put_customer_numbers(call: Call) -> Any:
    return await call.run(
        call.ctx.service.set_customer_numbers,
        call.actor,
        call.path("customer_id"),
        call.body.numbers,
    )


async def delete_customer(call: Call) -> Any:
    await call.run(call.ctx.service.delete, call.actor, "customer", call.path("customer_id"))


# --- IVR flows ------------------------------------------------------------------------------


async def list_flows(call: Call) -> Any:
    flows = await call.run(call.ctx.service.flows)
    q = call.query
    return _page(flows[q.offset : q.offset + q.limit], len(flows), q)


async def get_current_flow(call: Call) -> Any:
    return await call.run(call.ctx.service.get_flow, call.path("flow_id"))


async def list_flow_versions(call: Call) -> Any:
    return await call.run(call.ctx.service.flow_versions, call.path("flow_id"))


async def add_flow_version(call: Call) -> Any:
    flow_id = call.path("flow_id")
    body: s.FlowVersionCreate = call.body
    version = await call.run(
        call.ctx.service.add_flow_version, call.actor, flow_id, body.name, body.document
    )
    flow = await call.run(call.ctx.service.get_flow, flow_id, version)
    return Reply(flow, headers={"Location": f"{API}/ivr-flows/{flow_id}/versions/{version}"})


async def put_flow(call: Call) -> Any:
    """R-IVR-5: validate a flow document and store it as the flow's next version."""
    flow_id = call.path("flow_id")
    body: s.FlowPut = call.body
    try:
        saved = await call.run(
            save_flow,
            call.ctx.service.store,
            call.actor,
            flow_id,
            body.document,
            name=body.name,
            publish=body.publish,
        )
    except FlowRejected as exc:
        problems = [msgspec.to_builtins(p) for p in exc.problems]
        detail = {"in": "body", "field": "document", "problems": problems}
        raise ApiError(422, "invalid_flow", str(exc), detail) from None
    flow = await call.run(call.ctx.service.get_flow, flow_id, saved.version)
    return Reply(
        flow,
        status=201,
        headers={"Location": f"{API}/ivr-flows/{flow_id}/versions/{saved.version}"},
    )


async def get_flow_version(call: Call) -> Any:
    return await call.run(call.ctx.service.get_flow, call.path("flow_id"), call.path("version"))


async def publish_flow(call: Call) -> Any:
    return await call.run(
        call.ctx.service.publish_flow, call.actor, call.path("flow_id"), call.body.version
    )


# --- audit ----------------------------------------------------------------------------------


async def list_audit(call: Call) -> Any:
    q: s.AuditQuery = call.query
    items, total = await call.run(
        call.ctx.service.audit,
        entity=q.entity,
        entity_id=q.entity_id,
        actor=q.actor,
        action=q.action,
        since=q.since,
        until=q.until,
        limit=q.limit,
        offset=q.offset,
    )
    return _page(items, total, q)


# --- tier import ----------------------------------------------------------------------------


def _import_format(call: Call) -> str:
    q: s.ImportQuery = call.query
    if q.format is not None:
        return q.format
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == XLSX_MEDIA:
        return "xlsx"
    if media in CSV_MEDIA:
        return "csv"
    raise ApiError(
        422,
        "validation_error",
        "say which file format this is: ?format=csv|xlsx or a text/csv or .xlsx Content-Type",
        {"in": "query", "field": "format"},
    )


async def start_import(call: Call) -> Any:
    fmt = _import_format(call)
    q: s.ImportQuery = call.query
    jobs = call.ctx.imports
    options = ImportOptions(
        replace_numbers=q.replace_numbers,
        chunk_size=q.chunk_size or jobs.default_chunk_size,
        encoding=q.encoding,
        sheet=q.sheet,
    )
    length = call.request.headers.get("content-length")
    job = await jobs.receive(
        call.request.stream(),
        fmt=fmt,
        actor=call.actor,
        options=options,
        declared_length=int(length) if length and length.isdigit() else None,
    )
    url = f"{API}/tiers/import/{job['id']}"
    return Reply({"job_id": job["id"], "status_url": url, "job": job}, headers={"Location": url})


async def list_imports(call: Call) -> Any:
    return call.ctx.imports.jobs()


async def get_import(call: Call) -> Any:
    return call.ctx.imports.get(call.path("job_id"))


async def cancel_import(call: Call) -> Any:
    return call.ctx.imports.cancel(call.path("job_id"))


# --- the table ------------------------------------------------------------------------------


def _ep(  # noqa: PLR0917 - the table reads better positionally
    method: str,
    path: str,
    handler: Handler,
    summary: str,
    tag: str,
    access: Access,
    **kwargs: Any,
) -> Endpoint:
    return Endpoint(
        method, f"{API}{path}", handler, handler.__name__, summary, tag, access, **kwargs
    )


def admin_endpoints() -> list[Endpoint]:
    """Every /api/v1 endpoint except the API description itself, in matching order."""
    imports = [
        _ep(
            "POST",
            "/tiers/import",
            start_import,
            "Upload a tier file (CSV or .xlsx) as the request body; the import runs in the "
            "background (202 with the job).",
            "tier import",
            Access.IMPORT,
            body=RawBody(
                (*CSV_MEDIA, XLSX_MEDIA),
                "The file itself (not multipart). Columns: numbers and tier (required), "
                "customer_id, name, region, blacklisted; English or Chinese headers.",
            ),
            query=s.ImportQuery,
            response=s.ImportAccepted,
            status=202,
            errors=(413,),
        ),
        _ep(
            "GET",
            "/tiers/import",
            list_imports,
            "Recent import jobs, newest first.",
            "tier import",
            Access.IMPORT,
            response=list[s.ImportJob],
        ),
        _ep(
            "GET",
            "/tiers/import/{job_id}",
            get_import,
            "Progress and final report of an import job.",
            "tier import",
            Access.IMPORT,
            response=s.ImportJob,
        ),
        _ep(
            "DELETE",
            "/tiers/import/{job_id}",
            cancel_import,
            "Cancel an import job (it stops after the chunk being written).",
            "tier import",
            Access.IMPORT,
            response=s.ImportJob,
            status=202,
        ),
    ]
    relations = [
        _ep(
            "PUT",
            "/agents/{agent_id}/skills",
            put_agent_skills,
            "Replace an agent's skills and levels (1 = first skill).",
            "agents",
            Access.WRITE,
            body=s.AgentSkills,
            response=s.Agent,
        ),
        _ep(
            "PUT",
            "/agents/{agent_id}/password",
            put_agent_password,
            "Set an agent's password (audited without the hash).",
            "agents",
            Access.WRITE,
            body=s.PasswordChange,
        ),
        _ep(
            "PUT",
            "/agent-groups/{agent_group_id}/members",
            put_group_members,
            "Replace the agents of a group.",
            "agent groups",
            Access.WRITE,
            body=s.GroupMembers,
            response=s.AgentGroup,
        ),
        _ep(
            "PUT",
            "/agent-groups/{agent_group_id}/tiers",
            put_group_tiers,
            "Replace the tiers a group serves.",
            "agent groups",
            Access.WRITE,
            body=s.GroupTiers,
            response=s.AgentGroup,
        ),
    ]
    customers = [
        _ep(
            "GET",
            "/customers",
            search_customers,
            "Search customers by number (any written form) or name fragment, tier, blacklist.",
            "customers",
            Access.READ,
            query=s.CustomerQuery,
            response=s.Page[s.Customer],
        ),
        _ep(
            "GET",
            "/customers/{customer_id}",
            get_customer,
            "One customer with their numbers.",
            "customers",
            Access.READ,
            response=s.Customer,
        ),
        _ep(
            "PATCH",
            "/customers/{customer_id}",
            patch_customer,
            "Change a customer (e.g. their tier); live tier look-ups see it at once.",
            "customers",
            Access.WRITE,
            body=s.CustomerPatch,
            response=s.Customer,
        ),
        _ep(
            "PUT",
            "/customers/{customer_id}/numbers",
            put_customer_numbers,
            "Replace a customer's phone numbers (normalised; 409 if another customer has one).",
            "customers",
            Access.WRITE,
            body=s.CustomerNumbers,
            response=s.Customer,
        ),
        _ep(
            "DELETE",
            "/customers/{customer_id}",
            delete_customer,
            "Delete a customer and their numbers.",
            "customers",
            Access.WRITE,
        ),
    ]
    flows = [
        _ep(
            "GET",
            "/ivr-flows",
            list_flows,
            "IVR flows with their latest and published versions.",
            "ivr flows",
            Access.READ,
            query=s.PageQuery,
            response=s.Page[s.FlowSummary],
        ),
        _ep(
            "GET",
            "/ivr-flows/{flow_id}",
            get_current_flow,
            "The published version of a flow (the latest if none is published).",
            "ivr flows",
            Access.READ,
            response=s.FlowVersion,
        ),
        _ep(
            "PUT",
            "/ivr-flows/{flow_id}",
            put_flow,
            "Validate a flow document (shared.ivr) and store it as the next version; "
            "`publish` makes route responses hand it out (422 `invalid_flow` lists every "
            "problem).",
            "ivr flows",
            Access.WRITE,
            body=s.FlowPut,
            response=s.FlowVersion,
            status=201,
        ),
        _ep(
            "GET",
            "/ivr-flows/{flow_id}/versions",
            list_flow_versions,
            "All versions of a flow, oldest first.",
            "ivr flows",
            Access.READ,
            response=list[s.FlowVersionSummary],
        ),
        _ep(
            "POST",
            "/ivr-flows/{flow_id}/versions",
            add_flow_version,
            "Store a new immutable, unpublished version (creates the flow on its first version).",
            "ivr flows",
            Access.WRITE,
            body=s.FlowVersionCreate,
            response=s.FlowVersion,
            status=201,
        ),
        _ep(
            "GET",
            "/ivr-flows/{flow_id}/versions/{version:int}",
            get_flow_version,
            "One version of a flow with its document.",
            "ivr flows",
            Access.READ,
            response=s.FlowVersion,
        ),
        _ep(
            "POST",
            "/ivr-flows/{flow_id}/publish",
            publish_flow,
            "Publish a version (exactly one is published; publish an older one to roll back).",
            "ivr flows",
            Access.WRITE,
            body=s.FlowPublish,
            response=s.FlowVersion,
        ),
    ]
    audit = [
        _ep(
            "GET",
            "/audit",
            list_audit,
            "Audit log, newest first; filters combine (until is exclusive).",
            "audit",
            Access.AUDIT,
            query=s.AuditQuery,
            response=s.Page[s.AuditEntry],
        )
    ]
    crud = [endpoint for res in RESOURCES for endpoint in _crud(res)]
    return [*imports, *relations, *crud, *customers, *flows, *audit, *voicemail_endpoints()]
