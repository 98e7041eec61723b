"""What the agent desktop asks besides call control (protocol 1.3, docs/protocol.md):

* ``web.token`` - a one-time sign-on token for the web panels (``/ui/sso``);
* ``call.wrap_up`` - after-call notes and category onto the call's contact record;
* ``desktop.directory`` - reason codes, queues, agents and IVR transfer targets.

Blocking store work runs off the event loop: the token in a worker thread, the wrap-up
through the call writer (its FIFO puts it after the release's contact record).
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse

from cti_server.store import WrapUpRefusal, WrapUpView, issue_web_token
from cti_server.store.errors import NotFound
from cti_server.store.models import Role
from cti_server.store.web_tokens import DEFAULT_TTL
from cti_server.ws import DomainError, Principal
from shared.ivr.library import shipped_flow_names
from shared.protocol.agent import AgentState
from shared.protocol.call import CallState, CallWrapUp, WrapUpResult
from shared.protocol.desktop import (
    MAX_DIRECTORY_AGENTS,
    DesktopDirectory,
    DirectoryAgent,
    DirectoryQueue,
    DirectoryReason,
    IvrTarget,
    WebTokenResult,
)
from shared.protocol.errors import ErrorCode, ProtocolError

from .centre import ContactCentre
from .errors import invalid_state

WEB_BASE = "/ui"
"""Where the web panels are mounted (``WebSettings.base_path``)."""

IVR_TARGETS: tuple[IvrTarget, ...] = (
    IvrTarget(flow_id="survey", label="满意度调查 / Satisfaction survey"),
    IvrTarget(flow_id="default", label="主菜单 / Main menu (IVR)"),
)
"""IVR flows a desktop may transfer a caller to. Shipped flows, so every switch runs
them even before it has fetched anything from the server (the survey's ``lookup`` node
stores the caller's answers for the call's last agent)."""

_REASON_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,32}")
_NAME = re.compile(r"\S{1,64}")
"""What the protocol's ReasonCode / Name accept: configuration rows that do not fit are
left out of the directory instead of making the whole result undecodable."""

_ON_CALL = (CallState.ESTABLISHED, CallState.HELD, CallState.CONSULTING, CallState.CONFERENCED)
_DESK_ROLES = frozenset({Role.AGENT, Role.TEAM_LEAD, Role.ADMIN})


# --- web.token -----------------------------------------------------------------------------


def _check_next(path: str) -> str:
    """``path`` if it stays inside the web panels (no ``.``/``..`` segment), else
    ``invalid_field`` at ``$.next_path``."""
    head = urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0])
    if any(part in (".", "..") for part in head.split("/")) or "\\" in head:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            "next_path must stay inside /ui/ (no `.` or `..` segments)",
            detail={"path": "$.next_path", "expected": "a path under /ui/"},
        )
    return path


async def web_token(
    centre: ContactCentre, agent_id: str, next_path: str | None, *, ttl: float = DEFAULT_TTL
) -> WebTokenResult:
    """A one-time token for ``agent_id`` (``unknown_agent`` for an inactive account)."""
    target = _check_next(next_path) if next_path is not None else f"{WEB_BASE}/"
    expires_at = centre.clock.wall() + ttl  # the store's expiry is at or after this
    try:
        token = await asyncio.to_thread(issue_web_token, centre.store.sessions, agent_id, ttl=ttl)
    except NotFound:
        raise DomainError(
            ErrorCode.UNKNOWN_AGENT, f"{agent_id} is not an active account", {"agent_id": agent_id}
        ) from None
    query = urllib.parse.urlencode({"token": token, "next": target})
    return WebTokenResult(token=token, expires_at=expires_at, sso_path=f"{WEB_BASE}/sso?{query}")


# --- call.wrap_up ----------------------------------------------------------------------------


def _on_call(centre: ContactCentre, agent_id: str, call_id: str) -> CallState | None:
    """The agent's state on ``call_id`` while the server holds them on it, else ``None``."""
    call = centre.calls.get(call_id)
    if call is None or call.closed or call.state not in _ON_CALL:
        return None
    if agent_id not in (call.agent_id, call.conferenced_with):
        return None
    return call.state


