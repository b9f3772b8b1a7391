"""The inbox sensor's memory and decisions, without Dagster: what one tick sees and what it does next.

The sensor (inbox_sensor.py) gathers the facts of a tick: the files in the inbox, a run it started
that is still in flight, the sha256s the warehouse holds, the newest ping's report key and the newest
report materialized. `plan_inbox_tick` turns them into one decision and the cursor for the next tick.
Every rule of the sensor lives here, so each has a unit test with a hand-built cursor and scan: no
instance, no warehouse, no files.

Only `scan_inbox` touches the disk, and it reads a file's bytes only once the cursor says the file is
complete: hashing every file on every tick would read the whole inbox every 15 seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path

from storemon_pipeline.core.inputs import UnknownFileKind, file_sha256, peek_kind

# Requests of one file's ingest before the sensor gives up on it (the file stays in the inbox, and
# changing it or `storemon ingest` loads it): a file whose loads keep failing must not launch a run
# every tick forever.
MAX_INGEST_ATTEMPTS = 3
# The kind of a file whose header names no input kind. Its ingest is requested once, so that the run's
# files_recognised check shows the error in the UI; it is never requested again while it is unchanged.
UNKNOWN_KIND = "unknown"


# -- the cursor: what the sensor remembers between ticks (JSON in Dagster's cursor) ----------------


@dataclass(frozen=True)
class SeenFile:
    """A file whose ingest was requested, as it was then: unchanged, it is not requested again,
    unless its bytes never reached the warehouse (its run died), up to MAX_INGEST_ATTEMPTS times."""

    size: int
    mtime_ns: int
    sha256: str
    kind: str  # pings | business_hours | timezones | unknown
    attempts: int = 1


@dataclass(frozen=True)
class PendingFile:
    """A file as it was on the previous tick: the same size and mtime on this tick means complete."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class InboxCursor:
    """seen and pending hold only names still in the inbox, so the cursor stays as small as the inbox.

    last_report_key: the newest report key this sensor requested (or found already reported).
    report_due_after: the run_key of an ingest whose report has not been requested yet: a new hours or
        zones file changes the report even when the newest ping, and so the key, stays the same.
    """

    seen: Mapping[str, SeenFile] = field(default_factory=dict)
    pending: Mapping[str, PendingFile] = field(default_factory=dict)
    last_report_key: str | None = None
    report_due_after: str | None = None

    @classmethod
    def load(cls, text: str | None) -> InboxCursor:
        """Also reads the positional lists written before the entries were typed (`seen`: [size, mtime_ns,
        sha256, kind] plus attempts once retries came; `pending`: [size, mtime_ns]), so an upgrade keeps
        its state: no file is requested again and no report is requested twice."""
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            seen={name: _seen_file(entry) for name, entry in data.get("seen", {}).items()},
            pending={name: _pending_file(entry) for name, entry in data.get("pending", {}).items()},
            last_report_key=data.get("last_report_key"),
            report_due_after=data.get("report_due_after"),
        )

    def dump(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _seen_file(entry: list | dict) -> SeenFile:
    if isinstance(entry, list):
        size, mtime_ns, sha256, kind = entry[:4]
        return SeenFile(size, mtime_ns, sha256, kind, entry[4] if len(entry) > 4 else 1)
    return SeenFile(**entry)


def _pending_file(entry: list | dict) -> PendingFile:
    return PendingFile(*entry) if isinstance(entry, list) else PendingFile(**entry)


# -- the scan: what is in the inbox on this tick ---------------------------------------------------


class FileState(Enum):
    UNCHANGED = "unchanged"  # same size and mtime as when its ingest was requested
    GROWING = "growing"  # first sight, empty, or changed since the previous tick: look again next tick
    COMPLETE = "complete"  # same size and mtime on two ticks in a row: its bytes may be read


def file_state(cursor: InboxCursor, name: str, size: int, mtime_ns: int) -> FileState:
    seen = cursor.seen.get(name)
    if seen is not None and (seen.size, seen.mtime_ns) == (size, mtime_ns):
        return FileState.UNCHANGED
    if size == 0 or cursor.pending.get(name) != PendingFile(size, mtime_ns):
        return FileState.GROWING
    return FileState.COMPLETE


@dataclass(frozen=True)
class ScannedFile:
    """A CSV in the inbox on this tick. sha256, kind and problem are read for a COMPLETE file only."""

    name: str
    size: int
    mtime_ns: int
    sha256: str | None = None
    kind: str | None = None
    problem: str = ""  # why the kind is unknown


def inbox_candidates(inbox: Path) -> list[Path]:
    """CSV files directly in the inbox, by name. Hidden files and in-progress names (`*.tmp`,
    `*.partial`) are not `*.csv`: a writer that renames when done is never read half-written."""
    if not inbox.is_dir():
        return []
    return sorted(
        p for p in inbox.iterdir() if p.is_file() and p.suffix.lower() == ".csv" and not p.name.startswith(".")
    )


def scan_inbox(inbox: Path, cursor: InboxCursor) -> list[ScannedFile]:
    scanned = []
    for path in inbox_candidates(inbox):
        try:
            stat = path.stat()
        except FileNotFoundError:  # renamed or removed between listing and stat
            continue
        file = ScannedFile(path.name, stat.st_size, stat.st_mtime_ns)
        if file_state(cursor, file.name, file.size, file.mtime_ns) is FileState.COMPLETE:
            try:
                kind, problem = peek_kind(path), ""
            except UnknownFileKind as exc:
                kind, problem = UNKNOWN_KIND, str(exc)
            file = replace(file, sha256=file_sha256(path), kind=kind, problem=problem)
        scanned.append(file)
    return scanned


# -- the plan: one decision per tick ---------------------------------------------------------------


@dataclass(frozen=True)
class IngestFile:
    name: str
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    attempts: int  # this request included
    problem: str = ""


@dataclass(frozen=True)
class WaitForRun:
    """One step at a time: a report must not start before the ingest it follows has finished, and a
    new ingest must not change the pings under a report being computed."""

    run_id: str

    @property
    def reason(self) -> str:
        return f"waiting for run {self.run_id} to finish"


@dataclass(frozen=True)
class Ingest:
    files: tuple[IngestFile, ...]
    run_key: str


@dataclass(frozen=True)
class WaitForFiles:
    """Files are still arriving: their report comes after their ingest, not one before it."""

    names: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"waiting for {len(self.names)} file(s) to be complete: {', '.join(self.names[:5])}"


@dataclass(frozen=True)
class RequestReport:
    key: str
    after: str | None = None  # the ingest run_key a same-key report follows


@dataclass(frozen=True)
class Skip:
    reason: str


@dataclass(frozen=True)
class InboxPlan:
    action: WaitForRun | Ingest | WaitForFiles | RequestReport | Skip
    cursor: InboxCursor
    already_ingested: tuple[str, ...] = ()  # complete files whose bytes the warehouse holds: not requested


def ingest_run_key(files: Sequence[IngestFile]) -> str:
    """The same files at the same attempt give the same key (a repeated tick is a no-op for Dagster);
    a retry is a new attempt, so a new key."""
    identity = "\n".join(f"{f.name}:{f.size}:{f.sha256}:{f.attempts}" for f in files)
    return "ingest:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def plan_inbox_tick(
    cursor: InboxCursor,
    scanned: Sequence[ScannedFile],
    *,
    busy_run_id: str | None = None,
    loaded_sha256: Collection[str] = frozenset(),
    latest_key: str | None = None,
    newest_reported_key: str | None = None,
) -> InboxPlan:
    """The decision of one tick, in this order: wait for a busy run, ingest, wait for growing files,
    request the report, skip. While a run is busy the other facts are not needed (nor gathered).

    busy_run_id: a run this sensor started that is still queued or running.
    loaded_sha256: the files the warehouse holds; latest_key: the report key of its newest ping.
    newest_reported_key: the newest store_report partition materialized by anyone.
    """
    present = {f.name for f in scanned}
    seen = {name: entry for name, entry in cursor.seen.items() if name in present}
    pending = {name: entry for name, entry in cursor.pending.items() if name in present}
    complete: list[ScannedFile] = []
    growing: list[str] = []
    for file in scanned:
        state = file_state(cursor, file.name, file.size, file.mtime_ns)
        if state is FileState.GROWING:
            pending[file.name] = PendingFile(file.size, file.mtime_ns)
            growing.append(file.name)
            continue
        pending.pop(file.name, None)
        if state is FileState.UNCHANGED:
            continue
        if file.sha256 is None:
            raise ValueError(f"{file.name} is complete but its bytes were not read")
        previous = seen.get(file.name)
        if previous is not None and (previous.size, previous.sha256) == (file.size, file.sha256):
            seen[file.name] = replace(previous, mtime_ns=file.mtime_ns)  # touched, same bytes: nothing new
            continue
        complete.append(file)

    def next_cursor(**changes) -> InboxCursor:
        return replace(cursor, seen=seen, pending=pending, **changes)

    if busy_run_id is not None:
        # Files found complete now stay pending, not seen: they are taken on the next free tick.
        pending.update((f.name, PendingFile(f.size, f.mtime_ns)) for f in complete)
        return InboxPlan(WaitForRun(busy_run_id), next_cursor())

    # A file requested before whose bytes never reached the warehouse: its run died (killed, database
    # down after the retries). Asked again, a bounded number of times, each time under a new run_key.
    # (New bytes are a first attempt: the same bytes under the same name were caught as touched above.)
    changed = {f.name for f in complete}
    requested = [IngestFile(f.name, f.size, f.mtime_ns, f.sha256, f.kind, 1, f.problem) for f in complete]
    requested += [
        IngestFile(name, e.size, e.mtime_ns, e.sha256, e.kind, e.attempts + 1)
        for name, e in seen.items()
        if name not in changed
        and e.kind != UNKNOWN_KIND
        and e.sha256 not in loaded_sha256
        and e.attempts < MAX_INGEST_ATTEMPTS
    ]
    seen.update((f.name, SeenFile(f.size, f.mtime_ns, f.sha256, f.kind, f.attempts)) for f in requested)
    # The same bytes under a new name (a re-drop, a copy) were loaded once already: remembered, skipped.
    already_ingested = tuple(f.name for f in requested if f.sha256 in loaded_sha256)
    to_ingest = tuple(f for f in requested if f.sha256 not in loaded_sha256)
    if to_ingest:
        run_key = ingest_run_key(to_ingest)
        # A file of no known kind loads nothing: no report is due after it alone.
        due_after = run_key if any(f.kind != UNKNOWN_KIND for f in to_ingest) else cursor.report_due_after
        return InboxPlan(Ingest(to_ingest, run_key), next_cursor(report_due_after=due_after), already_ingested)
    if growing:
        return InboxPlan(WaitForFiles(tuple(growing)), next_cursor(), already_ingested)
    return _plan_report(next_cursor(), latest_key, newest_reported_key, already_ingested)


def _plan_report(
    cursor: InboxCursor, latest_key: str | None, newest_reported_key: str | None, already_ingested: tuple[str, ...]
) -> InboxPlan:
    """The report for the newest ping, once: a newer key than the last one requested, or the same key
    after an ingest that changed the report (report_due_after)."""
    last, due_after = cursor.last_report_key, cursor.report_due_after
    newer = latest_key is not None and (last is None or latest_key > last)
    if newer and not due_after and latest_key <= (newest_reported_key or ""):
        # Already reported by another launch (the schedule, the UI, the API): nothing to redo.
        last, newer = latest_key, False
    if latest_key is None or not (newer or due_after):
        reason = "no pings in the warehouse" if latest_key is None else f"report {last} already requested"
        return InboxPlan(Skip(reason), replace(cursor, last_report_key=last), already_ingested)
    action = RequestReport(latest_key, after=None if newer else due_after)
    next_cursor = replace(cursor, last_report_key=max(latest_key, last or latest_key), report_due_after=None)
    return InboxPlan(action, next_cursor, already_ingested)
