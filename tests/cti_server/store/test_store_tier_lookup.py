"""Tier look-up by caller number with its cache (R-TIER-1, R-TIER-2)."""

from __future__ import annotations

import sqlalchemy as sa

from cti_server.store import CustomerTier, TierDirectory, import_tiers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _customers(engine: sa.Engine) -> None:
    rows = [
        {
            "customer_id": "C1",
            "name": "王伟",
            "numbers": "13800138000; 010-12345678",
            "tier": "vip",
            "blacklisted": "",
            "region": "",
        },
        {"customer_id": "C2", "name": "李娜", "numbers": "+1 415 555 2671", "tier": "gold"},
        {
            "customer_id": "C3",
            "name": "黑名单",
            "numbers": "13600136000",
            "tier": "normal",
            "blacklisted": "1",
            "region": "北京",
        },
    ]
    report = import_tiers(engine, rows)
    assert report.rejected == 0, report.errors


def _count_reads(directory: TierDirectory) -> list[str]:
    calls: list[str] = []
    original = directory._read

    def counting(key: str) -> CustomerTier | None:
        calls.append(key)
        return original(key)

    directory._read = counting  # type: ignore[method-assign]
    return calls


def test_lookup_finds_customer_from_any_written_form(tiers: sa.Engine) -> None:
    """R-TIER-2: "+86 138-0013-8000", "008613800138000" and "13800138000" are one caller."""
    _customers(tiers)
    directory = TierDirectory(tiers)
    for raw in ("+86 138-0013-8000", "008613800138000", "13800138000", "+86 10 1234 5678"):
        found = directory.lookup(raw)
        assert found == CustomerTier(
            customer_id="C1", name="王伟", tier_id="vip", blacklisted=False, region=""
        ), raw
    assert directory.lookup("0014155552671") is not None
    blacklisted = directory.lookup("13600136000")
    assert blacklisted is not None and blacklisted.blacklisted and blacklisted.region == "北京"


def test_unknown_anonymous_and_garbage_numbers_are_not_customers(tiers: sa.Engine) -> None:
    _customers(tiers)
    directory = TierDirectory(tiers)
    assert directory.lookup("13999999999") is None
    assert directory.lookup("anonymous") is None
    assert directory.lookup("") is None


def test_cache_serves_repeats_and_caches_misses(tiers: sa.Engine) -> None:
    _customers(tiers)
    directory = TierDirectory(tiers)
    reads = _count_reads(directory)
    for _ in range(3):
        assert directory.lookup("+8613800138000") is not None
        assert directory.lookup("13800138000") is not None
        assert directory.lookup("13999999999") is None
    assert reads == ["13800138000", "13999999999"]
    stats = directory.stats()
    assert (stats.hits, stats.misses, stats.size) == (7, 2, 2)


def test_cache_entries_expire_after_ttl(tiers: sa.Engine) -> None:
    _customers(tiers)
    clock = FakeClock()
    directory = TierDirectory(tiers, ttl_seconds=60, clock=clock)
    reads = _count_reads(directory)
    directory.lookup("13800138000")
    clock.now += 59
    directory.lookup("13800138000")
    clock.now += 2
    directory.lookup("13800138000")
    assert len(reads) == 2


def test_cache_is_bounded_lru(tiers: sa.Engine) -> None:
    _customers(tiers)
    directory = TierDirectory(tiers, max_entries=2)
    reads = _count_reads(directory)
    directory.lookup("13800138000")
    directory.lookup("13600136000")
    directory.lookup("13800138000")  # refresh: 13600136000 is now the oldest
    directory.lookup("13999999999")  # evicts 13600136000
    assert directory.stats().size == 2
    directory.lookup("13800138000")
    directory.lookup("13600136000")
    assert reads == ["13800138000", "13600136000", "13999999999", "13600136000"]


def test_disabled_cache_always_reads(tiers: sa.Engine) -> None:
    _customers(tiers)
    directory = TierDirectory(tiers, max_entries=0)
    reads = _count_reads(directory)
    directory.lookup("13800138000")
    directory.lookup("13800138000")
    assert len(reads) == 2 and directory.stats().size == 0


def test_import_invalidates_cached_tiers(tiers: sa.Engine) -> None:
    """R-TIER-1: a tier refresh is visible to the next look-up, not after the TTL."""
    _customers(tiers)
    directory = TierDirectory(tiers, ttl_seconds=3600)
    assert directory.lookup("13800138000").tier_id == "vip"  # type: ignore[union-attr]
    assert directory.lookup("01012345678").tier_id == "vip"  # type: ignore[union-attr]
    assert directory.lookup("13700137000") is None  # cached miss
    import_tiers(
        tiers,
        [
            {"customer_id": "C1", "numbers": "13800138000", "tier": "normal"},
            {"customer_id": "C9", "numbers": "13700137000", "tier": "gold"},
        ],
        directory=directory,
    )
    assert directory.lookup("13800138000").tier_id == "normal"  # type: ignore[union-attr]
    # The customer's other number was not in the file but is invalidated through the customer.
    assert directory.lookup("010 1234 5678").tier_id == "normal"  # type: ignore[union-attr]
    assert directory.lookup("13700137000").customer_id == "C9"  # type: ignore[union-attr]


def test_a_read_overtaken_by_an_invalidation_is_not_cached(tiers: sa.Engine) -> None:
    """A look-up that read the old tier while an import committed must not pin it in the cache."""
    _customers(tiers)
    directory = TierDirectory(tiers)
    original = directory._read

    def slow_read(key: str) -> CustomerTier | None:
        result = original(key)  # reads "vip"
        import_tiers(
            tiers,
            [{"customer_id": "C1", "numbers": "13800138000", "tier": "gold"}],
            directory=directory,
        )
        return result

    directory._read = slow_read  # type: ignore[method-assign]
    assert directory.lookup("13800138000").tier_id == "vip"  # type: ignore[union-attr]
    directory._read = original  # type: ignore[method-assign]
    assert directory.lookup("13800138000").tier_id == "gold"  # type: ignore[union-attr]


def test_invalidate_by_customer_and_clear(tiers: sa.Engine) -> None:
    _customers(tiers)
    directory = TierDirectory(tiers)
    directory.lookup("13800138000")
    directory.lookup("13600136000")
    directory.invalidate(customer_ids=["C1"])
    assert directory.stats().size == 1
    directory.clear()
    assert directory.stats().size == 0