async def _part_over(centre: ContactCentre, agent_id: str, call_id: str, wait: float) -> None:
    """Wait (at most ``wait`` seconds) until the server has handled the end of the agent's
    part of the call: a desktop may send the wrap-up right after its ``call.release``
    result, before the switch's ``released`` report. Once the part is over, its writes
    (release, contact record, transfer) are queued on the call writer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while (state := _on_call(centre, agent_id, call_id)) is not None:
        if loop.time() >= deadline:
            raise invalid_state(
                f"call {call_id} is still in progress at this agent",
                reason="on_call",
                state=str(state),
            )
        await asyncio.sleep(0.02)


def _refused(view: WrapUpView) -> DomainError:
    call_id = view.call_id
    match view.refused:
        case WrapUpRefusal.UNKNOWN_CALL:
            return DomainError(ErrorCode.UNKNOWN_CALL, f"no call {call_id}", {"call_id": call_id})
        case WrapUpRefusal.NOT_HANDLED:
            return DomainError(
                ErrorCode.FORBIDDEN,
                f"only an agent who answered call {call_id} may wrap it up",
                {"call_id": call_id, "reason": "not_handled"},
            )
        case WrapUpRefusal.TOO_LATE:
            ended = view.ended_at.isoformat() if view.ended_at else ""
            return invalid_state(
                f"call {call_id} ended more than 24 h ago", reason="too_late", ended_at=ended
            )
        case _:
            return invalid_state(
                f"call {call_id} is still in progress for this agent", reason="in_progress"
            )


async def wrap_up(centre: ContactCentre, agent_id: str, msg: CallWrapUp) -> WrapUpResult:
    """Store the agent's after-call notes (see :meth:`CallStore.wrap_up`)."""
    await _part_over(centre, agent_id, msg.call_id, max(1.0, centre.domain.command_timeout))
    at = centre.clock.wall()
    future = centre.store.writer.submit(
        lambda calls, _sessions: calls.wrap_up(
            msg.call_id, agent_id, notes=msg.notes, category=msg.category, at=at
        )
    )
    view: WrapUpView = await future
    if view.refused is not None:
        raise _refused(view)
    return WrapUpResult(call_id=msg.call_id, contact_id=view.contact_id, wrapped_up_at=at)


# --- desktop.directory -------------------------------------------------------------------


def _label(text: str | None, fallback: str) -> str:
    return (text or "").strip()[:128] or fallback


def directory(centre: ContactCentre, principal: Principal) -> DesktopDirectory:
    """What the desktop's pickers offer, from the configuration the server loaded."""
    reasons = tuple(
        DirectoryReason(code=code, label=_label(label, code))
        for code, label in sorted(centre.reasons.items())
        if _REASON_CODE.fullmatch(code)
    )
    queues = tuple(
        DirectoryQueue(queue_id=q.queue_id, name=_label(q.name, q.queue_id))
        for q in sorted(centre.config.queues.values(), key=lambda q: q.queue_id)
        if _NAME.fullmatch(q.queue_id)
    )
    agents = tuple(
        DirectoryAgent(
            agent_id=rec.agent_id,
            display_name=_label(rec.name, rec.agent_id),
            extension=rec.extension if rec.state is not AgentState.LOGGED_OFF else None,
            state=rec.state,
        )
        for rec in sorted(centre.agents.values(), key=lambda r: r.agent_id)
        if rec.role in _DESK_ROLES and _NAME.fullmatch(rec.agent_id)
    )[:MAX_DIRECTORY_AGENTS]
    shipped = set(shipped_flow_names())
    return DesktopDirectory(
        role=principal.role or None,
        reason_codes=reasons,
        queues=queues,
        agents=agents,
        ivr_targets=tuple(t for t in IVR_TARGETS if t.flow_id in shipped),
    )
