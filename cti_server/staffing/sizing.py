"""Staffing: the smallest number of agents that meets a target.

Each function searches ``n`` upwards (exponential steps, then bisection), which
is exact because the metrics are monotone in ``n``: service level rises, ASA,
abandonment and occupancy fall. Units: rates per second, times in seconds,
targets as fractions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cti_server.staffing._validate import (
    check_agents,
    check_non_negative,
    check_occupancy_cap,
    check_open_fraction,
    check_patience,
    check_positive,
)
from cti_server.staffing.erlang import erlang_c_metrics
from cti_server.staffing.erlang_a import erlang_a_metrics

DEFAULT_MAX_AGENTS = 100_000
# Slack for floating-point rounding when a metric lands exactly on its target.
_REL_TOL = 1e-12


def _smallest(predicate: Callable[[int], bool], lo: int, max_agents: int) -> int:
    """Smallest ``n >= lo`` with ``predicate(n)``; ``predicate`` must be monotone."""
    if lo > max_agents:
        raise ValueError(f"target needs more than max_agents={max_agents} agents")
    if predicate(lo):
        return lo
    failing, step = lo, 1
    while True:
        candidate = min(failing + step, max_agents)
        if predicate(candidate):
            break
        if candidate == max_agents:
            raise ValueError(f"target cannot be met with max_agents={max_agents} agents")
        failing, step = candidate, step * 2
    passing = candidate
    while passing - failing > 1:
        middle = (failing + passing) // 2
        if predicate(middle):
            passing = middle
        else:
            failing = middle
    return passing


def _occupancy_floor(load: float, max_occupancy: float | None) -> int:
    """Fewest agents with ``load / n <= max_occupancy``."""
    if max_occupancy is None:
        return 1
    return max(1, math.ceil(load / max_occupancy * (1.0 - _REL_TOL)))


def agents_for_service_level(
    arrival_rate: float,
    aht: float,
    target_sl: float,
    answer_time: float,
    max_occupancy: float | None = None,
    *,
    max_agents: int = DEFAULT_MAX_AGENTS,
) -> int:
    """Fewest agents so that Erlang C P(wait <= answer_time) >= target_sl.

    ``arrival_rate`` calls/s (``>= 0``; 0 needs 0 agents), ``aht`` seconds,
    ``target_sl`` in (0, 1), ``answer_time`` seconds (``>= 0``),
    ``max_occupancy`` optional cap in (0, 1] on ``load / agents``.
    Raises ``ValueError`` if more than ``max_agents`` would be needed.
    """
    lam = check_non_negative("arrival_rate", arrival_rate)
    handle = check_positive("aht", aht)
    target = check_open_fraction("target_sl", target_sl)
    t = check_non_negative("answer_time", answer_time)
    cap = None if max_occupancy is None else check_occupancy_cap("max_occupancy", max_occupancy)
    limit = check_agents("max_agents", max_agents, 1)
    if lam == 0.0:
        return 0
    load = lam * handle

    def meets(n: int) -> bool:
        result = erlang_c_metrics(lam, handle, n, t)
        return result.stable and result.service_level >= target * (1.0 - _REL_TOL)

    lo = max(math.floor(load) + 1, _occupancy_floor(load, cap))
    return _smallest(meets, lo, limit)


def agents_for_asa(
    arrival_rate: float,
    aht: float,
    target_asa: float,
    max_occupancy: float | None = None,
    *,
    max_agents: int = DEFAULT_MAX_AGENTS,
) -> int:
    """Fewest agents so that the Erlang C average speed of answer <= target_asa.

    ``arrival_rate`` calls/s (``>= 0``; 0 needs 0 agents), ``aht`` and
    ``target_asa`` in seconds (``> 0``), ``max_occupancy`` optional cap in (0, 1].
    """
    lam = check_non_negative("arrival_rate", arrival_rate)
    handle = check_positive("aht", aht)
    target = check_positive("target_asa", target_asa)
    cap = None if max_occupancy is None else check_occupancy_cap("max_occupancy", max_occupancy)
    limit = check_agents("max_agents", max_agents, 1)
    if lam == 0.0:
        return 0
    load = lam * handle

    def meets(n: int) -> bool:
        result = erlang_c_metrics(lam, handle, n, 0.0)
        return result.stable and result.asa <= target * (1.0 + _REL_TOL)

    lo = max(math.floor(load) + 1, _occupancy_floor(load, cap))
    return _smallest(meets, lo, limit)


def agents_for_service_level_with_abandonment(
    arrival_rate: float,
    aht: float,
    mean_patience: float,
    target_sl: float,
    answer_time: float,
    *,
    max_occupancy: float | None = None,
    max_abandon: float | None = None,
    max_agents: int = DEFAULT_MAX_AGENTS,
) -> int:
    """Fewest agents meeting an Erlang A (M/M/n+M) service-level target.

    Service level is P(answered with wait <= answer_time) over all offered
    calls (abandoned calls count as misses). ``mean_patience`` seconds
    (``math.inf`` reduces to Erlang C); ``max_occupancy`` optional cap in
    (0, 1] on the carried occupancy; ``max_abandon`` optional cap in (0, 1)
    on P(abandon).
    """
    lam = check_non_negative("arrival_rate", arrival_rate)
    handle = check_positive("aht", aht)
    patience = check_patience("mean_patience", mean_patience)
    target = check_open_fraction("target_sl", target_sl)
    t = check_non_negative("answer_time", answer_time)
    cap = None if max_occupancy is None else check_occupancy_cap("max_occupancy", max_occupancy)
    abandon_cap = None if max_abandon is None else check_open_fraction("max_abandon", max_abandon)
    limit = check_agents("max_agents", max_agents, 1)
    if lam == 0.0:
        return 0

    def meets(n: int) -> bool:
        result = erlang_a_metrics(lam, handle, patience, n, t)
        if result.service_level < target * (1.0 - _REL_TOL):
            return False
        if cap is not None and result.occupancy > cap * (1.0 + _REL_TOL):
            return False
        return abandon_cap is None or result.p_abandon <= abandon_cap * (1.0 + _REL_TOL)

    lo = math.floor(lam * handle) + 1 if math.isinf(patience) else 1
    return _smallest(meets, lo, limit)
