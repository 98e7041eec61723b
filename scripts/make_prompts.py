"""Generate the IVR prompt catalogue: 8 kHz mono 16-bit WAVs in English and Chinese.

    .venv/bin/python scripts/make_prompts.py            # (re)generate everything
    .venv/bin/python scripts/make_prompts.py --check    # only verify coverage

Writes ``resources/prompts/{en,zh}/<id>.wav`` with espeak-ng (``-v en-us`` /
``-v cmn``) piped through sox (8 kHz, mono, signed 16-bit, leading/trailing
silence trimmed), plus ``resources/prompts/manifest.json`` (prompt id → text per
language). Covers every prompt the shipped flows play and every digit/unit prompt
the number read-outs use (``shared.ivr.say.NUMBER_PROMPTS``); fails when a shipped
flow names a prompt that has no text here. Output is deterministic for a given
espeak-ng/sox version, so re-running it leaves the files unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.ivr.library import builtin_flows, load_shipped_flow, shipped_flow_names  # noqa: E402
from shared.ivr.say import NUMBER_PROMPTS  # noqa: E402
from shared.ivr.validate import validate  # noqa: E402

OUT = ROOT / "resources" / "prompts"
VOICES = {"en": ("en-us", "175"), "zh": ("cmn", "210")}
TONE = "[tone]"
"""Manifest text of synthesized tones (``beep``)."""

FLOW_PROMPTS: dict[str, dict[str, str]] = {
    "welcome": {"en": "Welcome to customer service.", "zh": "欢迎致电客服热线。"},
    "vip_welcome": {"en": "Welcome, VIP customer.", "zh": "尊敬的贵宾，您好。"},
    "gold_welcome": {"en": "Welcome, gold member.", "zh": "尊敬的金卡客户，您好。"},
    "main_menu": {
        "en": "Billing, press 1. Technical support, 2. Sales, 3. An agent, 0.",
        "zh": "账务请按1，技术支持按2，业务办理按3，人工服务按0。",
    },
    "billing_menu": {
        "en": "For your balance, press 1. An agent, 0.",
        "zh": "查询余额请按1，人工服务按0。",
    },
    "invalid_choice": {"en": "Sorry, that is not a valid choice.", "zh": "对不起，输入有误。"},
    "invalid_input": {"en": "Sorry, that number is not valid.", "zh": "对不起，号码有误。"},
    "no_input": {"en": "Sorry, we did not hear a key.", "zh": "对不起，没有收到输入。"},
    "please_hold": {"en": "Please hold for an agent.", "zh": "正在转接，请稍候。"},
    "barred": {"en": "Sorry, we cannot take your call.", "zh": "对不起，暂时无法为您服务。"},
    "enter_account": {
        "en": "Enter your account number, then hash.",
        "zh": "请输入账号，以井号结束。",
    },
    "enter_pin": {"en": "Enter your PIN, then hash.", "zh": "请输入密码，以井号结束。"},
    "lookup_failed": {"en": "Sorry, we could not find that account.", "zh": "对不起，查询失败。"},
    "balance_is": {"en": "Your balance is", "zh": "您的余额为"},
    "after_balance_menu": {
        "en": "To repeat, press 1. An agent, 0.",
        "zh": "重听请按1，人工服务按0。",
    },
    "closed": {"en": "Our agents are not available now.", "zh": "现在是非工作时间。"},
    "closed_menu": {
        "en": "For a call back, press 1. To leave a message, 2.",
        "zh": "预约回电请按1，留言请按2。",
    },
    "callback_confirm": {"en": "We will call you back.", "zh": "我们将给您回电。"},
    "leave_message": {"en": "Leave a message after the tone.", "zh": "请在提示音后留言。"},
    "beep": {"en": TONE, "zh": TONE},
    "goodbye": {"en": "Thank you for calling. Goodbye.", "zh": "感谢来电，再见。"},
    "survey_intro": {"en": "Please rate our service.", "zh": "请对本次服务进行评价。"},
    "survey_satisfaction": {
        "en": "Satisfied, press 1. Neutral, 2. Unsatisfied, 3.",
        "zh": "满意请按1，一般按2，不满意按3。",
    },
    "survey_resolved": {
        "en": "Was your problem solved? Yes, 1. No, 2.",
        "zh": "问题是否解决？是请按1，否按2。",
    },
    "survey_thanks": {"en": "Thank you for your feedback.", "zh": "感谢您的评价。"},
    # queue announcements, overflow, voicemail and callback confirmation (R-IVR-1..4)
    "queue_position": {"en": "You are number", "zh": "您现在排在第"},
    "queue_position_end": {"en": "in the queue.", "zh": "位。"},
    "queue_wait": {"en": "The expected wait is about", "zh": "预计等待时间约为"},
    "queue_minute": {"en": "minute.", "zh": "分钟。"},
    "queue_minutes": {"en": "minutes.", "zh": "分钟。"},
    "queue_wait_short": {
        "en": "The expected wait is less than a minute.",
        "zh": "预计等待时间不到一分钟。",
    },
    "agents_busy": {"en": "Sorry, all our agents are busy.", "zh": "对不起，座席全忙。"},
    "call_again_later": {"en": "Please call again later. Goodbye.", "zh": "请稍后再拨，再见。"},
    "message_saved": {
        "en": "Your message has been saved. Goodbye.",
        "zh": "您的留言已保存，再见。",
    },
    "callback_number_is": {"en": "We will call you back on", "zh": "我们将回电至"},
    "callback_confirm_menu": {
        "en": "If this is correct, press 1. For another number, press 2.",
        "zh": "号码正确请按1，输入其他号码请按2。",
    },
    "callback_enter_number": {
        "en": "Enter your phone number, then hash.",
        "zh": "请输入您的电话号码，以井号结束。",
    },
}


def catalogue() -> dict[str, dict[str, str]]:
    texts: dict[str, dict[str, str]] = {
        pid: {str(lang): text for lang, text in by_lang.items()}
        for pid, by_lang in NUMBER_PROMPTS.items()
    }
    texts.update(FLOW_PROMPTS)
    return dict(sorted(texts.items()))


def check(texts: dict[str, dict[str, str]]) -> list[str]:
    """Problems: shipped flows that play prompts without text here."""
    problems: list[str] = []
    for name in shipped_flow_names():
        for problem in validate(load_shipped_flow(name), prompt_ids=set(texts)):
            if problem.code == "prompt_missing":
                problems.append(f"flow {name}: {problem.node}.{problem.field}: {problem.message}")
    for name, flow in builtin_flows().items():  # overflow and callback flows of the switch
        for problem in validate(flow, prompt_ids=set(texts)):
            if problem.code == "prompt_missing":
                problems.append(f"flow {name}: {problem.node}.{problem.field}: {problem.message}")
    for pid, by_lang in texts.items():
        missing = {"en", "zh"} - by_lang.keys()
        if missing:
            problems.append(f"prompt {pid}: no text for {', '.join(sorted(missing))}")
    return problems


def render(pid: str, language: str, text: str, folder: Path) -> Path:
    target = folder / language / f"{pid}.wav"
    target.parent.mkdir(parents=True, exist_ok=True)
    sox_format = ["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer"]
    if text == TONE:
        subprocess.run(
            ["sox", "-n", *sox_format, str(target), "synth", "0.25", "sine", "1000", "vol", "0.5"],
            check=True,
        )
        return target
    voice, speed = VOICES[language]
    speech = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", speed, "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    trim = ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse"]
    subprocess.run(
        ["sox", "-G", "-D", "-t", "wav", "-", *sox_format, str(target), *trim, "pad", "0", "0.1"],
        input=speech,
        check=True,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="output folder")
    parser.add_argument("--check", action="store_true", help="verify coverage only")
    args = parser.parse_args(argv)
    texts = catalogue()
    problems = check(texts)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return 1
    if args.check:
        print(f"{len(texts)} prompts cover every shipped flow")
        return 0
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (Debian: apt install espeak-ng sox)", file=sys.stderr)
            return 2
    folder: Path = args.out
    jobs = [(pid, lang, text) for pid, by_lang in texts.items() for lang, text in by_lang.items()]
    with ThreadPoolExecutor(max_workers=2) as pool:
        written = list(pool.map(lambda job: render(job[0], job[1], job[2], folder), jobs))
    wanted = {path.resolve() for path in written}
    for stale in folder.glob("*/*.wav"):
        if stale.resolve() not in wanted:
            stale.unlink()
    manifest = {
        "format": {"sample_rate": 8000, "channels": 1, "sample_width": 2},
        "prompts": texts,
    }
    (folder / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    total = sum(path.stat().st_size for path in written)
    print(f"{len(written)} WAV files, {total / 1e6:.2f} MB, in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
