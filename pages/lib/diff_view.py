"""A unified diff as HTML, free of Streamlit (unit-tested, benchmarked).

What an agent wrote is untrusted text: every line goes through ``html.escape``
and is coloured by a CSS class (``oma-dl-add``, ``oma-dl-del``…), never by
markup taken from the diff. A long diff is cut — at most ``MAX_FILE_LINES``
lines of one file and ``MAX_TOTAL_LINES`` in all, each line at most
``MAX_LINE_CHARS`` — and says so, because a browser asked to lay out a
100,000-line ``<pre>`` freezes the page; the whole patch stays downloadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html import escape

from core.models import AgentRun, DeliveryReceipt
from core.repo_models import RunChanges

#: Lines of one file's diff drawn before the rest is cut (the download has it all).
MAX_FILE_LINES = 400
#: Lines drawn for the whole diff; files past this budget are listed, not drawn.
MAX_TOTAL_LINES = 2_000
#: Characters of one line drawn (a minified file's line can be megabytes).
MAX_LINE_CHARS = 400
#: Digits of a commit id shown (git's own short form).
SHORT_SHA = 7
#: Header lines worth showing (the rest repeat what the file's title says).
META_PREFIXES = (
    "new file mode",
    "deleted file mode",
    "old mode",
    "new mode",
    "rename from",
    "rename to",
    "copy from",
    "copy to",
    "similarity index",
    "Binary files",
    "GIT binary patch",
    "\\ No newline",
)
HIDDEN_PREFIXES = ("diff --git ", "index ", "--- ", "+++ ")
_OCTAL = re.compile(rb"\\([0-7]{3})")
_ESCAPES = {b"\\n": b"\n", b"\\t": b"\t", b'\\"': b'"', b"\\\\": b"\\"}


def short_sha(sha: str | None) -> str:
    return (sha or "")[:SHORT_SHA]


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def change_summary(changes: RunChanges) -> str:
    """``3 files +120 −4 · a1b2c3d``: what a step's divider says of its change."""
    return (
        f"{plural(changes.files, 'file')} +{changes.insertions:,} "
        f"\u2212{changes.deletions:,} · {short_sha(changes.head)}"
    )


#: The Changes page (``pages/changes.py``), relative: it resolves under any base path.
CHANGES_PAGE_URL = "changes"
LINK_TITLE = escape("Open this step's diff")


def step_change_html(run: AgentRun) -> str:
    """A divider's `` · 3 files +120 −4 · a1b2c3d``, a link to the step's diff (or nothing).

    A plain link (a new page load) because a divider is HTML, not a widget; the
    Changes page opens the conversation again, so the sidebar stays as it was.
    """
    if run.changes is None:
        return ""
    href = (
        f"{CHANGES_PAGE_URL}?project={escape(run.project_id)}&amp;feature="
        f"{escape(run.feature_id)}&amp;run={escape(run.id)}&amp;chat=1"
    )
    return (
        f' · <a class="oma-step-change" href="{href}" target="_self" '
        f'title="{LINK_TITLE}">{escape(change_summary(run.changes))}</a>'
    )


def commit_suffix(receipt: DeliveryReceipt | None) -> str:
    """`` → a1b2c3d`` under a person's message once the step that took it committed."""
    return f" → {short_sha(receipt.commit)}" if receipt is not None and receipt.commit else ""


def unquote_path(text: str) -> str:
    """A path as git prints it: C-quoted (``"caf\\303\\251.py"``) when it holds odd bytes."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    raw = text[1:-1].encode("utf-8")
    for escaped, plain in _ESCAPES.items():
        raw = raw.replace(escaped, plain)
    raw = _OCTAL.sub(lambda found: bytes([int(found.group(1), 8)]), raw)
    return raw.decode("utf-8", errors="replace")


def _strip_side(path: str) -> str:
    return path[2:] if path[:2] in ("a/", "b/") else path


def header_path(header: str) -> str:
    """The file a ``diff --git a/X b/X`` line names (X may hold spaces; quoted when odd)."""
    rest = header[len("diff --git ") :]
    if rest.startswith('"'):
        end = rest.find('" ', 1)
        first = rest[: end + 1] if end > 0 else rest
        second = rest[end + 2 :] if end > 0 else ""
        return _strip_side(unquote_path(second or first))
    half = (len(rest) - 1) // 2
    if rest[half : half + 1] == " " and rest[2:half] == rest[half + 3 :]:
        return rest[half + 3 :]  # a/X b/X: the same X twice
    if " b/" in rest:
        return unquote_path(rest.rsplit(" b/", 1)[1])
    return _strip_side(unquote_path(rest))


@dataclass(slots=True)
class FilePatch:
    """One file's part of a patch: its path, its lines (headers included), its counts."""

    path: str
    lines: list[str] = field(default_factory=list)
    insertions: int = 0
    deletions: int = 0
    binary: bool = False


