"""Outbound campaigns in the web console (issue 9; docs/outbound.md "Campaigns").

* ``/ui/campaigns`` — campaigns, call-guide scripts and questionnaires;
* ``/ui/campaigns/new``, ``/ui/campaigns/{id}`` — a campaign's definition (target list,
  dial mode, power ratio, abandon ceiling, strategy JSON validated by the dialling core),
  its state (draft → active ⇄ paused → finished), statistics and attempts table;
* ``/ui/campaigns/scripts/…``, ``/ui/campaigns/questionnaires/…`` — edited as JSON;
* ``GET /ui/api/campaigns/attempts/{attempt_id}/guide`` — the call guide filled from the
  target record, the questionnaire and the answers so far, for the desktop's web window;
* ``POST /ui/api/campaigns/attempts/{attempt_id}/answers`` — the desktop's web window
  posts ``{"answers": {question id: value}}`` (``X-CSRF-Token``), see
  :func:`cti_server.store.campaigns.record_answers`.

Pages: team leads and administrators. Answers: agents (their own attempts), leads, admins.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cti_server.store import campaigns as cmp
from cti_server.store import outbound_lists as ob
from cti_server.store.errors import Conflict
from cti_server.store.models import Role

from . import campaigns_data as cd
from .i18n import MESSAGES
from .services import JsonCall, json_error, json_post

if TYPE_CHECKING:
    from .pages import Handler, WebRequest

    RouteFactory = Callable[[str, frozenset[Role] | None, Handler], Route]

DESK = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})
LEADS = frozenset({Role.TEAM_LEAD, Role.ADMIN})

MESSAGES.update(
    {
        "cmp_nav": ("Campaigns", "外呼活动"),
        "cmp_title": ("Outbound campaigns", "外呼活动"),
        "cmp_new": ("New campaign", "新建活动"),
        "cmp_name": ("Name", "名称"),
        "cmp_classification": ("Classification", "分类"),
        "cmp_list": ("Target list", "目标名单"),
        "cmp_no_list": ("(none yet)", "（暂无）"),
        "cmp_mode": ("Dial mode", "拨号模式"),
        "cmp_mode_preview": ("Preview", "预览式"),
        "cmp_mode_progressive": ("Progressive", "渐进式"),
        "cmp_mode_power": ("Power", "功率式"),
        "cmp_mode_predictive": ("Predictive", "预测式"),
        "cmp_power_ratio": ("Power ratio (lines per idle agent)", "功率比（每名空闲座席线路数）"),
        "cmp_ceiling": ("Abandon ceiling (fraction, 0.03 = 3 %)", "放弃率上限（比例，0.03 即 3%）"),
        "cmp_strategy": ("Strategy (JSON)", "策略（JSON）"),
        "cmp_strategy_help": (
            "Keys: window, region_windows, region_zones, max_attempts, retry_after, "
            "recycle_after, max_recycles, priority, ring_timeout, agent_group, skill.",
            "键：window、region_windows、region_zones、max_attempts、retry_after、"
            "recycle_after、max_recycles、priority、ring_timeout、agent_group、skill。",
        ),
        "cmp_script": ("Call guide", "通话指引"),
        "cmp_questionnaire": ("Questionnaire", "问卷"),
        "cmp_none": ("(none)", "（无）"),
        "cmp_save": ("Save", "保存"),
        "cmp_saved": ("Saved.", "已保存。"),
        "cmp_not_saved": (
            "Not saved: please correct the marked fields.",
            "未保存：请更正标出的字段。",
        ),
        "cmp_state": ("State", "状态"),
        "cmp_state_draft": ("Draft", "草稿"),
        "cmp_state_active": ("Active", "进行中"),
        "cmp_state_paused": ("Paused", "已暂停"),
        "cmp_state_finished": ("Finished", "已结束"),
        "cmp_to_active": ("Start", "开始"),
        "cmp_to_paused": ("Pause", "暂停"),
        "cmp_to_finished": ("Finish", "结束"),
        "cmp_stats": ("Statistics", "统计"),
        "cmp_attempts": ("Attempts", "拨打次数"),
        "cmp_contacts": ("Contacts", "接通"),
        "cmp_rpc": ("Right-party contacts", "本人接通"),
        "cmp_conversions": ("Conversions", "成功转化"),
        "cmp_abandon_rate": ("Abandon rate", "放弃率"),
        "cmp_talk": ("Talk time per agent", "座席通话时长"),
        "cmp_util_note": (
            "Agent utilisation needs the agents' logged-in time, which attempts do not "
            "carry: talk time is shown instead.",
            "座席利用率需要座席登录时长，拨打记录中没有该数据，此处显示通话时长。",
        ),
        "cmp_outcome": ("Outcome", "结果"),
        "cmp_phone": ("Number", "号码"),
        "cmp_agent": ("Agent", "座席"),
        "cmp_started": ("Started", "开始"),
        "cmp_answered": ("Answered", "应答"),
        "cmp_ended": ("Ended", "结束"),
        "cmp_yes": ("yes", "是"),
        "cmp_scripts": ("Call guides", "通话指引"),
        "cmp_questionnaires": ("Questionnaires", "问卷"),
        "cmp_new_script": ("New call guide", "新建通话指引"),
        "cmp_new_questionnaire": ("New questionnaire", "新建问卷"),
        "cmp_sections": (
            'Sections (JSON: [{"title", "text"}], {name} etc. filled in)',
            '段落（JSON：[{"title", "text"}]，{name} 等占位符自动填充）',
        ),
        "cmp_questions": (
            "Questions (JSON: id, text, kind single/multiple/text/number/yes_no, options, "
            "next, branches)",
            "问题（JSON：id、text、kind single/multiple/text/number/yes_no、options、next、"
            "branches）",
        ),
        "cmp_bad_json": ("Not valid JSON: {problem}", "JSON 格式错误：{problem}"),
        "cmp_conflict": ("{problem}", "{problem}"),
        "cmp_err_answers": ("The answers were refused: {problem}", "答案被拒绝：{problem}"),
        "cmp_err_not_yours": ("This is another agent's call.", "这是其他座席的通话。"),
    }
)


def _actor(r: WebRequest) -> str:
    assert r.user is not None
    return r.user.agent_id


def _id(r: WebRequest, name: str) -> int:
    text = str(r.request.path_params[name])
    if not text.isdigit():
        raise LookupError(text)
    return int(text)


def _opt_id(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _json(r: WebRequest, name: str, errors: dict[str, str]) -> Any:
    try:
        return json.loads(r.field(name) or "null")
    except ValueError as exc:
        errors[name] = r._("cmp_bad_json", problem=str(exc))
        return None


# --- overview and campaigns --------------------------------------------------------------


async def index(r: WebRequest) -> Response:
    shown = await r.db(cd.overview)
    return r.render("cmp_index.html", o=shown, flash=r.arg("saved"))


async def _campaign_form(
    r: WebRequest,
    *,
    campaign_id: int | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    page: cd.CampaignPage | None = None,
) -> Response:
    shown = await r.db(cd.overview)
    return r.render(
        "cmp_campaign.html",
        status=status,
        campaign_id=campaign_id,
        values=values,
        errors=errors or {},
        o=shown,
        page=page,
        modes=cmp.MODES,
        classifications=ob.CLASSIFICATIONS,
        transitions=cmp.TRANSITIONS,
        flash=r.arg("saved"),
    )


def _values_of(view: cmp.CampaignView) -> dict[str, Any]:
    return {
        "name": view.name,
        "classification": view.classification,
        "list_id": view.list_id,
        "dial_mode": view.dial_mode,
        "power_ratio": view.power_ratio,
        "abandon_ceiling": view.abandon_ceiling,
        "strategy": json.dumps(view.strategy, ensure_ascii=False, indent=2),
        "script_id": view.script_id,
        "questionnaire_id": view.questionnaire_id,
    }


async def campaign_new(r: WebRequest) -> Response:
    default = {"classification": "survey", "dial_mode": "progressive", "power_ratio": 2.0}
    default |= {"abandon_ceiling": 0.03, "strategy": '{\n  "max_attempts": 3\n}'}
    return await _campaign_form(r, campaign_id=None, values=default)


async def campaign_page(r: WebRequest) -> Response:
    page = await r.db(cd.campaign_page, _id(r, "campaign_id"))
    return await _campaign_form(
        r, campaign_id=page.campaign.id, values=_values_of(page.campaign), page=page
    )


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


async def campaign_save(r: WebRequest) -> Response:
    campaign_id = _opt_id(str(r.request.path_params.get("campaign_id", "")))
    errors: dict[str, str] = {}
    form: dict[str, Any] = {k: r.field(k) for k in ("name", "classification", "dial_mode")}
    form["strategy"] = r.field("strategy")
    form |= {k: r.field(k) for k in ("power_ratio", "abandon_ceiling")}
    form |= {k: _opt_id(r.field(k)) for k in ("list_id", "script_id", "questionnaire_id")}
    values: dict[str, Any] = dict(form)
    values["strategy"] = _json(r, "strategy", errors)
    values["power_ratio"] = _number(r.field("power_ratio"))
    values["abandon_ceiling"] = _number(r.field("abandon_ceiling"))
    if not errors:
        try:
            if campaign_id is None:
                campaign_id = await r.db(cmp.create_campaign, _actor(r), values)
            else:
                await r.db(cmp.update_campaign, _actor(r), campaign_id, values)
            return r.redirect(f"{r.base}/campaigns/{campaign_id}?saved=1")
        except cmp.CampaignInvalid as bad:
            errors = bad.errors
    page = await r.db(cd.campaign_page, campaign_id) if campaign_id is not None else None
    return await _campaign_form(
        r, campaign_id=campaign_id, values=form, errors=errors, status=400, page=page
    )


async def campaign_state(r: WebRequest) -> Response:
    campaign_id = _id(r, "campaign_id")
    try:
        await r.db(cmp.set_state, _actor(r), campaign_id, r.field("state"))
    except cmp.CampaignInvalid as bad:
        page = await r.db(cd.campaign_page, campaign_id)
        return await _campaign_form(
            r,
            campaign_id=campaign_id,
            values=_values_of(page.campaign),
            errors=bad.errors,
            status=400,
            page=page,
        )
    return r.redirect(f"{r.base}/campaigns/{campaign_id}?saved=1")


# --- scripts and questionnaires -------------------------------------------------------------


async def _doc_form(  # noqa: PLR0917 - private
    r: WebRequest,
    kind: str,
    doc_id: int | None,
    name: str,
    body: str,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return r.render(
        "cmp_doc.html",
        status=status,
        kind=kind,
        doc_id=doc_id,
        name=name,
        body=body,
        errors=errors or {},
        flash=r.arg("saved"),
    )


async def doc_page(r: WebRequest) -> Response:
    kind = str(r.request.path_params["kind"])
    text = str(r.request.path_params["doc_id"])
    if kind not in ("scripts", "questionnaires"):
        raise LookupError(kind)
    if text == "new":
        return await _doc_form(r, kind, None, "", "[]")
    doc_id = _id(r, "doc_id")
    if kind == "scripts":
        s = await r.db(cd.script, doc_id)
        body = json.dumps(s.sections, ensure_ascii=False, indent=2)
        return await _doc_form(r, kind, doc_id, s.name, body)
    q = await r.db(cd.questionnaire, doc_id)
    body = json.dumps(q.questions, ensure_ascii=False, indent=2)
    return await _doc_form(r, kind, doc_id, q.name, body)


async def doc_save(r: WebRequest) -> Response:
    kind = str(r.request.path_params["kind"])
    if kind not in ("scripts", "questionnaires"):
        raise LookupError(kind)
    doc_id = _opt_id(str(r.request.path_params["doc_id"]))
    errors: dict[str, str] = {}
    body = _json(r, "body", errors)
    if not errors:
        try:
            if kind == "scripts":
                doc_id = await r.db(
                    cmp.save_script, _actor(r), name=r.field("name"), sections=body,
                    script_id=doc_id,
                )  # fmt: skip
            else:
                doc_id = await r.db(
                    cmp.save_questionnaire, _actor(r), name=r.field("name"), questions=body,
                    questionnaire_id=doc_id,
                )  # fmt: skip
            return r.redirect(f"{r.base}/campaigns/{kind}/{doc_id}?saved=1")
        except cmp.CampaignInvalid as bad:
            errors = bad.errors
        except Conflict as conflict:
            errors = {"body": r._("cmp_conflict", problem=str(conflict))}
    return await _doc_form(
        r, kind, doc_id, r.field("name"), r.field("body"), errors=errors, status=400
    )


# --- the desktop's JSON endpoint ----------------------------------------------------------


async def answers_api(call: JsonCall) -> Response:
    """``{"answers": {question id: value}}`` -> ``{"ok": true, "path": [...]}``."""
    text = str(call.request.path_params["attempt_id"])
    if not text.isdigit():
        raise LookupError(text)
    answers = call.body.get("answers")
    try:
        path = await call.db(
            cd.post_answers, call.user.agent_id, call.user.role, int(text), answers
        )
    except cmp.CampaignInvalid as bad:
        problem = "; ".join(f"{k}: {v}" for k, v in bad.errors.items())
        return json_error(400, "cmp_err_answers", call._("cmp_err_answers", problem=problem))
    except Conflict as conflict:
        return json_error(409, "cmp_err_answers", call._("cmp_err_answers", problem=str(conflict)))
    if path is None:
        return json_error(403, "cmp_err_not_yours", call._("cmp_err_not_yours"))
    return JSONResponse({"ok": True, "path": path})


async def guide_api(r: WebRequest) -> Response:
    """``GET``: the attempt's call guide, questionnaire and answers so far (JSON) plus the
    CSRF token the answers ``POST`` needs."""
    assert r.user is not None
    guide = await r.db(cd.attempt_guide, r.user.agent_id, r.user.role, _id(r, "attempt_id"))
    if guide is None:
        return json_error(403, "cmp_err_not_yours", r._("cmp_err_not_yours"))
    return JSONResponse({**guide, "csrf": r.csrf}, headers={"Cache-Control": "no-store"})


def routes(get: RouteFactory, post: RouteFactory) -> list[Route]:
    """The campaign pages' routes for ``pages._routes()``."""
    return [
        get("/campaigns", LEADS, index),
        get("/campaigns/new", LEADS, campaign_new),
        post("/campaigns/new", LEADS, campaign_save),
        post("/campaigns/{campaign_id}/state", LEADS, campaign_state),
        get("/campaigns/{kind}/{doc_id}", LEADS, doc_page),
        post("/campaigns/{kind}/{doc_id}", LEADS, doc_save),
        get("/campaigns/{campaign_id}", LEADS, campaign_page),
        post("/campaigns/{campaign_id}", LEADS, campaign_save),
        get("/api/campaigns/attempts/{attempt_id}/guide", DESK, guide_api),
        Route(
            "/api/campaigns/attempts/{attempt_id}/answers",
            json_post(DESK, answers_api),
            methods=["POST"],
        ),
    ]
