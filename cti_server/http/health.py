"""``GET /health``: is this CTI server able to serve calls?

Each :class:`HealthCheck` answers ``ok``, ``degraded`` or ``failing``; the overall
status is the worst of them. A probe may return a ``bool`` or a :class:`CheckResult`,
directly or as an awaitable. A probe that is false, raises or exceeds its timeout
counts as ``failing`` when the check is ``critical`` and ``degraded`` otherwise.
Synchronous probes run on the event loop and must be cheap (read a flag or a
counter); anything that blocks belongs in an ``async`` probe or a thread, like the
database check, which runs ``SELECT 1`` in a worker thread with a short timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from . import queries
from .schemas import HealthCheckResult, HealthReport

Status = Literal["ok", "degraded", "failing"]
_RANK: dict[Status, int] = {"ok": 0, "degraded": 1, "failing": 2}


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: Status
    detail: str = ""


ProbeResult = bool | CheckResult
Probe = Callable[[], ProbeResult | Awaitable[ProbeResult]]


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """A named probe, e.g. ``HealthCheck("switch_links", lambda: links.connected > 0)``."""

    name: str
    probe: Probe
    critical: bool = True
    """A failure of a critical check makes the server ``failing`` (503), else ``degraded``."""
    timeout: float = 2.0


def database_check(engine: sa.Engine, *, timeout: float = 2.0) -> HealthCheck:
    """The database answers ``SELECT 1`` within ``timeout`` seconds."""

    async def probe() -> bool:
        await asyncio.to_thread(queries.ping, engine)
        return True

    return HealthCheck("database", probe, critical=True, timeout=timeout)


async def _run(check: HealthCheck) -> HealthCheckResult:
    bad: Status = "failing" if check.critical else "degraded"
    started = time.perf_counter()
    try:
        outcome = check.probe()
        if inspect.isawaitable(outcome):
            outcome = await asyncio.wait_for(outcome, check.timeout)
    except TimeoutError:
        result = CheckResult(bad, f"no answer within {check.timeout:g} s")
    except Exception as exc:
        result = CheckResult(bad, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    else:
        if isinstance(outcome, CheckResult):
            result = outcome
        elif outcome is True:
            result = CheckResult("ok")
        else:
            result = CheckResult(bad, "check reported a problem")
    return HealthCheckResult(
        status=result.status,
        detail=result.detail,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        critical=check.critical,
    )


async def run_checks(checks: Sequence[HealthCheck]) -> HealthReport:
    """Run all checks concurrently; the report's status is the worst result."""
    results = await asyncio.gather(*(_run(c) for c in checks))
    by_name = {check.name: result for check, result in zip(checks, results, strict=True)}
    status: Status = "ok"
    for result in results:
        if _RANK[result.status] > _RANK[status]:
            status = result.status
    return HealthReport(status=status, checks=by_name)
