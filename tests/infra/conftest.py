"""The synthesised AWS stack, built once per test session by the real entry point.

Why ``infra/app.py`` run as ``__main__``: it is what a user runs, so the tests see
exactly its template, and a broken entry point fails them. Why once and in this
process: every CDK call goes through jsii (a Node process). Starting it and the
first synth take seconds (measured: a subprocess ``python infra/app.py`` ~6-8 s
warm, ~17 s with a cold jsii cache); in-process the kernel is started once and
later synths (the changed-spec test) take a fraction of a second.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.stack import PREFIX_ENV, stack_name_for

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = REPO_ROOT / "infra" / "app.py"
# jsii prints a large banner because this machine's Node.js 20 is past its end of
# life for jsii; it still works (the README says so). Keep test output readable.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "1")

#: Not the default prefix, so a test sees the prefix flow from the environment.
SYNTH_PREFIX = "omakase-ci-"


@dataclass(frozen=True, slots=True)
class Synthesis:
    prefix: str
    stack_name: str
    template_path: Path
    template: dict[str, Any]
    stderr: str


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    outdir = tmp_path_factory.mktemp("cdk.out")
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        for name in [n for n in os.environ if n.startswith("CDK_")]:
            patch.delenv(name)  # e.g. CDK_CONTEXT_JSON from a surrounding `cdk` run
        patch.setenv("CDK_OUTDIR", str(outdir))
        patch.setenv(PREFIX_ENV, SYNTH_PREFIX)
        patch.chdir(outdir)  # not the repository: nothing may depend on the cwd
        runpy.run_path(str(APP_SCRIPT), run_name="__main__")
    stack_name = stack_name_for(SYNTH_PREFIX)
    path = outdir / f"{stack_name}.template.json"
    return Synthesis(
        prefix=SYNTH_PREFIX,
        stack_name=stack_name,
        template_path=path,
        template=json.loads(path.read_text()),
        stderr=stderr.getvalue(),
    )
