"""The chat client's tests reuse the stream tests' real-HTTP fixtures (engine store + API)."""

from tests.api.streaming.conftest import api, run, stream_db

__all__ = ["api", "run", "stream_db"]
