"""Where the service's own files for a step live: the feature's agent home, never its workspace.

Why not in the workspace: the workspace is the person's repository (a clone on
the feature's branch), and every file left there becomes part of the step's
commit. The inbox, the relayed messages, the guidance, the CLI config folders
and MCP config files are ours: they go into a per-feature home beside the
workspaces (``<workspace root>/.homes/<feature>``), which the step gets as
``HOME`` and which the agent CLIs read through their own variables
(``CLAUDE_CONFIG_DIR``, ``CODEX_HOME``). A repository with its own ``CLAUDE.md``,
``.mcp.json`` or ``.codex/`` keeps them byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Per-feature homes, inside the workspace root (hidden from other features' steps).
HOMES_DIR = ".homes"
#: Our state folder inside the home: inbox, relayed messages, flags.
STATE_DIR = ".omakase"
#: Claude Code's config folder (``CLAUDE_CONFIG_DIR``); its ``CLAUDE.md`` is the
#: user memory the CLI loads, where our guidance section goes.
CLAUDE_DIR = ".claude"
#: Codex's home (``CODEX_HOME``): its config.toml carries our MCP server.
CODEX_DIR = ".codex"
GUIDANCE_FILE = "CLAUDE.md"
USER_MESSAGES_FILE = "user-messages.json"


@dataclass(frozen=True, slots=True)
class AgentHome:
    path: Path

    @classmethod
    def of(cls, workspace: Path) -> AgentHome:
        """The home of the feature whose workspace is ``workspace`` (a folder of the root)."""
        return cls(workspace.parent / HOMES_DIR / workspace.name)

    @property
    def state(self) -> Path:
        return self.path / STATE_DIR

    @property
    def claude_dir(self) -> Path:
        return self.path / CLAUDE_DIR

    @property
    def codex_home(self) -> Path:
        return self.path / CODEX_DIR

    @property
    def guidance(self) -> Path:
        return self.claude_dir / GUIDANCE_FILE

    @property
    def user_messages(self) -> Path:
        return self.state / USER_MESSAGES_FILE

    def make(self) -> AgentHome:
        for folder in (self.state, self.claude_dir, self.codex_home):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def environment(self) -> dict[str, str]:
        """The variables that point a step (and the CLIs it runs) at this home."""
        return {
            "HOME": str(self.path),
            "OMAKASE_STATE_DIR": str(self.state),
            "OMAKASE_GUIDANCE_FILE": str(self.guidance),
            "OMAKASE_USER_MESSAGES_FILE": str(self.user_messages),
            "CLAUDE_CONFIG_DIR": str(self.claude_dir),
            "CODEX_HOME": str(self.codex_home),
        }
