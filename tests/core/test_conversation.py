"""The feature conversation as Markdown, and the run order it shares with the feature stream."""

from __future__ import annotations

from core.conversation import feature_markdown, order_runs
from core.models import (
    AgentMessage,
    AgentRun,
    AgentRunRole,
    AgentRunStatus,
    DeliveryMode,
    DeliveryReceipt,
    Feature,
    FeatureStatus,
    MessageSender,
    MessageType,
    ReceiptState,
)

T0 = "2026-11-30T18:00:00.000000Z"


def run(run_id: str, role: AgentRunRole, step: int, attempt: int = 1, **extra: object) -> AgentRun:
    return AgentRun.model_validate(
        {
            "id": run_id,
            "projectId": "prj_1",
            "featureId": "feat_1",
            "role": role,
            "step": step,
            "attempt": attempt,
            "status": AgentRunStatus.COMPLETED,
            "startedAt": f"2026-11-30T18:0{step}:00.000000Z",
            "completedAt": f"2026-11-30T18:0{step}:30.000000Z",
            "updatedAt": T0,
            **extra,
        }
    )


def message(run_id: str, cursor: int, content: str, **extra: object) -> AgentMessage:
    return AgentMessage.model_validate(
        {
            "id": f"m-{run_id}-{cursor}",
            "runId": run_id,
            "featureId": "feat_1",
            "projectId": "prj_1",
            "sender": "agent",
            "content": content,
            "timestamp": f"2026-11-30T18:05:{cursor:02d}.000000Z",
            "cursor": f"{cursor:012d}",
            **extra,
        }
    )


FEATURE = Feature(
    id="feat_1",
    project_id="prj_1",
    name="Login page",
    description="Email + password",
    status=FeatureStatus.PASSING,
    created_at=T0,
    updated_at=T0,
)
ARCHITECT = run("run_a", AgentRunRole.ARCHITECT, 1)
CODER = run("run_c", AgentRunRole.CODER, 2, output_summary="added the handlers")
REVIEWER = run("run_r", AgentRunRole.REVIEWER, 3)
DELIVERED = DeliveryReceipt(
    state=ReceiptState.DELIVERED,
    delivered_at="2026-11-30T18:03:00.000000Z",
    run_id="run_r",
    role=AgentRunRole.REVIEWER,
    step=3,
    channel="relay",
)
MESSAGES = [
    message("run_c", 1, "Nori started step 2 (coder)", type=MessageType.STATUS, role="coder"),
    message(
        "run_c",
        2,
        "Use <script>alert(1)</script> SQLite\n# not a heading",
        sender=MessageSender.USER,
        receipt=DELIVERED,
        mode=DeliveryMode.QUEUE,
        id="u-1",
    ),
    message(
        "run_c",
        3,
        "Redis?",
        sender=MessageSender.USER,
        id="u-2",
        receipt=DeliveryReceipt(state=ReceiptState.WITHDRAWN),
    ),
    message(
        "run_r",
        1,
        "Which DB?",
        type=MessageType.QUESTION,
        role="reviewer",
        options=["SQLite", "Postgres"],
    ),
    message(
        "run_r",
        2,
        "SQLite",
        sender=MessageSender.USER,
        id="u-3",
        receipt=DeliveryReceipt(state=ReceiptState.QUEUED),
    ),
    message("run_a", 1, "Miso failed: boom", type=MessageType.ERROR, role="architect"),
]


def test_runs_are_ordered_by_step_then_attempt_whatever_the_input_order() -> None:
    retry = run("run_c2", AgentRunRole.CODER, 2, attempt=2)
    assert [r.id for r in order_runs([REVIEWER, retry, CODER, ARCHITECT, CODER])] == [
        "run_a",
        "run_c",
        "run_c2",
        "run_r",
    ]


def test_markdown_has_a_section_per_step_in_order_and_the_guidance() -> None:
    text = feature_markdown(FEATURE, [REVIEWER, CODER, ARCHITECT], reversed(MESSAGES))
    assert text.startswith("# Login page\n\nFeature `feat_1` · **passing** · 3 step run(s)\n")
    steps = [line for line in text.splitlines() if line.startswith("### ")]
    assert steps == [
        "### Step 1 · Miso 🍜 architect",
        "### Step 2 · Nori 🍙 coder",
        "### Step 3 · Koji 🍶 reviewer",
    ]
    assert "_⚠️ Miso failed: boom_" in text
    assert "Summary: added the handlers" in text
    assert "**Koji** asks:" in text
    assert "Options: SQLite · Postgres" in text
    assert "**You** (answer to the question above) — not delivered yet (queued):" in text
    guidance = text.split("## Human guidance incorporated\n", 1)[1]
    numbered = [line.split(".", 1)[0] for line in guidance.splitlines() if line[:1].isdigit()]
    assert numbered == ["1", "2", "3"]
    assert (
        "1. Sent 2026-11-30 18:05:02Z during Step 2 · Nori 🍙 coder — delivered to "
        "Step 3 · Koji 🍶 reviewer at the start of its step (2026-11-30 18:03:00Z):"
    ) in guidance
    assert "2. Sent 2026-11-30 18:05:03Z during Step 2 · Nori 🍙 coder — withdrawn" in guidance
    assert (
        "3. Sent 2026-11-30 18:05:02Z during Step 3 · Koji 🍶 reviewer — not delivered" in guidance
    )


def test_message_text_is_quoted_and_escaped_never_markup() -> None:
    text = feature_markdown(FEATURE, [CODER], MESSAGES[:2])
    assert "<script>" not in text
    assert "  > Use &lt;script&gt;alert(1)&lt;/script&gt; SQLite" in text
    assert "  > # not a heading" in text
    assert "\n# not a heading" not in text


def test_an_empty_conversation_says_so() -> None:
    text = feature_markdown(FEATURE, [], [])
    assert "No messages from a person." in text
    assert text.endswith("\n")
