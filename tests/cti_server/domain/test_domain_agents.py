"""Agent sessions over a real server: login, takeover, ready/not-ready, typed errors.

R-IN-8 (ready/not-ready with reason codes, ACW), R-SEC-1 (authenticated users).
"""

from __future__ import annotations

import pytest

from cti_server.app import CtiApp
from shared.cti_client import ConnectionLost
from shared.protocol.agent import (
    AgentLoggedOff,
    AgentLoggedOn,
    AgentLogin,
    AgentNotReady,
    AgentReady,
    AgentSetNotReady,
    AgentSetReady,
    LogoffReason,
)
from shared.protocol.call import CallAnswer
from shared.protocol.errors import ErrorCode, ProtocolError
from tests.cti_server.domain.domain_support import Clients, expect

pytestmark = pytest.mark.asyncio


async def test_login_with_good_and_bad_password(app: CtiApp, clients: Clients) -> None:
    """R-SEC-1: argon2 password check; a wrong password is not_authenticated."""
    with pytest.raises(ProtocolError) as bad:
        await clients.desktop("1001", password="wrong")
    assert bad.value.code is ErrorCode.NOT_AUTHENTICATED
    with pytest.raises(ProtocolError) as unknown:
        await clients.desktop("nobody", password="demo")
    assert unknown.value.code is ErrorCode.NOT_AUTHENTICATED

    desk = await clients.desktop("1001")
    assert desk.welcome is not None and desk.welcome.principal == "1001"
    await desk.request(AgentLogin(id=0, extension="1001"))
    logged = await expect(desk, AgentLoggedOn)
    assert logged.display_name == "张伟"
    assert {s.skill for s in logged.skills} == {"billing", "sales"}
    first = await expect(desk, AgentNotReady)
    assert first.reason_code == "login"
    assert app.centre.agents["1001"].state == "not_ready"


async def test_second_login_takes_over_and_first_desktop_is_told(
    app: CtiApp, clients: Clients
) -> None:
    """One live desktop per agent: the first gets logged_off(taken_over), then 4001."""
    first = await clients.desktop("1001")
    await first.request(AgentLogin(id=0, initial_state="ready"))
    await expect(first, AgentReady)

    second = await clients.desktop("1001")
    off = await expect(first, AgentLoggedOff)
    assert off.reason is LogoffReason.TAKEN_OVER
    await first.wait_disconnected()
    assert first.close_code == 4001

    # the agent was logged off the ACD; the new desktop logs on again
    await second.request(AgentLogin(id=0, initial_state="ready"))
    await expect(second, AgentReady)
    assert app.centre.agents["1001"].session is not None
    with pytest.raises(ConnectionLost):
        await first.request(AgentSetReady(id=0))


async def test_ready_not_ready_with_reason_codes_and_typed_errors(
    app: CtiApp, clients: Clients
) -> None:
    """R-IN-8: reason codes must be configured; answering with nothing ringing is
    invalid_state; requests while logged off are invalid_state."""
    desk = await clients.desktop("1002")
    with pytest.raises(ProtocolError) as off:
        await desk.request(AgentSetReady(id=0))
    assert off.value.code is ErrorCode.INVALID_STATE

    await desk.request(AgentLogin(id=0))
    await desk.request(AgentSetReady(id=0))
    await expect(desk, AgentReady)
    await desk.request(AgentSetNotReady(id=0, reason_code="lunch"))
    nr = await expect(desk, AgentNotReady)
    assert (nr.reason_code, nr.reason_label) == ("lunch", "用餐")

    with pytest.raises(ProtocolError) as bad:
        await desk.request(AgentSetNotReady(id=0, reason_code="napping"))
    assert bad.value.code is ErrorCode.INVALID_FIELD
    assert bad.value.detail["path"] == "$.reason_code"
    assert app.centre.agents["1002"].reason == "lunch"

    with pytest.raises(ProtocolError) as answer:
        await desk.request(CallAnswer(id=0, call_id="C-NOT-RINGING"))
    assert answer.value.code is ErrorCode.INVALID_STATE

    with pytest.raises(ProtocolError) as again:
        await desk.request(AgentLogin(id=0))
    assert again.value.code is ErrorCode.INVALID_STATE
