"""``make run``'s operator token: a 0600 file created atomically, shown only as a fingerprint."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import infra.run_local as run_local


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OMAKASE_API_TOKEN", raising=False)
    monkeypatch.setattr(run_local, "DATA", tmp_path / ".data")
    monkeypatch.setattr(run_local, "TOKEN_FILE", tmp_path / ".data" / "api-token")
    monkeypatch.setattr(run_local, "ROOT", tmp_path)
    monkeypatch.setattr(run_local, "LOGS", tmp_path / ".data" / "logs")
    return tmp_path / ".data"


def test_the_token_file_is_created_0600_and_reused(data: Path) -> None:
    token = run_local.operator_token()
    path = data / "api-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert run_local.operator_token() == token
    assert sorted(p.name for p in data.iterdir()) == ["api-token"]  # no temporary left


def test_a_loose_token_file_is_tightened(data: Path) -> None:
    data.mkdir()
    path = data / "api-token"
    path.write_text("old-token\n")
    path.chmod(0o644)
    assert run_local.operator_token() == "old-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_banner_shows_a_fingerprint_never_the_token(data: Path) -> None:
    token = run_local.operator_token()
    text = run_local.banner(token)
    assert token not in text
    assert run_local.fingerprint(token) in text
    assert run_local.fingerprint(token).startswith("sha256:")
    assert run_local.fingerprint(token) != run_local.fingerprint(token + "x")
