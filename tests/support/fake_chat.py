"""``FakeFeatureChat``: ``core.chat.FeatureChat``'s surface over a ``FakeApi``.

It keeps the real ``core.chat_state.Conversation`` and feeds it synchronously
from the fake's ``feed`` (every stored message and update, in order: what the
feature stream would send), so AppTest drives the dashboard's one chat state.
"""

from __future__ import annotations

from core.chat_state import Conversation
from core.chat_wire import ChatEndedError, ChatSnapshot, validate_content
from core.client import ApiError
from core.models import DeliveryMode, FeatureStatus
from tests.support.fake_api import FakeApi


class FakeFeatureChat:
    """``core.chat.FeatureChat``'s surface over a ``FakeApi``: the same ``Conversation``."""

    def __init__(self, api: FakeApi, feature_id: str) -> None:
        self.api = api
        self.feature_id = feature_id
        self.state = Conversation()
        self.read = 0
        self.closed = False
        self._snapshot: ChatSnapshot | None = None

    def _sync(self) -> None:
        for message in self.api.feed[self.read :]:
            if message.feature_id == self.feature_id:
                self.state.apply(message, event_id=message.id)
        self.read = len(self.api.feed)
        ended = self.api.feature.status in (FeatureStatus.PASSING, FeatureStatus.FAILING)
        if ended and not any(r.is_active for r in self.api.runs.values()) and not self.state.ended:
            self.state.end(self.api.feature.status.value)

    def snapshot(self) -> ChatSnapshot:
        """Rebuilt only when the state changed, as the real client does."""
        self._sync()
        cached = self._snapshot
        if cached is None or cached.version != self.state.version or cached.stopped != self.closed:
            cached = ChatSnapshot.of(self.state, connected=not self.closed, stopped=self.closed)
            self._snapshot = cached
        return cached

    def send_message(self, content: str, *, mode: DeliveryMode | None = None) -> str:
        text = validate_content(content)
        if self.state.ended:
            raise ChatEndedError("This conversation has ended.")
        optimistic = self.state.add_optimistic(text, mode=mode)
        try:
            stored = self.api.post_feature_message(
                self.feature_id, text, message_id=optimistic.id, mode=mode
            )
        except ApiError as error:
            self.state.roll_back(optimistic.id, error.detail)
        else:
            self.state.confirm(stored)
        return optimistic.id

    def withdraw(self, run_id: str, message_id: str) -> bool:
        try:
            self.api.withdraw_message(run_id, message_id)
        except ApiError as error:
            self.state.fail(f"Not withdrawn: {error.detail}")
            return False
        self.state.withdrawn(message_id, run_id)
        return True

    def close(self) -> None:
        self.closed = True
