"""Agent log lines for the log viewer.

Only the API process that owns a run's subprocess writes its logs, so lines get
their per-run cursor from that writer's counter and go out in batches (a
conditional put per line would cost a round trip each). The counter starts
from the stored head, so a restarted owner continues the sequence.
"""

from __future__ import annotations

from typing import Any

from api.store.codec import to_item, to_value
from api.store.db import Db, query_all
from api.store.errors import StoreUnavailableError, store_errors
from core.agents import persona
from core.cursor import START_CURSOR, format_cursor, parse_cursor
from core.models import AgentRun, LogLine, LogStream, iso, utc_now
from core.tables import AGENT_LOGS

#: DynamoDB's BatchWriteItem limit.
BATCH_SIZE = 25
#: A log line longer than this is cut (items stay far below the 400 KB limit).
MAX_LINE_CHARS = 8_000
#: Rounds of re-sending unprocessed items before giving up.
MAX_UNPROCESSED_ROUNDS = 8


def _next_cursors(db: Db, run_id: str, count: int) -> list[str]:
    table = db.table(AGENT_LOGS)
    known = db.heads.get(table, run_id)
    stored = _read_head(db, run_id) if known is None else known
    first = db.heads.reserve(table, run_id, count, stored_head=stored)
    return [format_cursor(first + i) for i in range(count)]


def _read_head(db: Db, run_id: str) -> int:
    with store_errors("read the log head"):
        items = db.client.query(
            TableName=db.table(AGENT_LOGS),
            KeyConditionExpression="runId = :r",
            ExpressionAttributeValues={":r": to_value(run_id)},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
    return parse_cursor(items[0]["cursor"]["S"]) if items else 0


def append_logs(db: Db, *, run: AgentRun, lines: list[tuple[LogStream, str]]) -> list[LogLine]:
    """Store log lines of a run, tagged with its agent's name; returns them."""
    if not lines:
        return []
    now = iso(utc_now())
    name = persona(run.role).name
    records = [
        LogLine(
            run_id=run.id,
            project_id=run.project_id,
            feature_id=run.feature_id,
            role=run.role,
            agent_name=name,
            cursor=cursor,
            timestamp=now,
            stream=stream,
            line=text[:MAX_LINE_CHARS],
        )
        for cursor, (stream, text) in zip(_next_cursors(db, run.id, len(lines)), lines, strict=True)
    ]
    table = db.table(AGENT_LOGS)
    for start in range(0, len(records), BATCH_SIZE):
        requests: dict[str, Any] = {
            table: [
                {"PutRequest": {"Item": to_item(r.model_dump(by_alias=True))}}
                for r in records[start : start + BATCH_SIZE]
            ]
        }
        for _ in range(MAX_UNPROCESSED_ROUNDS):
            with store_errors("store log lines"):
                requests = db.client.batch_write_item(RequestItems=requests).get(
                    "UnprocessedItems", {}
                )
            if not requests:
                break
        else:
            raise StoreUnavailableError("Could not store log lines: the store kept refusing them.")
    return records


def list_logs(
    db: Db, *, run_id: str, since: str | None = None, limit: int | None = None
) -> list[LogLine]:
    """A run's log lines after cursor ``since``, oldest first."""
    items = query_all(
        db,
        action="read the logs",
        TableName=db.table(AGENT_LOGS),
        KeyConditionExpression="runId = :r AND #c > :after",
        ExpressionAttributeNames={"#c": "cursor"},
        ExpressionAttributeValues={
            ":r": to_value(run_id),
            ":after": to_value(since or START_CURSOR),
        },
        ConsistentRead=True,
    )
    lines = []
    for item in items:
        lines.append(LogLine.model_validate(item))
        if limit is not None and len(lines) >= limit:
            break
    return lines


def list_project_logs(
    db: Db, *, project_id: str, since_timestamp: str | None = None, limit: int = 500
) -> list[LogLine]:
    """A project's most recent log lines across runs (``by_project`` GSI), oldest first."""
    kwargs: dict[str, Any] = {
        "TableName": db.table(AGENT_LOGS),
        "IndexName": "by_project",
        "KeyConditionExpression": "projectId = :p",
        "ExpressionAttributeValues": {":p": to_value(project_id)},
        "ScanIndexForward": False,
    }
    if since_timestamp is not None:
        kwargs["KeyConditionExpression"] += " AND #t > :since"
        kwargs["ExpressionAttributeNames"] = {"#t": "timestamp"}
        kwargs["ExpressionAttributeValues"][":since"] = to_value(since_timestamp)
    newest_first = []
    for item in query_all(db, action="read the project's logs", **kwargs):
        newest_first.append(LogLine.model_validate(item))
        if len(newest_first) >= limit:
            break
    return sorted(newest_first, key=lambda line: (line.timestamp, line.run_id, line.cursor))
