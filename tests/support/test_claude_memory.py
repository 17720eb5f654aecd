"""Where the claude runner puts its guidance: ``$CLAUDE_CONFIG_DIR/CLAUDE.md``, not the repository.

The CLI (2.1.197) loads that file as the user's memory *and* the repository's own
``CLAUDE.md`` from its working directory: the service relays guidance without
ever editing a file of the person's repository (docs/REPOSITORY.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.claude_cli import default_claude_bin
from tests.support.claude_session import user_line
from tests.support.fake_model import FakeModel
from tests.support.fake_model_fixtures import StartClaude

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(default_claude_bin()).is_file(),
        reason="the pinned CLI is not installed (make setup runs npm ci in infra/claude_code)",
    ),
]


def test_guidance_in_the_config_dir_and_the_repositorys_own_file_both_reach_the_model(
    fake_model: FakeModel, start_claude: StartClaude, tmp_path: Path
) -> None:
    (tmp_path / "home" / ".claude").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / ".claude" / "CLAUDE.md").write_text("Guidance marker: OMAKASE-7731\n")
    (tmp_path / "work" / "CLAUDE.md").write_text("House rule marker: REPO-4412\n")
    session = start_claude(["--allowedTools", "Bash"])
    session.send(user_line("Say hello."))
    request = fake_model.wait_for_text("OMAKASE-7731", timeout=60)
    assert "REPO-4412" in request.all_text
    assert (tmp_path / "work" / "CLAUDE.md").read_text() == "House rule marker: REPO-4412\n"
