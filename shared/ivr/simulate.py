"""Dry runs of a flow for the flow designer: "enter a caller and digits, see the path".

:func:`simulate` drives a :class:`~shared.ivr.run.FlowRun` without a switch: every
prompt plays to its end, keys from ``digits`` are pressed whenever the flow waits
for input, a ``,`` in ``digits`` lets one input timeout pass, and once the script
is used up the caller stays silent (timeouts) until the flow ends. Look-ups are
answered from ``lookups`` (service → result fields, or None for an error);
services not listed fail with ``not simulated``. Simulated time advances by
``prompt_seconds`` per prompt played and by each timeout waited.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from shared.ivr.model import DTMF_KEYS, Flow
from shared.ivr.run import (
    Action,
    CallContext,
    CollectDigits,
    FlowRun,
    Lookup,
    Play,
    StartTimer,
    TerminalAction,
    Waiting,
)
from shared.protocol.call import TrajectoryStep

_SCRIPT_CHARS = DTMF_KEYS + ","


class SimulatedEvent(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    event: str
    """``start``, ``prompt_done``, ``dtmf 1``, ``timeout``, ``lookup balance``."""
    actions: tuple[Action, ...]


class Simulation(msgspec.Struct, frozen=True, kw_only=True):
    path: tuple[str, ...]
    """Node ids in the order entered."""
    trajectory: tuple[TrajectoryStep, ...]
    outcome: TerminalAction | None
    """The terminal action; None if ``max_events`` ran out first."""
    events: tuple[SimulatedEvent, ...]
    variables: dict[str, str]
    unused_digits: str
    """Script keys the flow never asked for."""


def simulate(
    flow: Flow,
    context: CallContext,
    digits: str = "",
    *,
    now: float,
    lookups: Mapping[str, Mapping[str, str] | None] | None = None,
    prompt_seconds: float = 1.5,
    max_events: int = 1000,
) -> Simulation:
    """Run ``flow`` for a caller described by ``context`` pressing ``digits``.

    Raises ``ValueError`` when ``digits`` holds anything but keys, ``,`` and spaces.
    """
    script = [ch for ch in digits.upper() if not ch.isspace()]
    bad = sorted({ch for ch in script if ch not in _SCRIPT_CHARS})
    if bad:
        raise ValueError(f"digits may hold only 0-9 * # A-D and ',' (a timeout), not {bad}")
    answers = lookups or {}
    run = FlowRun(flow)
    clock = now
    events: list[SimulatedEvent] = []
    timeout = 0.0
    pending = 0.0
    service = ""

    def record(event: str, actions: list[Action]) -> None:
        nonlocal timeout, pending, service
        events.append(SimulatedEvent(at=clock, event=event, actions=tuple(actions)))
        for action in actions:
            if isinstance(action, Play):
                pending = prompt_seconds * len(action.prompts)
            elif isinstance(action, CollectDigits):
                timeout = action.timeout
            elif isinstance(action, StartTimer):
                timeout = action.seconds
            elif isinstance(action, Lookup):
                service = action.service

    record("start", run.start(context, now=clock))
    while not run.done and len(events) < max_events:
        if run.waiting is Waiting.PROMPT:
            clock += pending
            record("prompt_done", run.on_prompt_done(now=clock))
        elif run.waiting is Waiting.INPUT:
            key = script.pop(0) if script else ","
            if key == ",":
                clock += timeout
                record("timeout", run.on_timeout(now=clock))
            else:
                clock += 0.5
                record(f"dtmf {key}", run.on_dtmf(key, now=clock))
        elif run.waiting is Waiting.LOOKUP:
            clock += 0.2
            if service in answers and answers[service] is not None:
                values = answers[service]
                assert values is not None
                record(f"lookup {service}", run.on_lookup_result(now=clock, values=values))
            else:
                error = "error" if service in answers else "not simulated"
                record(f"lookup {service}", run.on_lookup_result(now=clock, error=error))
        else:  # pragma: no cover - NOT_STARTED cannot happen after start
            break
    return Simulation(
        path=tuple(run.path),
        trajectory=tuple(run.trajectory),
        outcome=run.outcome,
        events=tuple(events),
        variables=dict(run.variables),
        unused_digits="".join(k for k in script if k != ","),
    )
