"""Outbound dialling and pacing core (issue 9, R-OUT-5): events in, actions out, no I/O.

::

    from cti_server.outbound import Dialer, DialMode, TargetRecord

    dialer = Dialer("spring-survey", mode=DialMode.PREDICTIVE)
    dialer.add_records([TargetRecord("r1", "+8613800000001", tz="Asia/Shanghai")])
    actions = dialer.agent_login("1001", now)  # -> [Dial(...)]
    print(dialer.last_decision.explain())      # why this many lines now

The simulator in :mod:`cti_server.outbound.sim` drives the same core for the pacing
proof (``python -m bench.bench_outbound``).
"""

from cti_server.outbound.dialer import AgentPhase, CallPhase, CampaignStats, Dialer
from cti_server.outbound.model import (
    RETRYABLE,
    AbandonCall,
    Action,
    Block,
    CallingWindow,
    Connect,
    Dial,
    DialGuard,
    DialMode,
    InMemoryDialGuard,
    InvalidState,
    NoRecord,
    OutboundConfigError,
    Outcome,
    PreviewOffer,
    RecordClosed,
    RecordStatus,
    Strategy,
    TargetRecord,
    UnknownObject,
)
from cti_server.outbound.pacing import (
    AbandonMonitor,
    AnswerRate,
    BusyAgent,
    LogNormalTime,
    PacingConfig,
    PacingDecision,
    PacingInputs,
    decide,
    predicted_abandon,
    ringing_odds,
)
from cti_server.outbound.records import RecordBook, RecordState

__all__ = [
    "RETRYABLE",
    "AbandonCall",
    "AbandonMonitor",
    "Action",
    "AgentPhase",
    "AnswerRate",
    "Block",
    "BusyAgent",
    "CallPhase",
    "CallingWindow",
    "CampaignStats",
    "Connect",
    "Dial",
    "DialGuard",
    "DialMode",
    "Dialer",
    "InMemoryDialGuard",
    "InvalidState",
    "LogNormalTime",
    "NoRecord",
    "OutboundConfigError",
    "Outcome",
    "PacingConfig",
    "PacingDecision",
    "PacingInputs",
    "PreviewOffer",
    "RecordBook",
    "RecordClosed",
    "RecordState",
    "RecordStatus",
    "Strategy",
    "TargetRecord",
    "UnknownObject",
    "decide",
    "predicted_abandon",
    "ringing_odds",
]
