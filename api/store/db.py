"""The store handle: an injectable boto3 client plus the table names.

Every data-access function takes a ``Db`` as its first argument, so tests inject
a moto client or a client for the local engine, and production one for AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from api.settings import (
    DYNAMODB_CONNECT_TIMEOUT_S,
    DYNAMODB_MAX_ATTEMPTS,
    DYNAMODB_READ_TIMEOUT_S,
    Settings,
)
from api.store.codec import Item, from_item, to_item
from api.store.conditions import ITEM_IS_NEW
from api.store.errors import NotFoundError, StoreUnavailableError, store_errors
from api.store.sequence import SequenceHeads
from core.tables import ALL_TABLES, TableSpec

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
else:
    DynamoDBClient = Any

#: How long table creation may take before start-up gives up.
TABLE_ACTIVE_TIMEOUT_S = 30.0
TABLE_ACTIVE_POLL_S = 0.1
#: Connection pool per client: the threadpool (40) plus the stream hub's pollers.
MAX_POOL_CONNECTIONS = 64


@dataclass(frozen=True, slots=True)
class Db:
    client: DynamoDBClient
    prefix: str = "omakase-"
    #: Sequence heads this process saw committed (messages, logs); see sequence.py.
    heads: SequenceHeads = field(default_factory=SequenceHeads, compare=False, repr=False)

    def table(self, spec: TableSpec) -> str:
        return spec.physical_name(self.prefix)


def make_client(settings: Settings) -> DynamoDBClient:
    """A DynamoDB client with botocore ``standard`` retries and bounded timeouts."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS},
        connect_timeout=DYNAMODB_CONNECT_TIMEOUT_S,
        read_timeout=DYNAMODB_READ_TIMEOUT_S,
        max_pool_connections=MAX_POOL_CONNECTIONS,
    )
    kwargs: dict[str, Any] = {"region_name": settings.aws_region, "config": config}
    if settings.dynamodb_endpoint:
        # A local engine accepts any credentials; don't require the user to have some.
        kwargs.update(
            endpoint_url=settings.dynamodb_endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - local engines take any
        )
    client: DynamoDBClient = boto3.client("dynamodb", **kwargs)
    return client


def make_db(settings: Settings) -> Db:
    return Db(client=make_client(settings), prefix=settings.table_prefix)


def put_new(db: Db, spec: TableSpec, *, item: Item, action: str) -> None:
    """Put an item keyed by ``id`` that must not exist yet (``ITEM_IS_NEW``): ids are fresh,
    so a clash is a bug to surface (``ConditionFailed``), never an overwrite."""
    with store_errors(action):
        db.client.put_item(
            TableName=db.table(spec), Item=to_item(item), ConditionExpression=ITEM_IS_NEW
        )


def get_or_raise(
    db: Db, spec: TableSpec, *, key: Item, action: str, missing: str, **kwargs: Any
) -> Item:
    """Read one item consistently, or raise ``NotFoundError(missing)`` when it does not exist.

    ``action`` completes the error sentence "Could not <action>: ..."; ``kwargs`` go
    to GetItem (e.g. a projection).
    """
    with store_errors(action):
        raw = db.client.get_item(
            TableName=db.table(spec), Key=to_item(key), ConsistentRead=True, **kwargs
        ).get("Item")
    if raw is None:
        raise NotFoundError(missing)
    return from_item(raw)


def _pages(
    call: Callable[..., Any], *, action: str, kwargs: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every page of a Query or Scan, following ``LastEvaluatedKey`` (the one pagination loop).

    Callers pass the client call itself (``lambda **kw: db.client.query(**kw)``), not its
    name: the IAM policy test finds every DynamoDB call the service makes in the source.
    """
    while True:
        with store_errors(action):
            page: dict[str, Any] = call(**kwargs)
        yield page
        last = page.get("LastEvaluatedKey")
        if not last:
            return
        kwargs["ExclusiveStartKey"] = last


def query_all(db: Db, *, action: str = "read from the store", **kwargs: Any) -> Iterator[Item]:
    """Run a Query, following ``LastEvaluatedKey`` until the last page.

    ``action`` completes the error sentence "Could not <action>: ...".
    """
    for page in _pages(lambda **kw: db.client.query(**kw), action=action, kwargs=kwargs):
        for raw in page.get("Items", []):
            yield from_item(raw)


def query_count(db: Db, *, action: str = "count in the store", **kwargs: Any) -> int:
    """Run a ``Select="COUNT"`` Query over every page and return the total."""
    pages = _pages(lambda **kw: db.client.query(**kw), action=action, kwargs=kwargs)
    return sum(page.get("Count", 0) for page in pages)


def scan_all(db: Db, *, action: str = "read from the store", **kwargs: Any) -> Iterator[Item]:
    """Run a Scan, following ``LastEvaluatedKey`` until the last page."""
    for page in _pages(lambda **kw: db.client.scan(**kw), action=action, kwargs=kwargs):
        for raw in page.get("Items", []):
            yield from_item(raw)


def ensure_tables(db: Db, specs: tuple[TableSpec, ...] = ALL_TABLES) -> list[str]:
    """Create the tables that are missing and wait until they are active.

    Returns the names of the tables it created.
    """
    with store_errors("list the tables"):
        existing: set[str] = set()
        for page in db.client.get_paginator("list_tables").paginate():
            existing.update(page.get("TableNames", []))
    created = []
    for spec in specs:
        name = db.table(spec)
        if name in existing:
            continue
        with store_errors(f"create table {name}"):
            try:
                db.client.create_table(**spec.create_table_kwargs(db.prefix))
            except db.client.exceptions.ResourceInUseException:
                continue  # another process created it a moment ago
        created.append(name)
    for name in created:
        _wait_active(db, name)
    return created


def _wait_active(db: Db, name: str) -> None:
    deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT_S
    while time.monotonic() < deadline:
        with store_errors(f"describe table {name}"):
            status = db.client.describe_table(TableName=name)["Table"].get("TableStatus")
        if status == "ACTIVE":
            return
        time.sleep(TABLE_ACTIVE_POLL_S)
    raise StoreUnavailableError(f"Table {name} did not become active in time.")


def ping(db: Db) -> None:
    """Raise ``StoreUnavailableError`` unless the store answers (used by /healthz)."""
    with store_errors("reach the store"):
        db.client.describe_table(TableName=db.table(ALL_TABLES[0]))
