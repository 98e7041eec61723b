"""The IVR flow designer's server side (R-IVR-5) on SQLite and PostgreSQL: an
administrator creates a flow, validates it (typed problems per node and field, prompts
checked against the catalogue), saves versions, has an invalid publish refused, publishes,
rolls back; every write is audited; the version list names who saved what and what
changed; the simulation looks the caller's tier up like the CTI server; only
administrators with the session's CSRF token get in; and a switch's flow cache picks a
newly published version up on the next call."""

from __future__ import annotations

import copy
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from cti_server.domain.persistence import Persistence
from cti_server.store.flows import seed_shipped_flows, switch_flow
from cti_server.store.models import AuditEntry, IvrFlow
from cti_server.store.prompts import PromptStore
from cti_server.switch.flows import FlowCache
from cti_server.web import WebSettings
from cti_server.web import ivr_designer_data as ivd
from cti_server.web.admin_data import AdminLink
from cti_server.web.i18n import MESSAGES
from cti_server.web.pages import STATIC_DIR
from shared.ivr import flow_to_dict, load_shipped_flow
from shared.protocol.switch import FlowDocument, SwitchFlowGet
from tests.cti_server.http.http_support import running_stack
from tests.cti_server.web.conftest import FAST_HASHER
from tests.cti_server.web.web_support import ADMIN, AGENT_SH, TEAM_LEAD, Browser, WebStack

FLOW = "tier:normal"
API = f"/ui/ivr/api/flows/{FLOW}"


def small_flow(greeting: str = "welcome") -> dict[str, Any]:
    """prompt → menu (1 → queue, 2 → hang-up; failure → hang-up)."""
    return {
        "description": "designer test flow",
        "language": "zh",
        "entry": "hello",
        "nodes": {
            "hello": {"kind": "prompt", "prompts": [greeting], "next": "menu"},
            "menu": {
                "kind": "menu",
                "prompts": ["main_menu"],
                "options": [
                    {"digit": "1", "next": "to_sales", "label": "sales"},
                    {"digit": "2", "next": "bye"},
                ],
                "on_fail": "bye",
            },
            "to_sales": {
                "kind": "queue",
                "queue": "q_sales",
                "business_selection": "sales",
                "prompts": ["please_hold"],
            },
            "bye": {"kind": "hangup", "prompts": ["goodbye"]},
        },
    }


def api_post(browser: Browser, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return browser.client.post(
        f"{API}{path}", json=body, headers={"X-CSRF-Token": browser.csrf, **headers}
    )


def audit_rows(web: WebStack, flow_id: str = FLOW) -> list[tuple[str, str, str]]:
    with web.engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.actor)
            .where(AuditEntry.entity == "ivr_flow", AuditEntry.entity_id.like(f"{flow_id}@%"))
            .order_by(AuditEntry.id)
        ).all()
    return [(a, e, actor) for a, e, actor in rows]


def published_version(web: WebStack, flow_id: str = FLOW) -> int | None:
    version: int | None = web.scalar(
        sa.select(IvrFlow.version).where(IvrFlow.id == flow_id, IvrFlow.published.is_(True))
    )
    return version


def codes(problems: list[dict[str, Any]]) -> set[tuple[str | None, str, str]]:
    return {(p["node"], p["field"], p["code"]) for p in problems}


