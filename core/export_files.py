"""The export's file formats: a DataFrame to CSV, Parquet or JSON bytes.

Separate from ``core.export`` (which reads the history from the API) because the
bytes have their own concerns: spreadsheet formula neutralising for CSV, UTC
timestamps for Parquet, and speed on 100,000 rows (Arrow writers, not pandas').
"""

from __future__ import annotations

import io
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

Format = Literal["csv", "parquet", "json"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "json")
MEDIA_TYPES: dict[Format, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "json": "application/json",
}

TIMESTAMP_COLUMNS = ("timestamp", "receiptDeliveredAt")
#: A CSV cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
FORMULA_START = r"^[=+\-@\t\r]"
#: Prefixed to such a cell: the spreadsheet shows the text instead of running it.
FORMULA_GUARD = "'"


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Every text cell that a spreadsheet would run as a formula, prefixed with ``'``.

    Why: chat messages are typed by people and agents; a CSV export opened in a
    spreadsheet would run "=HYPERLINK(…)" or "=cmd|…" as a formula. Vectorised
    (Arrow compute) so 100,000 rows stay fast. Parquet and JSON are left exact.
    """
    for at, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(at)
        risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
        guard, nothing = pa.scalar(FORMULA_GUARD, field.type), pa.scalar("", field.type)
        guarded = pc.binary_join_element_wise(guard, column, nothing)
        table = table.set_column(at, field.name, pc.if_else(risky, guarded, column))
    return table


def to_bytes(frame: pd.DataFrame, fmt: Format) -> bytes:
    """The export file's bytes: CSV (UTF-8), Parquet (UTC timestamps) or JSON (records).

    Written through Arrow (pyarrow's CSV writer, Parquet writer), which is many
    times faster than pandas' own writers on 100,000 rows of text.
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)  # zero-copy for Arrow strings
    if fmt == "csv":
        sink = io.BytesIO()
        pa_csv.write_csv(neutralise_formulas(table), sink)
        return sink.getvalue()
    if fmt == "parquet":
        for name in TIMESTAMP_COLUMNS:
            if name in table.column_names:
                at = table.column_names.index(name)
                parsed = pc.strptime(
                    table[name], format="%Y-%m-%dT%H:%M:%S.%fZ", unit="us", error_is_null=True
                )
                table = table.set_column(at, name, parsed.cast(pa.timestamp("us", tz="UTC")))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
    if fmt == "json":
        text = frame.to_json(orient="records", force_ascii=False, date_format="iso")
        return (text or "[]").encode("utf-8")
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
