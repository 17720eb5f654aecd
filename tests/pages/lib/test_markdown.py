"""The rendering rules of an agent's Markdown: safe HTML only (pages/lib/markdown.py).

Each hostile payload is checked the way a browser would meet it: no element
that runs script or loads anything, no ``javascript:`` href, no raw tag.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from core.models import AgentMessage, MessageSender
from pages.lib.markdown import LINK_REL, markdown_html, safe_link
from pages.lib.render import message_html

#: Tags the renderer may produce; anything else means raw HTML got through.
ALLOWED_TAGS = {
    "p", "em", "strong", "code", "pre", "ul", "ol", "li", "a", "span", "blockquote",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "br",
}  # fmt: skip


class Elements(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def assert_safe(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag in ALLOWED_TAGS, f"<{tag}> in {html!r}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"{name} on <{tag}>"
            assert name not in ("src", "style", "srcset"), f"{name} on <{tag}>"
            if name == "href":
                assert value is not None
                assert safe_link(value), value


@pytest.mark.parametrize(
    "payload",
    [
        "<img src=x onerror=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](  javascript:alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox(1))",
        "<script>alert(1)</script>",
        "<div onmouseover=alert(1)>\nhover\n</div>",
        "<iframe src=https://evil.example></iframe>",
        "![img](http://evil.example/pixel.png)",
        "![x](javascript:alert(1))",
        '[a](https://ok.example/"onmouseover=alert(1))',
        "<a href=javascript:alert(1)>x</a>",
        "```html\n<script>alert(1)</script>\n```",
        "[x][ref]\n\n[ref]: javascript:alert(1)",
    ],
)
def test_hostile_markdown_renders_as_safe_html(payload: str) -> None:
    html = markdown_html(payload)
    assert_safe(html)
    assert "<script" not in html
    assert "<img" not in html
    assert "<iframe" not in html


def test_raw_html_is_shown_as_its_characters() -> None:
    assert markdown_html("<img src=x onerror=alert(1)>") == (
        "<p>&lt;img src=x onerror=alert(1)&gt;</p>"
    )


def test_a_javascript_link_is_text_not_a_link() -> None:
    html = markdown_html("[x](javascript:alert(1))")
    assert "<a" not in html
    assert "[x](javascript:alert(1))" in html


def test_an_image_is_never_loaded_but_offered_as_a_link_to_its_address() -> None:
    html = markdown_html("![the plan](https://example.com/plan.png)")
    [(tag, attrs)] = [(t, a) for t, a in elements(html) if t not in ("p", "span")]
    assert tag == "a"
    assert attrs["href"] == "https://example.com/plan.png"
    assert "🖼 the plan" in html
    assert "(example.com/plan.png)" in html


def test_links_show_their_target_and_open_in_a_new_tab_only_on_click() -> None:
    html = markdown_html("See [the docs](https://docs.example.com/chat).")
    [(_tag, attrs)] = [(t, a) for t, a in elements(html) if t == "a"]
    assert attrs["target"] == "_blank"
    assert attrs["rel"] == LINK_REL
    assert attrs["href"] == "https://docs.example.com/chat"
    assert "(docs.example.com/chat)" in html  # the target, after the text
    # A link whose text is its address does not repeat it.
    assert "(" not in re.sub(r"<[^>]+>", "", markdown_html("<https://example.com>"))
    assert 'href="mailto:koji@example.com"' in markdown_html("<mailto:koji@example.com>")


def test_agents_markdown_reads_as_formatting() -> None:
    html = markdown_html("Done with this step. Verdict: **APPROVE**\n\n- one\n- `two`")
    assert "<strong>APPROVE</strong>" in html
    assert "<li><code>two</code></li>" in html
    fenced = markdown_html("```python\nprint('a very long line')\n```")
    assert fenced.startswith('<pre><code class="language-python">')


def message(sender: MessageSender, content: str) -> AgentMessage:
    return AgentMessage(
        id="m1",
        run_id="run_1",
        feature_id="ftr_1",
        project_id="prj_1",
        sender=sender,
        content=content,
        timestamp="2026-11-24T05:00:00.000000Z",
        cursor="00000000000000000001",
    )


def test_a_persons_own_message_stays_plain_text() -> None:
    html = message_html(message(MessageSender.USER, "**not bold** [x](https://a.example)"))
    assert "**not bold** [x](https://a.example)" in html
    assert "<strong>" not in html
    assert "<a " not in html


def test_an_agents_message_is_markdown() -> None:
    html = message_html(message(MessageSender.AGENT, "**bold** <b>raw</b>"))
    assert "<strong>bold</strong>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html
