"""Knowledge base text handling (R-BIZ-3, R-BIZ-9): the search tokeniser (Chinese
bigrams, English words, mixed text, punctuation), highlighting, the safe article markup
(escaping, tables, cross-links, charts) and the version diff. No database."""

from __future__ import annotations

from cti_server.web.knowledge_data import diff_lines
from cti_server.web.knowledge_markup import cross_links, plain_text, render
from cti_server.web.knowledge_search import (
    document_terms,
    highlight,
    min_matches,
    normalise_query,
    query_terms,
    snippet,
    stem,
)


def test_chinese_text_becomes_overlapping_bigrams() -> None:
    assert query_terms("宽带资费") == ["宽带", "带资", "资费"]
    assert query_terms("宽带") == ["宽带"]
    # one character: the character itself (documents index every character too)
    assert query_terms("费") == ["费"]
    weights = document_terms("宽带资费", "宽带每月 59 元")
    assert {"宽", "带", "资", "费", "宽带", "带资", "资费", "每月", "59"} <= set(weights)


def test_punctuation_and_spaces_split_runs() -> None:
    assert query_terms("宽带，资费！") == ["宽带", "资费"]  # no bigram across the comma
    assert query_terms("宽带 资费") == ["宽带", "资费"]
    assert query_terms("...!!  ") == []
    assert query_terms("「机顶盒」无信号？") == ["机顶", "顶盒", "无信", "信号"]


def test_english_words_are_folded_stemmed_and_stop_words_dropped() -> None:
    assert query_terms("How do I reset my Password?") == ["reset", "password"]
    assert query_terms("Routers running") == ["router", "run"]
    assert query_terms("tariffs") == query_terms("TARIFF") == ["tariff"]
    assert query_terms("ＢＲＯＡＤＢＡＮＤ　１０００") == ["broadband", "1000"]  # full width
    assert stem("companies") == "company" and stem("boxes") == "box"
    assert stem("customer's") == "customer" and stem("stopped") == "stop"
    assert stem("bus") == "bus" and stem("status") == "status"


def test_mixed_chinese_english_and_digits() -> None:
    assert query_terms("1000M宽带 price") == ["1000m", "宽带", "price"]
    # question words are dropped from queries
    assert query_terms("5G套餐怎么办理") == ["5g", "套餐", "餐怎", "办理"]
    assert query_terms("怎么") == ["怎么"]


def test_title_weighs_more_than_body() -> None:
    weights = document_terms("宽带资费", "资费说明", tags=["套餐"])
    assert weights["宽带"] == 10  # title only
    assert weights["资费"] == 11  # title + body
    assert weights["说明"] == 1  # body only
    assert weights["套餐"] == 5  # tag


def test_min_matches() -> None:
    assert [min_matches(n) for n in (1, 2, 3, 4, 7)] == [1, 2, 2, 2, 4]


def test_highlight_escapes_and_marks_matches() -> None:
    html = str(highlight("<b>宽带资费</b> & Routers", query_terms("资费 router")))
    assert html == "&lt;b&gt;宽带<mark>资费</mark>&lt;/b&gt; &amp; <mark>Routers</mark>"


def test_snippet_centres_on_the_matches() -> None:
    text = "无关内容。" * 60 + "营业厅地址在漕溪北路。" + "其他内容。" * 60
    html = str(snippet(text, query_terms("营业厅"), width=80))
    assert "<mark>营业厅</mark>" in html
    assert html.startswith("…") and html.endswith("…")
    assert len(html.replace("<mark>", "").replace("</mark>", "")) <= 82


def test_normalised_query_for_the_analytics() -> None:
    assert normalise_query("  Broadband   TARIFF ") == "broadband tariff"
    assert normalise_query("宽带　资费") == "宽带 资费"


def _resolve(slug: str) -> str | None:
    return {"tv-packages": "数字电视节目套餐"}.get(slug)


def test_markup_escapes_html_from_writers() -> None:
    html = str(render('<script>alert("x")</script>\n<img src=x onerror=alert(1)>', _resolve))
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    # links with other schemes stay text
    html = str(render("[click](javascript:alert(1)) [ok](https://example.com/a?b=1&c=2)", _resolve))
    assert 'href="javascript' not in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer">ok</a>' in html
    # a tag inside a table cell or a heading is text too
    html = str(render("# <b>x</b>\n\n| a |\n|---|\n| <i>y</i> |", _resolve))
    assert "<h2>&lt;b&gt;x&lt;/b&gt;</h2>" in html and "<td>&lt;i&gt;y&lt;/i&gt;</td>" in html


