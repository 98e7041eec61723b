"""Typed commands web panels send to the desktop through the page bridge (Qt-free).

A panel calls ``opencc.command(json)`` with one JSON object whose ``type`` names the
command::

    {"type": "dial", "number": "13800138000"}
    {"type": "context"}
    {"type": "open_panel", "key": "kb", "path": "/ui/kb"}
    {"type": "close_work", "call_id": "c-17", "notes": "…", "category": "inquiry.tariff"}

:func:`decode_command` turns the text into one of the command structs or raises
:class:`BridgeError` - never anything else, whatever the input - so a bad command is
answered with a typed error and does nothing. :func:`encode_ok` and
:func:`encode_error` build the JSON answer (``{"ok": true, …}`` or
``{"ok": false, "error": {"code", "message"}}``).
"""

from __future__ import annotations

import enum
import posixpath
import re
from typing import Annotated, Any, Final
from urllib.parse import unquote, urlsplit

import msgspec

MAX_COMMAND_BYTES: Final = 16 * 1024
"""Commands longer than this are refused before parsing (``too_large``)."""

DialNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[0-9+*#]+\Z")]
"""What a page may dial: digits, ``+``, ``*``, ``#``; at most 32 characters."""
PanelKey = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+\Z")]
PanelPath = Annotated[str, msgspec.Meta(max_length=1024, pattern=r"^/ui/[^\\\s]*\Z")]
"""A path of the CTI server's web side: starts with ``/ui/``, no backslash, no spaces
(and, checked by :func:`decode_command`, no ``.``/``..`` segment leaving ``/ui/``)."""
CallIdText = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^\S+\Z")]
Notes = Annotated[str, msgspec.Meta(max_length=1024)]
Category = Annotated[str, msgspec.Meta(max_length=128)]
OptionalText = Annotated[str, msgspec.Meta(max_length=128)]


class BridgeErrorCode(enum.StrEnum):
    """Every error code a page can get back from ``opencc.command``."""

    BAD_JSON = "bad_json"
    """The text is not JSON, or not a JSON object."""
    TOO_LARGE = "too_large"
    """The text is longer than :data:`MAX_COMMAND_BYTES`."""
    UNKNOWN_COMMAND = "unknown_command"
    """``type`` is missing or names no command."""
    MISSING_FIELD = "missing_field"
    """A required field is absent."""
    INVALID_FIELD = "invalid_field"
    """A field has the wrong type, breaks a constraint, or is not part of the command."""
    UNAVAILABLE = "unavailable"
    """The desktop cannot do this now (no handler is connected)."""


class BridgeError(Exception):
    """A command the desktop refuses; ``code`` and ``message`` go back to the page."""

    def __init__(self, code: BridgeErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_builtins(self) -> dict[str, str]:
        return {"code": str(self.code), "message": self.message}


class _Command(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", forbid_unknown_fields=True
):
    """Base of the bridge commands."""


class Dial(_Command, frozen=True, kw_only=True, tag="dial"):
    """Dial ``number`` from the desktop's softphone (click-to-dial)."""

    number: DialNumber


class Context(_Command, frozen=True, kw_only=True, tag="context"):
    """Ask for the current call context (answered with ``{"ok": true, "context": …}``)."""


class OpenPanel(_Command, frozen=True, kw_only=True, tag="open_panel"):
    """Open (or raise and reload) the panel ``key`` on ``path`` in the BS area."""

    key: PanelKey
    path: PanelPath


class CloseWork(_Command, frozen=True, kw_only=True, tag="close_work"):
    """Finish the after-call work of ``call_id`` with notes and a business category."""

    call_id: CallIdText
    notes: Notes = ""
    category: Category = ""


Command = Dial | Context | OpenPanel | CloseWork
"""Every command a page can send."""

COMMAND_TYPES: Final[dict[str, type[_Command]]] = {
    "dial": Dial,
    "context": Context,
    "open_panel": OpenPanel,
    "close_work": CloseWork,
}


class CallContext(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The call the agent is on, as pages read it through ``Context``."""

    call_id: CallIdText
    caller: OptionalText | None = None
    customer_id: OptionalText | None = None
    tier: OptionalText | None = None
    business_selection: OptionalText | None = None


class _Peek(msgspec.Struct):
    type: object = None


_PEEK: Final = msgspec.json.Decoder(_Peek)
_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    name: msgspec.json.Decoder(cls) for name, cls in COMMAND_TYPES.items()
}
_ENCODER: Final = msgspec.json.Encoder()
_MISSING = re.compile(r"missing required field `([^`]+)`")
_MAX_MESSAGE = 300


def decode_command(data: str | bytes) -> Command:
    """The command in ``data``; :class:`BridgeError` for anything else."""
    raw = _as_bytes(data)
    if len(raw) > MAX_COMMAND_BYTES:
        raise BridgeError(
            BridgeErrorCode.TOO_LARGE,
            f"command of {len(raw)} bytes exceeds the limit of {MAX_COMMAND_BYTES} bytes",
        )
    try:
        peek = _PEEK.decode(raw)
    except msgspec.ValidationError:
        raise BridgeError(BridgeErrorCode.BAD_JSON, "a command is a JSON object") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BridgeError(BridgeErrorCode.BAD_JSON, _short(f"not valid JSON: {exc}")) from None
    if peek.type is None:
        raise BridgeError(BridgeErrorCode.UNKNOWN_COMMAND, "the command has no `type`")
    if not isinstance(peek.type, str) or peek.type not in _DECODERS:
        known = ", ".join(sorted(_DECODERS))
        raise BridgeError(
            BridgeErrorCode.UNKNOWN_COMMAND,
            _short(f"unknown command {peek.type!r}; known: {known}"),
        )
    try:
        command: Command = _DECODERS[peek.type].decode(raw)
    except msgspec.ValidationError as exc:
        text = str(exc)
        code = (
            BridgeErrorCode.MISSING_FIELD
            if _MISSING.search(text)
            else BridgeErrorCode.INVALID_FIELD
        )
        raise BridgeError(code, _short(text)) from None
    except (msgspec.DecodeError, RecursionError) as exc:  # pragma: no cover - peek parsed it
        raise BridgeError(BridgeErrorCode.BAD_JSON, _short(str(exc))) from None
    if isinstance(command, OpenPanel) and not is_panel_path(command.path):
        raise BridgeError(
            BridgeErrorCode.INVALID_FIELD,
            _short(f"path {command.path!r} is not a page under /ui/ - at `$.path`"),
        )
    return command


def is_panel_path(path: str) -> bool:
    """Whether ``path`` stays a page of the web side once a browser normalises it."""
    if not path.startswith("/ui/") or path.startswith("/ui//") or "\\" in path:
        return False
    route = unquote(urlsplit(path).path)
    if any(part in {".", ".."} for part in route.split("/")):
        return False
    return posixpath.normpath(route).startswith("/ui")


def context_from(value: CallContext | dict[str, Any] | None) -> CallContext | None:
    """A :class:`CallContext` from the controller's dict (``None``: no call).

    Raises :class:`BridgeError` (``invalid_field`` / ``missing_field``) for a bad dict.
    """
    if value is None or isinstance(value, CallContext):
        return value
    try:
        return msgspec.convert(value, CallContext)
    except msgspec.ValidationError as exc:
        text = str(exc)
        code = (
            BridgeErrorCode.MISSING_FIELD
            if _MISSING.search(text)
            else BridgeErrorCode.INVALID_FIELD
        )
        raise BridgeError(code, _short(text)) from None


def encode_context(context: CallContext | None) -> str:
    """The JSON text of a context (``null`` without a call)."""
    return _ENCODER.encode(context).decode("utf-8")


def encode_ok(**fields: Any) -> str:
    """``{"ok": true, **fields}`` as JSON text."""
    return _ENCODER.encode({"ok": True, **fields}).decode("utf-8")


def encode_error(error: BridgeError) -> str:
    """``{"ok": false, "error": {"code", "message"}}`` as JSON text."""
    return _ENCODER.encode({"ok": False, "error": error.to_builtins()}).decode("utf-8")


def _as_bytes(data: object) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            raise BridgeError(
                BridgeErrorCode.BAD_JSON, "the command contains unpaired surrogates"
            ) from None
    raise BridgeError(BridgeErrorCode.BAD_JSON, f"a command is text, not {type(data).__name__}")


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
