"""The end of a step: what the agent left in its workspace becomes one commit on the branch.

Everything here reads the workspace with libgit2, never with the git CLI: the
workspace's ``.git`` is the agent's to write (a planted hook, ``core.fsmonitor``
or a ``filter.*.clean`` would run under the CLI; libgit2 runs none of them).

The agent's own commits are kept when they descend from the head the step
started at. History an agent rewrote (``reset --hard`` to an older commit, a
rebase, an amended commit) is not taken: the step's commit then sits on the
head the step started from, with the work tree as the agent left it. A deleted
or broken ``.git`` is rebuilt from the branch, so the step still commits.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pygit2

from api.git.cli import run_git
from api.git.upstream import Upstream, move_ref, repository_lock, service_signature

#: Git's file mode of a submodule entry: a commit of another repository, never copied.
GITLINK_MODE = 0o160000
#: zlib level of the step's pack: fast (the pack is repacked by the person's own gc).
PACK_ZLIB_LEVEL = 1
#: Longest first line of the agent's last words in the commit subject.
MAX_SUBJECT_WORDS_CHARS = 72


@dataclass(frozen=True, slots=True)
class StepCommit:
    #: Commits new on the branch, oldest first (the agent's own, then the service's).
    commits: list[str]
    head: str
    base: str
    #: The service's commit of what was left uncommitted (None: nothing was).
    service_commit: str | None
    #: A line for the log when the agent's history was not taken or .git was rebuilt.
    note: str | None = None


def subject_words(text: str | None) -> str:
    """The first non-empty line of the agent's last words, bounded (the commit subject)."""
    for line in (text or "").splitlines():
        line = line.strip().strip("#*_` ").strip()
        if line:
            return line[:MAX_SUBJECT_WORDS_CHARS].rstrip()
    return "no words"


def commit_message(*, subject: str, trailers: list[tuple[str, str]]) -> str:
    """Subject, blank line, trailers: trailers must be the message's last paragraph."""
    body = "\n".join(f"{key}: {value}" for key, value in trailers)
    return f"{subject}\n\n{body}\n"


def _open_or_rebuild(
    workspace: Path, upstream: Upstream, *, branch: str, git: str
) -> tuple[pygit2.Repository, str | None]:
    """The workspace's repository; a missing, broken or booby-trapped ``.git`` is replaced."""
    if sound_git_dir(workspace):
        try:
            repo = pygit2.Repository(str(workspace))
            if Path(repo.workdir or "").resolve() == workspace.resolve():
                return repo, None
        except pygit2.GitError:
            pass
    dot_git = workspace / ".git"
    if dot_git.is_symlink() or dot_git.is_file():
        dot_git.unlink()
    elif dot_git.exists():
        shutil.rmtree(dot_git)
    with tempfile.TemporaryDirectory(dir=workspace.parent) as scratch:
        with repository_lock(upstream.path):
            run_git(
                [
                    "clone",
                    "--quiet",
                    "--no-checkout",
                    "--no-hardlinks",
                    "--single-branch",
                    "--branch",
                    branch,
                    "--",
                    str(upstream.path),
                    scratch,
                ],
                git=git,
                action="rebuild the workspace's .git",
            )
        shutil.move(str(Path(scratch) / ".git"), str(dot_git))
    repo = pygit2.Repository(str(workspace))
    repo.remotes.delete("origin")
    return repo, "The workspace's .git was missing or broken: rebuilt from the branch."


def sound_git_dir(workspace: Path) -> bool:
    """A real ``.git`` folder with no symbolic link anywhere inside.

    The service writes into this folder (the index, refs, objects) outside the
    sandbox: a link an agent planted there (``refs/heads`` → the person's
    ``.git/refs/heads``, ``objects`` → some other repository) would redirect
    those writes to a path the agent itself cannot see. Such a ``.git`` is
    rebuilt from the branch instead.
    """
    dot_git = workspace / ".git"
    if dot_git.is_symlink() or not dot_git.is_dir():
        return False
    for folder, dirs, files in os.walk(dot_git, followlinks=False):
        base = Path(folder)
        if any((base / name).is_symlink() for name in (*dirs, *files)):
            return False
    return True


def _step_parent(repo: pygit2.Repository, started_at: pygit2.Oid) -> tuple[pygit2.Oid, str | None]:
    """The agent's HEAD if it descends from where the step started, else the start."""
    try:
        head = repo.head.peel(pygit2.Commit).id
    except (pygit2.GitError, KeyError, ValueError):
        return started_at, "The workspace had no HEAD: the agent's commits (if any) were not taken."
    if head == started_at or repo.descendant_of(head, started_at):
        return head, None
    return started_at, (
        f"The agent's HEAD ({str(head)[:7]}) does not descend from the step's start "
        f"({str(started_at)[:7]}): its rewritten history was not taken."
    )


