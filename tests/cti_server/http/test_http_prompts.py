"""Administrators upload their own IVR prompts over REST (R-IVR-5, issue 5).

Uploads are validated (RIFF WAVE, mono, 8 kHz, 16-bit PCM or G.711, 0.1-300 s, ≤ 5 MB,
id and language), stored as files with a sidecar under ``<data_dir>/prompts`` and
audited; a refusal is a typed 4xx that names the problem and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cti_server.store.prompts import SHIPPED_PROMPTS
from tests.cti_server.http.http_support import ADMIN, AGENT, TEAM_LEAD, Stack
from tests.cti_server.prompt_support import wav_bytes

WAV = {"Content-Type": "audio/wav"}


@pytest.fixture
def prompt_dir(tmp_path: Path) -> Path:
    return tmp_path / "data" / "prompts"


@pytest.fixture
def pstack(make_stack: Callable[..., Stack], prompt_dir: Path) -> Stack:
    return make_stack(prompt_dir=prompt_dir)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _audit(stack: Stack) -> list[dict[str, object]]:
    answer = stack.client(ADMIN).get("/api/v1/audit", params={"entity": "prompt"})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_upload_pcm16_and_ulaw_override_the_shipped_prompt_and_delete_reverts(
    pstack: Stack, prompt_dir: Path
) -> None:
    admin = pstack.client(ADMIN)
    shipped = (SHIPPED_PROMPTS / "en" / "welcome.wav").read_bytes()
    before = admin.get("/api/v1/prompts/en/welcome")
    assert before.status_code == 200 and before.content == shipped
    assert before.headers["x-prompt-source"] == "shipped"

    pcm = wav_bytes(1250, 1.5)
    put = admin.put("/api/v1/prompts/en/welcome", content=pcm, headers=WAV)
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["source"] == "uploaded" and body["overrides_shipped"] is True
    assert body["sha256"] == hashlib.sha256(pcm).hexdigest()
    assert (body["size"], body["seconds"], body["format"]) == (len(pcm), 1.5, "pcm16")
    assert body["uploaded_by"] == "9901"
    assert (prompt_dir / "en" / "welcome.wav").read_bytes() == pcm
    sidecar = json.loads((prompt_dir / "en" / "welcome.json").read_text())
    assert sidecar["sha256"] == body["sha256"] and sidecar["uploaded_by"] == "9901"
    assert {"size", "seconds", "uploaded_at"} <= set(sidecar)

    # the preview is the upload now; a team lead may preview and list
    lead = pstack.client(TEAM_LEAD)
    preview = lead.get("/api/v1/prompts/en/welcome")
    assert preview.content == pcm and preview.headers["content-type"] == "audio/wav"
    assert preview.headers["x-prompt-source"] == "uploaded"

    ulaw = wav_bytes(700, 0.5, fmt="ulaw")
    put = admin.put("/api/v1/prompts/zh/holiday_2026", content=ulaw, headers=WAV)
    assert put.status_code == 200, put.text
    assert (put.json()["format"], put.json()["seconds"]) == ("ulaw", 0.5)
    assert put.json()["overrides_shipped"] is False
    alaw = wav_bytes(700, 0.2, fmt="alaw")
    assert admin.put("/api/v1/prompts/zh/closing", content=alaw, headers=WAV).status_code == 200

    listing = {(p["language"], p["prompt_id"]): p for p in lead.get("/api/v1/prompts").json()}
    assert listing[("en", "welcome")]["source"] == "uploaded"
    assert listing[("zh", "welcome")]["source"] == "shipped"
    assert listing[("zh", "welcome")]["seconds"] > 0.1
    assert listing[("zh", "holiday_2026")]["sha256"] == hashlib.sha256(ulaw).hexdigest()
    shipped_count = len(list(SHIPPED_PROMPTS.glob("*/*.wav")))
    assert len(listing) == shipped_count + 2  # welcome overrides, the two others are new

    # delete: the shipped prompt plays again; an upload-only prompt is gone
    assert admin.delete("/api/v1/prompts/en/welcome").status_code == 204
    again = admin.get("/api/v1/prompts/en/welcome")
    assert again.content == shipped and again.headers["x-prompt-source"] == "shipped"
    assert not (prompt_dir / "en" / "welcome.wav").exists()
    assert not (prompt_dir / "en" / "welcome.json").exists()
    assert admin.delete("/api/v1/prompts/zh/holiday_2026").status_code == 204
    gone = admin.get("/api/v1/prompts/zh/holiday_2026")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    twice = admin.delete("/api/v1/prompts/zh/holiday_2026")
    assert twice.status_code == 404

    audit = _audit(pstack)
    actions = [(a["action"], a["entity_id"], a["actor"]) for a in audit]
    assert ("upload", "en/welcome", "9901") in actions
    assert ("upload", "zh/holiday_2026", "9901") in actions
    assert ("delete", "en/welcome", "9901") in actions
    assert ("delete", "zh/holiday_2026", "9901") in actions
    upload = next(a for a in audit if (a["action"], a["entity_id"]) == ("upload", "en/welcome"))
    assert isinstance(upload["after"], dict) and upload["after"]["sha256"] == body["sha256"]


def test_replacing_an_upload_audits_before_and_after(pstack: Stack, prompt_dir: Path) -> None:
    admin = pstack.client(ADMIN)
    first, second = wav_bytes(500, 0.3), wav_bytes(900, 0.4)
    assert admin.put("/api/v1/prompts/en/promo", content=first, headers=WAV).status_code == 200
    assert admin.put("/api/v1/prompts/en/promo", content=second, headers=WAV).status_code == 200
    assert (prompt_dir / "en" / "promo.wav").read_bytes() == second
    replaced = next(a for a in _audit(pstack) if a["entity_id"] == "en/promo")  # newest first
    assert isinstance(replaced["before"], dict) and isinstance(replaced["after"], dict)
    assert replaced["before"]["sha256"] == hashlib.sha256(first).hexdigest()
    assert replaced["after"]["sha256"] == hashlib.sha256(second).hexdigest()
    assert not [p for p in _files(prompt_dir) if ".tmp" in p]


@dataclass(frozen=True)
class Bad:
    path: str
    body: bytes
    status: int
    where: str
    problem: str | None
    headers: dict[str, str] = field(default_factory=lambda: dict(WAV))


BAD_UPLOADS = {
    "16kHz": Bad("en/greet", wav_bytes(rate=16000), 422, "body", "bad_rate"),
    "stereo": Bad("en/greet", wav_bytes(channels=2), 422, "body", "not_mono"),
    "too-long": Bad("en/greet", wav_bytes(0, seconds=301), 422, "body", "too_long"),
    "too-short": Bad("en/greet", wav_bytes(seconds=0.05), 422, "body", "too_short"),
    "mp3-not-riff": Bad("en/greet", b"ID3\x04" + b"\x00" * 4000, 422, "body", "not_riff"),
    "empty": Bad("en/greet", b"", 422, "body", "empty"),
    "over-5MB": Bad("en/greet", b"RIFF" + b"\x00" * (5 << 20), 413, "body", "too_large"),
    "upper-case-id": Bad("en/Greet", wav_bytes(), 422, "prompt_id", "bad_id"),
    "dash-in-id": Bad("en/greet-2", wav_bytes(), 422, "prompt_id", "bad_id"),
    "id-too-long": Bad("en/" + "a" * 65, wav_bytes(), 422, "prompt_id", "bad_id"),
    "unknown-language": Bad("fr/greet", wav_bytes(), 422, "language", "unknown_language"),
    "not-audio-wav": Bad(
        "en/greet", wav_bytes(), 415, "content-type", None, {"Content-Type": "application/json"}
    ),
}


@pytest.mark.parametrize("bad", BAD_UPLOADS.values(), ids=BAD_UPLOADS.keys())
def test_bad_uploads_are_refused_naming_the_problem_and_write_nothing(
    pstack: Stack, prompt_dir: Path, bad: Bad
) -> None:
    answer = pstack.client(ADMIN).put(
        f"/api/v1/prompts/{bad.path}", content=bad.body, headers=bad.headers
    )
    assert answer.status_code == bad.status, answer.text
    error = answer.json()["error"]
    assert error["detail"]["field"] == bad.where
    if bad.problem is not None:
        assert error["code"] == "invalid_prompt"
        assert error["detail"]["problem"] == bad.problem
    assert _files(prompt_dir) == []
    assert _audit(pstack) == []


def test_g711_with_wrong_bits_and_other_codecs_are_refused(pstack: Stack) -> None:
    admin = pstack.client(ADMIN)
    ieee_float = bytearray(wav_bytes())
    ieee_float[20:22] = (3).to_bytes(2, "little")  # format tag 3: 32-bit float
    answer = admin.put("/api/v1/prompts/en/greet", content=bytes(ieee_float), headers=WAV)
    assert answer.status_code == 422
    assert answer.json()["error"]["detail"]["problem"] == "bad_format"
    assert "format tag 3" in answer.json()["error"]["message"]


def test_only_admins_upload_or_delete_and_agents_see_nothing(
    pstack: Stack, prompt_dir: Path
) -> None:
    pcm = wav_bytes(440, 0.5)
    lead, agent = pstack.client(TEAM_LEAD), pstack.client(AGENT)
    assert lead.put("/api/v1/prompts/en/welcome", content=pcm, headers=WAV).status_code == 403
    assert agent.put("/api/v1/prompts/en/welcome", content=pcm, headers=WAV).status_code == 403
    anonymous = pstack.client(auth=None)
    assert anonymous.put("/api/v1/prompts/en/welcome", content=pcm, headers=WAV).status_code == 401
    assert agent.get("/api/v1/prompts").status_code == 403
    assert agent.get("/api/v1/prompts/en/welcome").status_code == 403
    assert _files(prompt_dir) == []
    admin = pstack.client(ADMIN)
    assert admin.put("/api/v1/prompts/en/welcome", content=pcm, headers=WAV).status_code == 200
    assert lead.delete("/api/v1/prompts/en/welcome").status_code == 403
    assert (prompt_dir / "en" / "welcome.wav").read_bytes() == pcm
    assert lead.get("/api/v1/prompts").status_code == 200


def test_without_prompt_storage_the_endpoints_say_so(stack: Stack) -> None:
    answer = stack.client(ADMIN).get("/api/v1/prompts")
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "prompts_unavailable"


def test_prompt_endpoints_are_documented(pstack: Stack) -> None:
    doc = pstack.client(auth=None).get("/api/v1/openapi.json").json()
    item = doc["paths"]["/api/v1/prompts/{language}/{prompt_id}"]
    assert set(item) == {"get", "put", "delete"}
    assert "audio/wav" in item["put"]["requestBody"]["content"]
    assert item["put"]["x-roles"] == ["admin"]
    assert {"413", "415", "422"} <= set(item["put"]["responses"])
    assert "audio/wav" in item["get"]["responses"]["200"]["content"]
    assert doc["paths"]["/api/v1/prompts"]["get"]["x-roles"] == ["admin", "team_lead"]
