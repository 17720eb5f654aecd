"""Settings from the environment."""

from __future__ import annotations

import pytest

from api.settings import Settings


def test_blank_endpoint_means_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMAKASE_DYNAMODB_ENDPOINT", "  ")
    settings = Settings()
    assert settings.dynamodb_endpoint is None
    assert not settings.is_local_store


def test_region_falls_back_to_the_aws_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMAKASE_AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert Settings().aws_region == "eu-west-1"
    monkeypatch.setenv("OMAKASE_AWS_REGION", "ap-northeast-1")
    assert Settings().aws_region == "ap-northeast-1"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert Settings(api_host=host).is_loopback is loopback
