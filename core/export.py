"""Conversation history as a pandas DataFrame, from the API — and a CLI for it.

One row per message, status and error transitions included, for a project, a
feature or one run. Every run's thread is read in pages (``limit`` +
``since=<last cursor>``), so a long history never needs one huge response, and a
``progress`` callback reports each page (the page's progress bar, the CLI's
terminal line).

    python -m core.export --project ID [--feature ID] [--run ID] \\
        --format csv|parquet|json --out FILE

The CLI reads ``OMAKASE_API_URL`` and ``OMAKASE_API_TOKEN`` like the dashboard.
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from core.agents import persona
from core.client import DEFAULT_PAGE_SIZE, ApiClient, ApiError
from core.models import AgentMessage, AgentRun

Format = Literal["csv", "parquet", "json"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "json")
MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}

#: The columns of an export, in order (camelCase like the API).
COLUMNS: tuple[str, ...] = (
    "projectId",
    "featureId",
    "featureName",
    "runId",
    "step",
    "role",
    "agentName",
    "cursor",
    "timestamp",
    "sender",
    "type",
    "content",
    "messageId",
    "receiptState",
    "receiptStep",
    "receiptRole",
    "receiptRunId",
    "receiptDeliveredAt",
    "receiptReason",
    "receiptFor",
)


@dataclass(frozen=True, slots=True)
class ExportProgress:
    runs_done: int
    runs_total: int
    messages: int
    run_id: str | None


ProgressFn = Callable[[ExportProgress], None]


def message_row(
    message: AgentMessage, run: AgentRun | None, feature_name: str
) -> dict[str, object]:
    receipt = message.receipt
    role = message.role or (run.role if run else None)
    return {
        "projectId": message.project_id,
        "featureId": message.feature_id,
        "featureName": feature_name,
        "runId": message.run_id,
        "step": run.step if run else None,
        "role": role.value if role else None,
        "agentName": persona(role).name if role else None,
        "cursor": message.cursor,
        "timestamp": message.timestamp,
        "sender": message.sender.value,
        "type": message.type.value,
        "content": message.content,
        "messageId": message.id,
        "receiptState": receipt.state.value if receipt else None,
        "receiptStep": receipt.step if receipt else None,
        "receiptRole": receipt.role.value if receipt and receipt.role else None,
        "receiptRunId": receipt.run_id if receipt else None,
        "receiptDeliveredAt": receipt.delivered_at if receipt else None,
        "receiptReason": receipt.reason if receipt else None,
        "receiptFor": message.receipt_for,
    }


def to_frame(rows: Iterable[dict[str, object]]) -> pd.DataFrame:
    """Rows → a typed DataFrame (UTC timestamps, nullable ints), oldest first."""
    frame = pd.DataFrame(list(rows), columns=list(COLUMNS))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame["receiptDeliveredAt"] = pd.to_datetime(
        frame["receiptDeliveredAt"], utc=True, format="ISO8601"
    )
    for column in ("step", "receiptStep"):
        frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["timestamp", "runId", "cursor"], kind="stable").reset_index(drop=True)


def export_messages(
    client: ApiClient,
    *,
    project_id: str,
    feature_id: str | None = None,
    run_id: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Every message of the project (or of one feature, or one run) as a DataFrame."""
    if run_id is not None:
        runs = [client.get_run(run_id)]
        if runs[0].project_id != project_id:
            raise ApiError(404, f"Run {run_id} does not belong to project {project_id}.")
    else:
        runs = [
            r
            for r in client.list_runs(project_id)
            if feature_id is None or r.feature_id == feature_id
        ]
    runs.sort(key=lambda r: r.started_at)
    names = {f.id: f.name for f in client.list_features(project_id)}
    rows: list[dict[str, object]] = []
    for done, run in enumerate(runs):
        feature_name = names.get(run.feature_id, "")
        for page in client.iter_messages(run.id, page_size=page_size):
            rows.extend(message_row(m, run, feature_name) for m in page)
            if progress is not None:
                progress(ExportProgress(done, len(runs), len(rows), run.id))
        if progress is not None:
            progress(ExportProgress(done + 1, len(runs), len(rows), run.id))
    return to_frame(rows)


def to_bytes(frame: pd.DataFrame, fmt: Format) -> bytes:
    """The export file's bytes: CSV (UTF-8), Parquet (pyarrow) or JSON (records)."""
    if fmt == "csv":
        return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ").encode("utf-8")
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow")
        return buffer.getvalue()
    if fmt == "json":
        return frame.to_json(orient="records", date_format="iso", date_unit="us").encode("utf-8")
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")


def _terminal_progress(update: ExportProgress) -> None:
    total = max(update.runs_total, 1)
    width = 30
    filled = int(width * update.runs_done / total)
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] runs {update.runs_done}/{update.runs_total}"
        f" · {update.messages:,} messages"
    )
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.export",
        description="Export Omakase conversation history (one row per message) from the API.",
    )
    parser.add_argument("--project", required=True, help="project id")
    parser.add_argument("--feature", help="only this feature's runs")
    parser.add_argument("--run", help="only this run")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--out", required=True, type=Path, help="output file")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    args = parser.parse_args(argv)
    with ApiClient.from_env() as client:
        try:
            frame = export_messages(
                client,
                project_id=args.project,
                feature_id=args.feature,
                run_id=args.run,
                page_size=args.page_size,
                progress=_terminal_progress,
            )
        except ApiError as error:
            sys.stderr.write(f"\nerror: {error.detail}\n")
            return 1
    args.out.write_bytes(to_bytes(frame, args.format))
    sys.stderr.write(f"\nwrote {len(frame):,} messages to {args.out} ({args.format})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
