"""Per-token message rate limit: 429 with Retry-After past the burst (issue 13 item 7)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.services.ratelimit import RateLimiter, TokenBucket
from api.settings import Settings
from api.store.db import Db
from tests.api.routes.test_messages import agent_auth, make_run, url
from tests.conftest import AUTH, TOKEN

BURST = 3


@pytest.fixture
def settings() -> Settings:
    return Settings(
        api_token=TOKEN,
        table_prefix="test-",
        agent_message_burst=BURST,
        agent_messages_per_minute=6,
    )


def test_an_agent_token_past_its_burst_gets_429_with_retry_after(
    client: TestClient, moto_db: Db
) -> None:
    run, other = make_run(client, moto_db), make_run(client, moto_db)
    headers = agent_auth(client, run.id)
    codes = [
        client.post(url(run), json={"content": f"m{n}"}, headers=headers).status_code
        for n in range(BURST)
    ]
    assert codes == [201] * BURST
    refused = client.post(url(run), json={"content": "one too many"}, headers=headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"  # 6 per minute: one every 10 s
    assert refused.json() == {
        "detail": "This agent token sends messages faster than 6 per minute (bursts of 3); "
        "retry in 10 seconds."
    }
    thread = client.get(url(run), headers=AUTH).json()
    assert "one too many" not in [m["content"] for m in thread]
    # Each token has its own bucket; the operator is not limited by default.
    assert (
        client.post(url(other), json={"content": "x"}, headers=agent_auth(client, other.id))
    ).status_code == 201
    for n in range(BURST + 2):
        assert client.post(url(run), json={"content": f"u{n}"}, headers=AUTH).status_code == 201


def test_token_bucket_refills_at_its_rate() -> None:
    now = [100.0]
    bucket = TokenBucket(capacity=2, per_second=0.5, clock=lambda: now[0])
    assert bucket.take() == 0.0
    assert bucket.take() == 0.0
    assert bucket.take() == pytest.approx(2.0)  # wait for one token at 0.5/s
    now[0] += 2.0
    assert bucket.take() == 0.0
    now[0] += 1_000.0
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, pytest.approx(2.0)]  # capped at 2


def test_limiter_forgets_idle_full_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(capacity=1, per_minute=60, clock=lambda: now[0], max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.wait_needed(key) == 0.0
    now[0] += 10.0
    assert limiter.wait_needed("d") == 0.0
    assert len(limiter.buckets) <= 2
