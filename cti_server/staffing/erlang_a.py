"""Erlang A: the M/M/n+M queue (Palm's model with exponential patience).

Callers arrive at rate λ, are served by ``n`` agents with mean handle time
``1/μ`` and abandon after an exponential patience with mean ``1/θ``. The
number in system is a birth–death chain with birth rate λ and death rate
``min(k, n) μ + max(k - n, 0) θ``; it is stable for any load when θ > 0.

Write ``x = nμ/θ``, ``y = λ/θ`` and ``t_j = Π_{i=1..j} y / (x + i)`` (``t_0 = 1``).
Given that all agents are busy, the queue length found by an arrival is
``j`` with probability ``t_j / S``, ``S = Σ t_j = x e^y y^-x γ(x, y)``. A caller
``j``-th in line has offered wait ``V_j = Σ_{i=0..j} Exp(nμ + iθ)`` and is served
with probability ``x / (x + j + 1)``. Mixing over ``j`` gives the offered-wait
density ``f(s) = (nμ/S) exp(-nμ s + y (1 - e^{-θ s}))``, hence

* ``P(wait > 0) = S / (E + S)`` with ``E = 1/B(n, a) - 1`` (Erlang B, ``a = λ/μ``);
* ``P(served, wait <= t | wait > 0) = x [P(x+1, y) - P(x+1, y e^{-θt})] / (y P(x, y))``
  where ``P`` is the regularized lower incomplete gamma function.

These agree with Mandelbaum & Zeltyn, "The M/M/n+G queue: summary of
performance measures" (exponential-patience case) and Garnett, Mandelbaum &
Reiman (2002). Abandonment, queue length and waits are computed from positive
sums over ``j`` (no cancellation), summed outwards from the mode of ``t_j``
until the terms are below 1e-18 of the total.

Units: rates per second, times in seconds, fractions in ``[0, 1]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cti_server.staffing._special import digamma, log_gamma_p, softplus
from cti_server.staffing._validate import (
    check_agents,
    check_non_negative,
    check_patience,
    check_positive,
)
from cti_server.staffing.erlang import erlang_c_metrics, log_inverse_erlang_b

_TAIL = 1e-18
_DIRECT_PREFIX_LIMIT = 20_000
# λ/θ (expected arrivals during one mean patience) above which the sums get too long.
MAX_ARRIVALS_PER_PATIENCE = 1e9


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    """Steady-state metrics of an M/M/n+M queue.

    ``mean_wait`` averages over all callers (abandoned ones count the time
    until they hung up); ``asa`` averages over answered callers only.
    ``service_level`` is P(answered with wait <= answer_time) over all
    offered calls; ``service_level_answered`` is the same count over answered
    calls. With ``mean_patience == math.inf`` the results are Erlang C.
    """

    agents: int
    arrival_rate: float  # calls per second
    aht: float  # mean handle time, seconds
    mean_patience: float  # mean time a caller is willing to wait, seconds
    load: float  # offered load, erlangs
    p_wait: float  # P(all agents busy on arrival)
    p_abandon: float  # P(caller hangs up before being answered)
    mean_wait: float  # mean wait of all callers, seconds
    asa: float  # mean wait of answered callers, seconds
    answer_time: float  # service-level threshold t, seconds
    service_level: float  # P(answered and wait <= t)
    service_level_answered: float  # P(wait <= t | answered)
    occupancy: float  # fraction of agent time busy (carried load / agents)
    queue_length: float  # mean number of callers waiting

    @property
    def abandon_rate(self) -> float:
        """Abandoned calls per second."""
        return self.arrival_rate * self.p_abandon

    def service_level_at(self, answer_time: float) -> float:
        """P(answered and wait <= answer_time) for another threshold (seconds)."""
        t = check_non_negative("answer_time", answer_time)
        if math.isinf(self.mean_patience):
            return erlang_c_metrics(self.arrival_rate, self.aht, self.agents, t).service_level
        if self.arrival_rate == 0.0:
            return 1.0
        theta = 1.0 / self.mean_patience
        x = self.agents / (self.aht * theta)
        y = self.arrival_rate / theta
        return _service_level(x, y, theta, p_wait=self.p_wait, p_abandon=self.p_abandon, t=t)


@dataclass(frozen=True, slots=True)
class _QueueSums:
    log_s: float  # log S
    mean_position: float  # E[j | wait > 0]
    p_abandon: float  # P(abandon | wait > 0)
    served_wait_theta: float  # θ · E[wait · 1{served} | wait > 0]


def _prefix_to_mode(x: float, y: float, mode: int) -> tuple[float, float]:
    """``(log t_mode, H_mode)`` where ``H_j = Σ_{i=1..j+1} 1/(x+i)``."""
    if mode <= _DIRECT_PREFIX_LIMIT:
        log_t = 0.0
        harmonic = 0.0
        for i in range(1, mode + 1):
            log_t += math.log(y / (x + i))
            harmonic += 1.0 / (x + i)
        return log_t, harmonic + 1.0 / (x + mode + 1)
    log_t = mode * math.log(y) + math.lgamma(x + 1.0) - math.lgamma(x + mode + 1.0)
    return log_t, digamma(x + mode + 2.0) - digamma(x + 1.0)


def _queue_sums(x: float, y: float) -> _QueueSums:
    mode = max(0, math.floor(y - x))
    log_t_mode, h_mode = _prefix_to_mode(x, y, mode)
    total = weighted_j = abandon = served_wait = 0.0
    # Upwards from the mode (terms decrease after it).
    j, term, harmonic = mode, 1.0, h_mode
    while True:
        total += term
        weighted_j += j * term
        abandon += term * (j + 1) / (x + j + 1)
        served_wait += term * x / (x + j + 1) * harmonic
        term *= y / (x + j + 1)
        j += 1
        harmonic += 1.0 / (x + j + 1)
        if term < _TAIL * total:
            break
    # Downwards from the mode (terms decrease towards j = 0).
    j, term, harmonic = mode, 1.0, h_mode
    while j > 0:
        term *= (x + j) / y
        harmonic -= 1.0 / (x + j + 1)
        j -= 1
        total += term
        weighted_j += j * term
        abandon += term * (j + 1) / (x + j + 1)
        served_wait += term * x / (x + j + 1) * harmonic
        if term < _TAIL * total:
            break
    return _QueueSums(
        log_s=log_t_mode + math.log(total),
        mean_position=weighted_j / total,
        p_abandon=abandon / total,
        served_wait_theta=served_wait / total,
    )


def _service_level(
    x: float, y: float, theta: float, *, p_wait: float, p_abandon: float, t: float
) -> float:
    """P(answered and wait <= t) over all arrivals."""
    if t == 0.0 or p_wait == 0.0:
        return 1.0 - p_wait
    log_p0 = log_gamma_p(x, y)
    z = y * math.exp(-theta * t)
    served_total = math.exp(log_gamma_p(x + 1.0, y) - log_p0)
    served_late = 0.0 if z == 0.0 else math.exp(log_gamma_p(x + 1.0, z) - log_p0)
    conditional = max(0.0, (x / y) * (served_total - served_late))
    return min(1.0 - p_abandon, (1.0 - p_wait) + p_wait * conditional)


def erlang_a_metrics(
    arrival_rate: float,
    aht: float,
    mean_patience: float,
    agents: int,
    answer_time: float,
) -> ErlangAResult:
    """Exact steady-state metrics of the M/M/n+M (Erlang A) queue.

    ``arrival_rate``: calls per second (``>= 0``); ``aht``: mean handle time,
    seconds (``> 0``); ``mean_patience``: mean patience, seconds (``> 0``;
    ``math.inf`` gives Erlang C); ``agents``: ``>= 1``; ``answer_time``:
    service-level threshold, seconds (``>= 0``). Any load is allowed, including
    ``load >= agents``, because abandonment keeps the queue stable.
    """
    lam = check_non_negative("arrival_rate", arrival_rate)
    handle = check_positive("aht", aht)
    patience = check_patience("mean_patience", mean_patience)
    n = check_agents("agents", agents, 1)
    t = check_non_negative("answer_time", answer_time)
    a = lam * handle
    if math.isinf(patience):
        c = erlang_c_metrics(lam, handle, n, t)
        return ErlangAResult(
            agents=n,
            arrival_rate=lam,
            aht=handle,
            mean_patience=patience,
            load=a,
            p_wait=c.p_wait,
            p_abandon=0.0,
            mean_wait=c.asa,
            asa=c.asa,
            answer_time=t,
            service_level=c.service_level,
            service_level_answered=c.service_level,
            occupancy=c.occupancy,
            queue_length=c.queue_length,
        )
    if lam == 0.0:
        return ErlangAResult(
            agents=n,
            arrival_rate=lam,
            aht=handle,
            mean_patience=patience,
            load=0.0,
            p_wait=0.0,
            p_abandon=0.0,
            mean_wait=0.0,
            asa=0.0,
            answer_time=t,
            service_level=1.0,
            service_level_answered=1.0,
            occupancy=0.0,
            queue_length=0.0,
        )
    theta = 1.0 / patience
    x = n / (handle * theta)
    y = lam / theta
    if y > MAX_ARRIVALS_PER_PATIENCE:
        raise ValueError(
            f"arrival_rate * mean_patience = {y:.3g} exceeds {MAX_ARRIVALS_PER_PATIENCE:.0e}; "
            "use mean_patience=math.inf (Erlang C) for callers who effectively never abandon"
        )
    sums = _queue_sums(x, y)
    log_r = log_inverse_erlang_b(n, a)
    log_e = log_r + math.log(-math.expm1(-log_r))  # log(1/B - 1)
    p_wait = math.exp(-softplus(log_e - sums.log_s))
    p_abandon = p_wait * sums.p_abandon
    p_served = 1.0 - p_abandon
    mean_wait = p_abandon / theta
    asa = p_wait * sums.served_wait_theta / theta / p_served
    sl = _service_level(x, y, theta, p_wait=p_wait, p_abandon=p_abandon, t=t)
    return ErlangAResult(
        agents=n,
        arrival_rate=lam,
        aht=handle,
        mean_patience=patience,
        load=a,
        p_wait=p_wait,
        p_abandon=p_abandon,
        mean_wait=mean_wait,
        asa=asa,
        answer_time=t,
        service_level=sl,
        service_level_answered=sl / p_served,
        occupancy=min(1.0, a * p_served / n),
        queue_length=p_wait * sums.mean_position,
    )
