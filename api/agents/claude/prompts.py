"""The prompt a claude step starts with: one file per role, kept in ``prompts/``.

Why files: the words that steer an agent are product, not code; people read and
change them without touching Python. Each names the role and carries the
feature's name and description verbatim, fenced as untrusted text (so a
description cannot close the block and pose as our instructions).
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from api.agents.fence import fenced
from core.agents import persona
from core.models import AgentRun, Feature

PROMPTS_DIR = Path(__file__).with_name("prompts")
COMMON_FILE = "common.md"
#: The paragraph about asking the person (the ``omakase`` MCP tools), when they are given.
DEFAULT_ASK_GUIDANCE = ""


def _template(name: str) -> Template:
    return Template((PROMPTS_DIR / name).read_text(encoding="utf-8"))


def feature_block(feature: Feature) -> str:
    text = f"Name: {feature.name}"
    if feature.description.strip():
        text += f"\n\nDescription:\n{feature.description}"
    return fenced(text)


def role_prompt(
    run: AgentRun, feature: Feature, *, ask_guidance: str = DEFAULT_ASK_GUIDANCE
) -> str:
    common = _template(COMMON_FILE).substitute(ask_guidance=ask_guidance)
    return _template(f"{run.role.value}.md").substitute(
        agent_name=persona(run.role).name,
        step=run.step,
        feature=feature_block(feature),
        common=common.strip(),
    )
