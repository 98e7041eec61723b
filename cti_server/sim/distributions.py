"""Random-variate distributions used by scenarios (service, patience, ACW, ring delay).

Each distribution is an immutable object with a ``mean`` and a ``sampler(rng)`` that
returns a zero-argument callable bound to one ``random.Random`` stream; the event loop
calls that closure in its hot path, so it avoids attribute look-ups per sample.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

Sampler = Callable[[], float]

#: Names accepted in ``dist = "..."`` of a scenario file.
DISTRIBUTION_NAMES = ("exponential", "lognormal", "deterministic", "uniform", "gamma", "none")


class DistributionError(ValueError):
    """A distribution spec is malformed; ``field`` names the offending key."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Exponential:
    """Exponential with the given mean (seconds)."""

    mean: float

    def sampler(self, rng: random.Random) -> Sampler:
        uniform = rng.random
        log = math.log
        mean = self.mean
        return lambda: -mean * log(1.0 - uniform())


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Lognormal parameterised by its own mean and standard deviation (not mu/sigma)."""

    mean: float
    sd: float

    @property
    def mu_sigma(self) -> tuple[float, float]:
        sigma2 = math.log1p((self.sd / self.mean) ** 2)
        return math.log(self.mean) - sigma2 / 2.0, math.sqrt(sigma2)

    def sampler(self, rng: random.Random) -> Sampler:
        mu, sigma = self.mu_sigma
        lognormvariate = rng.lognormvariate
        return lambda: lognormvariate(mu, sigma)


@dataclass(frozen=True, slots=True)
class Deterministic:
    """Always the same value."""

    value: float

    @property
    def mean(self) -> float:
        return self.value

    def sampler(self, rng: random.Random) -> Sampler:
        value = self.value
        return lambda: value


@dataclass(frozen=True, slots=True)
class Uniform:
    """Uniform on [low, high]."""

    low: float
    high: float

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2.0

    def sampler(self, rng: random.Random) -> Sampler:
        low, span = self.low, self.high - self.low
        uniform = rng.random
        return lambda: low + span * uniform()


@dataclass(frozen=True, slots=True)
class Gamma:
    """Gamma parameterised by mean and standard deviation."""

    mean: float
    sd: float

    def sampler(self, rng: random.Random) -> Sampler:
        shape = (self.mean / self.sd) ** 2
        scale = self.sd**2 / self.mean
        gammavariate = rng.gammavariate
        return lambda: gammavariate(shape, scale)


@dataclass(frozen=True, slots=True)
class Never:
    """Infinite values: used for "no abandonment" patience."""

    @property
    def mean(self) -> float:
        return math.inf

    def sampler(self, rng: random.Random) -> Sampler:
        return lambda: math.inf


Distribution = Exponential | LogNormal | Deterministic | Uniform | Gamma | Never


def _number(spec: Mapping[str, object], key: str, field: str, *, positive: bool) -> float:
    if key not in spec:
        raise DistributionError(f"{field}.{key}", f"missing required field '{key}'")
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DistributionError(f"{field}.{key}", f"must be a number, got {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise DistributionError(f"{field}.{key}", f"must be finite, got {value!r}")
    if positive and result <= 0.0:
        raise DistributionError(f"{field}.{key}", f"must be > 0, got {value!r}")
    if not positive and result < 0.0:
        raise DistributionError(f"{field}.{key}", f"must be >= 0, got {value!r}")
    return result


def parse_distribution(spec: object, field: str, *, allow_none: bool = False) -> Distribution:
    """Build a distribution from a scenario value.

    A bare number means a deterministic value; a table needs ``dist`` plus that
    distribution's parameters; the string ``"none"`` (only where ``allow_none``)
    means never (infinite patience).
    """
    if isinstance(spec, bool):
        raise DistributionError(field, f"expected a number or a table, got {spec!r}")
    if isinstance(spec, int | float):
        return Deterministic(_number({"value": spec}, "value", field, positive=False))
    if isinstance(spec, str):
        if spec == "none" and allow_none:
            return Never()
        raise DistributionError(field, f"expected a number or a table, got {spec!r}")
    if not isinstance(spec, Mapping):
        raise DistributionError(field, f"expected a number or a table, got {spec!r}")
    name = spec.get("dist")
    if not isinstance(name, str):
        raise DistributionError(
            f"{field}.dist", f"missing or invalid 'dist'; one of {', '.join(DISTRIBUTION_NAMES)}"
        )
    allowed: dict[str, tuple[str, ...]] = {
        "exponential": ("mean",),
        "lognormal": ("mean", "sd"),
        "deterministic": ("value",),
        "uniform": ("low", "high"),
        "gamma": ("mean", "sd"),
        "none": (),
    }
    if name not in allowed or (name == "none" and not allow_none):
        names = [n for n in DISTRIBUTION_NAMES if n != "none" or allow_none]
        raise DistributionError(
            f"{field}.dist", f"unknown distribution {name!r}; expected one of {', '.join(names)}"
        )
    extra = set(spec) - {"dist", *allowed[name]}
    if extra:
        raise DistributionError(
            f"{field}.{sorted(extra)[0]}", f"unexpected field for {name} distribution"
        )
    if name == "exponential":
        return Exponential(_number(spec, "mean", field, positive=True))
    if name == "lognormal":
        return LogNormal(
            _number(spec, "mean", field, positive=True), _number(spec, "sd", field, positive=True)
        )
    if name == "deterministic":
        return Deterministic(_number(spec, "value", field, positive=False))
    if name == "uniform":
        low = _number(spec, "low", field, positive=False)
        high = _number(spec, "high", field, positive=False)
        if high < low:
            raise DistributionError(f"{field}.high", f"must be >= low ({low}), got {high}")
        return Uniform(low, high)
    if name == "gamma":
        return Gamma(
            _number(spec, "mean", field, positive=True), _number(spec, "sd", field, positive=True)
        )
    return Never()
