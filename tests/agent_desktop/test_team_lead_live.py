"""The team lead's view against a real CTI server (R-SUP-1, R-SUP-2).

Team lead 9001 connects as a supervisor client on a link thread (its own asyncio loop,
as the desktop's CTI link does) and subscribes; every event crosses to the GUI thread
through ``TeamLeadView.event_arrived``. Agent 1001 logs on from a desktop client and
becomes ready: the grid shows it ready and the queue table counts it. The lead forces
it not ready from the grid; the request goes out through the view's signal, and the
grid shows the new state when the server reports it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.ui.agents_grid import C_REASON, C_STATE
from agent_desktop.ui.team_lead import TeamLeadView
from agent_desktop.ui.wallboard import Q_READY
from shared.cti_client import ClientEvent, CtiClient
from shared.protocol.agent import AgentLogin, AgentSetReady, AgentState
from shared.protocol.base import Event
from shared.protocol.handshake import ClientKind, PasswordCredentials
from shared.protocol.supervisor import (
    SubscriptionResult,
    SupervisorForceState,
    SupervisorSubscribe,
)
from tests.agent_desktop.conftest import LiveCentre


class LinkThread:
    """An asyncio loop in a daemon thread (the desktop's link thread)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="link", daemon=True)
        self.thread.start()

    def submit[T](self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run[T](self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def link() -> Iterator[LinkThread]:
    thread = LinkThread()
    yield thread
    thread.stop()


def test_lead_sees_an_agent_get_ready_and_forces_it_not_ready(
    qtbot: QtBot, live_centre: LiveCentre, link: LinkThread
) -> None:
    view = TeamLeadView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.set_reason_codes([("meeting", "Meeting")])

    def on_event(item: ClientEvent) -> None:  # on the link thread
        if isinstance(item, Event):
            view.event_arrived.emit(item)

    lead = link.run(
        CtiClient.connect(
            live_centre.ws_url,
            PasswordCredentials(user_id="9001", password="demo"),
            ClientKind.SUPERVISOR,
            on_event=on_event,
        )
    )
    desk = link.run(
        CtiClient.connect(
            live_centre.ws_url,
            PasswordCredentials(user_id="1001", password="demo"),
            ClientKind.DESKTOP,
        )
    )
    sent: list[Future[object]] = []

    # the lead's controller: the view asks, the controller sends on the link thread
    def force_state(agent_id: str, state: str, reason: object) -> None:
        reason_code = None if reason is None else str(reason)
        request = SupervisorForceState(
            id=1,
            agent_id=agent_id,
            state="ready" if state == "ready" else "not_ready",
            reason_code=reason_code,
        )
        sent.append(link.submit(lead.request(request)))

    view.force_state_requested.connect(force_state)
    try:
        body = link.run(lead.request(SupervisorSubscribe(id=1)))
        assert isinstance(body, SubscriptionResult)
        board, grid = view.wallboard, view.agents_grid
        # the current values arrive right after the subscribe result
        qtbot.waitUntil(lambda: bool(board.queue_ids()) and bool(board.tier_categories()))
        assert set(board.queue_ids()) == set(view.model.queues)

        link.run(desk.request(AgentLogin(id=1, initial_state="not_ready")))
        link.run(desk.request(AgentSetReady(id=1)))
        qtbot.waitUntil(
            lambda: "1001" in grid.visible_agents() and grid.cell_text("1001", C_STATE) == "Ready"
        )
        agent = view.model.agents["1001"]
        assert agent.state is AgentState.READY and agent.queues
        queue = agent.queues[0]
        # the next statistics round counts 1001 as ready in its queue
        qtbot.waitUntil(lambda: board.queue_cell(queue, Q_READY).text() == "1")

        assert grid.select_agent("1001")
        assert not grid.force_ready_button.isEnabled()  # already ready
        assert not grid.listen_button.isEnabled()  # no call to listen to
        grid.reason_combo.setCurrentIndex(grid.reason_combo.findData("meeting"))
        grid.force_not_ready_button.click()
        assert len(sent) == 1
        qtbot.waitUntil(lambda: grid.cell_text("1001", C_STATE) == "Not ready")
        assert sent[0].result(5) is None  # the server accepted the request
        assert grid.cell_text("1001", C_REASON) == "meeting"
        assert grid.force_ready_button.isEnabled()  # now the lead can force it back
        qtbot.waitUntil(lambda: board.queue_cell(queue, Q_READY).text() == "0")
    finally:
        link.run(desk.close())
        link.run(lead.close())
