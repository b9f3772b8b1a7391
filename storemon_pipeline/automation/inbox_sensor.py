"""inbox_sensor: CSVs dropped into the inbox are ingested once each, then their report is requested.

The sensor works in two phases, and never parses or loads a file itself:

1. **Ingest.** A new CSV that is complete (same size and mtime on two ticks in a row; `*.tmp` /
   `*.partial` names are not CSVs until renamed) is hashed; a (name, size, sha256) not in the cursor
   yet is requested as an `ingest_job` run whose raw assets get exactly these paths. The warehouse
   refuses a sha256 it already holds, so even a lost cursor cannot load a file twice.
2. **Report.** On a later tick, once no run the sensor started is still queued or running, the
   newest ping *in the warehouse* gives the report key (rounded up to the second:
   docs/report-semantics.md#the-clock-and-the-as-of). If that key has not been requested yet, the
   sensor adds the dynamic partition and requests `report_from_warehouse_job` for it
   (run_key `report:<key>`).

Computing the key from the warehouse rather than from the dropped file is what makes it exact: the
same parser that rejects rows (future timestamps, bad statuses, dedup) has already run, so a stray
future row never moves the clock, and the key needs no second CSV reader in the sensor.
"""

# No `from __future__ import annotations`: Dagster inspects the sensor function's annotations.

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from dagster import DefaultSensorStatus, RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from storemon_pipeline.automation.run_requests import (
    newest_reported_key,
    raw_paths_run_config,
    report_run_request,
    runs_in_flight,
)
from storemon_pipeline.core.inputs import UnknownFileKind, file_sha256, peek_kind
from storemon_pipeline.jobs import ingest_job, report_from_warehouse_job
from storemon_pipeline.partitions import latest_report_partition_key, report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.runs import FILES_TAG, TRIGGER_TAG

INBOX_SENSOR_INTERVAL_S = 15
# Requests of one file's ingest before the sensor gives up on it (the file stays in the inbox, and
# changing it or `storemon ingest` loads it).
MAX_INGEST_ATTEMPTS = 3


