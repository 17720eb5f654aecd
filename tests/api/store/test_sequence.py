"""Sequence heads: only ever move forward, and belong to one store handle."""

from __future__ import annotations

from api.store.db import Db
from api.store.sequence import SequenceHeads


def test_advance_never_moves_back() -> None:
    heads = SequenceHeads()
    heads.advance("t", "run", 5)
    heads.advance("t", "run", 3)
    assert heads.get("t", "run") == 5
    assert heads.get("t", "other") is None


def test_reserve_starts_after_the_higher_of_cache_and_store() -> None:
    heads = SequenceHeads()
    assert heads.reserve("t", "run", 3, stored_head=10) == 11
    assert heads.reserve("t", "run", 2, stored_head=0) == 14
    assert heads.get("t", "run") == 15


def test_each_store_handle_starts_cold(moto_db: Db) -> None:
    moto_db.heads.advance("t", "run", 7)
    other = Db(client=moto_db.client, prefix=moto_db.prefix)
    assert other.heads.get("t", "run") is None
