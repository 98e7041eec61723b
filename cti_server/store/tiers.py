"""Tier look-up by caller number, with a bounded TTL cache (R-TIER-1, R-TIER-2).

A look-up normalises the number (:mod:`.numbers`), then answers from the cache
or with one primary-key read of ``customer_numbers`` joined to ``customers``.
Misses ("not a customer") are cached too, so unknown callers cost one query
per TTL. After an import chunk or an edit commits, :meth:`TierDirectory.invalidate`
drops exactly the numbers and customers it touched.

A generation counter closes the race between a slow read and an
invalidation: a result read before an invalidation is returned but never
cached, so the cache can not keep a stale tier after ``invalidate`` returns.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from .models import Customer, CustomerNumber
from .numbers import try_normalise


@dataclass(frozen=True, slots=True)
class CustomerTier:
    """What the router needs to know about a caller."""

    customer_id: str
    name: str
    tier_id: str
    blacklisted: bool
    region: str


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    invalidations: int


class TierDirectory:
    """Thread-safe caller-number -> tier look-up.

    ``max_entries=0`` disables the cache (every look-up reads the database).
    """

    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_entries: int = 100_000,
        ttl_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 0 and ttl_seconds > 0")
        # Autocommit reads: no BEGIN/ROLLBACK round trips around the single SELECT.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._max = max_entries
        self._ttl = ttl_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # number -> (expires_at, CustomerTier | None)
        self._cache: OrderedDict[str, tuple[float, CustomerTier | None]] = OrderedDict()
        self._by_customer: dict[str, set[str]] = {}
        self._generation = 0
        self._hits = 0
        self._misses = 0
        self._invalidations = 0
        self._query = (
            sa.select(
                Customer.id, Customer.name, Customer.tier_id, Customer.blacklisted, Customer.region
            )
            .join(CustomerNumber, CustomerNumber.customer_id == Customer.id)
            .where(CustomerNumber.number == sa.bindparam("number"))
        )

    def lookup(self, number: str) -> CustomerTier | None:
        """The customer behind ``number``, or ``None`` (unknown, anonymous or invalid number)."""
        key = try_normalise(number)
        if key is None:
            return None
        generation = 0
        if self._max:
            with self._lock:
                entry = self._cache.get(key)
                if entry is not None:
                    if entry[0] > self._clock():
                        self._cache.move_to_end(key)
                        self._hits += 1
                        return entry[1]
                    self._drop(key)
                self._misses += 1
                generation = self._generation
        result = self._read(key)
        if self._max:
            with self._lock:
                if generation == self._generation:
                    self._store(key, result)
        return result

    def _read(self, key: str) -> CustomerTier | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._query, {"number": key}).first()
        if row is None:
            return None
        return CustomerTier(
            customer_id=row.id,
            name=row.name,
            tier_id=row.tier_id,
            blacklisted=bool(row.blacklisted),
            region=row.region,
        )

    def _store(self, key: str, value: CustomerTier | None) -> None:
        if key in self._cache:
            self._drop(key)
        self._cache[key] = (self._clock() + self._ttl, value)
        if value is not None:
            self._by_customer.setdefault(value.customer_id, set()).add(key)
        while len(self._cache) > self._max:
            oldest = next(iter(self._cache))
            self._drop(oldest)

    def _drop(self, key: str) -> None:
        _expires, value = self._cache.pop(key)
        if value is not None:
            keys = self._by_customer.get(value.customer_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_customer[value.customer_id]

    def invalidate(self, *, numbers: Iterable[str] = (), customer_ids: Iterable[str] = ()) -> None:
        """Forget these numbers (raw or normalised) and every number of these customers."""
        keys = {try_normalise(n) or n for n in numbers}
        with self._lock:
            self._generation += 1
            self._invalidations += 1
            for customer_id in customer_ids:
                keys.update(self._by_customer.get(customer_id, ()))
            for key in keys:
                if key in self._cache:
                    self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._invalidations += 1
            self._cache.clear()
            self._by_customer.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                size=len(self._cache),
                invalidations=self._invalidations,
            )
