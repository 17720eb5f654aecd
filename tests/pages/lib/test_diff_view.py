"""The diff as HTML: escaped, coloured by class, cut within budgets; the step divider's change."""

from __future__ import annotations

from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    DeliveryReceipt,
    MessageSender,
    ReceiptState,
)
from core.repo_models import RunChanges
from pages.lib.diff_view import (
    MAX_LINE_CHARS,
    header_path,
    render_diff,
    split_patch,
)
from pages.lib.render import divider_html, user_html

NOW = "2026-11-24T05:00:00.000000Z"
HOSTILE = """diff --git a/web/page.html b/web/page.html
index 1111111..2222222 100644
--- a/web/page.html
+++ b/web/page.html
@@ -1,2 +1,2 @@
 <p>menu</p>
-<b>old</b>
+<script>alert("x")</script><img src=x onerror=alert(1)>
"""


def big_diff(files: int, lines: int) -> str:
    parts = []
    for n in range(files):
        parts.append(
            f"diff --git a/f{n}.py b/f{n}.py\nnew file mode 100644\nindex 0000000..1111111\n"
            f"--- /dev/null\n+++ b/f{n}.py\n@@ -0,0 +1,{lines} @@\n"
        )
        parts.append("".join(f"+line {i} <&>\n" for i in range(lines)))
    return "".join(parts)


def test_every_line_is_escaped_and_coloured_by_class() -> None:
    rendered = render_diff(HOSTILE)
    assert "<script" not in rendered.html
    assert "<img" not in rendered.html
    assert "<b>" not in rendered.html
    assert (
        '<span class="oma-dl-add">+&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'
        "&lt;img src=x onerror=alert(1)&gt;</span>"
    ) in rendered.html
    assert '<span class="oma-dl-del">-&lt;b&gt;old&lt;/b&gt;</span>' in rendered.html
    assert '<span class="oma-dl-ctx"> &lt;p&gt;menu&lt;/p&gt;</span>' in rendered.html
    assert '<span class="oma-dl-hunk">@@ -1,2 +1,2 @@</span>' in rendered.html
    assert "index 1111111" not in rendered.html  # headers the title already says
    assert rendered.files == 1
    assert not rendered.cut


def test_file_names_with_spaces_quotes_and_non_ascii() -> None:
    assert header_path("diff --git a/my file.py b/my file.py") == "my file.py"
    assert header_path('diff --git "a/caf\\303\\251 menu.txt" "b/caf\\303\\251 menu.txt"') == (
        "café menu.txt"
    )
    patch = (
        'diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\n@@ -1 +1 @@\n-x\n+y\n'
        "diff --git a/old name.md b/new name.md\nsimilarity index 90%\n"
        "rename from old name.md\nrename to new name.md\n"
        "diff --git a/<b>.png b/<b>.png\nBinary files a/<b>.png and b/<b>.png differ\n"
    )
    files = split_patch(patch)
    assert [(f.path, f.insertions, f.deletions, f.binary) for f in files] == [
        ("café.txt", 1, 1, False),
        ("new name.md", 0, 0, False),
        ("<b>.png", 0, 0, True),
    ]
    html = render_diff(patch).html
    assert '<span class="oma-diff-path">&lt;b&gt;.png</span>' in html
    assert '<span class="oma-dl-meta">rename to new name.md</span>' in html


def test_a_long_diff_is_cut_and_says_so() -> None:
    rendered = render_diff(big_diff(files=10, lines=500), max_file_lines=300, max_total_lines=1_000)
    assert rendered.cut
    assert rendered.shown_lines == 1_000
    assert rendered.html.count('<span class="oma-dl-add">+line') == 1_000 - 4 * 2  # 4 files drawn,
    # each with its "new file mode" and "@@" lines
    assert "202 more lines of this file not drawn" in rendered.html  # 502 drawable - 300
    assert rendered.html.count("Not drawn: the diff is too long.") == 6
    assert rendered.files == 10
    long_line = render_diff(big_diff(1, 1).replace("+line 0", "+" + "x" * 5_000)).html
    assert (
        f"x … ({len('+' + 'x' * 5_000 + ' <&>') - MAX_LINE_CHARS:,} more characters)" in long_line
    )
    assert '<span class="oma-dl-ctx"></span>' not in long_line  # no line after the last


def run_with(changes: RunChanges | None) -> AgentRun:
    return AgentRun(
        id="run_2",
        project_id="prj_1",
        feature_id="ftr_1",
        role=AgentRunRole.CODER,
        status=AgentRunStatus.COMPLETED,
        step=2,
        started_at=NOW,
        updated_at=NOW,
        changes=changes,
    )


def test_the_divider_shows_the_steps_change_and_links_its_diff() -> None:
    changes = RunChanges(
        commits=["a1b2c3d4e5"],
        head="a1b2c3d4e5",
        base="0" * 40,
        files=3,
        insertions=120,
        deletions=4,
    )
    html = divider_html("run_2", run_with(changes), None)
    assert "Step 2 · Nori 🍙" in html
    assert ' title="Open this step&#x27;s diff">3 files +120 \u22124 · a1b2c3d</a>' in html
    assert 'href="changes?project=prj_1&amp;feature=ftr_1&amp;run=run_2&amp;chat=1"' in html
    plain = divider_html("run_2", run_with(None), None)
    assert "oma-step-change" not in plain
    assert "files" not in plain
    one = changes.model_copy(update={"files": 1})
    assert ">1 file +120" in divider_html("run_2", run_with(one), None)


def test_a_message_shows_the_commit_it_went_into() -> None:
    receipt = DeliveryReceipt(state=ReceiptState.DELIVERED, step=2, role=AgentRunRole.CODER)
    message = AgentMessage(
        id="m1",
        run_id="run_2",
        feature_id="ftr_1",
        project_id="prj_1",
        cursor="c1",
        sender=MessageSender.USER,
        content="more garlic",
        timestamp=NOW,
        receipt=receipt,
    )
    assert "\u2192" not in user_html(message)
    committed = message.model_copy(
        update={"receipt": receipt.model_copy(update={"commit": "feedbeef" * 5})}
    )
    assert "delivered to step 2 · Nori (coder) \u2192 feedbee</div>" in user_html(committed)
