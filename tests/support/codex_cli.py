"""The codex CLI against the scripted Responses API: its flags, and a copy installed under /tmp.

``codex_args`` are the ``-c`` flags a person gives ``OMAKASE_CODEX_ARGS`` to use a
model provider of their own (docs/AGENTS.md "Codex"): here, the scripted server.
``installed_under_tmp`` hard-links the pinned installation into a folder under
/tmp (instant, no copy), so a test proves a CLI installed there runs in the sandbox.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from tests.support.fake_responses import MODEL, FakeResponses

#: The provider name the flags define.
PROVIDER = "scripted"


def codex_args(model: FakeResponses) -> str:
    provider = (
        f'{{name="{PROVIDER}", base_url="{model.url}/v1", wire_api="responses", '
        'env_key="OPENAI_API_KEY"}'
    )
    return shlex.join(
        [
            "-c",
            f'model_provider="{PROVIDER}"',
            "-c",
            f"model_providers.{PROVIDER}={provider}",
            "-c",
            f'model="{MODEL}"',
        ]
    )


def installed_under_tmp(pinned_bin: Path, folder: Path) -> Path:
    """The pinned npm installation hard-linked under ``folder``; its ``.bin`` link in it."""
    modules = pinned_bin.parent.parent  # node_modules/.bin/<cli> -> node_modules
    copy = folder / "node_modules"
    if not copy.exists():
        try:
            shutil.copytree(modules, copy, symlinks=True, copy_function=os.link)
        except OSError:  # another file system: a real copy
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(modules, copy, symlinks=True)
    return copy / ".bin" / pinned_bin.name
