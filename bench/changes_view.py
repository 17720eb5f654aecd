"""Benchmark: the Changes view of a 5,000-line diff (target: drawn ≤ 1 s).

    python -m bench.changes_view [--lines 5000] [--files 10] [--runs 20] [--no-browser]

Three timings of the same generated diff (``--files`` files sharing ``--lines``
added and removed lines, with HTML-looking content that must be escaped):

* ``render_diff`` — the diff text to HTML (``pages/lib/diff_view.py``), cut to
  its line budgets;
* the whole page in Streamlit's AppTest (``pages/changes.py`` against an
  in-memory API, tests/support/fake_api.py): the changes list, the selector,
  the files table, the download button, the diff — minus the network;
* the browser's share: Debian's chromium (Playwright) lays out the HTML the page
  sends, with the dashboard's stylesheet, until the layout is done (a forced
  ``offsetHeight``), and for contrast the same diff uncut (every line drawn).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.client import DiffText
from core.models import AgentRunRole, AgentRunStatus, FeatureStatus
from core.repo_models import FeatureChanges, FileChange, StepChanges
from pages.lib.api import CLIENT_KEY
from pages.lib.diff_view import render_diff
from tests.support.fake_api import FakeApi

TARGET_MS = 1_000.0
TIMEOUT_S = 120.0
ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
BRANCH = "omakase/big-change-ab12cd"


def big_diff(lines: int, files: int) -> str:
    """``files`` modified files, their hunks sharing ``lines`` changed lines."""
    per_file = max(lines // files, 1)
    parts: list[str] = []
    for n in range(files):
        parts.append(
            f"diff --git a/src/module_{n}.py b/src/module_{n}.py\n"
            f"index 1111111..2222222 100644\n--- a/src/module_{n}.py\n+++ b/src/module_{n}.py\n"
            f"@@ -1,{per_file // 2} +1,{per_file - per_file // 2} @@\n"
        )
        for i in range(per_file):
            sign = "+" if i % 2 else "-"
            cell = f'<td class=\\"price\\">{i} &amp; {n}</td>'
            parts.append(f'{sign}    html = "{cell}"  # line {i}\n')
    return "".join(parts)


def seeded_api(diff: str, files: int) -> FakeApi:
    api = FakeApi()
    coder = api.add_run(AgentRunRole.CODER, AgentRunStatus.COMPLETED, step=2)
    api.end_feature(FeatureStatus.PASSING)
    api.feature = api.feature.model_copy(update={"branch": BRANCH, "head_commit": "c" * 40})
    changed = [
        FileChange(path=f"src/module_{n}.py", status="M", insertions=250, deletions=250)
        for n in range(files)
    ]
    api.repo.changes = FeatureChanges(
        feature_id=api.feature.id,
        branch=BRANCH,
        base_branch="main",
        steps=[StepChanges(run_id=coder.id, step=2, role="coder", head="c" * 40, files=changed)],
        files=changed,
    )
    api.repo.diffs = {"": DiffText(diff), coder.id: DiffText(diff)}
    return api


def timed(action: Callable[[], object], runs: int) -> list[float]:
    spent: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        spent.append((time.perf_counter() - started) * 1_000)
    return spent


def page_runs(api: FakeApi, runs: int) -> list[float]:
    def once() -> None:
        page = AppTest.from_file(str(ROOT / "pages/changes.py"), default_timeout=TIMEOUT_S)
        page.session_state[CLIENT_KEY] = api
        page.query_params["feature"] = api.feature.id
        page.run()
        assert not page.exception, page.exception

    once()  # imports and Streamlit's first-run caches
    return timed(once, runs)


def browser_runs(html: str, runs: int) -> list[float]:
    """Milliseconds for chromium to parse and lay out ``html`` with the dashboard's CSS."""
    from playwright.sync_api import sync_playwright

    css = (ROOT / "static" / "oma.css").read_text()
    spent: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.set_content(f"<style>{css}</style><div id='view'></div>")
        for _ in range(runs + 1):
            took = page.evaluate(
                """(html) => {
                    const view = document.getElementById('view');
                    view.innerHTML = '';
                    void view.offsetHeight;
                    const start = performance.now();
                    view.innerHTML = html;
                    void view.offsetHeight;  // forces style and layout
                    return performance.now() - start;
                }""",
                html,
            )
            spent.append(float(took))
        browser.close()
    return spent[1:]  # the first one warms the page up


def report(name: str, values: list[float]) -> None:
    p95 = sorted(values)[min(len(values) - 1, int(0.95 * len(values)))]
    print(f"{name:<58} p50 {statistics.median(values):8.1f} ms   p95 {p95:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    diff = big_diff(args.lines, args.files)
    print(f"load average {os.getloadavg()[0]:.1f}; {args.lines:,} lines in {args.files} files")
    rendered = render_diff(diff)
    print(f"drawn: {rendered.shown_lines:,} lines (cut: {rendered.cut})")
    report("render_diff (text → HTML)", timed(lambda: render_diff(diff), args.runs))
    page = page_runs(seeded_api(diff, args.files), args.runs)
    report("the Changes page in AppTest (whole script run)", page)
    baseline = page_runs(seeded_api("", args.files), args.runs)
    report("the same page with an empty diff (AppTest's own cost)", baseline)
    if not args.no_browser:
        report("chromium lays out the drawn HTML", browser_runs(rendered.html, args.runs))
        uncut = render_diff(diff, max_file_lines=10**9, max_total_lines=10**9).html
        report("chromium lays out all of it uncut (for contrast)", browser_runs(uncut, args.runs))
    verdict = "meets" if statistics.median(page) <= TARGET_MS else "MISSES"
    print(f"target: drawn ≤ {TARGET_MS:.0f} ms — the page run {verdict} it")


if __name__ == "__main__":
    main()
