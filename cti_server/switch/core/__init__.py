"""The switch's call core (docs/switch.md): the B2BUA joining SIP, rtpengine and the IVR.

* :mod:`.b2bua` — :class:`SwitchCore`: the SIP ``CallHandler`` and the ``CallControl``.
* :mod:`.calls` — call and agent-leg state.
* :mod:`.ivr_runner` — drives a :class:`shared.ivr.FlowRun` with prompts, timers, DTMF.
* :mod:`.queue` — music on hold.
* :mod:`.agent_leg` — ringing agents, bridging, ring-no-answer.
* :mod:`.control` — ``CallControl.execute`` for every switch action.
* :mod:`.standalone` — :class:`StandaloneDecider`, the no-CTI mode.
* :mod:`.app` — :class:`SwitchApp`: rtpengine + SIP stack + registrar + core.
"""

from cti_server.switch.core.app import Credentials, SwitchApp, SwitchAppConfig
from cti_server.switch.core.b2bua import CoreConfig, FlowSource, SwitchCore, shipped_flow_source
from cti_server.switch.core.calls import AgentLeg, Call, Phase
from cti_server.switch.core.queue import ensure_moh, write_moh_wav
from cti_server.switch.core.standalone import StandaloneDecider

__all__ = [
    "AgentLeg",
    "Call",
    "CoreConfig",
    "Credentials",
    "FlowSource",
    "Phase",
    "StandaloneDecider",
    "SwitchApp",
    "SwitchAppConfig",
    "SwitchCore",
    "ensure_moh",
    "shipped_flow_source",
    "write_moh_wav",
]
