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