def test_markup_blocks() -> None:
    body = (
        "# 资费\n"
        "正文 **加粗** 和 `代码`\n第二行\n\n"
        "| 速率 | 月费 |\n|---|---:|\n| 100M | 59 |\n| 300M |\n\n"
        "- 一\n- 二\n\n1. first\n2. second\n\n> 注意\n"
    )
    html = str(render(body, _resolve))
    assert "<h2>资费</h2>" in html
    assert "<p>正文 <strong>加粗</strong> 和 <code>代码</code><br>第二行</p>" in html
    assert "<th>速率</th><th>月费</th>" in html
    assert '<td>100M</td><td class="right">59</td>' in html
    assert '<td>300M</td><td class="right"></td>' in html  # short rows are padded
    assert "<ul><li>一</li><li>二</li></ul>" in html
    assert "<ol><li>first</li><li>second</li></ol>" in html
    assert "<blockquote>注意</blockquote>" in html
    # an indented line continues the list item above
    html = str(render("1. 核实证件\n   和服务密码\n2. 确认", _resolve))
    assert html == "<ol><li>核实证件<br>和服务密码</li><li>确认</li></ol>"


def test_cross_links_resolve_or_show_as_broken() -> None:
    body = "见 [[tv-packages]]、[[tv-packages|电视套餐]] 和 [[no-such-page]]。"
    assert cross_links(body) == ["tv-packages", "no-such-page"]
    html = str(render(body, _resolve, "/ui"))
    assert '<a class="kb-xref" href="/ui/kb/a/tv-packages">数字电视节目套餐</a>' in html
    assert '<a class="kb-xref" href="/ui/kb/a/tv-packages">电视套餐</a>' in html
    assert '<span class="kb-broken" title="no-such-page">no-such-page</span>' in html


def test_chart_is_svg_with_bars_proportional_to_values() -> None:
    html = str(render("```chart\n# 月费 <b>\n100M | 50\n1000M | 200\nbad | x\n```", _resolve))
    assert "<svg" in html and "style=" not in html  # attributes only (CSP)
    assert html.count("<rect") == 2
    assert 'width="90"' in html and 'width="360"' in html  # 50/200 of 360 px
    assert "<figcaption>月费 &lt;b&gt;</figcaption>" in html


def test_plain_text_drops_markup_for_the_index() -> None:
    text = plain_text(
        "# 标题\n- **要点** 见 [[tv-packages|电视]] [官网](https://x.cn)\n```chart\na | 1\n```"
    )
    assert "#" not in text and "**" not in text and "[[" not in text and "https" not in text
    assert "要点" in text and "电视" in text and "官网" in text and "chart" not in text


def test_diff_lines_show_changes_with_context() -> None:
    old = "\n".join(f"line {i}" for i in range(1, 21))
    new = old.replace("line 10", "line ten") + "\nline 21"
    lines = diff_lines(old, new, context=2)
    ops = [(x.op, x.text) for x in lines]
    assert ("-", "line 10") in ops and ("+", "line ten") in ops and ("+", "line 21") in ops
    skipped = [x for x in lines if x.op == "…"]
    assert [x.text for x in skipped] == ["7", "8"]  # unchanged runs folded
    assert next(x for x in lines if x.text == "line ten").new_no == 10


def test_catalogue_has_the_knowledge_base_keys_built_from_data() -> None:
    from cti_server.web import knowledge  # noqa: F401  (registers the kb_ messages)
    from cti_server.web.i18n import MESSAGES
    from cti_server.web.knowledge_data import STATUSES, VISIBILITIES

    keys = [
        *(f"kb_status_{s}" for s in STATUSES),
        *(f"kb_vis_{v}" for v in VISIBILITIES),
        *(f"kb_ev_{k}" for k in ("view", "search")),
        "kb_title_field",
        "kb_category",
        "kb_tags",
    ]
    for key in keys:
        en, zh = MESSAGES[key]
        assert en.strip() and zh.strip(), key
