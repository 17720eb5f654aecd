"""Agents' Markdown as safe HTML for a chat bubble (markdown-it-py, no Streamlit).

Why a parser and these rules: agents (Claude Code, Codex) answer in Markdown —
lists, ``code``, fenced blocks, **bold** — and a bubble showing the raw
asterisks reads badly. Their text is still untrusted (a prompt-injected agent
can write anything), so the renderer is CommonMark with:

* **no raw HTML** (``html=False``): ``<img onerror=…>`` or a ``<script>`` block
  is shown as its characters, escaped by the parser;
* **only http, https and mailto links** (``validateLink``): ``[x](javascript:…)``
  is not a link, its source stays as text;
* **no image is ever loaded**: an image becomes a link to its address, labelled
  with its alt text (no request leaves the browser unless the person clicks);
* **links show their target** after their text when the two differ, and open
  in a new tab only on click (``target=_blank rel="noopener noreferrer nofollow"``).

Fenced code is a ``<pre><code>`` that scrolls inside the bubble (static/oma.css).
A person's own messages never come here: they stay plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

#: The only URL schemes a link may use; anything else stays text.
SAFE_SCHEMES = ("http://", "https://", "mailto:")
#: What every rendered link carries: a new tab on click, no referrer, no opener, no endorsement.
LINK_REL = "noopener noreferrer nofollow"
#: Rendered bubbles kept (content is immutable, so a cached render is always right).
CACHE_SIZE = 4_096
#: Longest link target shown after a link's text (the full target is in its title).
TARGET_SHOWN_CHARS = 60


def safe_link(url: str) -> bool:
    """The link validator: an absolute http(s) or mailto URL, nothing else."""
    return url.strip().lower().startswith(SAFE_SCHEMES)


def _link_text(tokens: Sequence[Token], start: int) -> str:
    """The plain text between a ``link_open`` at ``start`` and its ``link_close``."""
    text: list[str] = []
    for token in tokens[start + 1 :]:
        if token.type == "link_close":
            break
        text.append(token.content)
    return "".join(text)


def _shown_target(href: str) -> str:
    shown = href.removeprefix("mailto:")
    for scheme in ("https://", "http://"):
        shown = shown.removeprefix(scheme)
    if len(shown) > TARGET_SHOWN_CHARS:
        shown = shown[: TARGET_SHOWN_CHARS - 1] + "…"
    return shown


def _link_open(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    href = str(token.attrGet("href") or "")
    text = _link_text(tokens, idx)
    # Remembered for link_close: show where the link goes when its text does not say it.
    token.meta["target"] = "" if text.strip() in (href, href.removeprefix("mailto:")) else href
    return (
        f'<a href="{escape(href)}" title="{escape(href)}" target="_blank" '
        f'rel="{LINK_REL}" class="oma-link">'
    )


def _link_close(
    self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    target = ""
    for back in range(idx - 1, -1, -1):
        if tokens[back].type == "link_open":
            target = str(tokens[back].meta.get("target", ""))
            break
    if not target:
        return "</a>"
    return f'</a> <span class="oma-link-target">({escape(_shown_target(target))})</span>'


def _image(self: Any, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image is never loaded: a link to its address, labelled with its alt text."""
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = "".join(child.content for child in token.children or []) or "image"
    return (
        f'<a href="{escape(src)}" title="{escape(src)}" target="_blank" rel="{LINK_REL}" '
        f'class="oma-link oma-image-link">🖼 {escape(alt)}</a> '
        f'<span class="oma-link-target">({escape(_shown_target(src))})</span>'
    )


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.validateLink = safe_link  # type: ignore[method-assign]
    parser.add_render_rule("link_open", _link_open)
    parser.add_render_rule("link_close", _link_close)
    parser.add_render_rule("image", _image)
    return parser


_PARSER = _parser()


@lru_cache(maxsize=CACHE_SIZE)
def markdown_html(text: str) -> str:
    """``text`` as safe HTML (see the module's rules); whitespace-only text stays empty."""
    rendered: str = _PARSER.render(text)
    return rendered.strip()
