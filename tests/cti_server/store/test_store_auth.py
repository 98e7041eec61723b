"""Agent authentication with argon2 hashes and roles."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from cti_server.store import (
    ConfigStore,
    Principal,
    Role,
    authenticate,
    hash_password,
    needs_rehash,
    verify_password,
)
from cti_server.store.errors import NotFound
from cti_server.store.models import Agent, Customer


@pytest.fixture
def agents(sqlite_engine: sa.Engine, fast_hasher: PasswordHasher) -> ConfigStore:
    store = ConfigStore(sqlite_engine, hasher=fast_hasher)
    store.create("9901", "agent", "1001", {"name": "张伟", "password": "s3cret"})
    store.create("9901", "agent", "9001", {"name": "班长", "password": "lead", "role": "team_lead"})
    store.create("9901", "agent", "1002", {"name": "离职", "password": "gone", "active": False})
    return store


def _login(store: ConfigStore, agent_id: str, password: str, hasher: PasswordHasher) -> object:
    with store.sessions.begin() as session:
        return authenticate(session, agent_id, password, hasher=hasher)


def test_valid_credentials_give_a_principal_with_role(
    agents: ConfigStore, fast_hasher: PasswordHasher
) -> None:
    assert _login(agents, "1001", "s3cret", fast_hasher) == Principal("1001", Role.AGENT, "张伟")
    lead = _login(agents, "9001", "lead", fast_hasher)
    assert isinstance(lead, Principal) and lead.role is Role.TEAM_LEAD


@pytest.mark.parametrize(
    ("agent_id", "password"),
    [("1001", "wrong"), ("1001", ""), ("7777", "s3cret"), ("", "x"), ("1002", "gone")],
)
def test_wrong_password_unknown_or_inactive_agent_is_refused(
    agents: ConfigStore, fast_hasher: PasswordHasher, agent_id: str, password: str
) -> None:
    assert _login(agents, agent_id, password, fast_hasher) is None


class CountingHasher(PasswordHasher):
    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # type: ignore[override]
        self.verifications += 1
        return super().verify(hash, password)


def test_unknown_and_inactive_agents_still_pay_for_a_hash_check(agents: ConfigStore) -> None:
    """No fast path reveals which agent ids exist or are inactive."""
    hasher = CountingHasher()
    assert _login(agents, "7777", "x", hasher) is None
    assert _login(agents, "1002", "gone", hasher) is None
    assert hasher.verifications == 2


def test_login_rehashes_when_parameters_changed(
    agents: ConfigStore, fast_hasher: PasswordHasher
) -> None:
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    with agents.sessions() as session:
        old_hash = session.get(Agent, "1001").password_hash  # type: ignore[union-attr]
    assert needs_rehash(old_hash, hasher=stronger)
    assert _login(agents, "1001", "s3cret", stronger) is not None
    with agents.sessions() as session:
        new_hash = session.get(Agent, "1001").password_hash  # type: ignore[union-attr]
    assert new_hash != old_hash and not needs_rehash(new_hash, hasher=stronger)
    assert "m=2048" in new_hash
    assert _login(agents, "1001", "s3cret", stronger) is not None
    assert _login(agents, "1001", "wrong", stronger) is None


def test_hash_helpers(fast_hasher: PasswordHasher) -> None:
    hashed = hash_password("demo", hasher=fast_hasher)
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "demo", hasher=fast_hasher)
    assert not verify_password(hashed, "Demo", hasher=fast_hasher)
    assert not verify_password("not-a-hash", "demo", hasher=fast_hasher)
    with pytest.raises(ValueError, match="non-empty"):
        hash_password("", hasher=fast_hasher)


def test_password_change_is_audited_without_the_hash(
    agents: ConfigStore, fast_hasher: PasswordHasher
) -> None:
    agents.set_agent_password("9901", "1001", "n3w")
    assert _login(agents, "1001", "s3cret", fast_hasher) is None
    assert _login(agents, "1001", "n3w", fast_hasher) is not None
    entry = agents.audit_log(entity="agent", entity_id="1001")[0]
    assert entry.action == "set_password" and "$argon2" not in str(entry.after)


def test_customer_service_password_is_hashed_and_audited(
    agents: ConfigStore, sqlite_engine: sa.Engine, fast_hasher: PasswordHasher
) -> None:
    """R-BIZ-4: queries are gated by the customer's service password, kept only as a hash."""
    agents.create("9901", "tier", "normal", {"name": "普通", "sl_seconds": 20, "sl_target": 0.8})
    agents.create("9901", "customer", "C1", {"name": "王小明", "region": "bj", "tier_id": "normal"})
    agents.set_customer_service_password("9901", "C1", "246810")
    with sa.orm.Session(sqlite_engine) as session:
        stored = session.get(Customer, "C1")
        assert stored is not None and stored.service_password_hash is not None
        assert verify_password(stored.service_password_hash, "246810", hasher=fast_hasher)
        assert not verify_password(stored.service_password_hash, "123456", hasher=fast_hasher)
    entry = agents.audit_log(entity="customer", entity_id="C1")[0]
    assert entry.action == "set_service_password"
    assert "$argon2" not in str(entry.after)
    with pytest.raises(NotFound):
        agents.set_customer_service_password("9901", "nobody", "1")
