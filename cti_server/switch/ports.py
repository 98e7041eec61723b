"""The boundary inside the switch between the call core and whoever decides.

The **call core** owns SIP dialogs and media (``cti_server.switch.sip``,
``cti_server.switch.media``) and runs IVR flows (``shared.ivr``). It asks a
:class:`Decider` what to do and executes the commands it is given through
:class:`CallControl`.

Two deciders exist:

* the **CTI link** (``cti_server.switch.link``): forwards every question to the
  CTI server over the switch link (``shared.protocol.switch``) and turns the
  server's ``switch.command`` events into :meth:`CallControl.execute` calls;
* the **fallback ACD** (``cti_server.switch.fallback``): answers by itself with
  the routing engine's simple strategy while the link is down (R-IN-3), and
  journals what it did so the CTI server can be told when it returns.

The vocabulary is the wire protocol's own (route responses, call-event kinds,
switch actions), so the link maps one to one and the fallback speaks the same
language. Nothing here performs I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from shared.protocol.call import ClearCause, TrajectoryStep
from shared.protocol.errors import ErrorCode
from shared.protocol.switch import (
    LegRole,
    RouteResponse,
    RouteStage,
    SwitchAction,
    SwitchCallEventKind,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteQuery:
    """What the core asks at a call's arrival and when its flow needs a human."""

    call_id: str
    stage: RouteStage
    caller: str | None = None
    called: str | None = None
    trunk: str | None = None
    business_selection: str | None = None
    tier: str | None = None
    queue_id: str | None = None
    trajectory: tuple[TrajectoryStep, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReport:
    """Something that happened to one leg of a call (``at``: wall-clock epoch seconds)."""

    call_id: str
    kind: SwitchCallEventKind
    at: float
    leg: LegRole = LegRole.CALLER
    agent_id: str | None = None
    node: str | None = None
    queue_id: str | None = None
    dtmf: str | None = None
    cause: ClearCause | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationReport:
    """An agent softphone registered, refreshed or went away."""

    sip_user: str
    registered: bool
    contact: str | None = None
    expires_seconds: int = 0
    user_agent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LookupResult:
    """The answer to an IVR self-service look-up (balance read-out …)."""

    values: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None


class CommandFailed(Exception):
    """A command could not be executed; ``code`` goes back to the CTI server."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class DecisionUnavailable(Exception):
    """The decider cannot answer now (e.g. the CTI link just dropped); the core
    then asks the fallback decider instead."""


class Decider(Protocol):
    """Answers the core's questions and takes its reports."""

    async def route(self, query: RouteQuery) -> RouteResponse:
        """Arrival: customer, tier, flow, skip-IVR, blacklist. Agent needed: the queue
        and, when one is free now, the agent (else the core queues the call and a
        later ``offer_to_agent`` command arrives). Raises DecisionUnavailable."""
        ...

    async def lookup(self, call_id: str, service: str, args: Mapping[str, str]) -> LookupResult:
        """IVR self-service data; raises DecisionUnavailable."""
        ...

    def report(self, report: CallReport) -> None:
        """Fire-and-forget: the decider queues, journals or forwards it."""
        ...

    def registration(self, report: RegistrationReport) -> None: ...


class CallControl(Protocol):
    """What a decider may ask the core to do."""

    async def execute(self, call_id: str, action: SwitchAction) -> None:
        """Carry out one switch action on a call; raises CommandFailed."""
        ...

    def registered_contacts(self) -> Mapping[str, str]:
        """Agent SIP user → contact URI of every registered softphone."""
        ...
