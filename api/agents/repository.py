"""A feature's branch seen from its pipeline: the workspace before a step, the commit after it.

Before a step (``begin``): the upstream exists (a URL is fetched), the feature
has its branch (made at its first step and recorded on the feature), and the
workspace is a clone at the branch's recorded head — rebuilt when missing or
behind, so any process on any machine can run the next step.

After a step (``end``, whatever its outcome): what the agent left becomes one
commit (``api.git.commit``) whose trailers name the run, the feature and every
person's message delivered in that step; the run records its ``changes``, each
of those messages its ``receipt.commit`` (with a notice, so open chats show it),
the feature its new head; a URL repository gets the branch pushed (a refused
push keeps the branch locally and says so in the chat).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from api.git.cli import GitError
from api.git.commit import StepCommit, commit_message, commit_workspace, subject_words
from api.git.diff import summarize
from api.git.upstream import (
    Upstream,
    branch_tip,
    ensure_upstream,
    is_descendant,
    push_branch,
    upstream_for,
)
from api.git.workspace import branch_name, prepare_workspace, start_branch
from api.services.bus import MessageBus
from api.services.messages import post_message
from api.settings import Settings
from api.store.db import Db
from api.store.errors import ConflictError
from api.store.features import get_feature
from api.store.messages import list_messages, list_messages_by_feature
from api.store.projects import get_project
from api.store.repository import (
    set_feature_branch,
    set_feature_head,
    set_receipt_commit,
    set_run_changes,
)
from api.store.runs import get_run
from core.agents import persona
from core.models import AgentMessage, AgentRun, Feature, MessageSender, MessageType, ReceiptState
from core.repo_models import RunChanges

log = logging.getLogger(__name__)

#: Client-id prefix of the notice that a message went into a commit (one per message).
COMMIT_NOTICE_PREFIX = "cmt-"
#: Client-id prefix of a failed push's notice (the step's commit shows on its divider,
#: from ``run.changes``: no extra line in the thread).
PUSH_FAILED_PREFIX = "push-"


def agent_identity(run: AgentRun) -> tuple[str, str]:
    """The author of a step's commit: "Nori (coder)"."""
    return f"{persona(run.role).name} ({run.role.value})", f"{run.role.value}@omakase.local"


@dataclass(frozen=True, slots=True)
class StepStart:
    branch: str
    head: str