def commit_workspace(
    workspace: Path,
    upstream: Upstream,
    *,
    branch: str,
    started_at: str,
    author: tuple[str, str],
    message: str,
    git: str,
) -> StepCommit | None:
    """Commit what the agent left; copy the new commits into the upstream and move its
    branch there from ``started_at`` (a compare-and-swap). None: no change."""
    repo, note = _open_or_rebuild(workspace, upstream, branch=branch, git=git)
    start = pygit2.Oid(hex=started_at)
    if start not in repo:  # the agent emptied its object store
        shutil.rmtree(workspace / ".git")
        repo, note = _open_or_rebuild(workspace, upstream, branch=branch, git=git)
    parent, why = _step_parent(repo, start)
    note = note or why
    index = repo.index
    try:
        index.read(force=True)
    except pygit2.GitError:
        index.clear()
    index.add_all()  # new, changed and deleted files; .gitignore respected
    tree = index.write_tree()
    parent_commit = repo.get(parent)
    assert isinstance(parent_commit, pygit2.Commit)
    service_commit: str | None = None
    head = parent
    if tree != parent_commit.tree_id:
        signature = pygit2.Signature(*author)
        head = repo.create_commit(None, signature, service_signature(), message, tree, [parent])
        service_commit = str(head)
    index.write()
    ref = f"refs/heads/{branch}"
    repo.references.create(ref, head, force=True)
    repo.set_head(ref)
    if head == start:
        return None
    commits = _new_commits(repo, head, start)
    with repository_lock(upstream.path):
        _copy_objects(repo, upstream, commits, git=git)
        move_ref(upstream, ref, str(head), started_at, git=git)
    return StepCommit(
        commits=[str(c) for c in commits],
        head=str(head),
        base=started_at,
        service_commit=service_commit,
        note=note,
    )


def _new_commits(repo: pygit2.Repository, head: pygit2.Oid, start: pygit2.Oid) -> list[pygit2.Oid]:
    walker = repo.walk(head, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(start)
    return [commit.id for commit in walker]


def _copy_objects(
    source: pygit2.Repository, target: Upstream, commits: list[pygit2.Oid], *, git: str
) -> None:
    """Copy the commits and every object they need that ``target`` lacks, as one pack.

    A tree ``target`` already has is skipped whole (its content is there too), so
    the cost follows what the step changed, not the repository's size. One pack
    (``pack_objects``: no delta search, fast zlib) indexed by ``git index-pack``
    in the target, which the service trusts: a step that touched 1,000 files
    writes two files into the person's ``.git``, not 1,000, and ``index-pack``
    checks every object before the pack is renamed into place.
    """
    have = target.open()
    pending: list[pygit2.Oid] = list(commits)
    seen: set[pygit2.Oid] = set()
    objects: list[tuple[int, bytes]] = []
    while pending:
        oid = pending.pop()
        if oid in seen or oid in have:
            continue
        seen.add(oid)
        kind, data = source.odb.read(oid)[:2]
        found = source.get(oid)
        if isinstance(found, pygit2.Commit):
            pending.append(found.tree_id)
            pending.extend(found.parent_ids)
        elif isinstance(found, pygit2.Tree):
            pending.extend(entry.id for entry in found if entry.filemode != GITLINK_MODE)
        objects.append((int(kind), data))
    if objects:
        run_git(
            ["index-pack", "--stdin", "--strict"],
            cwd=target.path,
            git=git,
            stdin=pack_objects(objects),
            action="store the step's objects",
        )


def pack_objects(objects: list[tuple[int, bytes]]) -> bytes:
    """A version-2 pack of whole (undeltified) objects: header, entries, SHA-1 trailer."""
    parts = [b"PACK", struct.pack(">II", 2, len(objects))]
    for kind, data in objects:
        size = len(data)
        byte = (kind << 4) | (size & 0x0F)
        size >>= 4
        header = bytearray()
        while size:
            header.append(byte | 0x80)
            byte, size = size & 0x7F, size >> 7
        header.append(byte)
        parts += [bytes(header), zlib.compress(data, PACK_ZLIB_LEVEL)]
    body = b"".join(parts)
    return body + hashlib.sha1(body, usedforsecurity=False).digest()
