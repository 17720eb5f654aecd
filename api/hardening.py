"""Process-level hardening of the API process itself.

Why non-dumpable: the API's environment holds the operator token and the
agent-token secret, and ``/proc/<pid>/environ`` (also ``mem``, ``maps``…) is
readable by any process of the same OS user — which is what an agent step is
when it runs without the bubblewrap sandbox (``OMAKASE_AGENT_SANDBOX=none`` or
``auto`` where bwrap cannot run). ``PR_SET_DUMPABLE=0`` makes those files
root-owned and ptrace-protected, so only a process with ``CAP_SYS_PTRACE`` can
read them. It also disables core dumps, which would hold the same secrets.
The flag is reset by ``execve``, so the agents the API starts are unaffected.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

#: From <linux/prctl.h>.
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def mark_non_dumpable() -> bool:
    """Make this process non-dumpable (Linux); True when it now is."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_DUMPABLE, 0) failed: errno %d", ctypes.get_errno())
        return False
    return bool(libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0)