def test_an_admin_builds_saves_publishes_and_rolls_back_a_flow(web: WebStack) -> None:
    seed_shipped_flows(web.stack.store)
    admin = web.login(ADMIN, lang="en")
    listing = admin.get("/ui/ivr")
    assert listing.status_code == 200
    assert 'data-flow="default"' in listing.text and 'data-flow="normal"' in listing.text
    assert '<tr data-tier="normal"><td>normal</td><td>default</td></tr>' in listing.text

    created = admin.post("/ui/ivr", {"flow_id": FLOW, "copy_from": ""})
    assert created.status_code == 303
    assert created.headers["location"] == f"/ui/ivr/flows/{FLOW}"
    page = admin.get(f"/ui/ivr/flows/{FLOW}")
    assert page.status_code == 200
    assert 'id="ivr-canvas"' in page.text and "/static/ivr_designer.js" in page.text
    assert admin.post("/ui/ivr", {"flow_id": FLOW}).status_code == 400  # exists
    assert admin.post("/ui/ivr", {"flow_id": "bad id"}).status_code == 400

    start = admin.get(API).json()
    assert start["version"] == 1 and start["published"] is False
    assert start["document"]["entry"] == "greeting"

    # a draft with mistakes: an option wired nowhere, a prompt nobody recorded
    broken = small_flow("no_such_prompt")
    broken["nodes"]["menu"]["options"].append({"digit": "3", "next": ""})
    checked = api_post(admin, "/validate", {"document": broken}).json()
    assert checked["valid"] is False
    assert codes(checked["problems"]) >= {
        ("menu", "options[2].next", "dangling_reference"),
        ("hello", "prompts", "prompt_missing"),
    }
    saved = api_post(admin, "/versions", {"document": broken, "base_version": 1})
    assert saved.status_code == 201, saved.text
    assert saved.json()["version"] == 2 and saved.json()["valid"] is False

    refused = api_post(admin, "/publish", {"version": 2})
    assert refused.status_code == 422
    assert refused.json()["error"] == "invalid_flow"
    assert ("hello", "prompts", "prompt_missing") in codes(refused.json()["problems"])
    assert published_version(web) is None

    good = api_post(admin, "/versions", {"document": small_flow(), "base_version": 2})
    assert good.status_code == 201 and good.json() | {"problems": []} == {
        "ok": True,
        "flow_id": FLOW,
        "version": 3,
        "valid": True,
        "problems": [],
        "message": "Saved as version 3 (not published).",
    }
    assert api_post(admin, "/publish", {"version": 3}).json()["action"] == "publish"
    assert published_version(web) == 3
    routed = admin.get("/ui/ivr").text
    assert f'<tr data-tier="normal"><td>normal</td><td>{FLOW}</td></tr>' in routed

    # the next version changes the greeting; then roll back to version 3
    v4 = api_post(admin, "/versions", {"document": small_flow("gold_welcome"), "base_version": 3})
    assert v4.json()["version"] == 4
    stale = api_post(admin, "/versions", {"document": small_flow(), "base_version": 3})
    assert stale.status_code == 409 and stale.json()["latest"] == 4
    assert api_post(admin, "/publish", {"version": 4}).status_code == 200
    rollback = admin.post(f"/ui/ivr/flows/{FLOW}/publish", {"version": "3"})
    assert rollback.status_code == 303
    assert published_version(web) == 3

    versions = admin.get(f"{API}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [4, 3, 2, 1]
    assert [v["published"] for v in versions] == [False, True, False, False]
    assert {v["created_by"] for v in versions} == {ADMIN}
    assert versions[0]["changes"] == {
        "first": False,
        "added": [],
        "removed": [],
        "changed": ["hello"],
        "fields": [],
    }
    assert versions[0]["summary"] == "changed hello"
    assert versions[-1]["summary"] == "first version"
    history = admin.get(f"/ui/ivr/flows/{FLOW}/history")
    assert history.status_code == 200 and "changed hello" in history.text

    assert audit_rows(web) == [
        ("create", f"{FLOW}@1", ADMIN),
        ("create", f"{FLOW}@2", ADMIN),
        ("create", f"{FLOW}@3", ADMIN),
        ("publish", f"{FLOW}@3", ADMIN),
        ("create", f"{FLOW}@4", ADMIN),
        ("publish", f"{FLOW}@4", ADMIN),
        ("rollback", f"{FLOW}@3", ADMIN),
    ]
    # the invalid publish through the history page: refused with the problems shown
    page = admin.post(f"/ui/ivr/flows/{FLOW}/publish", {"version": "2"})
    assert page.status_code == 422 and "prompt_missing" in page.text
    assert published_version(web) == 3 and len(audit_rows(web)) == 7


def test_documents_that_are_not_flows_are_refused_and_nothing_is_stored(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    assert admin.post("/ui/ivr", {"flow_id": FLOW}).status_code == 303
    bad = small_flow()
    bad["nodes"]["menu"]["timeout"] = "soon"
    reply = api_post(admin, "/versions", {"document": bad, "base_version": 1})
    assert reply.status_code == 422 and reply.json()["error"] == "format"
    assert reply.json()["problems"][0]["node"] == "menu"
    assert reply.json()["problems"][0]["field"] == "$.nodes.menu.timeout"
    unknown = small_flow()
    unknown["nodes"]["x"] = {"kind": "teleport"}
    assert api_post(admin, "/versions", {"document": unknown, "base_version": 1}).status_code == 422
    assert api_post(admin, "/versions", {"document": [], "base_version": 1}).status_code == 422
    not_json = admin.client.post(
        f"{API}/versions", content=b"{", headers={"X-CSRF-Token": admin.csrf}
    )
    assert not_json.status_code == 400 and not_json.json()["error"] == "bad_json"
    assert api_post(admin, "/publish", {"version": "1"}).status_code == 400
    assert api_post(admin, "/publish", {"version": 99}).status_code == 404
    assert web.scalar(sa.select(sa.func.count()).where(IvrFlow.id == FLOW)) == 1


def test_simulation_looks_the_tier_up_like_the_cti_server(web: WebStack) -> None:
    admin = web.login(ADMIN, lang="en")
    normal = flow_to_dict(load_shipped_flow("normal"))

    def run(caller: str, digits: str, tier: str = "") -> dict[str, Any]:
        reply = api_post(
            admin,
            "/simulate",
            {"document": normal, "caller": caller, "digits": digits, "tier": tier},
        )
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    gold = run("13900139000", "3")
    assert gold["caller"]["tier"] == "gold" and gold["caller"]["customer_id"] == "C000002"
    assert gold["path"][:3] == ["by_tier", "greeting_gold", "main_menu"]
    assert gold["branches"] == ["case 1: gold"]
    assert ["by_tier", "greeting_gold"] in gold["edges"]
    stranger = run("02188886666", "3")
    assert stranger["caller"]["tier"] == "normal" and stranger["caller"]["customer_id"] is None
    assert stranger["path"][:3] == ["by_tier", "greeting", "main_menu"]
    assert stranger["branches"] == ["default"]
    assert run("02188886666", "", tier="gold")["path"][1] == "greeting_gold"
    barred = run("13600136000", "1")
    assert barred["caller"]["blacklisted"] is True
    assert barred["outcome"] == {"action": "hangup", "reason": "blacklisted"}
    vip = run("13800138000", "")
    assert vip["caller"]["tier"] == "vip" and vip["outcome"]["action"] == "queue"
    bad = api_post(admin, "/simulate", {"document": normal, "caller": "1", "digits": "1x"})
    assert bad.status_code == 400 and bad.json()["error"] == "ivr_err_digits"


def test_only_administrators_with_the_csrf_token_get_in(web: WebStack) -> None:
    admin = web.login(ADMIN)
    assert admin.post("/ui/ivr", {"flow_id": FLOW}).status_code == 303
    lead = web.login(TEAM_LEAD)
    assert lead.get("/ui/ivr").status_code == 403
    assert lead.get(API).status_code == 403
    agent = web.login(AGENT_SH)
    refused = api_post(agent, "/versions", {"document": small_flow(), "base_version": 1})
    assert refused.status_code == 403 and refused.json()["error"] == "role"
    no_token = admin.client.post(
        f"{API}/versions", json={"document": small_flow(), "base_version": 1}
    )
    assert no_token.status_code == 403 and no_token.json()["error"] == "csrf"
    foreign = api_post(admin, "/publish", {"version": 1}, **{"X-CSRF-Token": lead.csrf})
    assert foreign.status_code == 403
    form = admin.post(f"/ui/ivr/flows/{FLOW}/publish", {"version": "1"}, csrf="nope")
    assert form.status_code == 403
    anonymous = web.anonymous().client.post(f"{API}/publish", json={"version": 1})
    assert anonymous.status_code == 403 and anonymous.json()["error"] == "login"
    assert web.scalar(sa.select(sa.func.count()).where(IvrFlow.id == FLOW)) == 1
    assert published_version(web) is None
    assert web.refusals(actor=TEAM_LEAD, reason="role")
    assert web.refusals(actor=AGENT_SH, reason="role", entity_id=f"{API}/versions")
    assert len(web.refusals(actor=ADMIN, reason="csrf")) == 3
    assert web.refusals(actor="anonymous", reason="login")


def _wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 1600)


def test_the_prompt_catalogue_is_uploads_over_shipped_in_every_language(tmp_path: Path) -> None:
    store = PromptStore(tmp_path / "uploads")
    assert "welcome" in ivd.prompt_ids(store) and "spring_sale" not in ivd.prompt_ids(store)
    _wav(tmp_path / "uploads" / "zh" / "spring_sale.wav")
    assert "spring_sale" in ivd.prompt_ids(store, ["zh"])
    assert "spring_sale" not in ivd.prompt_ids(store, ["zh", "en"])  # no English recording
    flow = small_flow("spring_sale")
    _, problems = ivd.check_document("promo", flow, store)
    assert problems == []
    flow["nodes"]["lang"] = {"kind": "set", "language": "en", "next": "hello"}
    flow["entry"] = "lang"
    _, problems = ivd.check_document("promo", flow, store)
    assert [(p.node, p.code) for p in problems] == [("hello", "prompt_missing")]
    _, problems = ivd.check_document("promo", flow, None)  # shipped prompts only
    assert ("hello", "prompt_missing") in [(p.node, p.code) for p in problems]


def test_the_designer_checks_prompts_uploaded_to_the_running_server(
    make_web_db: Callable[[str], sa.Engine], tmp_path: Path
) -> None:
    uploads = PromptStore(tmp_path / "prompts")
    settings = WebSettings(admin=AdminLink(prompts=uploads))
    with running_stack(make_web_db("sqlite"), FAST_HASHER, web=settings) as stack:
        admin = WebStack(stack).login(ADMIN, lang="en")
        assert admin.post("/ui/ivr", {"flow_id": "promo"}).status_code == 303

        def check() -> set[tuple[str | None, str, str]]:
            reply = admin.client.post(
                "/ui/ivr/api/flows/promo/validate",
                json={"document": small_flow("spring_sale")},
                headers={"X-CSRF-Token": admin.csrf},
            )
            return codes(reply.json()["problems"])

        assert check() == {("hello", "prompts", "prompt_missing")}
        _wav(tmp_path / "prompts" / "zh" / "spring_sale.wav")  # the flow's language
        assert check() == set()


def test_every_node_kind_has_a_place_in_the_editor() -> None:
    script = (STATIC_DIR / "ivr_designer.js").read_text(encoding="utf-8")
    assert len(ivd.NODE_KINDS) == 13
    for kind in ivd.NODE_KINDS:
        assert f"    {kind}: function ()" in script, kind
        assert f"    {kind}: [" in script, kind
    for key in (k for k in MESSAGES if k.startswith("ivr_")):
        english, chinese = MESSAGES[key]
        assert english and chinese, key
    assert "innerHTML" not in script and "eval(" not in script


@pytest.mark.asyncio
async def test_a_switch_runs_the_newly_published_version_on_the_next_call(
    web: WebStack, tmp_path: Path
) -> None:
    """The route response names the published version per call, so a switch's flow
    cache fetches a version it has not seen before the flow starts: publishing needs no
    cache invalidation."""
    seed_shipped_flows(web.stack.store)
    admin = web.login(ADMIN, lang="en")
    assert admin.post("/ui/ivr", {"flow_id": FLOW, "copy_from": "default"}).status_code == 303
    assert api_post(admin, "/publish", {"version": 1}).status_code == 200
    persistence = Persistence(web.engine)
    store = web.stack.store

    async def fetch(flow_id: str, version: int | None) -> FlowDocument:
        return await switch_flow(store, SwitchFlowGet(id=1, flow_id=flow_id, version=version))

    cache = FlowCache(tmp_path / "flows", fetch)

    async def next_call() -> tuple[str, int, str]:
        route = await persistence.published_flow((FLOW, "default"))
        assert route is not None
        flow = await cache.prefetch(*route)
        return flow.id, flow.version, flow.entry

    assert await next_call() == (FLOW, 1, "greeting")
    document = copy.deepcopy(small_flow())
    saved = api_post(admin, "/versions", {"document": document, "base_version": 1}).json()
    assert await next_call() == (FLOW, 1, "greeting")  # saved, not yet published
    assert api_post(admin, "/publish", {"version": saved["version"]}).status_code == 200
    assert await next_call() == (FLOW, 2, "hello")
    assert api_post(admin, "/publish", {"version": 1}).json()["action"] == "rollback"
    assert await next_call() == (FLOW, 1, "greeting")
    assert cache.fetched == 2  # version 1 came from the cache the second time
