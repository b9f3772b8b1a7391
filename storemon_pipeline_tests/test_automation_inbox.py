"""The inbox sensor's decisions without Dagster: hand-built cursors and scans into `plan_inbox_tick`.

test_automation.py runs the same sensor against a real instance and warehouse; here each rule is one
tick (or a few) of the pure planner, so a failure names the rule rather than a run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from storemon_pipeline.automation import inbox
from storemon_pipeline.automation.inbox import (
    MAX_INGEST_ATTEMPTS,
    UNKNOWN_KIND,
    Ingest,
    InboxCursor,
    PendingFile,
    RequestReport,
    ScannedFile,
    SeenFile,
    Skip,
    WaitForFiles,
    WaitForRun,
    ingest_run_key,
    plan_inbox_tick,
    scan_inbox,
)

SHA_A = "a" * 64
SHA_B = "b" * 64
KEY_9 = "2023-01-25T09:05:00Z"
KEY_11 = "2023-01-25T11:00:00Z"


def scanned(name: str, size: int = 100, mtime_ns: int = 1, sha256: str = SHA_A, kind: str = "pings") -> ScannedFile:
    """A file as the scan gives it; the planner reads sha256 and kind only once the file is complete."""
    return ScannedFile(name, size, mtime_ns, sha256, kind)


def requested(name: str, size: int = 100, mtime_ns: int = 1, sha256: str = SHA_A, kind: str = "pings", attempts=1):
    """A cursor that requested this file's ingest once already."""
    return InboxCursor(seen={name: SeenFile(size, mtime_ns, sha256, kind, attempts)})


# -- the cursor -------------------------------------------------------------------------------------

# Written by the sensor before the cursor was typed (json.dumps of positional lists, keys sorted):
# a.csv on its second attempt, hours.csv from before attempts were counted, b.csv seen once.
OLD_CURSOR = (
    '{"last_report_key": "2023-01-25T09:05:00Z", '
    '"pending": {"b.csv": [120, 1674637500000000000]}, '
    '"report_due_after": "ingest:0123456789abcdef0123456789abcdef", '
    f'"seen": {{"a.csv": [100, 1674637200000000000, "{SHA_A}", "pings", 2], '
    f'"hours.csv": [60, 1674637100000000000, "{SHA_B}", "business_hours"]}}}}'
)


def test_a_cursor_of_positional_lists_loads_into_the_same_state():
    assert InboxCursor.load(OLD_CURSOR) == InboxCursor(
        seen={
            "a.csv": SeenFile(100, 1674637200000000000, SHA_A, "pings", attempts=2),
            "hours.csv": SeenFile(60, 1674637100000000000, SHA_B, "business_hours", attempts=1),
        },
        pending={"b.csv": PendingFile(120, 1674637500000000000)},
        last_report_key=KEY_9,
        report_due_after="ingest:0123456789abcdef0123456789abcdef",
    )


def test_the_cursor_is_written_with_named_fields_and_reads_back():
    cursor = InboxCursor.load(OLD_CURSOR)
    text = cursor.dump()
    assert json.loads(text)["seen"]["a.csv"] == {
        "size": 100, "mtime_ns": 1674637200000000000, "sha256": SHA_A, "kind": "pings", "attempts": 2
    }
    assert json.loads(text)["pending"]["b.csv"] == {"size": 120, "mtime_ns": 1674637500000000000}
    assert InboxCursor.load(text) == cursor
    assert InboxCursor.load(None) == InboxCursor.load("") == InboxCursor()


def test_an_old_cursor_decides_like_it_did():
    # a.csv unchanged and loaded, hours.csv unchanged and loaded, b.csv stable since the last tick.
    files = [scanned("a.csv", 100, 1674637200000000000), scanned("b.csv", 120, 1674637500000000000, SHA_B)]
    plan = plan_inbox_tick(InboxCursor.load(OLD_CURSOR), files, loaded_sha256={SHA_A})
    assert isinstance(plan.action, Ingest) and [f.name for f in plan.action.files] == ["b.csv"]
    assert set(plan.cursor.seen) == {"a.csv", "b.csv"}  # hours.csv left the inbox, so the cursor


