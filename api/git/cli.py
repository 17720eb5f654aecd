"""The git CLI, run one way: no prompt, no hooks, bounded time, git's own words on failure.

Why the CLI at all (pygit2 does the rest): clone, fetch and push must use the
person's own credentials (ssh agent, credential helpers of their git config),
``merge-tree --write-tree`` tests a merge without touching anything, and
``update-ref <new> <old>`` moves a ref as a compare-and-swap. The CLI only ever
runs in repositories the service trusts — the user's repository, its mirror —
never in an agent's workspace, whose ``.git/config`` an agent can rewrite
(``core.fsmonitor``, ``filter.*``: docs/REPOSITORY.md).

Hooks are off (``core.hooksPath=/dev/null``): the service runs no code on
behalf of a repository, like libgit2. Secrets in URLs never reach an error
message (``redact``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: Overrides on every call. Hooks never run; no pager; no auto-gc under an agent's feet.
SAFE_CONFIG = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.pager=cat",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    "-c",
    "advice.detachedHead=false",
)
#: A local git call (no network) that takes longer than this is stuck.
LOCAL_TIMEOUT_S = 60.0
#: Longest piece of git's stderr quoted in an error sentence.
MAX_QUOTED_CHARS = 600
#: ``https://user:secret@host`` → ``https://***@host`` in anything shown.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


class GitError(RuntimeError):
    """A git command failed; ``str()`` is a sentence with git's own words."""

    def __init__(self, message: str, *, stderr: str = "", code: int | None = None) -> None:
        super().__init__(message)
        self.stderr = stderr
        self.code = code


class GitTimeoutError(GitError):
    pass


def redact(text: str) -> str:
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + "***@", text)


def git_words(stderr: str) -> str:
    """The meaningful part of git's stderr, one line, redacted and bounded."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " ".join(lines)
    return redact(text)[:MAX_QUOTED_CHARS]


def git_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The service's environment for git: never a prompt (a hung clone holds a worker)."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GCM_INTERACTIVE": "never",
            "LC_ALL": "C",
            "LANGUAGE": "C",
        }
    )
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    git: str = "git",
    timeout: float = LOCAL_TIMEOUT_S,
    check: bool = True,
    action: str = "run git",
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``git <args>``; raise ``GitError`` ("Could not <action>: <git's words>") on failure."""
    argv = [git, *SAFE_CONFIG, *args]
    try:
        raw = subprocess.run(
            argv,
            cwd=cwd,
            env=git_env(),
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise GitTimeoutError(
            f"Could not {action}: git did not answer within {timeout:.0f} s."
        ) from error
    except FileNotFoundError as error:
        raise GitError(f"Could not {action}: the git program {git!r} was not found.") from error
    done = subprocess.CompletedProcess(
        raw.args,
        raw.returncode,
        raw.stdout.decode("utf-8", errors="replace"),
        raw.stderr.decode("utf-8", errors="replace"),
    )
    if check and done.returncode != 0:
        words = git_words(done.stderr) or f"git exited with code {done.returncode}"
        raise GitError(f"Could not {action}: {words}", stderr=done.stderr, code=done.returncode)
    return done
