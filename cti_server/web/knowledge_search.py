"""Tokenising and highlighting for the knowledge-base search (R-BIZ-3, R-BIZ-9).

One tokeniser serves the index and the queries, so both backends (SQLite and
PostgreSQL) search the same plain table ``kb_terms`` (term → article, weight) without
any full-text extension:

* text is folded per character (NFKC, case-folded: full-width ``ＡＢＣ１`` = ``abc1``);
* Latin letters and digits form words; a word is stemmed lightly (plural ``-s``/``-es``/
  ``-ies``, ``-ing``, ``-ed``, possessive ``'s``) and a few stop words are dropped;
* a run of Chinese (CJK) characters yields its overlapping character bigrams
  (``宽带资费`` → ``宽带``, ``带资``, ``资费``); documents also index every single
  character so a one-character query (``费``) still finds something;
* everything else (punctuation, spaces, symbols) only separates tokens.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

MAX_TERM = 64
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "of",
        "on",
        "or",
        "the",
        "to",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "you",
        "your",
        "can",
        "my",
        "me",
        "we",
    ]
)


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
        or 0x3040 <= code <= 0x30FF  # kana: same bigram treatment
    )


@functools.lru_cache(maxsize=65536)
def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch).casefold()
    return folded if len(folded) == 1 else ch


def fold(text: str) -> str:
    """Per-character fold that keeps positions (len(fold(t)) == len(t))."""
    if text.isascii():
        return text.lower()
    return "".join(_fold(ch) for ch in text)


@functools.lru_cache(maxsize=32768)
def stem(word: str) -> str:
    """A light English stemmer: enough to match plural/-ing/-ed forms of the same word."""
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("ing") and len(word) > 5:
        word = _undouble(word[:-3])
    elif word.endswith("ed") and len(word) > 4:
        word = _undouble(word[:-2])
    return word


def _undouble(word: str) -> str:
    """running -> runn -> run, stopped -> stopp -> stop (not: called, missed)."""
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        return word[:-1]
    return word


@dataclass(frozen=True, slots=True)
class Token:
    term: str
    start: int
    end: int


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _runs(folded: str) -> Iterator[tuple[bool, int, int]]:
    """(is_cjk, start, end) runs of Chinese characters and of Latin/digit words."""
    i, n = 0, len(folded)
    while i < n:
        ch = folded[i]
        if _is_cjk(ch):
            j = i + 1
            while j < n and _is_cjk(folded[j]):
                j += 1
            yield True, i, j
            i = j
        elif ch.isascii() and ch.isalnum():
            match = _WORD.match(folded, i)
            assert match is not None
            yield False, i, match.end()
            i = match.end()
        else:
            i += 1


def tokens(text: str, *, unigrams: bool = False) -> Iterator[Token]:
    """Terms of ``text`` with their character spans (for highlighting).

    ``unigrams``: also every single Chinese character (documents); a query uses
    unigrams only for a one-character run."""
    folded = fold(text)
    for cjk, start, end in _runs(folded):
        if cjk:
            if end - start == 1 or unigrams:
                for i in range(start, end):
                    yield Token(folded[i], i, i + 1)
            for i in range(start, end - 1):
                yield Token(folded[i : i + 2], i, i + 2)
        else:
            word = folded[start:end]
            if word in STOP_WORDS:
                continue
            yield Token(stem(word)[:MAX_TERM], start, end)


def document_terms(title: str, body: str, tags: Sequence[str] = ()) -> dict[str, int]:
    """Index weights of a document: 10 per title occurrence, 5 per tag, 1 per body
    occurrence (body capped at 20 so long texts do not drown short precise ones)."""
    body_counts = Counter(t.term for t in tokens(body, unigrams=True))
    weights = {term: min(count, 20) for term, count in body_counts.items()}
    for tag in tags:
        for t in tokens(tag, unigrams=True):
            weights[t.term] = weights.get(t.term, 0) + 5
    for t in tokens(title, unigrams=True):
        weights[t.term] = weights.get(t.term, 0) + 10
    return weights


QUESTION_TERMS = frozenset(("怎么", "么办", "什么", "如何", "为什", "么样", "请问", "是否", "一下"))
"""Bigrams of Chinese question words: dropped from queries (unless nothing else is left)."""


def query_terms(query: str) -> list[str]:
    """Distinct terms of a query, in order."""
    terms = list(dict.fromkeys(t.term for t in tokens(query[:500])))
    content = [t for t in terms if t not in QUESTION_TERMS]
    return content or terms


def normalise_query(query: str) -> str:
    """The form a query is counted under in the analytics (folded, single spaces)."""
    return " ".join(fold(query).split())[:200]


def min_matches(count: int) -> int:
    """How many distinct query terms a result must contain: all of one or two, else
    half (a Chinese question still finds the article without every bigram; results
    matching more terms rank first)."""
    return count if count <= 2 else -(-count // 2)


def _marks(text: str, terms: Iterable[str]) -> list[bool]:
    """Which characters of ``text`` belong to one of the (query) ``terms``; the same
    tokens as :func:`tokens`, found with ``str.find`` for Chinese terms (fast)."""
    folded = fold(text)
    marked = [False] * len(text)
    latin: set[str] = set()
    for term in set(terms):
        if term and _is_cjk(term[0]):
            at = folded.find(term)
            while at != -1:
                marked[at : at + len(term)] = [True] * len(term)
                at = folded.find(term, at + 1)
        elif term:
            latin.add(term)
    if latin:
        for match in _WORD.finditer(folded):
            word = match.group()
            if word not in STOP_WORDS and stem(word)[:MAX_TERM] in latin:
                marked[match.start() : match.end()] = [True] * (match.end() - match.start())
    return marked


def _render(text: str, marked: Sequence[bool], start: int, end: int) -> Markup:
    out: list[str] = []
    i = start
    while i < end:
        j = i
        while j < end and marked[j] == marked[i]:
            j += 1
        piece = str(escape(text[i:j]))
        out.append(f"<mark>{piece}</mark>" if marked[i] else piece)
        i = j
    return Markup("".join(out))


def highlight(text: str, terms: Sequence[str]) -> Markup:
    """``text`` escaped, with the characters of matched terms in ``<mark>``."""
    return _render(text, _marks(text, terms), 0, len(text))


def snippet(text: str, terms: Sequence[str], width: int = 120) -> Markup:
    """The ``width`` characters of ``text`` with the most matched characters,
    escaped and highlighted (``…`` where text was cut)."""
    text = " ".join(text.split())
    marked = _marks(text, terms)
    if len(text) <= width:
        return _render(text, marked, 0, len(text))
    best, best_at = -1, 0
    window = sum(marked[:width])
    for start in range(len(text) - width + 1):
        if start:
            window += marked[start + width - 1] - marked[start - 1]
        if window > best:
            best, best_at = window, start
    if best > 0:
        first = marked.index(True, best_at)
        best_at = max(0, min(first - 20, len(text) - width))
    body = _render(text, marked, best_at, best_at + width)
    head = "…" if best_at > 0 else ""
    tail = "…" if best_at + width < len(text) else ""
    return Markup(head) + body + Markup(tail)
