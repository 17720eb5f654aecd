"""Fencing untrusted user text in Markdown so it cannot break out of its block.

Why: user messages are pasted into files an agent reads as instructions
(CLAUDE.md, the inbox). A message containing a line of backticks could close
our fence and continue as "trusted" text. The fence is therefore always longer
than the longest run of backticks in the text (CommonMark: a fence closes only
with at least as many backticks as opened it), and our section markers are
defused inside user text so a message cannot fake the end of the section.
"""

from __future__ import annotations

import re

#: CommonMark's minimum fence length.
MIN_FENCE = 3
_BACKTICK_RUN = re.compile(r"`+")


def fence_for(text: str) -> str:
    longest = max((len(m.group(0)) for m in _BACKTICK_RUN.finditer(text)), default=0)
    return "`" * max(MIN_FENCE, longest + 1)


def defuse(text: str, markers: tuple[str, ...]) -> str:
    """Break every occurrence of our HTML-comment markers inside user text."""
    for marker in markers:
        text = text.replace(marker, marker.replace("<!--", "<!\u200b--"))
    return text


def fenced(text: str, *, info: str = "text") -> str:
    fence = fence_for(text)
    return f"{fence}{info}\n{text}\n{fence}"