class FeatureRepository:
    def __init__(
        self, db: Db, bus: MessageBus, settings: Settings, *, feature: Feature, workspace: Path
    ) -> None:
        self.db, self.bus, self.settings = db, bus, settings
        self.feature_id = feature.id
        self.workspace = workspace
        project = get_project(db, project_id=feature.project_id)
        # The workspace is a folder of the workspace root (``.repos`` lives beside it).
        self.upstream: Upstream = upstream_for(
            project, feature, workspace_root=workspace.parent.resolve()
        )

    def hidden(self) -> list[Path]:
        """What a step's sandbox hides besides the defaults: the person's repository."""
        return [self.upstream.path] if self.upstream.is_users else []

    @property
    def git(self) -> str:
        return self.settings.git_bin

    def begin(self, run: AgentRun) -> StepStart:
        """Make the workspace ready for ``run`` (``GitError`` with a sentence if it cannot be)."""
        feature = get_feature(self.db, feature_id=self.feature_id)
        ensure_upstream(
            self.upstream, feature=feature, git=self.git, timeout=self.settings.git_timeout_seconds
        )
        if feature.branch is None or feature.head_commit is None:
            started = start_branch(
                self.upstream, branch_name(feature.name, feature.id), git=self.git
            )
            with contextlib.suppress(ConflictError):  # another process recorded it first
                feature = set_feature_branch(
                    self.db,
                    feature_id=feature.id,
                    branch=started.branch,
                    base_commit=started.base_commit,
                    head_commit=started.head_commit,
                )
            feature = get_feature(self.db, feature_id=self.feature_id)
        assert feature.branch is not None
        assert feature.head_commit is not None
        feature = self._adopt_tip(feature)
        assert feature.branch is not None
        assert feature.head_commit is not None
        prepare_workspace(
            self.upstream,
            self.workspace,
            branch=feature.branch,
            head=feature.head_commit,
            identity=agent_identity(run),
            git=self.git,
        )
        return StepStart(branch=feature.branch, head=feature.head_commit)

    def _adopt_tip(self, feature: Feature) -> Feature:
        """The branch moved past the recorded head (a step whose store write failed after
        its commit landed): go on from the tip, so no committed work is dropped."""
        assert feature.branch is not None
        assert feature.head_commit is not None
        tip = branch_tip(self.upstream, feature.branch)
        if tip is None or tip == feature.head_commit:
            return feature
        if not is_descendant(self.upstream, tip, feature.head_commit):
            return feature
        with contextlib.suppress(ConflictError):
            set_feature_head(self.db, feature_id=feature.id, old=feature.head_commit, new=tip)
        return get_feature(self.db, feature_id=feature.id)

    def end(
        self, run: AgentRun, start: StepStart, *, say: Callable[[str], None]
    ) -> RunChanges | None:
        """Commit the step's work (see the module docstring); ``say`` writes a log line."""
        delivered = self._delivered_in(run)
        subject = f"Step {run.step} · {run.role.value}: {subject_words(self._last_words(run))}"
        trailers = [("Omakase-Run", run.id), ("Omakase-Feature", self.feature_id)]
        trailers += [("Omakase-Message", m.id) for m in delivered]
        made = commit_workspace(
            self.workspace,
            self.upstream,
            branch=start.branch,
            started_at=start.head,
            author=agent_identity(run),
            message=commit_message(subject=subject, trailers=trailers),
            git=self.git,
        )
        if made is None:
            say("● no change in the workspace: no commit")
            return None
        if made.note:
            say(f"● {made.note}")
        changes = self._changes(made)
        set_run_changes(self.db, run_id=run.id, changes=changes)
        set_feature_head(self.db, feature_id=self.feature_id, old=start.head, new=made.head)
        short = made.head[:7]
        text = (
            f"📝 Step {run.step} committed {short} on {start.branch}: {changes.files} file(s) "
            f"+{changes.insertions} −{changes.deletions}"
        )
        say("● " + text)
        for message in delivered:
            self._receipt_commit(message, run, made.head)
        self._push(run, start.branch, say=say)
        return changes

    def _changes(self, made: StepCommit) -> RunChanges:
        summary = summarize(self.upstream.open(), made.base, made.head)
        return RunChanges(
            commits=made.commits,
            head=made.head,
            base=made.base,
            files=len(summary.files),
            insertions=summary.insertions,
            deletions=summary.deletions,
        )

    def _delivered_in(self, run: AgentRun) -> list[AgentMessage]:
        """The person's messages the step took (any channel), oldest first."""
        return [
            m
            for m in list_messages_by_feature(self.db, feature_id=self.feature_id)
            if m.sender is MessageSender.USER
            and m.receipt is not None
            and m.receipt.state is ReceiptState.DELIVERED
            and m.receipt.run_id == run.id
        ]

    def _last_words(self, run: AgentRun) -> str | None:
        said = list_messages(self.db, run_id=run.id, sender=MessageSender.AGENT)
        words = [m for m in said if m.type is MessageType.MESSAGE]
        return words[-1].content if words else None

    def _receipt_commit(self, message: AgentMessage, run: AgentRun, commit: str) -> None:
        stored = set_receipt_commit(self.db, message=message, run_id=run.id, commit=commit)
        if stored is None or stored.receipt is None:
            return
        origin = run if message.run_id == run.id else get_run(self.db, run_id=message.run_id)
        post_message(
            self.db,
            self.bus,
            run=origin,
            sender=MessageSender.AGENT,
            role=run.role,
            content=f"📝 Went into commit {commit[:7]} (step {run.step}, {run.role.value})",
            type=MessageType.STATUS,
            message_id=f"{COMMIT_NOTICE_PREFIX}{message.id}",
            receipt=stored.receipt,
            receipt_for=message.id,
        )

    def _push(self, run: AgentRun, branch: str, *, say: Callable[[str], None]) -> None:
        if self.upstream.remote_url is None:
            return
        try:
            push_branch(
                self.upstream, branch, git=self.git, timeout=self.settings.git_timeout_seconds
            )
            say(f"● pushed {branch}")
        except GitError as error:
            text = f"⚠ The branch {branch} is kept on this machine; the push failed: {error}"
            say(text)
            post_message(
                self.db,
                self.bus,
                run=run,
                sender=MessageSender.AGENT,
                role=run.role,
                content=text,
                type=MessageType.ERROR,
                message_id=f"{PUSH_FAILED_PREFIX}{run.id}",
            )
