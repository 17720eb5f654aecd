"""Pytest fixtures for live-agent tests: the scripted model server, the CLI's environment.

``fake_model`` starts a ``FakeModel`` (scripted_policy by default; set
``fake_model.responder`` to script a test) and fails the test if a responder raised.
Import it into a conftest (tests/conftest.py does) to use it anywhere.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.support.claude_session import ClaudeSession, claude_env
from tests.support.fake_model import FakeModel

__all__ = ["StartClaude", "claude_env", "fake_model", "start_claude"]

#: ``start_claude(extra_args=None) -> ClaudeSession`` (already started).
StartClaude = Callable[..., ClaudeSession]


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    with FakeModel() as model:
        yield model
    assert not model.errors, f"the scripted model failed: {model.errors}"


@pytest.fixture
def start_claude(fake_model: FakeModel, tmp_path: Path) -> Iterator[StartClaude]:
    """Start CLI sessions against ``fake_model`` in ``tmp_path/work``; all killed at teardown."""
    work = tmp_path / "work"
    work.mkdir()
    env = claude_env(fake_model, tmp_path / "home")
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(extra_args: list[str] | None = None) -> ClaudeSession:
            log = tmp_path / f"claude-{next(numbers)}.stderr"
            session = ClaudeSession(env=env, cwd=work, extra_args=extra_args, stderr_path=log)
            return stack.enter_context(session)

        yield start
