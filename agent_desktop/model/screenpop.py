"""Screen pop (R-IN-5): which web panels to open for a call, by the caller's intent.

Always the call trajectory (呼叫轨迹) and the contact history (接触记录); then by intent
(:func:`intents_for_call`: the IVR's business selection, and the IVR nodes and menu
choices of the trajectory):

========================  =============================================================
intent                    panels
========================  =============================================================
complaint / fault         new work order from the call, the customer's recent orders
inquiry                   knowledge base (searched by the selection), category tree,
                          the inquiry record page (R-IN-7)
acceptance                the acceptance page (R-IN-7)
query / billing           the query pages; the customer's accounts and bills (behind
                          the service password)
payment / recharge        the customer's recharge-card page (or the customer search)
marketing / care          the customer desk (services, recommendations, care plans);
                          without a customer the service catalogue / care list
========================  =============================================================

An unknown intent gives the base set. Every path is a ``GET`` route of the CTI server's
web side (``cti_server/web``, docs/web.md) under ``/ui``; the desktop opens it through
``/ui/sso?token=…&next=<path>``. Qt-free.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlencode

from agent_desktop.model.state import CallView
from shared.protocol.call import TrajectoryKind


@dataclass(frozen=True, slots=True)
class PanelSpec:
    """One web panel to open: ``key`` is stable per kind of panel (a window per key and
    call), ``path`` the ``/ui/…`` route, ``title_key`` the UI's translation key
    (:data:`PANEL_TITLES` has the English text)."""

    key: str
    path: str
    title_key: str
    call_id: str


class Intent(enum.StrEnum):
    COMPLAINT = "complaint"
    """Complaint or fault report (报障投诉)."""
    INQUIRY = "inquiry"
    ACCEPTANCE = "acceptance"
    QUERY = "query"
    """Information query, bills (查询)."""
    PAYMENT = "payment"
    """Payment, recharge, balance (缴费)."""
    MARKETING = "marketing"
    CARE = "care"


SELECTION_INTENTS: Final[Mapping[str, tuple[Intent, ...]]] = {
    # the shipped IVR flows (shared/ivr/flows/*.json) and shared/ivr/library.py
    "technical_support": (Intent.COMPLAINT,),
    "billing": (Intent.QUERY,),
    "sales": (Intent.MARKETING, Intent.ACCEPTANCE),
    "vip_service": (Intent.CARE,),
    "agent": (Intent.INQUIRY,),  # "speak to an agent": most such calls are questions
    "callback": (),  # a call back / a voicemail: nothing known about the intent
    "voicemail": (),
    # selections of the demo data (cti_server/store/seed.py)
    "broadband": (Intent.INQUIRY,),
    "tv": (Intent.INQUIRY,),
}
"""Business selections whose intent is known as a whole."""

_WORDS: Final[Mapping[Intent, frozenset[str]]] = {
    Intent.COMPLAINT: frozenset(
        {"complaint", "complaints", "fault", "faults", "repair", "outage", "tech", "technical"}
        | {"投诉", "报障", "故障", "报修"}
    ),
    Intent.INQUIRY: frozenset({"inquiry", "enquiry", "question", "faq", "tariff", "咨询"}),
    Intent.ACCEPTANCE: frozenset({"acceptance", "install", "subscribe", "受理", "新装", "办理"}),
    Intent.QUERY: frozenset({"query", "billing", "bill", "bills", "statement", "查询", "账单"}),
    Intent.PAYMENT: frozenset(
        {"payment", "pay", "recharge", "topup", "balance", "缴费", "充值", "余额"}
    ),
    Intent.MARKETING: frozenset({"marketing", "sales", "promotion", "营销", "推荐"}),
    Intent.CARE: frozenset({"care", "retention", "关怀", "挽留", "回访"}),
}
"""Words of business selections (category ids such as ``complaint.service``) and of
IVR node ids / menu choices (``lookup_balance``, ``2 → technical support``)."""

KB_TERMS: Final[Mapping[str, str]] = {
    "broadband": "宽带",
    "tv": "电视",
    "technical_support": "故障",
    "billing": "账单",
    "sales": "套餐",
    "tariff": "资费",
}
"""Knowledge-base search text for selections (the demo articles are mostly Chinese)."""

PANEL_TITLES: Final[Mapping[str, str]] = {
    "trajectory": "Call trajectory",
    "contacts": "Contact history",
    "workorder_new": "New work order",
    "workorders_recent": "Recent work orders",
    "knowledge": "Knowledge base",
    "categories": "Business categories",
    "inquiry": "Inquiry",
    "acceptance": "Acceptance",
    "query": "Queries",
    "account": "Accounts and bills",
    "payment": "Payment",
    "customer": "Customer services and care",
    "services": "Service catalogue",
    "care": "Care plans",
}
"""English text of every ``title_key`` (the UI translates it)."""

_ORDER: Final = tuple(Intent)
_CJK_WORD = re.compile(r"[\u3400-\u9fff]")
_SPLIT = re.compile(r"[^0-9a-z\u3400-\u9fff]+")
_GENERIC = frozenset({"agent", "inquiry", "enquiry", "question", "咨询"})


def _words_intents(text: str) -> set[Intent]:
    low = text.lower()
    tokens = set(_SPLIT.split(low))
    found: set[Intent] = set()
    for intent, words in _WORDS.items():
        for word in words:
            if (word in low) if _CJK_WORD.match(word) else (word in tokens):
                found.add(intent)
                break
    return found


def intents_for_selection(selection: str | None) -> list[Intent]:
    """Intents of an IVR business selection, in :class:`Intent` order."""
    if not selection:
        return []
    known = SELECTION_INTENTS.get(selection.strip().lower())
    found = set(known) if known is not None else _words_intents(selection)
    return [i for i in _ORDER if i in found]


def intents_for_call(call: CallView) -> list[Intent]:
    """The business selection's intents, then those the IVR path adds (the menu choices
    and node ids of the trajectory), without repeats."""
    result = intents_for_selection(call.business_selection)
    seen = set(result)
    steps: Iterable[str] = (
        text
        for step in call.trajectory
        if step.kind in (TrajectoryKind.IVR_NODE, TrajectoryKind.MENU_CHOICE)
        for text in (step.node, step.detail)
        if text
    )
    extra: set[Intent] = set()
    for text in steps:
        extra |= _words_intents(text)
    result += [i for i in _ORDER if i in extra and i not in seen]
    return result


def kb_query(selection: str | None) -> str:
    """Search text for the knowledge base from a business selection ('' = browse)."""
    if not selection:
        return ""
    key = selection.strip().lower()
    if key in KB_TERMS:
        return KB_TERMS[key]
    words = [w for w in _SPLIT.split(key) if w and w not in _GENERIC]
    return " ".join(KB_TERMS.get(w, w) for w in words)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _with(path: str, **params: str | None) -> str:
    query = {k: v for k, v in params.items() if v}
    return f"{path}?{urlencode(query)}" if query else path


def panels_for_call(call: CallView, customer_id: str | None) -> list[PanelSpec]:
    """The panels to pop for ``call``; ``customer_id`` is the identified customer (or
    ``None``: not a customer / not known yet)."""
    call_id = call.call_id
    cid = customer_id or None
    panels: list[PanelSpec] = []

    def add(key: str, path: str) -> None:
        if all(p.key != key for p in panels):
            panels.append(PanelSpec(key=key, path=path, title_key=key, call_id=call_id))

    add("trajectory", f"/ui/calls/{_seg(call_id)}")
    if cid:
        add("contacts", _with("/ui/contacts", customer=cid))
    else:
        add("contacts", _with("/ui/contacts", number=call.caller))

    for intent in intents_for_call(call):
        if intent is Intent.COMPLAINT:
            add("workorder_new", _with("/ui/workorders/new", call_id=call_id))
            if cid:
                add("workorders_recent", f"/ui/customers/{_seg(cid)}/workorders/recent")
        elif intent is Intent.INQUIRY:
            add("knowledge", _with("/ui/kb", q=kb_query(call.business_selection)))
            add("categories", "/ui/categories")
            add("inquiry", _with("/ui/inquiry", call_id=call_id))
        elif intent is Intent.ACCEPTANCE:
            add("acceptance", _with("/ui/acceptance", call_id=call_id))
        elif intent is Intent.QUERY:
            add("query", "/ui/query")
            if cid:
                add("account", _with(f"/ui/pay/customers/{_seg(cid)}/unlock", call_id=call_id))
        elif intent is Intent.PAYMENT:
            if cid:
                add("payment", _with(f"/ui/pay/customers/{_seg(cid)}/recharge", call_id=call_id))
            else:
                add("payment", _with("/ui/pay", q=call.caller))
        elif intent in (Intent.MARKETING, Intent.CARE):
            if cid:
                add("customer", _with(f"/ui/customers/{_seg(cid)}", call_id=call_id))
            elif intent is Intent.MARKETING:
                add("services", "/ui/services")
            else:
                add("care", "/ui/care")
    return panels
