"""Domain operations of the admin API (blocking; handlers run them in worker threads).

Writes go through :class:`~cti_server.store.ConfigStore`, which validates them and
writes the audit row in the same transaction; this layer adds what the HTTP side
needs on top: totals for paging, related rows (skills, groups, members, tiers) and
IVR flow summaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cti_server.store import ConfigStore, NotFound

from . import queries


class AdminService:
    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self._sessions = store.sessions

    # generic entities ------------------------------------------------------------------

    def page(self, entity: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        items = self.store.list_entities(entity, limit=limit, offset=offset)
        total = queries.count(self._sessions, entity)
        return self._decorate(entity, items), total

    def get(self, entity: str, entity_id: str) -> dict[str, Any]:
        return self._decorate(entity, [self.store.get(entity, entity_id)])[0]

    def create(
        self, actor: str, entity: str, entity_id: str, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.store.create(actor, entity, entity_id, values)
        return self.get(entity, entity_id)

    def update(
        self, actor: str, entity: str, entity_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        if changes:  # an empty patch changes nothing and leaves no audit row
            self.store.update(actor, entity, entity_id, changes)
        return self.get(entity, entity_id)

    def delete(self, actor: str, entity: str, entity_id: str) -> None:
        self.store.delete(actor, entity, entity_id)

    def _decorate(self, entity: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add related rows: agents' skills and groups, groups' members and tiers."""
        ids = [item["id"] for item in items]
        if entity == "agent":
            agents = queries.agent_relations(self._sessions, ids)
            return [
                {**item, "skills": agents[item["id"]][0], "groups": agents[item["id"]][1]}
                for item in items
            ]
        if entity == "agent_group":
            groups = queries.group_relations(self._sessions, ids)
            return [
                {**item, "members": groups[item["id"]][0], "tiers": groups[item["id"]][1]}
                for item in items
            ]
        return items

    # relations -------------------------------------------------------------------------

    def set_agent_skills(
        self, actor: str, agent_id: str, levels: Mapping[str, int]
    ) -> dict[str, Any]:
        self.store.set_agent_skills(actor, agent_id, levels)
        return self.get("agent", agent_id)

    def set_agent_password(self, actor: str, agent_id: str, password: str) -> None:
        self.store.set_agent_password(actor, agent_id, password)

    def set_group_members(self, actor: str, group_id: str, agents: list[str]) -> dict[str, Any]:
        self.store.set_group_members(actor, group_id, agents)
        return self.get("agent_group", group_id)

    def set_group_tiers(self, actor: str, group_id: str, tiers: list[str]) -> dict[str, Any]:
        self.store.set_group_tiers(actor, group_id, tiers)
        return self.get("agent_group", group_id)

    # customers ---------------------------------------------------------------------------

    def search_customers(
        self,
        *,
        text: str | None,
        tier_id: str | None,
        blacklisted: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        items = self.store.search_customers(
            text=text, tier_id=tier_id, blacklisted=blacklisted, limit=limit, offset=offset
        )
        total = queries.count_customers(
            self._sessions, text=text, tier_id=tier_id, blacklisted=blacklisted
        )
        return items, total

    def set_customer_numbers(
        self, actor: str, customer_id: str, numbers: list[str]
    ) -> dict[str, Any]:
        self.store.set_customer_numbers(actor, customer_id, numbers)
        return self.get("customer", customer_id)

    # IVR flows ---------------------------------------------------------------------------

    def flows(self) -> list[dict[str, Any]]:
        """One summary per flow, by id."""
        summaries: dict[str, dict[str, Any]] = {}
        for row in self.store.list_flows():  # ordered by id, version
            summary = summaries.setdefault(
                row["id"], {"id": row["id"], "published_version": None, "versions": 0}
            )
            summary["versions"] += 1
            summary["latest_version"] = row["version"]
            summary["name"] = row["name"]
            if row["published"]:
                summary["published_version"] = row["version"]
        return list(summaries.values())

    def flow_versions(self, flow_id: str) -> list[dict[str, Any]]:
        versions = [row for row in self.store.list_flows() if row["id"] == flow_id]
        if not versions:
            raise NotFound("ivr_flow", flow_id)
        return versions

    def add_flow_version(
        self, actor: str, flow_id: str, name: str, document: Mapping[str, Any]
    ) -> int:
        return self.store.add_flow_version(actor, flow_id, name, document)

    def publish_flow(self, actor: str, flow_id: str, version: int) -> dict[str, Any]:
        self.store.publish_flow(actor, flow_id, version)
        return self.store.get_flow(flow_id, version)

    def get_flow(self, flow_id: str, version: int | None = None) -> dict[str, Any]:
        return self.store.get_flow(flow_id, version)

    # audit -------------------------------------------------------------------------------

    def audit(self, **filters: Any) -> tuple[list[dict[str, Any]], int]:
        return queries.audit_page(self._sessions, **filters)
