"""The CTI server's HTTP side: REST admin API, OpenAPI document, health and metrics.

See docs/rest_api.md. The composition root calls :func:`create_app` and serves the
result with :func:`serve_http` in the event loop of the WebSocket CTI server.
"""

from __future__ import annotations

from .app import HttpSettings, create_app
from .auth import Access, CredentialCache, Verifier, store_verifier
from .errors import ApiError
from .health import CheckResult, HealthCheck, database_check
from .metrics import MetricSource
from .server import HttpServer, HttpService, serve_http

__all__ = [
    "Access",
    "ApiError",
    "CheckResult",
    "CredentialCache",
    "HealthCheck",
    "HttpServer",
    "HttpService",
    "HttpSettings",
    "MetricSource",
    "Verifier",
    "create_app",
    "database_check",
    "serve_http",
    "store_verifier",
]
