"""The DynamoDB table specs: defined once, used by local bootstrap, tests and the CDK stack.

Kept free of boto3 so the CDK app (infra/) can import it without the service.
A change to a key or an index here shows up in table creation, in the moto and
local-engine tests, and in the synthesised CloudFormation template alike.

Why ``agent-messages`` is keyed by a per-run sequence and not by the timestamp:
the original feature used the timestamp as sort key, so two messages written in
the same millisecond overwrote each other, and a stream resuming "after this
timestamp" could skip a message that committed late with an earlier time. Here
the sort key ``cursor`` is a zero-padded per-run sequence number written with
``attribute_not_exists``: key n+1 can only exist once n is committed, so key
order is commit order across any number of API processes. The ISO timestamp is
still stored, and indexed by the ``by_timestamp`` LSI for ``since=<timestamp>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AttrType(StrEnum):
    STRING = "S"
    NUMBER = "N"


@dataclass(frozen=True, slots=True)
class KeyAttr:
    name: str
    type: AttrType = AttrType.STRING


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    #: ``ALL`` keeps a query to one round trip; our items are small.
    projection: str = "ALL"

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.partition_key, self.sort_key)


@dataclass(frozen=True, slots=True)
class TableSpec:
    #: Logical name; the physical name is ``OMAKASE_TABLE_PREFIX`` + this.
    name: str
    partition_key: KeyAttr
    sort_key: KeyAttr | None = None
    global_indexes: tuple[IndexSpec, ...] = ()
    local_indexes: tuple[IndexSpec, ...] = ()
    #: Data tables are retained and deletion-protected in the AWS stack.
    retain: bool = True
    #: Optional TTL attribute (epoch seconds).
    ttl_attribute: str | None = None
    description: str = field(default="", compare=False)

    def physical_name(self, prefix: str) -> str:
        return f"{prefix}{self.name}"

    def key_attributes(self) -> list[KeyAttr]:
        """Every attribute used in a key of the table or one of its indexes, once each."""
        seen: dict[str, KeyAttr] = {}
        candidates = [self.partition_key, self.sort_key]
        for index in (*self.global_indexes, *self.local_indexes):
            candidates += [index.partition_key, index.sort_key]
        for attr in candidates:
            if attr is not None:
                previous = seen.setdefault(attr.name, attr)
                if previous.type != attr.type:
                    raise ValueError(f"{self.name}: attribute {attr.name} has two types")
        return list(seen.values())

    def key_schema(self) -> list[dict[str, str]]:
        return _key_schema(self.partition_key, self.sort_key)

    def create_table_kwargs(self, prefix: str) -> dict[str, Any]:
        """Arguments for boto3 ``create_table`` (on-demand billing, as in the stack)."""
        kwargs: dict[str, Any] = {
            "TableName": self.physical_name(prefix),
            "KeySchema": self.key_schema(),
            "AttributeDefinitions": [
                {"AttributeName": a.name, "AttributeType": a.type.value}
                for a in self.key_attributes()
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.global_indexes:
            kwargs["GlobalSecondaryIndexes"] = [_index_kwargs(i) for i in self.global_indexes]
        if self.local_indexes:
            kwargs["LocalSecondaryIndexes"] = [_index_kwargs(i) for i in self.local_indexes]
        return kwargs


def _key_schema(partition: KeyAttr, sort: KeyAttr | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": partition.name, "KeyType": "HASH"}]
    if sort is not None:
        schema.append({"AttributeName": sort.name, "KeyType": "RANGE"})
    return schema


def _index_kwargs(index: IndexSpec) -> dict[str, Any]:
    return {
        "IndexName": index.name,
        "KeySchema": index.key_schema(),
        "Projection": {"ProjectionType": index.projection},
    }


S = AttrType.STRING

PROJECTS = TableSpec(
    name="projects",
    partition_key=KeyAttr("id"),
    description="Projects; listed by Scan (a handful per installation).",
)

FEATURES = TableSpec(
    name="features",
    partition_key=KeyAttr("id"),
    global_indexes=(IndexSpec("by_project", KeyAttr("projectId"), KeyAttr("createdAt")),),
    description="Features of a project; the pipeline claim lives on the item.",
)

AGENTS = TableSpec(
    name="agents",
    partition_key=KeyAttr("projectId"),
    sort_key=KeyAttr("role"),
    description="One agent per role per project (Miso, Nori, Koji, Toro).",
)

AGENT_RUNS = TableSpec(
    name="agent-runs",
    partition_key=KeyAttr("id"),
    global_indexes=(
        IndexSpec("by_project", KeyAttr("projectId"), KeyAttr("startedAt")),
        IndexSpec("by_feature", KeyAttr("featureId"), KeyAttr("startedAt")),
    ),
    description="One item per pipeline step run; the read marker lives on the item.",
)

AGENT_MESSAGES = TableSpec(
    name="agent-messages",
    partition_key=KeyAttr("runId"),
    sort_key=KeyAttr("cursor"),
    global_indexes=(IndexSpec("by_feature", KeyAttr("featureId"), KeyAttr("timestamp")),),
    local_indexes=(
        IndexSpec("by_timestamp", KeyAttr("runId"), KeyAttr("timestamp")),
        # Idempotency: a strongly consistent key lookup of a client message id.
        IndexSpec("by_id", KeyAttr("runId"), KeyAttr("id")),
    ),
    description="Chat threads; sort key = zero-padded per-run sequence (commit order).",
)

AGENT_LOGS = TableSpec(
    name="agent-logs",
    partition_key=KeyAttr("runId"),
    sort_key=KeyAttr("cursor"),
    global_indexes=(IndexSpec("by_project", KeyAttr("projectId"), KeyAttr("timestamp")),),
    description="Agent log lines for the log viewer, in per-run sequence order.",
)

WORKERS = TableSpec(
    name="workers",
    partition_key=KeyAttr("id"),
    retain=False,
    ttl_attribute="expiresAt",
    description="API process heartbeats: a run whose owner stopped beating is failed.",
)

ALL_TABLES: tuple[TableSpec, ...] = (
    PROJECTS,
    FEATURES,
    AGENTS,
    AGENT_RUNS,
    AGENT_MESSAGES,
    AGENT_LOGS,
    WORKERS,
)
