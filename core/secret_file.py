"""Secrets on disk and in logs: a file only its owner can read, and a fingerprint to name it.

Why here: both ``make run`` (infra/run_local.py, the operator token it keeps in
``.data/api-token``) and the API (a token it generates when run bare on
loopback) must hand a token to the person without ever printing it; the rule
"a token appears in a log only as its fingerprint, with the path of its file"
lives in one place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Only the owner may read or write a secret file.
SECRET_FILE_MODE = 0o600
#: Hex digits of the token's SHA-256 shown instead of the token.
FINGERPRINT_HEX = 12


def fingerprint(token: str) -> str:
    """A short, non-reversible name for a token (to tell tokens apart, not to use one)."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:FINGERPRINT_HEX]


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 atomically: O_EXCL temporary, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)
