"""Helpers of the web-panel tests: browser-like httpx clients that sign in through the
login form and keep the session cookie, and audit-log look-ups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from cti_server.store.models import AuditEntry
from cti_server.web import BroadcastNotice
from tests.cti_server.http.http_support import Stack

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

ADMIN = "9901"
TEAM_LEAD = "9001"
AGENT_SH = "1001"  # 上海
AGENT_SZ = "1006"  # 深圳
DEPT_SH = "8001"  # 上海 department (dept_staff)
CENTRE = "8002"  # provincial centre (dept_staff, every region)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@dataclass
class Browser:
    client: httpx.Client
    csrf: str = ""

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(url, **kwargs)

    def post(self, url: str, data: dict[str, Any], *, csrf: str | None = None) -> httpx.Response:
        body = {"csrf": self.csrf if csrf is None else csrf, **data}
        return self.client.post(url, data=body)


@dataclass
class WebStack:
    stack: Stack
    pushed: list[BroadcastNotice] = field(default_factory=list)

    @property
    def engine(self) -> sa.Engine:
        return self.stack.engine

    def anonymous(self, **kwargs: Any) -> Browser:
        client = self.stack.client(auth=None, follow_redirects=False, **kwargs)
        return Browser(client)

    def login(self, agent_id: str, password: str = "demo", *, lang: str = "zh") -> Browser:
        browser = self.anonymous(cookies={"lang": lang})
        form = browser.get("/ui/login")
        assert form.status_code == 200
        done = browser.client.post(
            "/ui/login",
            data={"csrf": csrf_of(form.text), "agent_id": agent_id, "password": password},
        )
        assert done.status_code == 303, done.text
        home = browser.get("/ui/")
        assert home.status_code == 200
        browser.csrf = csrf_of(home.text)
        return browser

    def refusals(self, **match: str) -> list[AuditEntry]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(AuditEntry.__table__).where(
                    AuditEntry.action == "refused", AuditEntry.entity == "web_page"
                )
            ).mappings()
            found = []
            for row in rows:
                after = row["after"] or {}
                if all(
                    (row[k] if k in ("actor", "entity_id") else after.get(k)) == v
                    for k, v in match.items()
                ):
                    found.append(row)
            return found

    def scalar(self, query: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()
