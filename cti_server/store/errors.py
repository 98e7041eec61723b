"""Typed errors of the persistence layer."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error raised by :mod:`cti_server.store`."""

    code = "store_error"


class InvalidNumber(StoreError, ValueError):
    """A caller number that cannot be normalised (empty, letters, wrong length...)."""

    code = "invalid_number"

    def __init__(self, raw: object, problem: str) -> None:
        super().__init__(f"invalid phone number {raw!r}: {problem}")
        self.raw = raw
        self.problem = problem


class NotFound(StoreError, LookupError):
    """The entity named by a repository call does not exist."""

    code = "not_found"

    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(f"{entity} {entity_id!r} not found")
        self.entity = entity
        self.entity_id = entity_id


class Conflict(StoreError):
    """The change would violate uniqueness or an invariant (e.g. a duplicate id)."""

    code = "conflict"


class InvalidData(StoreError, ValueError):
    """A value rejected by validation before it reaches the database."""

    code = "invalid_data"

    def __init__(self, entity: str, field: str, problem: str) -> None:
        super().__init__(f"{entity}.{field}: {problem}")
        self.entity = entity
        self.field = field
        self.problem = problem


class ImmutableVersion(StoreError):
    """An attempt to change the document of an IVR flow version that exists already."""

    code = "immutable_version"


class TierImportError(StoreError):
    """The import cannot start (unreadable file, missing columns, unknown encoding...)."""

    code = "tier_import_error"


class TierImportAborted(StoreError):
    """A chunk failed in the database; it was rolled back and the import stopped.

    ``report`` describes what was committed before the failure (whole chunks only).
    """

    code = "tier_import_aborted"

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report
