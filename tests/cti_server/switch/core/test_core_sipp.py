"""Interop of the caller side with sipp (Debian ``sip-tester``): a foreign UAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.protocol.call import ClearCause
from shared.protocol.switch import RouteStage, SwitchCallEventKind
from tests.cti_server.switch.core.conftest import SwitchFactory
from tests.cti_server.switch.core.core_support import RecordingDecider, media_calls_gone
from tests.cti_server.switch.sip.sip_support import requires_sipp, run_sipp

pytestmark = [pytest.mark.asyncio, requires_sipp]


async def test_core_sipp_uac_call_is_answered_runs_the_ivr_and_hangs_up(
    make_switch: SwitchFactory, tmp_path: Path
) -> None:
    """R-IVR-1: sipp's built-in UAC (INVITE with PCMU SDP, ACK, 3 s, BYE) is answered
    by the switch, the greeting starts, and its BYE ends the call as abandoned in IVR.

    Robust under load: sipp's pause leaves the flow 3 s to start after the ACK, and the
    reports and rtpengine's delete (which follow sipp's exit, not precede it) are
    waited for, not read at once."""
    decider = RecordingDecider()
    app = await make_switch(decider)
    host, port = app.sip_address
    run = await run_sipp(
        ["-sn", "uac", f"{host}:{port}", "-s", "10086", "-m", "1", "-d", "3000"], tmp_path
    )
    assert run.returncode == 0, run.output
    assert (run.successful, run.failed) == (1, 0)
    kinds = decider.kinds()
    assert kinds[0] is SwitchCallEventKind.ARRIVED
    assert decider.queries[0].stage is RouteStage.ARRIVAL
    assert decider.queries[0].called == "10086"
    greeting = await decider.wait_for(SwitchCallEventKind.IVR_NODE)
    assert greeting.node == "greeting"
    released = await decider.wait_for(SwitchCallEventKind.RELEASED)
    assert released.cause is ClearCause.CALLER_ABANDONED
    assert app.core.calls == {}
    # rtpengine's delete is sent just after the release report: wait for it.
    assert await media_calls_gone(app.engine.client, timeout=5.0)
