"""Pacing: how many lines to dial now, and why (pure functions and estimators).

* :class:`AnswerRate` — Bayesian estimate of the probability that a dial reaches a
  person: a Beta prior plus exponentially forgotten (EWMA) observations.
* :class:`LogNormalTime` — EWMA estimate of a duration distribution (talk, wrap, time
  to answer) as a lognormal, with a prior; gives conditional "done within h" odds.
* :class:`AbandonMonitor` — running abandon rate over answered calls in a time window.
* :func:`decide` — the pacing decision for one instant, with its explanation.

Predictive pacing: the agents free within the horizon ``h`` (time from dial to answer)
are ``F = idle + Σ p_i`` where ``p_i`` is the chance that busy agent ``i`` finishes talk
and wrap within ``h`` given how long it has been busy. With ``M`` outstanding calls
each reaching a person with probability ``p``, connects ``X ~ Bin(M, p)``; the expected
abandoned calls are ``E[max(0, X - F)]`` (normal approximation, with F's own
variance). The dialer keeps the largest ``M`` whose predicted abandon share
``E[max(0, X - F)] / E[X]`` stays under a target below the ceiling; the target is
lowered when the measured rate rises (proportional feedback). At or over the hard
ceiling the campaign falls back to progressive until the rate recovers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cti_server.outbound.model import DialMode, OutboundConfigError

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class AnswerRate:
    """P(dial reaches a person): Beta(prior) + EWMA-forgotten outcome counts."""

    def __init__(self, prior: float = 0.3, prior_weight: float = 20.0, window: float = 500.0):
        if not 0.0 < prior < 1.0:
            raise OutboundConfigError("answer_prior", "must be in (0, 1)")
        if prior_weight <= 0 or window < 1:
            raise OutboundConfigError("answer_prior_weight", "weight > 0 and window >= 1")
        self.prior = prior
        self.prior_weight = prior_weight
        self._decay = 1.0 - 1.0 / window
        self.hits = 0.0
        self.observations = 0.0

    def observe(self, reached_person: bool) -> None:
        self.hits = self.hits * self._decay + (1.0 if reached_person else 0.0)
        self.observations = self.observations * self._decay + 1.0

    @property
    def value(self) -> float:
        alpha = self.prior * self.prior_weight + self.hits
        return alpha / (self.prior_weight + self.observations)


class LogNormalTime:
    """A duration distribution estimated as a lognormal: EWMA of ln(x) and ln(x)^2."""

    def __init__(self, prior_mean: float, prior_sd: float, window: float = 200.0) -> None:
        if prior_mean <= 0 or prior_sd <= 0:
            raise OutboundConfigError("duration_prior", "mean and sd must be > 0")
        sigma2 = math.log1p((prior_sd / prior_mean) ** 2)
        self._m1 = math.log(prior_mean) - sigma2 / 2.0
        self._m2 = sigma2 + self._m1 * self._m1
        self._alpha = 1.0 / window
        self.count = 0

    def observe(self, seconds: float) -> None:
        x = math.log(max(seconds, 0.05))
        self._m1 += self._alpha * (x - self._m1)
        self._m2 += self._alpha * (x * x - self._m2)
        self.count += 1

    @property
    def mu(self) -> float:
        return self._m1

    @property
    def sigma(self) -> float:
        return math.sqrt(max(self._m2 - self._m1 * self._m1, 1e-6))

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma**2 / 2.0)

    def cdf(self, seconds: float) -> float:
        if seconds <= 0.0:
            return 0.0
        return 0.5 * (1.0 + math.erf((math.log(seconds) - self.mu) / (self.sigma * _SQRT2)))

    def done_within(self, elapsed: float, horizon: float) -> float:
        """P(T <= elapsed + horizon | T > elapsed)."""
        survive = 1.0 - self.cdf(elapsed)
        if survive <= 1e-12:
            return 1.0
        return max(0.0, min(1.0, (self.cdf(elapsed + horizon) - self.cdf(elapsed)) / survive))


class AbandonMonitor:
    """Abandoned / answered (by a person) over the last ``window`` seconds."""

    def __init__(self, window: float = 3600.0) -> None:
        self.window = window
        self._events: deque[tuple[float, bool]] = deque()
        self._abandoned = 0

    def record(self, now: float, abandoned: bool) -> None:
        self._events.append((now, abandoned))
        self._abandoned += abandoned
        self._trim(now)

    def _trim(self, now: float) -> None:
        events = self._events
        while events and events[0][0] <= now - self.window:
            _, gone = events.popleft()
            self._abandoned -= gone

    def answered(self, now: float) -> int:
        self._trim(now)
        return len(self._events)

    def rate(self, now: float) -> float:
        self._trim(now)
        return self._abandoned / len(self._events) if self._events else 0.0


@dataclass(frozen=True, kw_only=True)
class PacingConfig:
    """Per-campaign pacing settings.

    ``abandon_ceiling`` is the hard cap on abandoned / answered over
    ``abandon_window_seconds`` (the fallback to progressive needs at least
    ``min_answered_for_ceiling`` answered calls in the window). ``abandon_wait`` is
    how long an answered call may wait for an agent (2 s). Predictive aims at
    ``target_fraction`` × ceiling per decision, reduced by ``feedback_gain`` × the
    measured excess. ``power_ratio`` is the lines per idle agent in power mode.
    """

    abandon_ceiling: float = 0.03
    abandon_window_seconds: float = 3600.0
    min_answered_for_ceiling: int = 20
    abandon_wait: float = 2.0
    abandon_message: str = "outbound-abandon"
    target_fraction: float = 0.6
    feedback_gain: float = 1.0
    power_ratio: float = 2.0
    max_lines_per_agent: float = 6.0
    answer_prior: float = 0.3
    answer_prior_weight: float = 20.0
    answer_window: float = 500.0
    talk_prior: tuple[float, float] = (180.0, 120.0)
    wrap_prior: tuple[float, float] = (30.0, 15.0)
    answer_delay_prior: tuple[float, float] = (12.0, 6.0)
    other_delay_prior: tuple[float, float] = (15.0, 10.0)  # busy/no answer/machine/failed
    duration_window: float = 200.0

    def __post_init__(self) -> None:
        if not 0.0 < self.abandon_ceiling < 1.0:
            raise OutboundConfigError("abandon_ceiling", "must be in (0, 1)")
        if self.abandon_wait <= 0 or self.abandon_window_seconds <= 0:
            raise OutboundConfigError("abandon_wait", "abandon wait and window must be > 0")
        if not 0.0 < self.target_fraction <= 1.0:
            raise OutboundConfigError("target_fraction", "must be in (0, 1]")
        if self.power_ratio < 1.0:
            raise OutboundConfigError("power_ratio", "must be >= 1")
        if self.max_lines_per_agent < 1.0:
            raise OutboundConfigError("max_lines_per_agent", "must be >= 1")


@dataclass(frozen=True, slots=True)
class BusyAgent:
    """A busy agent as the pacer sees it: ``wrapping`` or talking, for ``elapsed`` s."""

    wrapping: bool
    elapsed: float


@dataclass(frozen=True, kw_only=True)
class PacingInputs:
    mode: DialMode
    logged_in: int
    idle: int  # idle agents with no reservation
    busy: Sequence[BusyAgent]
    in_flight: int  # unreserved calls ringing
    waiting: int  # answered calls waiting for an agent
    answer_rate: float
    horizon: float  # expected seconds from dial to a person answering
    running_abandon: float
    answered_in_window: int
    #: Seconds each unreserved ringing call has rung (empty: count each at the answer rate).
    ringing: Sequence[float] = ()
    #: P(a person answers | still ringing after that long), one per ``ringing`` entry.
    ringing_odds: Sequence[float] = ()


@dataclass(frozen=True, kw_only=True)
class PacingDecision:
    """How many new lines to dial now and why."""

    mode: DialMode  # configured
    effective_mode: DialMode  # after the ceiling fallback
    lines: int
    idle: int
    in_flight: int
    waiting: int
    soon_free: float = 0.0
    answer_rate: float = 0.0
    target_abandon: float = 0.0
    predicted_abandon: float = 0.0
    running_abandon: float = 0.0
    reason: str = ""

    def explain(self) -> str:
        return f"{self.effective_mode}: dial {self.lines} — {self.reason}"


def _normal_excess(mu: float, sigma: float) -> float:
    """E[max(0, D)] for D ~ N(mu, sigma^2)."""
    if sigma <= 1e-12:
        return max(0.0, mu)
    z = mu / sigma
    cdf = 0.5 * (1.0 + math.erf(z / _SQRT2))
    return mu * cdf + sigma * _INV_SQRT_2PI * math.exp(-0.5 * z * z)


def predicted_abandon(
    new_lines: int,
    p: float,
    free_mean: float,
    free_var: float,
    *,
    ringing_mean: float = 0.0,
    ringing_var: float = 0.0,
) -> float:
    """Expected share of connects finding no agent if ``new_lines`` are dialled now.

    Connects: the calls already ringing (mean/variance given) plus ``Bin(new_lines, p)``.
    """
    connects = ringing_mean + new_lines * p
    if connects <= 1e-9:
        return 0.0
    sigma = math.sqrt(ringing_var + new_lines * p * (1.0 - p) + free_var)
    return _normal_excess(connects - free_mean, sigma) / connects


def ringing_odds(
    elapsed: float,
    p: float,
    answer_delay: LogNormalTime,
    other_delay: LogNormalTime,
    ring_timeout: float,
) -> float:
    """P(a person answers | the call has rung ``elapsed`` s without any outcome)."""
    if elapsed >= ring_timeout:
        return 0.0
    person = p * (1.0 - answer_delay.cdf(elapsed))
    other = (1.0 - p) * (1.0 - other_delay.cdf(elapsed))
    return person / (person + other) if person + other > 1e-12 else 0.0


def soon_free(
    busy: Sequence[BusyAgent], horizon: float, talk: LogNormalTime, wrap: LogNormalTime
) -> tuple[float, float]:
    """Mean and variance of the number of busy agents free within ``horizon``."""
    mean = var = 0.0
    wrap_mean = wrap.mean
    for agent in busy:
        if agent.wrapping:
            p = wrap.done_within(agent.elapsed, horizon)
        else:
            left = horizon - wrap_mean
            p = talk.done_within(agent.elapsed, left) if left > 0 else 0.0
        mean += p
        var += p * (1.0 - p)
    return mean, var


def _base(inputs: PacingInputs) -> dict[str, Any]:
    return {
        "mode": inputs.mode,
        "idle": inputs.idle,
        "in_flight": inputs.in_flight,
        "waiting": inputs.waiting,
        "answer_rate": inputs.answer_rate,
        "running_abandon": inputs.running_abandon,
    }


def decide(
    inputs: PacingInputs, config: PacingConfig, talk: LogNormalTime, wrap: LogNormalTime
) -> PacingDecision:
    """The number of new (unreserved unless progressive/preview) lines to dial now."""
    mode = inputs.mode
    if mode is DialMode.PREVIEW:
        return PacingDecision(
            effective_mode=mode,
            lines=0,
            reason="preview: dials only when an agent accepts",
            **_base(inputs),
        )
    over_ceiling = (
        inputs.answered_in_window >= config.min_answered_for_ceiling
        and inputs.running_abandon >= config.abandon_ceiling
    )
    free_for_new = inputs.idle - inputs.in_flight - inputs.waiting
    if mode is DialMode.PROGRESSIVE or over_ceiling:
        lines = max(0, free_for_new)
        why = f"one line per idle agent ({inputs.idle} idle"
        if inputs.in_flight or inputs.waiting:
            why += f", minus {inputs.in_flight} unreserved ringing and {inputs.waiting} waiting"
        why += ")"
        if over_ceiling:
            why = (
                f"abandon rate {inputs.running_abandon:.2%} over "
                f"{inputs.answered_in_window} answered is at/over the ceiling "
                f"{config.abandon_ceiling:.2%}: fallback to progressive, " + why
            )
        return PacingDecision(
            effective_mode=DialMode.PROGRESSIVE, lines=lines, reason=why, **_base(inputs)
        )
    cap = max(0, int(config.max_lines_per_agent * inputs.logged_in))
    if mode is DialMode.POWER:
        outstanding = min(cap, math.floor(config.power_ratio * inputs.idle))
        lines = max(0, outstanding - inputs.in_flight - inputs.waiting)
        return PacingDecision(
            effective_mode=mode,
            lines=lines,
            reason=(
                f"{config.power_ratio:g} lines per idle agent × {inputs.idle} idle = {outstanding} "
                f"outstanding, {inputs.in_flight} ringing, {inputs.waiting} waiting"
            ),
            **_base(inputs),
        )
    # Predictive.
    p = inputs.answer_rate
    free_mean, free_var = soon_free(inputs.busy, inputs.horizon, talk, wrap)
    free_total = inputs.idle + free_mean - inputs.waiting
    aim = config.target_fraction * config.abandon_ceiling
    target = aim - config.feedback_gain * (inputs.running_abandon - aim)
    target = max(config.abandon_ceiling * 0.05, min(config.abandon_ceiling, target))
    if inputs.ringing_odds:
        ringing_mean = math.fsum(inputs.ringing_odds)
        ringing_var = math.fsum(q * (1.0 - q) for q in inputs.ringing_odds)
    else:
        ringing_mean = inputs.in_flight * p
        ringing_var = ringing_mean * (1.0 - p)
    # Largest number of new lines whose predicted abandon share stays <= target.
    lo, hi = 0, max(0, cap - inputs.in_flight)

    def share(n: int) -> float:
        return predicted_abandon(
            n, p, free_total, free_var, ringing_mean=ringing_mean, ringing_var=ringing_var
        )

    if share(0) > target:
        hi = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if share(mid) <= target:
            lo = mid
        else:
            hi = mid - 1
    lines = lo
    predicted = share(lines)
    return PacingDecision(
        effective_mode=mode,
        lines=lines,
        soon_free=free_mean,
        target_abandon=target,
        predicted_abandon=predicted,
        reason=(
            f"{inputs.idle} idle + {free_mean:.1f} expected free within {inputs.horizon:.0f} s"
            f" - {inputs.waiting} waiting; answer rate {p:.1%}; {inputs.in_flight} ringing"
            f" (expected {ringing_mean:.1f} people); {lines} more lines predict"
            f" {predicted:.2%} abandoned"
            f" (target {target:.2%}, running {inputs.running_abandon:.2%},"
            f" ceiling {config.abandon_ceiling:.0%})"
        ),
        **_base(inputs),
    )
