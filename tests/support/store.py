"""Tables on a local engine, for tests and benchmarks alike."""

from __future__ import annotations

from api.settings import Settings
from api.store.db import Db, ensure_tables, make_client


def tables_on(endpoint: str, prefix: str) -> Db:
    """A ``Db`` on the engine at ``endpoint`` with every table (``prefix``-named) created."""
    settings = Settings(dynamodb_endpoint=endpoint, table_prefix=prefix)
    db = Db(client=make_client(settings), prefix=prefix)
    ensure_tables(db)
    return db
