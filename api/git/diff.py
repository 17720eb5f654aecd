"""Diffs and file lists of commits, read with libgit2 (no porcelain text to parse).

Bounded on purpose: a step can add a 10 MB file or regenerate 5,000 files. The
file list is always whole (paths and counts are small); the patch text is cut
past ``max_bytes`` into a note that lists the files and says how to download
the whole patch — the limit others chose too (docs/REPOSITORY.md: GitHub
Desktop 3 MB, OpenHands 1 MiB per file).
"""

from __future__ import annotations

from dataclasses import dataclass

import pygit2

from core.repo_models import FileChange

#: Lines of context around each change (git's default).
CONTEXT_LINES = 3
#: ``Diff.find_similar``: renames and copies shown as such, not as delete + add.
SIMILARITY_FLAGS = pygit2.enums.DiffFind.FIND_RENAMES


@dataclass(frozen=True, slots=True)
class DiffSummary:
    files: list[FileChange]
    insertions: int
    deletions: int


@dataclass(frozen=True, slots=True)
class PatchText:
    text: str
    #: True when ``text`` is the note, not the patch (the patch is past the limit).
    truncated: bool
    size: int


def _diff(repo: pygit2.Repository, base: str | None, head: str) -> pygit2.Diff:
    new = repo.get(head)
    assert isinstance(new, pygit2.Commit)
    if base is None:  # against nothing: every file added
        diff = new.tree.diff_to_tree(swap=True, context_lines=CONTEXT_LINES)
    else:
        old = repo.get(base)
        assert isinstance(old, pygit2.Commit)
        diff = repo.diff(old, new, context_lines=CONTEXT_LINES)
    diff.find_similar(flags=SIMILARITY_FLAGS)
    return diff


def summarize(repo: pygit2.Repository, base: str | None, head: str) -> DiffSummary:
    """Every changed file with its status and line counts (a binary file counts no lines)."""
    files: list[FileChange] = []
    insertions = deletions = 0
    for patch in _diff(repo, base, head):
        if patch is None:
            continue
        delta = patch.delta
        binary = delta.is_binary
        added, removed = (0, 0) if binary else patch.line_stats[1:]
        insertions += added
        deletions += removed
        renamed = delta.old_file.path != delta.new_file.path
        files.append(
            FileChange(
                path=delta.new_file.path,
                old_path=delta.old_file.path if renamed else None,
                status=delta.status_char(),
                insertions=added,
                deletions=removed,
                binary=binary,
            )
        )
    return DiffSummary(files=files, insertions=insertions, deletions=deletions)


def patch_text(repo: pygit2.Repository, base: str | None, head: str) -> str:
    """The whole unified diff (``git diff`` format; binary files named, not inlined)."""
    return _diff(repo, base, head).patch or ""


def bounded_patch(
    repo: pygit2.Repository, base: str | None, head: str, *, max_bytes: int, download_hint: str
) -> PatchText:
    text = patch_text(repo, base, head)
    size = len(text.encode("utf-8", errors="replace"))
    if size <= max_bytes:
        return PatchText(text=text, truncated=False, size=size)
    summary = summarize(repo, base, head)
    lines = [
        f"# The patch is {size:,} bytes, too large to show here (limit {max_bytes:,}).",
        f"# Download the whole patch: {download_hint}",
        f"# {len(summary.files)} files changed, +{summary.insertions} -{summary.deletions}:",
        *(
            f"#   {f.status} {f.path}"
            + (" (binary)" if f.binary else f" +{f.insertions} -{f.deletions}")
            for f in summary.files
        ),
    ]
    return PatchText(text="\n".join(lines) + "\n", truncated=True, size=size)


def merge_base(repo: pygit2.Repository, a: str, b: str) -> str | None:
    found = repo.merge_base(pygit2.Oid(hex=a), pygit2.Oid(hex=b))
    return str(found) if found is not None else None
