"""Flows shipped with the product and the prompt catalogue's manifest.

The shipped flows live as JSON files in ``shared/ivr/flows/`` (package data):
``default`` (used when the CTI server is down or a tier has no flow), the demo's
per-tier flows ``vip`` and ``normal``, and ``survey`` (post-call satisfaction).
The prompt manifest (``resources/prompts/manifest.json``, written by
``scripts/make_prompts.py``) maps prompt ids to their text per language.
"""

from __future__ import annotations

from importlib import resources

import msgspec

from shared.ivr.model import Flow, Language, parse_flow

DEFAULT_FLOW = "default"


def shipped_flow_names() -> tuple[str, ...]:
    """Names of the shipped flows (file names without ``.json``), sorted."""
    folder = resources.files("shared.ivr") / "flows"
    return tuple(
        sorted(
            entry.name.removesuffix(".json")
            for entry in folder.iterdir()
            if entry.name.endswith(".json")
        )
    )


def load_shipped_flow(name: str) -> Flow:
    """A shipped flow by name; raises ``KeyError`` for an unknown name."""
    if name not in shipped_flow_names():
        raise KeyError(f"no shipped flow {name!r}; have {', '.join(shipped_flow_names())}")
    data = (resources.files("shared.ivr") / "flows" / f"{name}.json").read_bytes()
    return parse_flow(data)


def default_flow() -> Flow:
    """The flow the switch runs when the CTI server is unreachable or names no flow."""
    return load_shipped_flow(DEFAULT_FLOW)


# --- small built-in flows: overflow targets and the callback confirmation (R-IVR-4) -----

CALLBACK_NUMBER_VARIABLE = "callback_number"
"""The variable the callback confirmation collects another number into."""


def callback_confirm_flow(
    queue_id: str | None = None,
    language: Language = "zh",
    *,
    intro: tuple[str, ...] = (),
    business_selection: str = "callback",
) -> Flow:
    """Register a callback after confirming the number.

    Plays ``intro``, reads the caller's number back digit by digit ("we will call
    you back on …"), then: 1 = yes, 2 = key another number (then ``#``). Invalid keys
    and silence are retried twice; after that the caller's own number is used (or,
    when another number could not be keyed, the caller's number as well). No caller
    number (anonymous) → straight to keying one. Then ``callback_confirm`` and
    ``goodbye``, hang up. Node ids start with ``cb_``.
    """
    menu_intro = ["callback_number_is"]
    nodes: dict[str, object] = {
        "cb_say": {
            "kind": "say",
            "label": "read back the caller's number",
            "variable": "caller",
            "format": "digits",
            "prefix": [*intro, *menu_intro],
            "next": "cb_menu",
            "on_error": "cb_enter",
        },
        "cb_menu": {
            "kind": "menu",
            "label": "confirm the callback number",
            "prompts": ["callback_confirm_menu"],
            "options": [
                {"digit": "1", "next": "cb_caller", "label": "this number"},
                {"digit": "2", "next": "cb_enter", "label": "another number"},
            ],
            "retries": 2,
            "invalid_prompts": ["invalid_choice"],
            "timeout_prompts": ["no_input"],
            "on_fail": "cb_caller",
        },
        "cb_enter": {
            "kind": "collect",
            "label": "key another number",
            "prompts": ["callback_enter_number"],
            "variable": CALLBACK_NUMBER_VARIABLE,
            "min_length": 3,
            "max_length": 20,
            "terminator": "#",
            "pattern": "[0-9]+",
            "timeout": 8,
            "retries": 2,
            "invalid_prompts": ["invalid_input"],
            "timeout_prompts": ["no_input"],
            "next": "cb_other",
            "on_fail": "cb_caller",
        },
        "cb_caller": {
            "kind": "callback",
            "label": "callback to the caller's number",
            "queue": queue_id,
            "business_selection": business_selection,
            "prompts": ["callback_confirm"],
            "next": "cb_bye",
        },
        "cb_other": {
            "kind": "callback",
            "label": "callback to the keyed number",
            "queue": queue_id,
            "business_selection": business_selection,
            "number_variable": CALLBACK_NUMBER_VARIABLE,
            "prompts": ["callback_confirm"],
            "next": "cb_bye",
        },
        "cb_bye": {"kind": "hangup", "prompts": ["goodbye"]},
    }
    return parse_flow(
        {
            "id": "callback_confirm",
            "entry": "cb_say",
            "language": language,
            "description": "confirm the number, register a callback, hang up",
            "nodes": nodes,
        }
    )


def overflow_voicemail_flow(mailbox: str = "general", language: Language = "zh") -> Flow:
    """Queue overflow to voicemail: "all agents are busy", "leave a message", beep."""
    return parse_flow(
        {
            "id": "overflow_voicemail",
            "entry": "vm",
            "language": language,
            "nodes": {
                "vm": {
                    "kind": "voicemail",
                    "label": "overflow voicemail",
                    "mailbox": mailbox,
                    "business_selection": "voicemail",
                    "prompts": ["agents_busy", "leave_message", "beep"],
                }
            },
        }
    )


def overflow_hangup_flow(language: Language = "zh") -> Flow:
    """Queue overflow without a target: "all agents are busy, call again later", BYE."""
    return parse_flow(
        {
            "id": "overflow_hangup",
            "entry": "busy",
            "language": language,
            "nodes": {
                "busy": {
                    "kind": "hangup",
                    "label": "overflow: all agents busy",
                    "prompts": ["agents_busy", "call_again_later"],
                    "reason": "queue overflow",
                }
            },
        }
    )


def builtin_flows() -> dict[str, Flow]:
    """The built-in flows above with their defaults (for validation and the docs)."""
    return {
        "callback_confirm": callback_confirm_flow(),
        "overflow_voicemail": overflow_voicemail_flow(),
        "overflow_hangup": overflow_hangup_flow(),
    }


class AudioFormat(msgspec.Struct, frozen=True, kw_only=True):
    sample_rate: int = 8000
    channels: int = 1
    sample_width: int = 2


class PromptManifest(msgspec.Struct, frozen=True, kw_only=True):
    """``resources/prompts/manifest.json``: prompt id → text per language."""

    format: AudioFormat = AudioFormat()
    prompts: dict[str, dict[Language, str]]

    def ids(self, language: Language | None = None) -> frozenset[str]:
        """Prompt ids recorded in ``language`` (with None: in every language)."""
        if language is None:
            return frozenset(
                pid for pid, texts in self.prompts.items() if {"en", "zh"} <= texts.keys()
            )
        return frozenset(pid for pid, texts in self.prompts.items() if language in texts)


def parse_prompt_manifest(data: bytes | str) -> PromptManifest:
    """Decode a prompt manifest (raises ``msgspec.ValidationError``/``DecodeError``)."""
    return msgspec.json.decode(data, type=PromptManifest)