# -- ingest ---------------------------------------------------------------------------------------


def test_a_file_seen_once_waits_then_is_ingested_once_stable():
    first = plan_inbox_tick(InboxCursor(), [scanned("a.csv")], latest_key=KEY_9)
    assert first.action == WaitForFiles(("a.csv",))
    assert first.action.reason == "waiting for 1 file(s) to be complete: a.csv"
    assert first.cursor.pending == {"a.csv": PendingFile(100, 1)} and first.cursor.seen == {}

    second = plan_inbox_tick(first.cursor, [scanned("a.csv")], latest_key=KEY_9)
    files = (inbox.IngestFile("a.csv", 100, 1, SHA_A, "pings", attempts=1),)
    assert second.action == Ingest(files, ingest_run_key(files))
    assert second.action.run_key.startswith("ingest:") and len(second.action.run_key) == len("ingest:") + 32
    assert second.cursor.seen == {"a.csv": SeenFile(100, 1, SHA_A, "pings", 1)}
    assert second.cursor.pending == {}
    assert second.cursor.report_due_after == second.action.run_key

    # Its run loaded it: nothing more to ingest, the report follows.
    third = plan_inbox_tick(second.cursor, [scanned("a.csv")], loaded_sha256={SHA_A}, latest_key=KEY_9)
    assert third.action == RequestReport(KEY_9, after=None)


def test_a_growing_file_waits_until_size_and_mtime_hold_for_a_tick():
    cursor = InboxCursor()
    for size in (40, 80, 120):
        plan = plan_inbox_tick(cursor, [scanned("a.csv", size, mtime_ns=size)])
        assert plan.action == WaitForFiles(("a.csv",))
        cursor = plan.cursor
    assert isinstance(plan_inbox_tick(cursor, [scanned("a.csv", 120, mtime_ns=120)]).action, Ingest)


def test_an_empty_file_is_never_complete():
    cursor = InboxCursor(pending={"a.csv": PendingFile(0, 1)})
    assert plan_inbox_tick(cursor, [scanned("a.csv", 0)]).action == WaitForFiles(("a.csv",))


def test_a_touched_file_with_the_same_bytes_is_not_ingested_again():
    cursor = requested("a.csv", mtime_ns=1)
    touched = [scanned("a.csv", mtime_ns=2)]
    first = plan_inbox_tick(cursor, touched, loaded_sha256={SHA_A}, latest_key=KEY_9)
    assert first.action == WaitForFiles(("a.csv",))  # new mtime: looked at again next tick
    second = plan_inbox_tick(first.cursor, touched, loaded_sha256={SHA_A})
    assert second.action == Skip("no pings in the warehouse")
    assert second.cursor.seen == {"a.csv": SeenFile(100, 2, SHA_A, "pings", 1)}  # the new mtime, remembered
    assert second.cursor.pending == {}


def test_new_bytes_under_a_seen_name_are_a_new_file():
    cursor = InboxCursor(seen={"a.csv": SeenFile(100, 1, SHA_A, "pings", 2)}, pending={"a.csv": PendingFile(150, 2)})
    plan = plan_inbox_tick(cursor, [scanned("a.csv", 150, 2, SHA_B)], loaded_sha256={SHA_A})
    assert plan.action.files == (inbox.IngestFile("a.csv", 150, 2, SHA_B, "pings", attempts=1),)


def test_a_re_drop_under_a_new_name_is_remembered_not_ingested():
    cursor = InboxCursor(seen={"a.csv": SeenFile(100, 1, SHA_A, "pings")}, pending={"copy.csv": PendingFile(100, 5)})
    files = [scanned("a.csv"), scanned("copy.csv", mtime_ns=5)]
    plan = plan_inbox_tick(cursor, files, loaded_sha256={SHA_A}, latest_key=KEY_9)
    assert plan.already_ingested == ("copy.csv",)
    assert plan.action == RequestReport(KEY_9)  # no ingest: on to the report
    assert plan.cursor.seen["copy.csv"] == SeenFile(100, 5, SHA_A, "pings", 1)
    assert plan.cursor.report_due_after is None
    # And not looked at again.
    again = plan_inbox_tick(plan.cursor, files, loaded_sha256={SHA_A}, latest_key=KEY_9)
    assert again.already_ingested == () and again.action == Skip(f"report {KEY_9} already requested")


