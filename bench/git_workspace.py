"""The repository's costs on a big repository: workspace ready, a step's commit, changes and diff.

A repository of ``--files`` files (default 20,000) of ``--kb`` KB each (default
10: ~200 MB) is generated once with git's fast-import, then:

* **workspace ready**: ``prepare_workspace`` into a fresh folder (a clone of the
  branch with ``--no-hardlinks`` and its checkout), ``--repeat`` times;
* **step commit**: ``--changed`` files (default 1,000) edited in the workspace,
  then ``commit_workspace`` (index refresh, tree, commit, objects copied into the
  repository, the branch moved), ``--repeat`` times;
* **changes / diff**: ``summarize`` (the JSON of ``/changes``) and
  ``bounded_patch`` (the ``/diff`` answer) of a branch with ``--changed`` changed
  files, ``--repeat`` times each.

Usage::

    .venv/bin/python -m bench.git_workspace
    .venv/bin/python -m bench.git_workspace --files 2000 --repeat 3   # a quick look
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import string
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

from api.git.commit import commit_message, commit_workspace
from api.git.diff import bounded_patch, summarize
from api.git.upstream import Upstream
from api.git.workspace import prepare_workspace, start_branch

MS = 1000.0
AUTHOR = ("Nori (coder)", "coder@omakase.local")
LIMIT_BYTES = 1_000_000


def generate(repo: Path, *, files: int, kb: int) -> None:
    """One commit of ``files`` text files, written by ``git fast-import`` (fast, no checkout)."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    rng = random.Random(7)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(500)]
    stream = [b"commit refs/heads/main\n", b"committer Bench <b@x> 0 +0000\n", b"data 5\nseed\n"]
    for number in range(files):
        body = (
            "\n".join(" ".join(rng.choices(words, k=12)) for _ in range(kb * 14)) + "\n"
        ).encode()
        path = f"src/pkg{number // 200:03d}/module_{number:05d}.txt"
        stream += [f"M 644 inline {path}\n".encode(), f"data {len(body)}\n".encode(), body, b"\n"]
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=repo, check=True)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * MS


def report(name: str, samples: list[float], target: str) -> None:
    samples = sorted(samples)
    print(
        f"{name:<34} p50 {statistics.median(samples):8.1f} ms   max {samples[-1]:8.1f} ms"
        f"   (n={len(samples)}; target {target})"
    )


def edit(workspace: Path, count: int, round_: int) -> None:
    for number in range(count):
        path = workspace / f"src/pkg{number // 200:03d}/module_{number:05d}.txt"
        with path.open("a") as handle:
            handle.write(f"edited in round {round_}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--kb", type=int, default=10)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="omakase-bench-git-") as scratch:
        root = Path(scratch)
        repo = root / "repo"
        started = time.perf_counter()
        generate(repo, files=args.files, kb=args.kb)
        size = sum(f.stat().st_size for f in (repo / ".git").rglob("*") if f.is_file())
        print(
            f"repository: {args.files:,} files, work tree ~{args.files * args.kb / 1024:.0f} MB,"
            f" .git {size / 1e6:.0f} MB, made in {time.perf_counter() - started:.1f} s;"
            f" load {os.getloadavg()[0]:.2f}"
        )
        upstream = Upstream(path=repo, base_branch="main", remote_url=None, is_users=True)
        start = start_branch(upstream, "omakase/bench-1", git="git")
        ready = [
            timed(
                lambda n=n: prepare_workspace(  # type: ignore[misc]
                    upstream,
                    root / f"ws{n}",
                    branch="omakase/bench-1",
                    head=start.head_commit,
                    identity=AUTHOR,
                    git="git",
                )
            )
            for n in range(args.repeat)
        ]
        report("workspace ready (fresh clone)", ready, "p50 ≤ 2,000 ms")
        workspace = root / "ws0"
        head = start.head_commit
        commits: list[float] = []
        for round_ in range(args.repeat):
            edit(workspace, args.changed, round_)
            message = commit_message(subject=f"Step {round_}", trailers=[("Omakase-Run", "r")])
            holder: list[str] = []

            def commit(base: str = head, out: list[str] = holder, message: str = message) -> None:
                made = commit_workspace(
                    workspace,
                    upstream,
                    branch="omakase/bench-1",
                    started_at=base,
                    author=AUTHOR,
                    message=message,
                    git="git",
                )
                assert made is not None
                out.append(made.head)

            commits.append(timed(commit))
            head = holder[0]
        report(f"step commit ({args.changed:,} files)", commits, "≤ 1,000 ms")
        opened = pygit2.Repository(str(repo))
        base = start.base_commit
        changes = [timed(lambda: summarize(opened, base, head)) for _ in range(args.repeat)]
        report(f"changes ({args.changed:,}-file branch)", changes, "≤ 500 ms")
        diffs = [
            timed(
                lambda: bounded_patch(opened, base, head, max_bytes=LIMIT_BYTES, download_hint="")
            )
            for _ in range(args.repeat)
        ]
        report(f"diff ({args.changed:,}-file branch)", diffs, "≤ 500 ms")


if __name__ == "__main__":
    main()
