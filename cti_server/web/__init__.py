"""Web panels of the CTI server (R-IN-5..7, R-BIZ-1, R-BIZ-5 notices; docs/web.md).

Server-rendered pages (Starlette + Jinja2, plain CSS) shown in the desktop's web
windows and in ordinary browsers for back-office staff: call trajectory, contact
history, notices (major-outage broadcasts), the business category tree, the inquiry
and acceptance pages and the query/statistics pages. ``cti_server.http.create_app``
mounts :func:`create_web_app` at ``/ui``.
"""

from __future__ import annotations

from .admin_data import AdminLink
from .pages import BroadcastNotice, NoticeBroadcaster, WebSettings, create_web_app

__all__ = ["AdminLink", "BroadcastNotice", "NoticeBroadcaster", "WebSettings", "create_web_app"]
