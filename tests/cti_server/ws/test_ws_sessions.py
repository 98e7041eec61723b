"""SessionRegistry without I/O: resume, eviction, grace expiry, takeover (ManualClock)."""

from __future__ import annotations

from cti_server.ws import Principal, Role, Session, SessionRegistry, SessionState
from shared.clock import ManualClock
from shared.protocol.agent import AgentLoggedOff, AgentReady, LogoffReason
from shared.protocol.base import PROTOCOL_VERSION, Event
from shared.protocol.handshake import ClientKind, Resume
from tests.cti_server.ws.ws_support import RecordingHooks

AGENT = Principal("1001", Role.AGENT, ClientKind.DESKTOP)
OTHER = Principal("1002", Role.AGENT, ClientKind.DESKTOP)


class FakeSink:
    def __init__(self, name: str = "c1") -> None:
        self.conn_id = name
        self.events: list[Event] = []
        self.closed: tuple[int, str] | None = None

    def send_event(self, event: Event) -> None:
        self.events.append(event)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def _registry(
    clock: ManualClock, hooks: RecordingHooks | None = None, **kw: object
) -> SessionRegistry:
    options: dict[str, object] = {
        "replay_buffer": 4,
        "disconnect_grace": 30.0,
        "exclusive_kinds": frozenset({ClientKind.DESKTOP}),
    }
    options.update(kw)
    return SessionRegistry(hooks=hooks, clock=clock, **options)  # type: ignore[arg-type]


def _open(
    registry: SessionRegistry,
    sink: FakeSink,
    principal: Principal = AGENT,
    resume: Resume | None = None,
) -> tuple[Session, bool]:
    opening = registry.prepare(principal, PROTOCOL_VERSION, resume)
    return registry.commit(opening, sink), opening.resumed


def test_push_stamps_and_delivers_to_the_live_connection() -> None:
    clock = ManualClock()
    registry = _registry(clock)
    sink = FakeSink()
    session, _ = _open(registry, sink)
    first = session.push(AgentReady(agent_id="1001"))
    second = session.push(AgentReady(agent_id="1001"))
    assert [e.seq for e in sink.events] == [1, 2]
    assert (first.seq, second.seq) == (1, 2)
    assert first.ts == clock.wall()


def test_resume_within_grace_replays_what_was_missed() -> None:
    clock = ManualClock()
    hooks = RecordingHooks()
    registry = _registry(clock, hooks)
    first = FakeSink("c1")
    session, _ = _open(registry, first)
    session.push(AgentReady(agent_id="1001"))
    assert registry.detach(session, first, "connection lost")
    assert session.state is SessionState.DETACHED
    session.push(AgentReady(agent_id="1001"))
    session.push(AgentReady(agent_id="1001"))
    clock.advance(29)
    assert registry.expire_due() == []
    opening = registry.prepare(
        AGENT, PROTOCOL_VERSION, Resume(session_id=session.session_id, last_seq=1)
    )
    assert opening.resumed and [e.seq for e in opening.replay] == [2, 3]
    second = FakeSink("c2")
    registry.commit(opening, second)
    assert session.connection is second and session.live
    assert hooks.names() == ["started", "disconnected", "resumed"]


def test_resume_after_eviction_keeps_the_session_but_needs_a_snapshot() -> None:
    clock = ManualClock()
    registry = _registry(clock)
    first = FakeSink()
    session, _ = _open(registry, first)
    registry.detach(session, first, "lost")
    for _ in range(6):  # buffer keeps 4
        session.push(AgentReady(agent_id="1001"))
    opening = registry.prepare(
        AGENT, PROTOCOL_VERSION, Resume(session_id=session.session_id, last_seq=1)
    )
    assert not opening.resumed and not opening.new and opening.session is session
    assert "evicted" in opening.note