def test_a_file_whose_ingest_run_died_is_requested_again_up_to_the_limit():
    cursor = requested("a.csv")
    run_keys = []
    for attempt in range(2, MAX_INGEST_ATTEMPTS + 1):
        plan = plan_inbox_tick(cursor, [scanned("a.csv")], loaded_sha256=set())
        assert plan.action.files == (inbox.IngestFile("a.csv", 100, 1, SHA_A, "pings", attempts=attempt),)
        assert plan.cursor.seen["a.csv"].attempts == attempt
        run_keys.append(plan.action.run_key)
        cursor = plan.cursor
    assert len(set(run_keys)) == len(run_keys) == MAX_INGEST_ATTEMPTS - 1  # each attempt a new run_key
    assert plan_inbox_tick(cursor, [scanned("a.csv")], loaded_sha256=set()).action == Skip("no pings in the warehouse")


def test_a_retry_travels_with_a_new_file_in_one_run():
    cursor = InboxCursor(seen={"a.csv": SeenFile(100, 1, SHA_A, "pings")}, pending={"b.csv": PendingFile(7, 7)})
    plan = plan_inbox_tick(cursor, [scanned("a.csv"), scanned("b.csv", 7, 7, SHA_B)], loaded_sha256=set())
    assert [(f.name, f.attempts) for f in plan.action.files] == [("b.csv", 1), ("a.csv", 2)]


def test_a_file_of_no_known_kind_is_requested_once_and_due_no_report():
    cursor = InboxCursor(pending={"orders.csv": PendingFile(20, 1)})
    junk = ScannedFile("orders.csv", 20, 1, SHA_B, UNKNOWN_KIND, "orders.csv: matches no input kind")
    plan = plan_inbox_tick(cursor, [junk])
    assert plan.action.files[0].problem == "orders.csv: matches no input kind"
    assert plan.cursor.report_due_after is None
    # Its run loads nothing, so its bytes never reach the warehouse: still never retried.
    assert plan_inbox_tick(plan.cursor, [junk]).action == Skip("no pings in the warehouse")


# -- waiting --------------------------------------------------------------------------------------


def test_a_busy_run_holds_everything_and_complete_files_stay_pending():
    cursor = InboxCursor(pending={"a.csv": PendingFile(100, 1)})
    plan = plan_inbox_tick(cursor, [scanned("a.csv"), scanned("b.csv")], busy_run_id="run-1")
    assert plan.action == WaitForRun("run-1") and plan.action.reason == "waiting for run run-1 to finish"
    assert plan.cursor.seen == {}  # still to do once the run is over
    assert plan.cursor.pending == {"a.csv": PendingFile(100, 1), "b.csv": PendingFile(100, 1)}
    # The next free tick takes a.csv (and b.csv, stable since).
    assert [f.name for f in plan_inbox_tick(plan.cursor, [scanned("a.csv"), scanned("b.csv")]).action.files] == [
        "a.csv",
        "b.csv",
    ]


def test_a_busy_run_also_holds_a_retry_and_the_report():
    cursor = InboxCursor(seen={"a.csv": SeenFile(100, 1, SHA_A, "pings")}, report_due_after="ingest:x")
    plan = plan_inbox_tick(cursor, [scanned("a.csv")], busy_run_id="run-1", latest_key=KEY_9)
    assert plan.action == WaitForRun("run-1") and plan.cursor == cursor


def test_the_report_waits_for_files_still_arriving():
    cursor = InboxCursor(seen={"a.csv": SeenFile(100, 1, SHA_A, "pings")})
    files = [scanned("a.csv"), scanned("more.csv", 10, 9, SHA_B)]
    plan = plan_inbox_tick(cursor, files, loaded_sha256={SHA_A}, latest_key=KEY_9)
    assert plan.action == WaitForFiles(("more.csv",))
    assert plan.cursor.last_report_key is None


