"""The Changes view of one feature: its files with +/−, each file's diff, per step or the branch.

The file list comes from ``GET …/changes`` (every file, however large the
diff); the coloured diff from ``GET …/diff``, drawn by ``pages.lib.diff_view``
within its line budgets; the download button fetches the whole patch
(``?download=1``) only when clicked (a deferred ``data`` callable), so a
multi-megabyte patch never slows the page down.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

import pandas as pd
import streamlit as st

from core.agents import persona
from core.models import Feature, Project
from core.repo_models import FeatureChanges, FileChange, StepChanges
from pages.lib.api import api_guard, get_client
from pages.lib.diff_view import plural, render_diff, short_sha
from pages.panels.merge import merge_buttons

#: The scope selector's value for the whole branch (a step's value is its run id).
WHOLE_BRANCH = ""
SCOPE_KEY = "oma_changes_scope"
#: Git's status letters in words.
STATUS_WORDS = {
    "A": "added",
    "M": "modified",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "T": "type changed",
}


def step_label(step: StepChanges) -> str:
    """``Step 2 · Nori 🍙 coder · 3 files +120 −4 · a1b2c3d``."""
    try:
        who = persona(step.role)
        name = f"{who.name} {who.mascot} {step.role}"
    except ValueError:
        name = step.role
    retry = " · retry" if step.attempt > 1 else ""
    return (
        f"Step {step.step} · {name}{retry} · {plural(len(step.files), 'file')} "
        f"+{step.insertions:,} \u2212{step.deletions:,} · {short_sha(step.head) or 'no commit'}"
    )


def branch_label(changes: FeatureChanges) -> str:
    return (
        f"Whole branch · {plural(len(changes.files), 'file')} +{changes.insertions:,} "
        f"\u2212{changes.deletions:,}"
    )


def files_frame(files: list[FileChange]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "file": f.path if not f.old_path else f"{f.old_path} → {f.path}",
                "change": STATUS_WORDS.get(f.status, f.status),
                "+": f.insertions,
                "−": f.deletions,
                "binary": "binary" if f.binary else "",
            }
            for f in files
        ],
        columns=["file", "change", "+", "−", "binary"],
    )


def choose_scope(changes: FeatureChanges, wanted: str | None) -> StepChanges | None:
    """The selector: the whole branch, or one step (``?run=`` picks it on arrival)."""
    steps = {s.run_id: s for s in changes.steps}
    options = [WHOLE_BRANCH, *steps]
    start = options.index(wanted) if wanted in options else 0
    choice = st.selectbox(
        "Show",
        options,
        index=start,
        format_func=lambda key: (
            branch_label(changes) if key == WHOLE_BRANCH else step_label(steps[key])
        ),
        key=f"{SCOPE_KEY}_{changes.feature_id}",
    )
    if choice:
        st.query_params["run"] = choice
    else:
        st.query_params.pop("run", None)
    return steps.get(choice or WHOLE_BRANCH)


def api_cut_sentence(text: str) -> str:
    """The API's own first line about a patch it would not send (``# The patch is …``)."""
    first = text.split("\n", 1)[0].lstrip("# ").strip()
    return first or "The patch is too large to show here; download the .patch for all of it."


def header_html(feature: Feature, project: Project, changes: FeatureChanges) -> str:
    base = changes.base_branch or project.base_branch or "?"
    where = escape(project.repository or "a repository of its own")
    return (
        f'<div class="oma-card-line"><span class="oma-branch">{escape(changes.branch or "")}'
        f"</span> from <b>{escape(base)}</b> at {escape(short_sha(changes.base_commit))} "
        f"· head {escape(short_sha(changes.head_commit))} · {where}</div>"
    )


def changes_panel(feature: Feature, project: Project) -> None:
    """The whole view; nothing to show until the feature's first step made its branch."""
    client = get_client()
    if not feature.branch:
        st.info("No branch yet: the feature's first step creates it.")
        return
    with api_guard():
        changes = client.feature_changes(feature.id)
    st.html(header_html(feature, project, changes))
    merge_buttons(feature, project, where="changes")
    step = choose_scope(changes, st.query_params.get("run"))
    files = step.files if step is not None else changes.files
    if not files:
        merged = step is None and feature.merged_commit
        st.caption(
            "Merged: the branch holds nothing its base lacks now — pick a step to see its diff."
            if merged
            else "No file changed here."
        )
        return
    st.dataframe(files_frame(files), hide_index=True, width="stretch")
    with api_guard():
        diff = client.run_diff(step.run_id) if step is not None else client.feature_diff(feature.id)
    rendered = render_diff(diff.text)
    download: Callable[[], bytes]
    if step is not None:
        run_id = step.run_id
        download = lambda: client.download_run_diff(run_id)  # noqa: E731 - deferred download
        name = f"{feature.branch.replace('/', '-')}-step-{step.step}.patch"
    else:
        download = lambda: client.download_feature_diff(feature.id)  # noqa: E731
        name = f"{feature.branch.replace('/', '-')}.patch"
    if diff.truncated:
        st.warning(f"{api_cut_sentence(diff.text)} The files are listed above.", icon="✂️")
    elif rendered.cut:
        st.warning(
            f"A long diff: {plural(rendered.shown_lines, 'line')} drawn. "
            "Download the .patch for all of it.",
            icon="✂️",
        )
    st.download_button(
        "Download .patch",
        data=download,
        file_name=name,
        mime="text/x-diff",
        on_click="ignore",
        key=f"oma_patch_{feature.id}_{step.run_id if step else 'branch'}",
        icon="⬇️",
    )
    st.html(f'<div class="oma-diff-view">{rendered.html}</div>')