@dataclass
class InboxCursor:
    """What the sensor remembers between ticks (JSON in Dagster's cursor).

    seen:    name -> [size, mtime_ns, sha256, kind, attempts] of every file already requested for ingest
             (kind "unknown" for a file of no known kind: never requested again while it stays unchanged;
             a known file whose bytes are still not in the warehouse is requested again, up to
             MAX_INGEST_ATTEMPTS times).
    pending: name -> [size, mtime_ns] seen on the previous tick, not yet known to be complete.
    last_report_key: the newest report key this sensor requested.
    report_due_after: the run_key of an ingest whose report has not been requested yet (a new hours or
             zones file changes the report even when the newest ping, and so the key, stays the same).
    """

    seen: dict[str, list] = field(default_factory=dict)
    pending: dict[str, list] = field(default_factory=dict)
    last_report_key: str | None = None
    report_due_after: str | None = None

    @classmethod
    def load(cls, text: str | None) -> "InboxCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            data.get("seen", {}), data.get("pending", {}), data.get("last_report_key"), data.get("report_due_after")
        )

    def dump(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


@dataclass
class InboxFile:
    path: Path
    size: int
    mtime_ns: int
    sha256: str
    kind: str  # pings | business_hours | timezones | unknown
    problem: str = ""


def inbox_candidates(inbox: Path) -> list[Path]:
    """CSV files directly in the inbox, by name; hidden and in-progress (*.tmp, *.partial) files excluded."""
    if not inbox.is_dir():
        return []
    return sorted(
        p
        for p in inbox.iterdir()
        if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith(".")
    )


def scan_inbox(inbox: Path, cursor: InboxCursor) -> tuple[list[InboxFile], list[str]]:
    """New complete files, and the names still being written. Updates `cursor.pending` in place."""
    complete: list[InboxFile] = []
    waiting: list[str] = []
    present = set()
    for path in inbox_candidates(inbox):
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed between listing and stat
            continue
        name, size, mtime_ns = path.name, stat.st_size, stat.st_mtime_ns
        present.add(name)
        seen = cursor.seen.get(name)
        if seen is not None and seen[0] == size and seen[1] == mtime_ns:
            cursor.pending.pop(name, None)
            continue  # unchanged since it was requested
        if size == 0 or cursor.pending.get(name) != [size, mtime_ns]:
            cursor.pending[name] = [size, mtime_ns]  # first sight, or still growing: look again next tick
            waiting.append(name)
            continue
        cursor.pending.pop(name, None)
        sha256 = file_sha256(path)
        if seen is not None and seen[0] == size and seen[2] == sha256:
            seen[1] = mtime_ns  # touched, same bytes: nothing new
            continue
        try:
            kind, problem = peek_kind(path), ""
        except UnknownFileKind as exc:
            kind, problem = "unknown", str(exc)
        complete.append(InboxFile(path, size, mtime_ns, sha256, kind, problem))
    # Files that left the inbox leave the cursor, so it stays as small as the inbox.
    for name in list(cursor.seen):
        if name not in present:
            del cursor.seen[name]
    for name in list(cursor.pending):
        if name not in present:
            del cursor.pending[name]
    return complete, waiting


def unloaded_files(inbox: Path, cursor: InboxCursor, loaded_sha256: set[str]) -> list[InboxFile]:
    """Files already requested whose content is still not in the warehouse, under the attempt limit."""
    retry = []
    for name, entry in cursor.seen.items():
        size, mtime_ns, sha256, kind = entry[:4]
        attempts = entry[4] if len(entry) > 4 else 1
        if kind == "unknown" or sha256 in loaded_sha256 or attempts >= MAX_INGEST_ATTEMPTS:
            continue
        retry.append(InboxFile(inbox / name, size, mtime_ns, sha256, kind))
    return retry


def ingest_run_request(files: list[InboxFile], cursor: InboxCursor | None = None) -> RunRequest:
    def attempt(f: InboxFile) -> int:
        entry = cursor.seen.get(f.path.name, []) if cursor else []
        return entry[4] if len(entry) > 4 else 1

    identity = "\n".join(f"{f.path.name}:{f.size}:{f.sha256}:{attempt(f)}" for f in files)
    run_key = "ingest:" + hashlib.sha256(identity.encode()).hexdigest()[:32]
    names = ", ".join(f.path.name for f in files)
    return RunRequest(
        run_key=run_key,
        job_name=ingest_job.name,
        run_config=raw_paths_run_config([str(f.path) for f in files]),
        tags={TRIGGER_TAG: "inbox_sensor", FILES_TAG: names[:200]},
    )


@sensor(
    name="inbox_sensor",
    jobs=[ingest_job, report_from_warehouse_job],
    minimum_interval_seconds=INBOX_SENSOR_INTERVAL_S,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Watches STOREMON_INBOX for CSVs of any kind: ingests each complete new file once (ingest_job), "
        "then adds the report partition for the newest ping and requests its report (report_from_warehouse_job)."
    ),
)
def inbox_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource, files: StoremonFiles):
    cursor = InboxCursor.load(context.cursor)
    new_files, waiting = scan_inbox(Path(files.inbox_dir), cursor)
    busy = runs_in_flight(context.instance, {TRIGGER_TAG: "inbox_sensor"})

    if busy:
        # One step at a time: a report must not start before the ingest it follows has finished,
        # and a new ingest must not change the pings under a report being computed. Files found
        # now stay pending (not seen) and are taken on the next free tick.
        for f in new_files:
            cursor.pending[f.path.name] = [f.size, f.mtime_ns]
        return SensorResult(
            skip_reason=SkipReason(f"waiting for run {busy[0].run_id} to finish"), cursor=cursor.dump()
        )

    loaded = set(warehouse.open().ingested_files()["sha256"])
    # A file requested before whose bytes never reached the warehouse: its run died (killed, database
    # down after the retries). Ask again, a bounded number of times, each with a fresh run_key.
    changed = {f.path.name for f in new_files}
    new_files += [f for f in unloaded_files(Path(files.inbox_dir), cursor, loaded) if f.path.name not in changed]
    if new_files:
        # The same bytes under a new name (a re-drop, a copy) were loaded once already: remember, skip.
        for f in new_files:
            previous = cursor.seen.get(f.path.name)
            retried = previous is not None and previous[2] == f.sha256
            attempts = (previous[4] if len(previous) > 4 else 1) + 1 if retried else 1
            cursor.seen[f.path.name] = [f.size, f.mtime_ns, f.sha256, f.kind, attempts]
        repeats = [f for f in new_files if f.sha256 in loaded]
        new_files = [f for f in new_files if f.sha256 not in loaded]
        if repeats:
            context.log.info("already ingested, skipped: " + ", ".join(f.path.name for f in repeats))
    if new_files:
        for f in new_files:
            if f.problem:
                context.log.error(f"not an input file (never retried unless it changes): {f.problem}")
        context.log.info("ingest requested: " + ", ".join(f"{f.path.name} ({f.kind})" for f in new_files))
        request = ingest_run_request(new_files, cursor)
        if any(f.kind != "unknown" for f in new_files):
            cursor.report_due_after = request.run_key
        return SensorResult(run_requests=[request], cursor=cursor.dump())

    if waiting:
        # Files are still arriving: their report comes after their ingest, not one before it.
        return SensorResult(
            skip_reason=SkipReason(f"waiting for {len(waiting)} file(s) to be complete: {', '.join(waiting[:5])}"),
            cursor=cursor.dump(),
        )
    key = latest_report_partition_key(warehouse.open())
    newer = key is not None and (cursor.last_report_key is None or key > cursor.last_report_key)
    if newer and not cursor.report_due_after and key <= (newest_reported_key(context.instance) or ""):
        # Already reported by another launch (the schedule, the UI, the API): nothing to redo.
        cursor.last_report_key, newer = key, False
    if key is None or not (newer or cursor.report_due_after):
        reason = "no pings in the warehouse" if key is None else f"report {cursor.last_report_key} already requested"
        return SensorResult(skip_reason=SkipReason(reason), cursor=cursor.dump())
    after = None if newer else cursor.report_due_after
    cursor.last_report_key = max(key, cursor.last_report_key or key)
    cursor.report_due_after = None
    return SensorResult(
        run_requests=[report_run_request(key, "inbox_sensor", after)],
        dynamic_partitions_requests=[report_partitions.build_add_request([key])],
        cursor=cursor.dump(),
    )
