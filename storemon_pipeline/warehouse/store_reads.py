"""Reads of one store in one report partition, for the store page: a few hundred rows, not the fleet's.

A page is asked for one store at a time. Reading a partition's 10^5 segments (or the fleet's
schedules) to keep a few would make every page view cost a report run's reads, so segments,
schedules and the report row are read by the store's key through the tables' indexes. Pings
come from the store's bucket of ping_days (1/64 of the window the report itself reads) and are
filtered to the store's key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa

from storemon_pipeline.core.segments import STATUS_CODES
from storemon_pipeline.core.shards import bucket_indexes
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.ping_days import read_window


@dataclass(frozen=True)
class StorePartitionRows:
    """What a report run stored about one store for partition as_of_us, with what the page needs to refuse.

    report_row: the store's store_report row (None: the store is not in that report);
    report_exists: the partition has store_report rows at all;
    segments_stored: its status_segments are still there (a report_partitions row and, unless the
    fleet had none, segment rows): segments are pruned with old partitions, reports may stay.
    segments: start_us, end_us, status (name); pings: ts_us, active; schedules: the store's
    normalized_schedules rows (timezone, day_of_week, start_s, end_s).
    """

    report_row: dict | None
    report_exists: bool
    segments_stored: bool
    segments: pd.DataFrame
    pings: pd.DataFrame
    schedules: pd.DataFrame


_EMPTY_SEGMENTS = {"start_us": np.int64, "end_us": np.int64, "status": object}
_EMPTY_PINGS = {"ts_us": np.int64, "active": bool}
_EMPTY_SCHEDULES = {"timezone": object, "day_of_week": np.int64, "start_s": np.int64, "end_s": np.int64}


def _frame(rows: list, dtypes: dict) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})
    return pd.DataFrame([tuple(row) for row in rows], columns=list(dtypes)).astype(dtypes)


def report_as_ofs(conn: sa.Connection) -> list[int]:
    """The as-of of every partition with store_report rows, newest first."""
    report = tables.store_report
    query = sa.select(report.c.as_of_us).distinct().order_by(report.c.as_of_us.desc())
    return [int(value) for value in conn.execute(query).scalars()]


def read_store_partition(
    conn: sa.Connection, store_id: str, as_of_us: int, pings_start_us: int
) -> StorePartitionRows:
    """The store's rows of partition as_of_us, and its pings in [pings_start_us, as_of_us]."""
    report = tables.store_report
    row = conn.execute(
        sa.select(report).where(report.c.as_of_us == as_of_us, report.c.store_id == store_id)
    ).one_or_none()
    report_row = None if row is None else {k: v for k, v in row._mapping.items() if k != "as_of_us"}
    report_exists = row is not None or conn.execute(
        sa.select(sa.literal(1)).where(sa.exists().where(report.c.as_of_us == as_of_us))
    ).first() is not None

    partitions, segments = tables.report_partitions, tables.status_segments
    n_segments = conn.execute(
        sa.select(partitions.c.segments).where(partitions.c.as_of_us == as_of_us)
    ).scalar_one_or_none()
    segments_stored = n_segments is not None and (
        n_segments == 0
        or conn.execute(sa.select(sa.literal(1)).where(sa.exists().where(segments.c.as_of_us == as_of_us))).first()
        is not None
    )

    store_key = conn.execute(
        sa.select(tables.stores.c.store_key).where(tables.stores.c.store_id == store_id)
    ).scalar_one_or_none()
    if store_key is None or report_row is None:
        return StorePartitionRows(
            report_row, report_exists, segments_stored,
            _frame([], _EMPTY_SEGMENTS), _frame([], _EMPTY_PINGS), _frame([], _EMPTY_SCHEDULES),
        )

    segment_rows = conn.execute(
        sa.select(segments.c.start_us, segments.c.end_us, segments.c.status)
        .where(segments.c.as_of_us == as_of_us, segments.c.store_key == store_key)
        .order_by(segments.c.start_us)
    ).all()
    store_segments = _frame([(s, e, STATUS_CODES[code]) for s, e, code in segment_rows], _EMPTY_SEGMENTS)

    schedules = tables.normalized_schedules
    schedule_rows = conn.execute(
        sa.select(schedules.c.timezone, schedules.c.day_of_week, schedules.c.start_s, schedules.c.end_s)
        .where(schedules.c.store_key == store_key)
        .order_by(schedules.c.day_of_week, schedules.c.start_s, schedules.c.end_s)
    ).all()

    window = read_window(conn, pings_start_us, as_of_us, buckets=[int(bucket_indexes([store_id])[0])])
    mine = window.store_key == store_key
    pings = pd.DataFrame({"ts_us": window.ts_us[mine].astype(np.int64), "active": window.active[mine].astype(bool)})
    return StorePartitionRows(
        report_row, report_exists, segments_stored, store_segments, pings, _frame(schedule_rows, _EMPTY_SCHEDULES)
    )