def split_patch(text: str) -> list[FilePatch]:
    """The files of a unified diff, in order, each with its own line counts."""
    files: list[FilePatch] = []
    current: FilePatch | None = None
    in_hunk = False
    lines = text.split("\n")  # not splitlines(): a form feed inside a line stays in it
    if lines and not lines[-1]:
        lines.pop()  # the patch's final newline ends a line, it does not start one
    for line in lines:
        if line.startswith("diff --git "):
            current = FilePatch(header_path(line))
            files.append(current)
            in_hunk = False
        elif current is None:
            continue  # text before the first file (none from the API)
        elif line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith("+"):
            current.insertions += 1
        elif in_hunk and line.startswith("-"):
            current.deletions += 1
        elif line.startswith("rename to "):
            current.path = unquote_path(line[len("rename to ") :])
        elif line.startswith(("Binary files", "GIT binary patch")):
            current.binary = True
        if current is not None:
            current.lines.append(line)
    return files


def line_class(line: str, *, in_hunk: bool) -> str | None:
    """The CSS class of one diff line, or None for a header line not worth showing."""
    if line.startswith("@@"):
        return "oma-dl-hunk"
    if in_hunk:
        if line.startswith("+"):
            return "oma-dl-add"
        if line.startswith("-"):
            return "oma-dl-del"
        if line.startswith("\\"):
            return "oma-dl-meta"
        return "oma-dl-ctx"
    if line.startswith(META_PREFIXES):
        return "oma-dl-meta"
    return None


def _line_html(line: str, css: str) -> str:
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + f" … ({len(line) - MAX_LINE_CHARS:,} more characters)"
    return f'<span class="{css}">{escape(line)}</span>'


@dataclass(frozen=True, slots=True)
class RenderedDiff:
    """The HTML and what was left out of it (the page says so, with the download)."""

    html: str
    files: int
    shown_lines: int
    cut: bool


def file_title(patch: FilePatch) -> str:
    counts = (
        '<span class="oma-diff-binary">binary</span>'
        if patch.binary
        else f'<span class="oma-dl-add">+{patch.insertions:,}</span> '
        f'<span class="oma-dl-del">\u2212{patch.deletions:,}</span>'
    )
    return f'<summary><span class="oma-diff-path">{escape(patch.path)}</span> {counts}</summary>'


def render_diff(
    text: str,
    *,
    max_file_lines: int = MAX_FILE_LINES,
    max_total_lines: int = MAX_TOTAL_LINES,
) -> RenderedDiff:
    """Each file as a ``<details>`` with its coloured lines, within the line budgets."""
    parts: list[str] = []
    budget = max_total_lines
    cut = False
    patches = split_patch(text)
    for patch in patches:
        parts.append(f'<details class="oma-diff-file" open>{file_title(patch)}')
        if budget <= 0:
            parts.append('<div class="oma-diff-cut">Not drawn: the diff is too long.</div>')
            parts.append("</details>")
            cut = True
            continue
        allowed = min(max_file_lines, budget)
        drawn: list[str] = []
        left = 0
        in_hunk = False
        for line in patch.lines:
            in_hunk = in_hunk or line.startswith("@@")
            css = line_class(line, in_hunk=in_hunk)
            if css is None:
                continue
            if len(drawn) < allowed:
                drawn.append(_line_html(line, css))
            else:
                left += 1
        budget -= len(drawn)
        if drawn:
            parts.append('<pre class="oma-diff">' + "".join(drawn) + "</pre>")  # block spans
        if left:
            cut = True
            parts.append(
                f'<div class="oma-diff-cut">{plural(left, "more line")} of this file not drawn '
                "(download the .patch for all of it).</div>"
            )
        parts.append("</details>")
    shown = max_total_lines - budget
    return RenderedDiff("".join(parts), len(patches), shown, cut)
