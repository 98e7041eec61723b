"""Erlang B and Erlang C (M/M/n) formulas and call-centre metrics.

Units everywhere: rates are per second, times are in seconds, offered load is
in erlangs (``arrival_rate * aht``), probabilities and service levels are
fractions in ``[0, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cti_server.staffing._special import softplus
from cti_server.staffing._validate import (
    check_agents,
    check_non_negative,
    check_positive,
)


def log_inverse_erlang_b(n: int, a: float) -> float:
    """``log(1 / B(n, a))`` by the Erlang B recursion in log form.

    Uses ``1/B(k) = 1 + (k / a) / B(k-1)`` with ``1/B(0) = 1``, kept as
    logarithms, so neither overflow nor underflow occurs for thousands of
    servers. Requires ``a > 0``.
    """
    log_a = math.log(a)
    log_r = 0.0
    for k in range(1, n + 1):
        log_r = softplus(math.log(k) - log_a + log_r)
    return log_r


def erlang_b(n: int, a: float) -> float:
    """Blocking probability of an M/M/n/n loss system (Erlang B).

    ``n``: servers (trunks, agents), an int ``>= 0``. ``a``: offered load in
    erlangs, ``>= 0``. Returns a probability in ``[0, 1]``; ``erlang_b(0, a) == 1``.
    """
    check_agents("n", n, 0)
    load = check_non_negative("a", a)
    if n == 0:
        return 1.0
    if load == 0.0:
        return 0.0
    return math.exp(-log_inverse_erlang_b(n, load))


def _erlang_c_from_b(n: int, a: float, b: float) -> float:
    return n * b / (n - a * (1.0 - b))


def erlang_c(n: int, a: float) -> float:
    """Probability that an arriving call waits in an M/M/n queue (Erlang C).

    ``n``: agents, an int ``>= 0``; ``a``: offered load in erlangs, ``>= 0``.
    Returns 1.0 when ``a >= n`` (the queue is unstable and every call waits).
    """
    check_agents("n", n, 0)
    load = check_non_negative("a", a)
    if load >= n:
        return 1.0
    if load == 0.0:
        return 0.0
    return min(1.0, _erlang_c_from_b(n, load, math.exp(-log_inverse_erlang_b(n, load))))


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    """Steady-state metrics of an M/M/n queue (no abandonment).

    When ``load >= agents`` the queue is unstable: ``p_wait`` is 1,
    ``asa`` and ``queue_length`` are ``math.inf``, ``service_level`` is 0 and
    ``occupancy`` is 1.
    """

    agents: int
    arrival_rate: float  # calls per second
    aht: float  # mean handle time, seconds
    load: float  # offered load, erlangs
    p_wait: float  # P(wait > 0)
    asa: float  # average speed of answer (mean wait of all calls), seconds
    answer_time: float  # service-level threshold t, seconds
    service_level: float  # P(wait <= answer_time)
    occupancy: float  # fraction of agent time busy
    queue_length: float  # mean number of calls waiting

    @property
    def stable(self) -> bool:
        """True when the offered load is below the number of agents."""
        return self.load < self.agents

    def service_level_at(self, answer_time: float) -> float:
        """P(wait <= answer_time) for another threshold (seconds)."""
        t = check_non_negative("answer_time", answer_time)
        return _erlang_c_service_level(self.agents, self.load, self.aht, self.p_wait, t)


def _erlang_c_service_level(n: int, a: float, aht: float, p_wait: float, t: float) -> float:
    if a >= n:
        return 0.0
    return max(0.0, 1.0 - p_wait * math.exp(-(n - a) * t / aht))


def erlang_c_metrics(
    arrival_rate: float, aht: float, agents: int, answer_time: float
) -> ErlangCResult:
    """Erlang C metrics for ``agents`` agents.

    ``arrival_rate``: calls per second (``>= 0``); ``aht``: mean handle time in
    seconds (``> 0``); ``answer_time``: service-level threshold in seconds
    (``>= 0``). Service level is ``1 - C * exp(-(n - a) * t / aht)``.
    """
    lam = check_non_negative("arrival_rate", arrival_rate)
    handle = check_positive("aht", aht)
    n = check_agents("agents", agents, 1)
    t = check_non_negative("answer_time", answer_time)
    a = lam * handle
    if a >= n:
        p_wait, asa, sl, occupancy, queue_length = 1.0, math.inf, 0.0, 1.0, math.inf
    else:
        p_wait = erlang_c(n, a)
        asa = p_wait * handle / (n - a)
        sl = _erlang_c_service_level(n, a, handle, p_wait, t)
        occupancy = a / n
        queue_length = p_wait * a / (n - a)
    return ErlangCResult(
        agents=n,
        arrival_rate=lam,
        aht=handle,
        load=a,
        p_wait=p_wait,
        asa=asa,
        answer_time=t,
        service_level=sl,
        occupancy=occupancy,
        queue_length=queue_length,
    )
