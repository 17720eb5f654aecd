"""Real git repositories for the tests: a person's work tree, a bare remote over file://.

Made with the git CLI as a person would make them (their own config, their own
commits), so the service meets what it meets on a real machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PERSON = ("-c", "user.name=Pat Person", "-c", "user.email=pat@example.com")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *PERSON, *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def make_work_tree(
    path: Path, files: dict[str, str] | None = None, *, branch: str = "main"
) -> Path:
    """A work tree on ``branch`` with one commit of ``files`` (a README by default)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch", branch)
    for name, text in (files or {"README.md": "# Shop\n", "app.py": "print('hi')\n"}).items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", "First commit")
    return path


def make_bare_remote(path: Path, source: Path) -> str:
    """A bare clone of ``source`` at ``path``; its file:// URL."""
    subprocess.run(
        ["git", "clone", "--quiet", "--bare", str(source), str(path)],
        check=True,
        capture_output=True,
    )
    return path.resolve().as_uri()


def head_of(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref)


def snapshot(repo: Path) -> dict[str, str]:
    """What a person would notice changing: HEAD, the index, the status, the hooks, the config."""
    hooks = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic": git(repo, "symbolic-ref", "-q", "HEAD"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "index": (repo / ".git" / "index").read_bytes().hex(),
        "hooks": ",".join(hooks),
        "config": (repo / ".git" / "config").read_text(),
    }