def test_files_that_left_the_inbox_leave_the_cursor():
    cursor = InboxCursor(seen={"gone.csv": SeenFile(1, 1, SHA_A, "pings")}, pending={"went.csv": PendingFile(1, 1)})
    assert plan_inbox_tick(cursor, []).cursor == InboxCursor()


# -- the report -----------------------------------------------------------------------------------


def test_a_new_report_key_is_requested_once():
    plan = plan_inbox_tick(InboxCursor(last_report_key=KEY_9), [], latest_key=KEY_11)
    assert plan.action == RequestReport(KEY_11, after=None)
    assert plan.cursor.last_report_key == KEY_11
    assert plan_inbox_tick(plan.cursor, [], latest_key=KEY_11).action == Skip(f"report {KEY_11} already requested")


def test_the_same_key_is_reported_again_after_a_new_hours_file():
    cursor = InboxCursor(last_report_key=KEY_9, report_due_after="ingest:hours")
    plan = plan_inbox_tick(cursor, [], latest_key=KEY_9, newest_reported_key=KEY_9)
    assert plan.action == RequestReport(KEY_9, after="ingest:hours")
    assert plan.cursor == InboxCursor(last_report_key=KEY_9)


def test_a_newer_key_needs_no_after():
    cursor = InboxCursor(last_report_key=KEY_9, report_due_after="ingest:pings")
    plan = plan_inbox_tick(cursor, [], latest_key=KEY_11)
    assert plan.action == RequestReport(KEY_11, after=None) and plan.cursor.report_due_after is None


def test_a_key_already_reported_by_another_launch_is_left_alone():
    # A fresh cursor (the sensor's first tick) and the schedule or the API already made that report.
    plan = plan_inbox_tick(InboxCursor(), [], latest_key=KEY_9, newest_reported_key=KEY_11)
    assert plan.action == Skip(f"report {KEY_9} already requested")
    assert plan.cursor.last_report_key == KEY_9


def test_a_due_report_waits_for_pings():
    cursor = InboxCursor(report_due_after="ingest:hours")
    plan = plan_inbox_tick(cursor, [], latest_key=None)
    assert plan.action == Skip("no pings in the warehouse") and plan.cursor == cursor


# -- the scan -------------------------------------------------------------------------------------


def test_the_scan_reads_a_file_only_once_it_is_complete(tmp_path):
    (tmp_path / "pings.csv").write_text("store_id,status,timestamp_utc\ns1,active,2023-01-25 12:00:00 UTC\n")
    for name in ("late.csv.tmp", "hours.csv.partial", ".hidden.csv", "notes.txt"):
        (tmp_path / name).write_text("store_id,status,timestamp_utc\n")
    (first,) = scan_inbox(tmp_path, InboxCursor())
    assert first.name == "pings.csv" and first.sha256 is None
    cursor = plan_inbox_tick(InboxCursor(), [first]).cursor
    (second,) = scan_inbox(tmp_path, cursor)
    assert second.kind == "pings" and len(second.sha256) == 64
    assert scan_inbox(tmp_path / "missing", InboxCursor()) == []


def test_a_complete_file_must_come_with_its_bytes_read():
    cursor = InboxCursor(pending={"a.csv": PendingFile(100, 1)})
    with pytest.raises(ValueError, match="a.csv is complete but its bytes were not read"):
        plan_inbox_tick(cursor, [ScannedFile("a.csv", 100, 1)])


def test_the_planner_module_needs_no_dagster():
    """inbox.py and the storemon modules it imports never import dagster (the package's __init__ does,
    for the definitions: the planner needs no Dagster objects, not no Dagster installed)."""
    root = Path(inbox.__file__).parents[2]
    todo, done = ["storemon_pipeline.automation.inbox"], set()
    while todo:
        module = todo.pop()
        done.add(module)
        path = root / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = path.with_suffix("") / "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert name.split(".")[0] != "dagster", f"{module} imports {name}"
                if name.startswith("storemon_pipeline.") and name not in done:
                    todo.append(name)
    assert "storemon_pipeline.core.inputs" in done
