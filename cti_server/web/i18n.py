"""The web panels' message catalogue: every user-facing string in English and
Simplified Chinese. Pages pick the language from ``?lang=`` (remembered in the
``lang`` cookie), then the cookie, then ``Accept-Language``; Chinese is the default."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"

# key: (English, 简体中文)
MESSAGES: dict[str, tuple[str, str]] = {
    "app_title": ("OpenCC web panels", "OpenCC 业务页面"),
    "nav_home": ("Home", "首页"),
    "nav_contacts": ("Contact history", "接触记录"),
    "nav_notices": ("Notices", "通知通告"),
    "nav_categories": ("Business categories", "业务分类"),
    "nav_inquiry": ("Inquiry", "咨询"),
    "nav_acceptance": ("Acceptance", "受理"),
    "nav_query": ("Query / statistics", "查询统计"),
    "logout": ("Sign out", "退出"),
    "login": ("Sign in", "登录"),
    "login_title": ("Sign in to the web panels", "登录业务页面"),
    "agent_id": ("Agent ID", "工号"),
    "password": ("Password", "密码"),
    "login_failed": ("Wrong agent ID or password.", "工号或密码错误。"),
    "sso_failed": (
        "The sign-on link is invalid or has expired. Sign in with your password.",
        "单点登录链接无效或已过期，请用密码登录。",
    ),
    "signed_in_as": ("Signed in as", "当前用户"),
    "role": ("Role", "角色"),
    "role_agent": ("Agent", "座席"),
    "role_team_lead": ("Team lead", "班长"),
    "role_admin": ("Administrator", "管理员"),
    "role_dept_staff": ("Department staff", "部门人员"),
    "region": ("Region", "区域"),
    "all_regions": ("All regions", "全部区域"),
    "department": ("Department", "部门"),
    "language": ("Language", "语言"),
    "forbidden_title": ("Access refused", "无权访问"),
    "forbidden_role": ("Your role may not open this page.", "您的角色无权打开此页面。"),
    "forbidden_region": (
        "This customer belongs to another region.",
        "该客户属于其他区域，您无权查看。",
    ),
    "forbidden_login": ("Please sign in first.", "请先登录。"),
    "forbidden_csrf": (
        "The form has expired. Reload the page and try again.",
        "表单已过期，请刷新页面后重试。",
    ),
    "forbidden_other": ("You may not do this.", "您无权执行此操作。"),
    "refusal_logged": ("This refusal has been recorded.", "本次拒绝已记入审计日志。"),
    "not_found_title": ("Not found", "未找到"),
    "not_found": ("Nothing here by that name.", "没有找到对应的内容。"),
    "home_intro": (
        "Pages for call handling and the back office.",
        "座席与后台业务处理页面。",
    ),
    # trajectory
    "trajectory_title": ("Call trajectory", "呼叫轨迹"),
    "call_id": ("Call ID", "呼叫编号"),
    "caller": ("Caller", "主叫号码"),
    "called": ("Called", "被叫号码"),
    "customer": ("Customer", "客户"),
    "tier": ("Tier", "客户层次"),
    "queue": ("Queue", "队列"),
    "agent": ("Agent", "座席"),
    "arrived_at": ("Arrived", "呼入时间"),
    "answered_at": ("Answered", "应答时间"),
    "released_at": ("Released", "挂机时间"),
    "disposition": ("Disposition", "处理结果"),
    "time": ("Time", "时间"),
    "step": ("Step", "环节"),
    "details": ("Details", "详情"),
    "no_steps": ("No events recorded for this call.", "该呼叫没有记录任何事件。"),
    "ev_arrived": ("Call arrived", "呼叫到达"),
    "ev_ivr_node": ("IVR node", "IVR 节点"),
    "ev_tier_identified": ("Tier identified", "识别客户层次"),
    "ev_queued": ("Queued", "进入队列"),
    "ev_overflowed": ("Overflowed", "溢出"),
    "ev_routed": ("Routed", "路由"),
    "ev_offered": ("Offered to agent", "分配座席"),
    "ev_rona": ("Not answered by agent", "座席未应答"),
    "ev_answered": ("Answered", "应答"),
    "ev_held": ("Held", "保持"),
    "ev_retrieved": ("Retrieved", "恢复"),
    "ev_transferred": ("Transferred", "转接"),
    "ev_conferenced": ("Conference", "会议"),
    "ev_released": ("Released", "挂机"),
    "ev_acw_ended": ("After-call work ended", "话后处理结束"),
    "ev_survey": ("Satisfaction survey", "满意度调查"),
    "ev_closed": ("Closed", "结束"),
    "d_node": ("node", "节点"),
    "d_label": ("prompt", "提示"),
    "d_digits": ("menu choice", "按键选择"),
    "d_flow_id": ("flow", "流程"),
    "d_queue_id": ("queue", "队列"),
    "d_to_queue": ("to queue", "转至队列"),
    "d_agent_id": ("agent", "座席"),
    "d_from_agent": ("from agent", "转出座席"),
    "d_to_agent": ("to agent", "转至座席"),
    "d_mode": ("mode", "方式"),
    "d_tier_id": ("tier", "层次"),
    "d_customer_id": ("customer", "客户"),
    "d_business_selection": ("business", "业务选择"),
    "d_by": ("by", "挂机方"),
    "d_with_agent": ("with agent", "会议座席"),
    "d_caller_number": ("caller", "主叫"),
    "d_called_number": ("called", "被叫"),
    "d_rule": ("rule", "规则"),
    "d_survey_id": ("survey", "调查"),
    "d_disposition": ("disposition", "处理结果"),
    # contacts
    "contacts_title": ("Contact history", "接触记录"),
    "number": ("Number", "号码"),
    "date_from": ("From", "起始日期"),
    "date_to": ("To", "截止日期"),
    "business": ("Business type", "业务类型"),
    "channel": ("Channel", "渠道"),
    "summary": ("Summary", "摘要"),
    "started_at": ("Started", "开始时间"),
    "any": ("(any)", "（全部）"),
    "filter": ("Filter", "筛选"),
    "reset": ("Reset", "重置"),
    "no_rows": ("No records.", "没有记录。"),
    "page_of": (
        "Page {page} of {pages} ({total} records)",
        "第 {page} / {pages} 页（共 {total} 条）",
    ),
    "prev": ("Previous", "上一页"),
    "next": ("Next", "下一页"),
    "trajectory_link": ("trajectory", "轨迹"),
    "error_date": ("Dates are YYYY-MM-DD.", "日期格式为 YYYY-MM-DD。"),
    # notices
    "notices_title": ("Notices", "通知通告"),
    "notice_new": ("New notice", "发布通知"),
    "notice_title": ("Title", "标题"),
    "notice_body": ("Text", "内容"),
    "severity": ("Kind", "类别"),
    "sev_info": ("Notice", "普通通知"),
    "sev_major_outage": ("Major outage (pushed to every desktop)", "重大故障（推送到所有座席）"),
    "notice_region_hint": ("empty = all regions", "留空表示全部区域"),
    "created_by": ("By", "发布人"),
    "created_at": ("Published", "发布时间"),
    "publish": ("Publish", "发布"),
    "pushed_to": ("Pushed to {n} desktop(s).", "已推送到 {n} 个座席。"),
    "back": ("Back", "返回"),
    # categories
    "categories_title": ("Business category tree", "业务分类树"),
    "name_zh": ("Chinese name", "中文名称"),
    "name_en": ("English name", "英文名称"),
    "add_child": ("Add sub-type", "添加子类"),
    "rename": ("Rename", "重命名"),
    "move_to": ("Move under", "移动到"),
    "move": ("Move", "移动"),
    "disable": ("Disable", "停用"),
    "enable": ("Enable", "启用"),
    "disabled": ("disabled", "已停用"),
    "kind_acceptance": ("Acceptance", "受理"),
    "kind_inquiry": ("Inquiry", "咨询"),
    "kind_query": ("Information query", "查询"),
    "kind_complaint": ("Fault report / complaint", "报障投诉"),
    "kind_payment": ("Payment", "缴费"),
    "kind_marketing": ("Marketing", "营销"),
    "kind_care": ("Care", "关怀"),
    "error_required": ("Please fill in every required field.", "请填写所有必填项。"),
    "error_too_long": ("Too long.", "内容过长。"),
    "error_choice": ("Not a valid choice.", "选项无效。"),
    "error_unknown_parent": ("Unknown parent node.", "上级节点不存在。"),
    "error_move_root": ("Business types cannot be moved.", "业务大类不能移动。"),
    "error_move_kind": (
        "A node stays within its business type.",
        "节点只能在同一业务大类内移动。",
    ),
    "error_move_cycle": ("A node cannot move below itself.", "节点不能移动到自己的下级。"),
    "error_pick_category": ("Pick at least one category.", "请至少选择一个分类。"),
    "saved": ("Saved.", "已保存。"),
    # inquiry / acceptance
    "inquiry_title": ("Inquiry", "咨询"),
    "acceptance_title": ("Acceptance", "受理"),
    "serial_no": ("Serial no.", "流水号"),
    "customer_no": ("Customer no.", "客户号码"),
    "access_time": ("Access time", "接入时间"),
    "remarks": ("Remarks", "备注"),
    "inquiry_categories": ("Inquiry categories", "咨询类别"),
    "acceptance_categories": ("Services", "受理业务"),
    "confirm": ("Confirm", "确认"),
    "record_saved": ("Record {serial} saved.", "记录 {serial} 已保存。"),
    "record_exists": ("Record {serial} was already saved.", "记录 {serial} 已保存过。"),
    "result": ("Result", "结果"),
    "result_accepted": ("Accepted", "受理成功"),
    "result_answered": ("Answered", "已解答"),
    "new_record": ("New record", "新建记录"),
    # query
    "query_title": ("Query / statistics", "查询统计"),
    "query": ("Query", "查询"),
    "total": ("Total", "合计"),
    "q_customer_id": ("Customer ID", "客户编号"),
    "q_name": ("Name", "姓名"),
    "q_number": ("Number", "号码"),
    "q_tier": ("Tier", "客户层次"),
    "q_region": ("Region", "区域"),
    "q_blacklisted": ("Blacklisted", "黑名单"),
    "q_started_at": ("Started", "开始时间"),
    "q_agent_id": ("Agent", "座席"),
    "q_channel": ("Channel", "渠道"),
    "q_disposition": ("Disposition", "处理结果"),
    "q_business": ("Business type", "业务类型"),
    "q_summary": ("Summary", "摘要"),
    "q_date_from": ("From (YYYY-MM-DD)", "起始日期"),
    "q_date_to": ("To (YYYY-MM-DD)", "截止日期"),
    "q_day": ("Day", "日期"),
    "q_serial_no": ("Serial no.", "流水号"),
    "q_kind": ("Kind", "类型"),
    "q_customer_number": ("Customer no.", "客户号码"),
    "q_accessed_at": ("Access time", "接入时间"),
    "q_remarks": ("Remarks", "备注"),
    "q_result": ("Result", "结果"),
    "query_broken": (
        "This query definition is not valid; ask an administrator.",
        "该查询定义无效，请联系管理员。",
    ),
}


def pick_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    if accept:
        for part in accept.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LANGUAGE


def translator(lang: str) -> Callable[..., str]:
    """``_("key", **params)`` in ``lang``; an unknown key shows as itself (tests catch it)."""
    column = 1 if lang == "zh" else 0

    def gettext(key: str, **params: Any) -> str:
        entry = MESSAGES.get(key)
        text = key if entry is None else entry[column]
        return text.format(**params) if params else text

    return gettext


def has_message(key: str) -> bool:
    return key in MESSAGES


def messages_for(lang: str) -> Mapping[str, str]:
    column = 1 if lang == "zh" else 0
    return {k: v[column] for k, v in MESSAGES.items()}
