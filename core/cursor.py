"""Message and log cursors: the zero-padded per-run sequence number.

A cursor is both the DynamoDB sort key of ``agent-messages`` and the SSE event
id. Zero padding makes lexical order (DynamoDB's, and string comparison's)
equal numeric order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

CURSOR_DIGITS = 12
#: ASCII digits only, matched in full: ``\d`` would accept other scripts' digits
#: ("１２…", which ``int`` parses) and ``$`` a trailing newline.
_CURSOR_RE = re.compile(rf"[0-9]{{{CURSOR_DIGITS}}}")
#: Longest piece of a rejected value quoted back in an error sentence.
MAX_QUOTED_CHARS = 40
#: A cursor before the first message ("everything").
START_CURSOR = "0" * CURSOR_DIGITS


def format_cursor(sequence: int) -> str:
    if sequence < 0 or sequence >= 10**CURSOR_DIGITS:
        raise ValueError(f"sequence {sequence} is out of the cursor range")
    return f"{sequence:0{CURSOR_DIGITS}d}"


def parse_cursor(cursor: str) -> int:
    if not is_cursor(cursor):
        raise ValueError(f"'{cursor}' is not a message cursor ({CURSOR_DIGITS} digits)")
    return int(cursor)


def is_cursor(value: str) -> bool:
    return _CURSOR_RE.fullmatch(value) is not None


def normalize_timestamp(value: str) -> str:
    """Parse an ISO 8601 instant and return it in the store's fixed-width UTC form.

    Naive values are taken as UTC. Raises ``ValueError`` with a sentence.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        quoted = value if len(value) <= MAX_QUOTED_CHARS else value[:MAX_QUOTED_CHARS] + "…"
        raise ValueError(
            f"'{quoted}' is neither a message cursor ({CURSOR_DIGITS} digits) "
            "nor an ISO 8601 timestamp"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
