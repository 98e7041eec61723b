"""Write a benchmark's results into its own section of docs/benchmarks.md.

Each bench script owns one section, delimited by HTML comment markers, and
rewrites only that section, so scripts can be re-run independently. The section
records the exact command, the date and the machine, followed by the script's
Markdown body.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
_HEADER = (
    "# Benchmarks\n\n"
    "Numbers printed by the scripts under `bench/`, each section rewritten by the\n"
    "script named in it. Re-run a script to refresh its section.\n"
)


def machine() -> str:
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )


def write_section(name: str, title: str, body: str, command: str | None = None) -> Path:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    if command is None:
        script = Path(sys.argv[0]).resolve()
        bench_dir = Path(__file__).resolve().parent
        target = (
            f"-m bench.{script.stem}"
            if script.parent == bench_dir
            else os.path.relpath(sys.argv[0])
        )
        command = " ".join(["python", target, *sys.argv[1:]])
    cmd = command
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = (
        f"<!-- bench:{name} -->\n## {title}\n\n"
        f"Command: `{cmd}`  \nRun: {stamp} on {machine()}\n\n"
        f"{body.rstrip()}\n<!-- /bench:{name} -->\n"
    )
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else _HEADER
    pattern = re.compile(
        rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->\n", re.S
    )
    text = (
        pattern.sub(lambda _m: block, text)
        if pattern.search(text)
        else (text.rstrip() + "\n\n" + block)
    )
    DOC.write_text(text, encoding="utf-8")
    return DOC
