"""A report partition's status_segments written by shards, and recorded as built once all are in.

Each function runs in the caller's transaction, which holds the partition's lock
(warehouse._lock_report_partition): one writer of the partition at a time, whichever shard.

A build is: `begin_build` (the partition is no longer built, so store_report refuses it, and its
segments are deleted), one `replace_shard_segments` per shard, each inserting its own stores'
segments (shards are disjoint, so the unique index on (as_of_us, store_key, start_us) never
sees two shards' rows collide; a shard written again first deletes its stores' rows), then
`record_build`, which checks that every shard of the build is there, from one schedules
build, and only then records the partition in report_partitions.

Two builds of one partition at once (two runs, each with its shards on other workers): the
one begun last owns the partition (`segment_builds`); every later step of the other fails with
BuildSuperseded before it writes, so no partition is recorded from two builds' shards.
"""

from __future__ import annotations

import json
import time

import numpy as np
import sqlalchemy as sa

from storemon_pipeline.core.shards import Shard
from storemon_pipeline.warehouse import tables
from storemon_pipeline.warehouse.bulk import EncodedFrame, bulk_insert

# Store keys per DELETE ... IN (...): below SQLite's bound-parameter limit.
_KEYS_PER_DELETE = 500


class ShardsMissing(RuntimeError):
    """A partition's build lacks shards, or its shards came from different schedules builds."""


class BuildSuperseded(RuntimeError):
    """Another build of the partition began after this one: it, not this one, records the partition."""


def forget_build(conn: sa.Connection, as_of_us: int) -> None:
    """The partition is being rebuilt (or pruned): no longer recorded as built, no shard of it written."""
    for table in (tables.report_partitions, tables.segment_shards, tables.segment_builds):
        conn.execute(sa.delete(table).where(table.c.as_of_us == int(as_of_us)))


def begin_build(conn: sa.Connection, as_of_us: int, build_id: str, shard_count: int) -> None:
    """`build_id` now owns the partition: forgotten as built, its segments deleted, its shards to
    be written again."""
    forget_build(conn, as_of_us)
    # Every segment of the partition at once, by the index's leading column: a shard then only
    # inserts. (Deleting each shard's stores by key lists cost 0.9 s a shard at 140,000 stores:
    # PostgreSQL filters the partition's rows for every list.)
    segments = tables.status_segments
    conn.execute(sa.delete(segments).where(segments.c.as_of_us == int(as_of_us)))
    conn.execute(sa.insert(tables.segment_builds).values(
        as_of_us=int(as_of_us), build_id=build_id, shard_count=int(shard_count), begun_at_us=time.time_ns() // 1000
    ))


def check_build(conn: sa.Connection, as_of_us: int, build_id: str) -> None:
    """BuildSuperseded unless `build_id` is the partition's build begun last."""
    builds = tables.segment_builds
    current = conn.execute(
        sa.select(builds.c.build_id).where(builds.c.as_of_us == int(as_of_us))
    ).scalar_one_or_none()
    if current != build_id:
        now = "no build (pruned or built whole since)" if current is None else f"build {current}"
        raise BuildSuperseded(f"the partition's segments are now {now}, begun after this build ({build_id}) "
                              "began: this build's shards are void")


def replace_shard_segments(
    conn: sa.Connection,
    as_of_us: int,
    shard: Shard,
    shard_keys: np.ndarray,
    segments: EncodedFrame,
    *,
    schedules_version: str,
    summary: dict,
) -> None:
    """The shard's stores' segments of the partition (`shard_keys`, every key of the shard's stores)
    replaced by `segments`, and the shard recorded as written; begin_build first, in this
    transaction or before (with one shard, write_status_segments does both in one)."""
    status_segments = tables.status_segments
    of_partition = status_segments.c.as_of_us == int(as_of_us)
    if shard.index in shard_summaries(conn, as_of_us, shard.count):
        # Written before in this build (its step ran again, e.g. re-executed after its worker died
        # between commit and success); otherwise begin_build left none of the shard's rows.
        keys = shard_keys.tolist()
        for start in range(0, len(keys), _KEYS_PER_DELETE):
            chunk = keys[start : start + _KEYS_PER_DELETE]
            conn.execute(sa.delete(status_segments).where(of_partition, status_segments.c.store_key.in_(chunk)))
    bulk_insert(conn, segments.with_constant("as_of_us", int(as_of_us)))
    shards = tables.segment_shards
    this_shard = (shards.c.as_of_us == int(as_of_us), shards.c.shard_count == shard.count,
                  shards.c.shard_index == shard.index)
    conn.execute(sa.delete(shards).where(*this_shard))
    conn.execute(
        sa.insert(shards).values(
            as_of_us=int(as_of_us),
            shard_count=shard.count,
            shard_index=shard.index,
            schedules_version=schedules_version,
            summary_json=json.dumps(summary),
            written_at_us=time.time_ns() // 1000,
        )
    )


def shard_summaries(conn: sa.Connection, as_of_us: int, shard_count: int) -> dict[int, tuple[str, dict]]:
    """shard index -> (schedules version, summary) of the shards of the build written so far."""
    shards = tables.segment_shards
    rows = conn.execute(
        sa.select(shards.c.shard_index, shards.c.schedules_version, shards.c.summary_json).where(
            shards.c.as_of_us == int(as_of_us), shards.c.shard_count == int(shard_count)
        )
    ).all()
    return {row.shard_index: (row.schedules_version, json.loads(row.summary_json)) for row in rows}


def record_build(conn: sa.Connection, as_of_us: int, shard_count: int) -> list[dict]:
    """Record the partition as built once all `shard_count` shards are written from one schedules
    build; ShardsMissing otherwise. Returns the shards' summaries, by shard index."""
    written = shard_summaries(conn, as_of_us, shard_count)
    missing = sorted(set(range(shard_count)) - set(written))
    if missing:
        names = ", ".join(str(Shard(index, shard_count)) for index in missing[:3])
        raise ShardsMissing(f"{len(missing)} of {shard_count} shards were not written ({names}{', ...' if len(missing) > 3 else ''})")
    versions = sorted({version for version, _ in written.values()})
    if len(versions) != 1:
        raise ShardsMissing(f"the shards were built from {len(versions)} different schedules builds ({', '.join(versions)})")
    summaries = [written[index][1] for index in range(shard_count)]
    partitions = tables.report_partitions
    conn.execute(sa.delete(partitions).where(partitions.c.as_of_us == int(as_of_us)))
    conn.execute(
        sa.insert(partitions).values(
            as_of_us=int(as_of_us),
            schedules_version=versions[0],
            segments=sum(int(summary["segments"]) for summary in summaries),
            segments_written_at_us=time.time_ns() // 1000,
        )
    )
    return summaries
