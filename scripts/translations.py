"""Keep the desktop's Qt translation files in step with its source.

    .venv/bin/python scripts/translations.py update   # lupdate + fill from the glossary + lrelease
    .venv/bin/python scripts/translations.py check    # exit 1 listing strings without a translation
    .venv/bin/python scripts/translations.py verify   # exit 1 when the committed .qm is stale

``pyside6-lupdate`` collects every ``tr()`` / ``QCoreApplication.translate()`` string of
``agent_desktop`` into ``agent_desktop/i18n/opencc_desktop_zh_CN.ts`` (Qt Linguist's
format, so translators can also use Linguist). Translations are kept, per source text,
in ``agent_desktop/i18n/zh_CN.toml``: one text has one translation whatever class it
appears in. ``update`` writes them into the ``.ts`` and compiles the ``.qm`` that the
desktop loads (``pyside6-lrelease``).

``check`` also fails on glossary lines whose placeholders (``%1``, ``%n``, ``{name}``)
differ from the source text's, or that drop (or invent) an ``&`` accelerator. ``verify``
builds the ``.ts`` and ``.qm`` afresh from the source and the glossary in a temporary
folder and compares the ``.qm`` with the committed one (the ``.qm`` holds no source
locations, so moved lines do not make it stale; new or changed texts do).

PySide6's ``self.tr()`` looks a text up under the runtime class's name first, then under
each base class's, so a subclass of a translated widget finds the base's entries.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
I18N = ROOT / "agent_desktop" / "i18n"
LANGUAGE = "zh_CN"
TS = I18N / f"opencc_desktop_{LANGUAGE}.ts"
QM = TS.with_suffix(".qm")
GLOSSARY = I18N / f"{LANGUAGE}.toml"
BIN = Path(sys.executable).parent

PLACEHOLDER = re.compile(r"%L?\d+|%n|\{[A-Za-z_][A-Za-z0-9_]*\}")


class GlossaryError(Exception):
    """The glossary file is missing or is not valid TOML of string = string lines."""


def sources() -> list[Path]:
    return sorted(
        p
        for p in (ROOT / "agent_desktop").rglob("*.py")
        if "model" not in p.relative_to(ROOT / "agent_desktop").parts
    )


def lupdate(target: Path) -> None:
    files = [str(p.relative_to(ROOT)) for p in sources()]
    subprocess.run(
        [
            str(BIN / "pyside6-lupdate"),
            *files,
            "-no-obsolete",
            "-target-language",
            LANGUAGE,
            "-ts",
            str(target),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def lrelease(ts: Path, qm: Path) -> None:
    subprocess.run(
        [str(BIN / "pyside6-lrelease"), str(ts), "-qm", str(qm)],
        check=True,
        capture_output=True,
    )


def glossary(path: Path = GLOSSARY) -> dict[str, str]:
    try:
        with path.open("rb") as f:
            table = tomllib.load(f)
    except FileNotFoundError as e:
        raise GlossaryError(f"{path}: no glossary file") from e
    except tomllib.TOMLDecodeError as e:
        raise GlossaryError(f"{path}: {e}") from e
    bad = [k for k, v in table.items() if not isinstance(v, str)]
    if bad:
        raise GlossaryError(f"{path}: not a string translation: {', '.join(map(repr, bad))}")
    return {str(k): str(v) for k, v in table.items()}


def messages(ts: Path) -> list[str]:
    tree = ET.parse(ts)
    return [m.findtext("source") or "" for m in tree.iter("message")]


def missing(ts: Path, table: dict[str, str]) -> list[str]:
    return sorted({s for s in messages(ts) if s and s not in table})


def unused(ts: Path, table: dict[str, str]) -> list[str]:
    used = set(messages(ts))
    return sorted(k for k in table if k not in used)


def _accelerators(text: str) -> int:
    """How many ``&x`` accelerators ``text`` has (``&&`` is a literal ampersand)."""
    return len(re.findall(r"&(?!&)\S", text.replace("&&", "")))


def problems(table: dict[str, str]) -> list[str]:
    """Glossary lines whose placeholders or accelerators do not match their source."""
    found: list[str] = []
    for source, text in sorted(table.items()):
        if not text.strip():
            found.append(f"empty translation: {source!r}")
            continue
        want = sorted(PLACEHOLDER.findall(source))
        have = sorted(PLACEHOLDER.findall(text))
        if want != have:
            found.append(f"placeholders {want} != {have}: {source!r} = {text!r}")
        if _accelerators(source) != _accelerators(text):
            found.append(f"accelerator mismatch: {source!r} = {text!r}")
    return found


def fill(ts: Path, table: dict[str, str], locations_for: Path | None = None) -> int:
    """Write ``table``'s translations into ``ts``; with ``locations_for``, also make the
    source locations relative to that folder (where the file will finally live)."""
    tree = ET.parse(ts)
    if locations_for is not None:
        for location in tree.iter("location"):
            name = location.get("filename")
            if name:
                where = (ts.parent / name).resolve()
                relative = os.path.relpath(where, locations_for.resolve())
                location.set("filename", Path(relative).as_posix())
    filled = 0
    for message in tree.iter("message"):
        source = message.findtext("source") or ""
        translation = message.find("translation")
        if translation is None or source not in table:
            continue
        text = table[source]
        if message.get("numerus") == "yes":
            translation.text = None
            for child in list(translation):
                translation.remove(child)
            form = ET.SubElement(translation, "numerusform")
            form.text = text
        else:
            translation.text = text
        translation.attrib.pop("type", None)
        filled += 1
    ET.indent(tree)
    with ts.open("wb") as f:
        f.write(b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n')
        tree.write(f, encoding="utf-8", xml_declaration=False)
    return filled


def build(ts: Path, qm: Path, table: dict[str, str]) -> int:
    """A fresh ``ts`` (never merged with an older one: the glossary is the only memory,
    so no stale "similar text" guess of lupdate ships), filled from ``table``, and its
    ``qm``; returns how many messages were filled."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / TS.name
        lupdate(fresh)
        filled = fill(fresh, table, locations_for=TS.parent)
        ts.write_bytes(fresh.read_bytes())
    lrelease(ts, qm)
    return filled


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    if command not in ("check", "update", "verify"):
        print(__doc__)
        return 2
    try:
        table = glossary()
    except GlossaryError as e:
        print(e)
        return 1
    bad = problems(table)
    for line in bad:
        print(f"glossary: {line}")
    if command == "check":
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / TS.name
            lupdate(fresh)
            lacking = missing(fresh, table)
            spare = unused(fresh, table)
        for text in lacking:
            print(f"no {LANGUAGE} translation: {text!r}")
        for text in spare:
            print(f"note: glossary line not used by the source: {text!r}")
        return 1 if lacking or bad else 0
    if command == "verify":
        with tempfile.TemporaryDirectory() as tmp:
            fresh_ts = Path(tmp) / TS.name
            fresh_qm = fresh_ts.with_suffix(".qm")
            build(fresh_ts, fresh_qm, table)
            same = QM.is_file() and QM.read_bytes() == fresh_qm.read_bytes()
        if not same:
            print(f"{QM.name} is stale: run scripts/translations.py update")
        return 0 if same else 1
    filled = build(TS, QM, table)
    lacking = missing(TS, table)
    print(f"{TS.name}: {filled} translated, {len(lacking)} missing; wrote {QM.name}")
    for text in lacking:
        print(f"  no translation: {text!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
