"""The pipeline state machine: order, retry once, review cycle, cancel, interruption."""

from __future__ import annotations

from api.agents.plan import MAX_INTERRUPTIONS_PER_STEP, Checkpoint, Outcome, decide
from core.models import AgentRunRole, FeatureStatus


def walk(outcomes: list[Outcome]) -> tuple[list[tuple[int, str, int]], FeatureStatus | None, str]:
    """Feed outcomes in order; return the steps run (step, role, attempt) and the end."""
    current: Checkpoint | None = Checkpoint()
    ran = []
    decision = None
    for outcome in outcomes:
        assert current is not None
        ran.append((current.step, current.role.value, current.attempt))
        decision = decide(current, outcome, "boom")
        current = decision.next
    assert decision is not None
    return ran, decision.final, decision.error or ""


def test_happy_path_runs_four_steps_and_passes() -> None:
    ran, final, _ = walk([Outcome.COMPLETED] * 4)
    assert ran == [(1, "architect", 1), (2, "coder", 1), (3, "reviewer", 1), (4, "tester", 1)]
    assert final is FeatureStatus.PASSING


def test_a_failed_step_is_retried_once() -> None:
    ran, final, _ = walk(
        [Outcome.COMPLETED, Outcome.FAILED, Outcome.COMPLETED, *[Outcome.COMPLETED] * 2]
    )
    assert ran[1:3] == [(2, "coder", 1), (2, "coder", 2)]
    assert final is FeatureStatus.PASSING


def test_a_second_failure_fails_the_feature() -> None:
    ran, final, error = walk([Outcome.COMPLETED, Outcome.FAILED, Outcome.FAILED])
    assert ran == [(1, "architect", 1), (2, "coder", 1), (2, "coder", 2)]
    assert final is FeatureStatus.FAILING
    assert error == "Nori failed step 2 (coder) 2 times: boom"


def test_request_changes_runs_coder_and_reviewer_once_more() -> None:
    ran, final, _ = walk(
        [Outcome.COMPLETED, Outcome.COMPLETED, Outcome.CHANGES_REQUESTED, *[Outcome.COMPLETED] * 3]
    )
    assert [r[:2] for r in ran] == [
        (1, "architect"),
        (2, "coder"),
        (3, "reviewer"),
        (4, "coder"),
        (5, "reviewer"),
        (6, "tester"),
    ]
    assert final is FeatureStatus.PASSING


def test_a_second_request_for_changes_fails_the_feature() -> None:
    outcomes = [Outcome.COMPLETED, Outcome.COMPLETED, Outcome.CHANGES_REQUESTED]
    outcomes += [Outcome.COMPLETED, Outcome.CHANGES_REQUESTED]
    _, final, error = walk(outcomes)
    assert final is FeatureStatus.FAILING
    assert error == "Koji still requested changes after 1 revision."


def test_cancel_fails_the_feature_without_retry() -> None:
    ran, final, error = walk([Outcome.COMPLETED, Outcome.CANCELLED])
    assert len(ran) == 2
    assert final is FeatureStatus.FAILING
    assert error == "Cancelled by user (Nori, step 2)."


def test_an_interruption_reruns_the_step_without_using_the_retry() -> None:
    outcomes = [Outcome.COMPLETED, Outcome.INTERRUPTED, Outcome.FAILED, Outcome.COMPLETED]
    ran, final, _ = walk([*outcomes, Outcome.COMPLETED, Outcome.COMPLETED])
    assert ran[1:4] == [(2, "coder", 1), (2, "coder", 2), (2, "coder", 3)]
    assert final is FeatureStatus.PASSING


def test_checkpoint_round_trips_through_the_store_shape() -> None:
    checkpoint = Checkpoint(
        step=5, role=AgentRunRole.REVIEWER, attempt=2, failures=1, review_cycles=1, run_id="run_1"
    )
    assert Checkpoint.from_item(checkpoint.to_item()) == checkpoint
    assert Checkpoint.from_item(None) == Checkpoint()


def test_interruptions_are_capped_like_failures() -> None:
    """Issue 13 item 2: a step interrupted on every attempt must not rerun forever."""
    ran, final, error = walk(
        [Outcome.COMPLETED] + [Outcome.INTERRUPTED] * MAX_INTERRUPTIONS_PER_STEP
    )
    assert ran[1:] == [(2, "coder", n) for n in range(1, MAX_INTERRUPTIONS_PER_STEP + 1)]
    assert final is FeatureStatus.FAILING
    assert error == (
        f"Nori's step 2 (coder) was interrupted {MAX_INTERRUPTIONS_PER_STEP} times "
        "(the API process running it stopped each time); the feature fails "
        "instead of running the step again."
    )


def test_interruptions_and_failures_count_apart() -> None:
    outcomes = [Outcome.INTERRUPTED] * (MAX_INTERRUPTIONS_PER_STEP - 1) + [Outcome.FAILED]
    ran, final, _ = walk([*outcomes, Outcome.COMPLETED, *[Outcome.COMPLETED] * 3])
    assert ran[MAX_INTERRUPTIONS_PER_STEP][2] == MAX_INTERRUPTIONS_PER_STEP + 1
    assert final is FeatureStatus.PASSING


def test_interruption_count_round_trips() -> None:
    checkpoint = Checkpoint(step=2, role=AgentRunRole.CODER, interruptions=2)
    assert Checkpoint.from_item(checkpoint.to_item()) == checkpoint
