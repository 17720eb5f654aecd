"""Which Claude Code CLI the project runs: the pinned copy first, then PATH, then the bare name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra import claude_cli


def make_executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho fake\n")
    path.chmod(0o755)
    return path


def test_the_pinned_cli_wins_over_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = make_executable(tmp_path / "pinned" / "claude")
    make_executable(tmp_path / "bin" / "claude")
    monkeypatch.setattr(claude_cli, "PINNED_CLAUDE_BIN", pinned)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert claude_cli.default_claude_bin() == str(pinned)


def test_without_the_pinned_cli_path_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_path = make_executable(tmp_path / "bin" / "claude")
    monkeypatch.setattr(claude_cli, "PINNED_CLAUDE_BIN", tmp_path / "missing" / "claude")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert claude_cli.default_claude_bin() == str(on_path)


def test_with_no_cli_anywhere_the_bare_name_is_returned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claude_cli, "PINNED_CLAUDE_BIN", tmp_path / "missing" / "claude")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert claude_cli.default_claude_bin() == "claude"


def test_the_package_pins_the_version_the_module_names() -> None:
    package = claude_cli.REPO_ROOT / "infra" / "claude_code" / "package.json"
    assert (
        f'"@anthropic-ai/claude-code": "{claude_cli.PINNED_CLAUDE_VERSION}"' in package.read_text()
    )


@pytest.mark.skipif(not claude_cli.PINNED_CLAUDE_BIN.exists(), reason="npm ci not run yet")
def test_the_installed_pinned_cli_reports_its_version() -> None:
    """Runs offline: ``--version`` needs no key and no network."""
    shown = subprocess.run(
        [str(claude_cli.PINNED_CLAUDE_BIN), "--version"], capture_output=True, text=True, check=True
    )
    assert shown.stdout.split()[0] == claude_cli.PINNED_CLAUDE_VERSION
