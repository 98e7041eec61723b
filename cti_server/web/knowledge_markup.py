"""The knowledge base's small, safe article markup (a Markdown subset rendered here).

Nothing a writer types is ever passed through as HTML: every piece of text is
escaped, and only the constructs below produce tags.

Blocks: ``#``..``####`` headings, ``-``/``*`` and ``1.`` lists, ``>`` quotes, pipe
tables (``| a | b |`` then ``|---|---:|``), fenced code (three backticks), bar charts
(a fence opened with ``chart``: optional ``# title`` line, then ``label | number``
lines; drawn as inline SVG with attributes only, so the pages' CSP holds) and
paragraphs (blank lines separate them; single newlines become ``<br>``).

Inline: ``**bold**``, ``` `code` ```, ``[text](https://…)`` links (http, https,
mailto and site-relative ``/…`` targets only; anything else stays text) and
cross-links ``[[slug]]`` / ``[[slug|text]]`` to other articles — shown as a broken
link when the article does not exist (or the reader may not see it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation

from markupsafe import Markup, escape

Resolver = Callable[[str], str | None]
"""slug → the article's title, or ``None`` when the link is broken."""

_CROSS = re.compile(r"\[\[([a-z0-9][a-z0-9-]{0,99})(?:\|([^\]\n]{1,200}))?\]\]")
_INLINE = re.compile(
    r"\[\[(?P<slug>[a-z0-9][a-z0-9-]{0,99})(?:\|(?P<label>[^\]\n]{1,200}))?\]\]"
    r"|\*\*(?P<bold>[^*\n]+?)\*\*"
    r"|`(?P<code>[^`\n]+)`"
    r"|\[(?P<text>[^\]\n]+)\]\((?P<url>[^)\s]+)\)"
)
_SAFE_URL = re.compile(r"^(https?://[^\s\"'<>]+|mailto:[^\s\"'<>]+|/[^/\\\s\"'<>][^\s\"'<>]*|/)$")
_HEADING = re.compile(r"^(#{1,4})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)]\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def cross_links(body: str) -> list[str]:
    """Slugs named by ``[[slug]]`` in ``body`` (first occurrence order)."""
    return list(dict.fromkeys(m.group(1) for m in _CROSS.finditer(body)))


def _inline(text: str, resolve: Resolver, base: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _INLINE.finditer(text):
        out.append(str(escape(text[pos : match.start()])))
        pos = match.end()
        if match.group("slug"):
            slug = match.group("slug")
            title = resolve(slug)
            label = match.group("label") or title or slug
            if title is None:
                out.append(f'<span class="kb-broken" title="{escape(slug)}">{escape(label)}</span>')
            else:
                out.append(
                    f'<a class="kb-xref" href="{escape(base)}/kb/a/{escape(slug)}">'
                    f"{escape(label)}</a>"
                )
        elif match.group("bold"):
            out.append(f"<strong>{escape(match.group('bold'))}</strong>")
        elif match.group("code"):
            out.append(f"<code>{escape(match.group('code'))}</code>")
        else:
            url, label = match.group("url"), match.group("text")
            if _SAFE_URL.match(url):
                external = "" if url.startswith("/") else ' rel="noopener noreferrer"'
                out.append(f'<a href="{escape(url)}"{external}>{escape(label)}</a>')
            else:
                out.append(str(escape(match.group(0))))
    out.append(str(escape(text[pos:])))
    return "".join(out)


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.replace(",", "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _chart(lines: list[str], resolve: Resolver, base: str) -> str:
    title = ""
    bars: list[tuple[str, Decimal]] = []
    for line in lines:
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            continue
        if "|" not in line:
            continue
        label, _, value = line.rpartition("|")
        number = _number(value)
        if number is not None and number >= 0:
            bars.append((label.strip(), number))
    if not bars:
        return ""
    top = max(v for _, v in bars) or Decimal(1)
    row, label_w, bar_w = 26, 160, 360
    height = row * len(bars) + 8
    parts = [
        f'<figure class="kb-chart"><svg xmlns="http://www.w3.org/2000/svg" role="img"'
        f' width="{label_w + bar_w + 80}" height="{height}"'
        f' viewBox="0 0 {label_w + bar_w + 80} {height}">'
    ]
    for i, (name, amount) in enumerate(bars):
        y = 4 + i * row
        width = int(bar_w * amount / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{max(width, 1)}" height="{row - 8}"'
            f' fill="#1f6feb"></rect>'
            f'<text x="{label_w + width + 6}" y="{y + 17}">{escape(str(amount))}</text>'
        )
    parts.append("</svg>")
    if title:
        parts.append(f"<figcaption>{_inline(title, resolve, base)}</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _blocks(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """Group lines into (kind, lines) blocks."""
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
            continue
        if stripped.startswith("```"):
            info = stripped[3:].strip().lower()
            j = i + 1
            while j < n and not lines[j].strip().startswith("```"):
                j += 1
            yield ("chart" if info == "chart" else "code"), lines[i + 1 : j]
            i = j + 1
            continue
        if _HEADING.match(stripped):
            yield "heading", [stripped]
            i += 1
            continue
        if stripped.startswith("|") and i + 1 < n and _TABLE_SEP.match(lines[i + 1]):
            j = i + 2
            while j < n and lines[j].strip().startswith("|"):
                j += 1
            yield "table", lines[i:j]
            i = j
            continue
        for kind, pattern in (("ul", _BULLET), ("ol", _NUMBERED)):
            if pattern.match(line):
                j = i + 1
                while j < n and (
                    pattern.match(lines[j]) or (lines[j][:1] in (" ", "\t") and lines[j].strip())
                ):
                    j += 1
                yield kind, lines[i:j]
                i = j
                break
        else:
            if stripped.startswith(">"):
                j = i
                while j < n and lines[j].strip().startswith(">"):
                    j += 1
                yield "quote", [x.strip()[1:].strip() for x in lines[i:j]]
                i = j
                continue
            j = i
            while j < n and lines[j].strip() and not _starts_block(lines, j):
                j += 1
            yield "p", lines[i : max(j, i + 1)]
            i = max(j, i + 1)


def _starts_block(lines: list[str], i: int) -> bool:
    s = lines[i].strip()
    return bool(
        s.startswith(("```", ">", "#"))
        or _BULLET.match(lines[i])
        or _NUMBERED.match(lines[i])
        or (s.startswith("|") and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]))
    )


def render(body: str, resolve: Resolver, base: str = "/ui") -> Markup:
    """The article body as safe HTML."""
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for kind, block in _blocks(lines):
        if kind == "heading":
            match = _HEADING.match(block[0])
            assert match is not None
            level = min(len(match.group(1)) + 1, 5)  # the page title is the <h1>
            out.append(f"<h{level}>{_inline(match.group(2), resolve, base)}</h{level}>")
        elif kind in ("ul", "ol"):
            pattern = _BULLET if kind == "ul" else _NUMBERED
            texts: list[str] = []
            for line in block:
                match = pattern.match(line)
                if match is not None:
                    texts.append(match.group(1))
                else:  # an indented continuation of the item above
                    texts[-1] += "\n" + line.strip()
            items = [
                f"<li>{'<br>'.join(_inline(x, resolve, base) for x in t.split(chr(10)))}</li>"
                for t in texts
            ]
            out.append(f"<{kind}>{''.join(items)}</{kind}>")
        elif kind == "table":
            head = _cells(block[0])
            aligns = []
            for cell in _cells(block[1]):
                aligns.append(
                    "right"
                    if cell.endswith(":") and not cell.startswith(":")
                    else "center"
                    if cell.startswith(":") and cell.endswith(":")
                    else ""
                )
            rows = ["<thead><tr>"]
            rows += [f"<th>{_inline(c, resolve, base)}</th>" for c in head]
            rows.append("</tr></thead><tbody>")
            for line in block[2:]:
                cells = _cells(line)
                cells = (cells + [""] * len(head))[: len(head)]
                rows.append("<tr>")
                for index, cell in enumerate(cells):
                    align = aligns[index] if index < len(aligns) else ""
                    cls = f' class="{align}"' if align else ""
                    rows.append(f"<td{cls}>{_inline(cell, resolve, base)}</td>")
                rows.append("</tr>")
            rows.append("</tbody>")
            out.append(f'<table class="grid kb-table">{"".join(rows)}</table>')
        elif kind == "code":
            out.append(f"<pre><code>{escape(chr(10).join(block))}</code></pre>")
        elif kind == "chart":
            out.append(_chart(block, resolve, base))
        elif kind == "quote":
            text = "<br>".join(_inline(x, resolve, base) for x in block)
            out.append(f"<blockquote>{text}</blockquote>")
        else:
            text = "<br>".join(_inline(x.strip(), resolve, base) for x in block)
            out.append(f"<p>{text}</p>")
    return Markup("\n".join(out))


_STRIP = re.compile(r"\*\*|`|^\s*#{1,4}\s+|^\s*[-*>]\s+|^\s*\d{1,3}[.)]\s+", re.M)


def plain_text(body: str) -> str:
    """The body without markup (what the search indexes and the snippets show)."""
    text = re.sub(r"^\s*```\w*\s*$", "", body, flags=re.M)
    text = _CROSS.sub(lambda m: m.group(2) or m.group(1), text)
    text = re.sub(r"\[([^\]\n]+)\]\([^)\s]+\)", r"\1", text)
    text = re.sub(r"^\s*\|?\s*:?-{3,}.*$", "", text, flags=re.M)
    text = _STRIP.sub("", text)
    return text.replace("|", " ")
