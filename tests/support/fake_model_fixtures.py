"""Pytest fixtures for live-agent tests: the scripted model server, the CLI's environment.

``fake_model`` starts a ``FakeModel`` (scripted_policy by default; set
``fake_model.responder`` to script a test) and fails the test if a responder raised.
Import it into a conftest (tests/conftest.py does) to use it anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.claude_session import claude_env
from tests.support.fake_model import FakeModel

__all__ = ["claude_env", "fake_model"]


@pytest.fixture
def fake_model() -> Iterator[FakeModel]:
    with FakeModel() as model:
        yield model
    assert not model.errors, f"the scripted model failed: {model.errors}"