def test_resume_of_unknown_or_foreign_session_starts_a_new_one() -> None:
    clock = ManualClock()
    registry = _registry(clock)
    session, _ = _open(registry, FakeSink())
    unknown = registry.prepare(AGENT, PROTOCOL_VERSION, Resume(session_id="nope", last_seq=0))
    assert unknown.new and not unknown.resumed
    foreign = registry.prepare(
        OTHER, PROTOCOL_VERSION, Resume(session_id=session.session_id, last_seq=0)
    )
    assert foreign.new and foreign.session is not session and "another principal" in foreign.note


def test_grace_expiry_runs_the_hook_once_and_forgets_the_session() -> None:
    clock = ManualClock()
    hooks = RecordingHooks()
    registry = _registry(clock, hooks)
    sink = FakeSink()
    session, _ = _open(registry, sink)
    registry.detach(session, sink, "lost")
    clock.advance(30)
    assert registry.expire_due() == [session]
    assert registry.expire_due() == []
    assert session.state is SessionState.ENDED and registry.get(session.session_id) is None
    assert hooks.names() == ["started", "disconnected", "expired"]
    assert registry.stats.sessions == 0 and registry.stats.sessions_expired == 1


def test_second_login_takes_over_and_old_connection_hears_it_first() -> None:
    clock = ManualClock()
    hooks = RecordingHooks()
    hooks.on_takeover_push = lambda old, new: old.push(
        AgentLoggedOff(agent_id="1001", reason=LogoffReason.TAKEN_OVER)
    )
    registry = _registry(clock, hooks)
    old_sink, new_sink = FakeSink("c1"), FakeSink("c2")
    old, _ = _open(registry, old_sink)
    new, _ = _open(registry, new_sink)
    assert hooks.calls[-1] == ("takeover", (old.session_id, new.session_id))
    assert isinstance(old_sink.events[-1], AgentLoggedOff)
    assert old_sink.closed == (4001, "taken over")
    assert old.state is SessionState.ENDED and registry.get(old.session_id) is None
    assert registry.for_principal("1001") == [new]
    assert registry.stats.takeovers == 1


def test_non_exclusive_kinds_may_hold_several_sessions() -> None:
    registry = _registry(ManualClock())
    tool = Principal("1001", Role.AGENT, ClientKind.TOOL)
    a, _ = _open(registry, FakeSink("c1"), tool)
    b, _ = _open(registry, FakeSink("c2"), tool)
    desk, _ = _open(registry, FakeSink("c3"), AGENT)
    assert {s.session_id for s in registry.for_principal("1001")} == {
        a.session_id,
        b.session_id,
        desk.session_id,
    }


def test_resume_while_still_attached_replaces_the_old_connection() -> None:
    registry = _registry(ManualClock())
    old_sink = FakeSink("c1")
    session, _ = _open(registry, old_sink)
    resume = Resume(session_id=session.session_id, last_seq=0)
    new_sink = FakeSink("c2")
    _, resumed = _open(registry, new_sink, resume=resume)
    assert resumed and session.connection is new_sink
    assert old_sink.closed == (4003, "session resumed elsewhere")


def test_a_failing_hook_is_logged_and_does_not_break_the_registry() -> None:
    class Broken(RecordingHooks):
        def on_session_started(self, session: Session) -> None:
            raise RuntimeError("domain bug")

    registry = _registry(ManualClock(), Broken())
    session, _ = _open(registry, FakeSink())
    assert session.live and registry.stats.handler_exceptions == 1


def test_logout_runs_hook_then_ends() -> None:
    hooks = RecordingHooks()
    registry = _registry(ManualClock(), hooks)
    sink = FakeSink()
    session, _ = _open(registry, sink)
    registry.logout(session)
    assert hooks.names() == ["started", "logout"]
    assert session.state is SessionState.ENDED
    assert not registry.detach(session, sink, "closed")  # no on_disconnected after logout
    assert hooks.names() == ["started", "logout"]
