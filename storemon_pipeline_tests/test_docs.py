"""docs/report-semantics.md stays true, and the documentation stays inside the repository.

(a) Every worked example of the page is recomputed here through the project's own code (core/, and the
    warehouse for the rules settled at load time). Each test keeps the example's inputs and the results the
    page states, and checks both ways: the code gives these results, and the page shows these inputs and
    results verbatim (`in_doc` for code blocks and table rows, `said` for prose, whitespace-insensitive).
    Each test names the section (anchor) of the page it checks.
(b) Every relative link in README.md and docs/*.md resolves to a file inside the repository (and an
    `#anchor` to a heading of it), and no text there points outside the repository.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import (
    WINDOW_SPANS_US,
    as_of_from_partition_key,
    latest_report_as_of_us,
    partition_key,
)
from storemon_pipeline.core.inputs import UnknownFileKind, parse_csv_bytes
from storemon_pipeline.core.report import REPORT_COLUMNS, report_csv, store_report
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import status_segments
from storemon_pipeline.warehouse import Warehouse

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "report-semantics.md"
US = 1_000_000
# Later than every example's pings, so that none is "out of range" unless the example says so.
INGESTED_AT_US = as_of_from_partition_key("2024-01-01T00:00:00Z")
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local\n"
ZONES_HEADER = "store_id,timezone_str\n"
PINGS_HEADER = "store_id,status,timestamp_utc\n"


# -- reading the page -------------------------------------------------------------------------


def _without_code(text: str) -> str:
    """The markdown text with fenced code blocks and inline code spans blanked out."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str, int]]:
    """(level, anchor, character offset) of each heading outside code blocks; repeats get -1, -2 as on GitHub."""
    text = path.read_text(encoding="utf-8")
    found, seen, in_fence = [], {}, False
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (match := re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)):
            anchor = _slug(match.group(2))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            found.append((len(match.group(1)), anchor if count == 0 else f"{anchor}-{count}", offset))
        offset += len(line)
    return found


def section(anchor: str) -> str:
    """The page's text under the heading `anchor`, up to the next heading of the same or a higher level."""
    text = DOC.read_text(encoding="utf-8")
    marks = headings(DOC)
    for i, (level, name, start) in enumerate(marks):
        if name == anchor:
            end = next((o for lvl, _, o in marks[i + 1 :] if lvl <= level), len(text))
            return text[start:end]
    raise AssertionError(f"docs/report-semantics.md has no heading #{anchor}")


def in_doc(anchor: str, *snippets: str) -> None:
    text = section(anchor)
    for snippet in snippets:
        assert snippet in text, f"#{anchor} of docs/report-semantics.md should show:\n{snippet}"


def said(anchor: str, *phrases: str) -> None:
    text = " ".join(section(anchor).split())
    for phrase in phrases:
        assert " ".join(phrase.split()) in text, f"#{anchor} of docs/report-semantics.md should say: {phrase}"


# -- running the core -------------------------------------------------------------------------


def us(key: str) -> int:
    return as_of_from_partition_key(key)


def parse(text: str, name: str = "example.csv", ingested_at_us: int = INGESTED_AT_US):
    return parse_csv_bytes(text.encode("utf-8"), name, ingested_at_us)


def _hours(text: str | None) -> pd.DataFrame:
    if text:
        return parse(text).rows
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in
                         [("store_id", object), ("day_of_week", "int64"), ("start_s", "int64"), ("end_s", "int64")]})


def _zones(text: str | None) -> pd.DataFrame:
    if text:
        return parse(text).rows
    return pd.DataFrame({"store_id": pd.Series(dtype=object), "timezone": pd.Series(dtype=object)})


def report_of(pings_csv: str, as_of: str | None = None, hours_csv: str | None = None,
              zones_csv: str | None = None, segments: list | None = None) -> tuple[str, list[str]]:
    """(as-of key, report rows without the header), as the report assets compute them.

    The stores are those of Warehouse.report_store_ids: every store with hours or a zone, and every
    store with a ping at or before T. No as_of: the latest report.
    """
    pings = parse(pings_csv).rows
    hours, zones = _hours(hours_csv), _zones(zones_csv)
    as_of_us = us(as_of) if as_of else latest_report_as_of_us(int(pings["ts_us"].max()))
    store_ids = set(hours["store_id"]) | set(zones["store_id"])
    store_ids |= set(pings.loc[pings["ts_us"] <= as_of_us, "store_id"].astype(str))
    schedules = normalize_schedules(hours, zones, sorted(store_ids))
    found = status_segments(schedules, pings, as_of_us)
    if segments is not None:
        segments.extend(zip(found["start_us"].map(_when), found["end_us"].map(_when), found["status"].astype(str)))
    lines = report_csv(store_report(found, store_ids, as_of_us)).splitlines()
    assert lines[0] == ",".join(REPORT_COLUMNS)
    return partition_key(as_of_us), lines[1:]


def _when(instant_us: int) -> str:
    moment = datetime.fromtimestamp(instant_us // US, tz=timezone.utc)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + (f".{instant_us % US:06d}" if instant_us % US else "")


def _minute(instant_us: int) -> str:
    assert instant_us % (60 * US) == 0
    return datetime.fromtimestamp(instant_us // US, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _length(duration_us: int) -> str:
    minutes = duration_us // (60 * US)
    hours, minutes = divmod(minutes, 60)
    return " ".join(part for part in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "") if part)


def openings(hours_csv: str, zones_csv: str | None, start: str, end: str) -> dict[str, list[tuple[str, str, str]]]:
    """Per store, its business intervals in [start, end] as (UTC start, UTC end, length) texts."""
    hours, zones = _hours(hours_csv), _zones(zones_csv)
    schedules = normalize_schedules(hours, zones, sorted(set(hours["store_id"]) | set(zones["store_id"])))
    intervals = business_intervals_utc(schedules, us(start), us(end))
    result: dict[str, list[tuple[str, str, str]]] = {}
    for row in intervals.itertuples():
        result.setdefault(row.store_id, []).append(
            (_minute(row.start_us), _minute(row.end_us), _length(row.end_us - row.start_us))
        )
    return result


# -- (a) the worked examples ------------------------------------------------------------------


CLOCK_PINGS = PINGS_HEADER + (
    "s1,active,2023-01-25 17:40:00 UTC\n"
    "s1,inactive,2023-01-25 18:13:22.388884 UTC\n"
)
ASOF_PINGS = PINGS_HEADER + (
    "s1,active,2023-01-25 11:00:00 UTC\n"
    "s1,inactive,2023-01-25 11:30:00 UTC\n"
)


def test_clock_latest_report_rounds_the_greatest_ping_up():
    """#the-clock-and-the-as-of, first example."""
    pings = parse(CLOCK_PINGS).rows
    assert partition_key(latest_report_as_of_us(int(pings["ts_us"].max()))) == "2023-01-25T18:13:23Z"
    assert partition_key(latest_report_as_of_us(us("2023-01-25T18:13:22Z"))) == "2023-01-25T18:13:22Z"
    assert as_of_from_partition_key("2023-01-25T18:13:23Z") == us("2023-01-25T18:13:23Z")
    in_doc("the-clock-and-the-as-of", CLOCK_PINGS, "`2023-01-25T18:13:23Z`", "`2023-01-25T18:13:22Z`")


def test_clock_pings_after_the_as_of_change_nothing():
    """#the-clock-and-the-as-of, second example."""
    later = "s1,active,2023-01-25 12:10:00 UTC\n"
    before = report_of(ASOF_PINGS, "2023-01-25T12:00:00Z")
    again = report_of(ASOF_PINGS + later, "2023-01-25T12:00:00Z")
    latest = report_of(ASOF_PINGS + later)
    assert before == again == ("2023-01-25T12:00:00Z", ["s1,15.00,23.25,167.25,45.00,0.75,0.75"])
    assert latest == ("2023-01-25T12:10:00Z", ["s1,25.00,23.42,167.42,35.00,0.58,0.58"])
    in_doc("the-clock-and-the-as-of", ASOF_PINGS, "`" + later.strip() + "`",
           "s1,15.00,23.25,167.25,45.00,0.75,0.75", "s1,25.00,23.42,167.42,35.00,0.58,0.58")


def test_windows_are_absolute_time_across_dst():
    """#the-windows."""
    pings = PINGS_HEADER + "s2,active,2023-03-13 11:59:00 UTC\n"
    assert report_of(pings, "2023-03-13T12:00:00Z") == ("2023-03-13T12:00:00Z", ["s2,60.00,24.00,168.00,0.00,0.00,0.00"])
    assert WINDOW_SPANS_US == {"hour": 3600 * US, "day": 24 * 3600 * US, "week": 168 * 3600 * US}
    chicago = ZoneInfo("America/Chicago")
    week_start = datetime(2023, 3, 6, 12, tzinfo=timezone.utc).astimezone(chicago)
    week_end = datetime(2023, 3, 13, 12, tzinfo=timezone.utc).astimezone(chicago)
    assert (week_start.strftime("%H:%M %Z"), week_end.strftime("%H:%M %Z")) == ("06:00 CST", "07:00 CDT")
    in_doc("the-windows", pings, "s2,60.00,24.00,168.00,0.00,0.00,0.00")
    said("the-windows", "from Monday 6 March 06:00 (CST) to Monday 13 March 07:00 (CDT)")


def test_business_time_weekly_rows():
    """#weekly-rows."""
    hours = HOURS_HEADER + "s3,0,09:00:00,17:00:00\ns3,4,18:00:00,02:00:00\ns3,5,10:00:00,23:59:59\n"
    found = openings(hours, None, "2023-01-16T06:00:00Z", "2023-01-23T06:00:00Z")
    assert found == {"s3": [
        ("2023-01-16 15:00", "2023-01-16 23:00", "8 h"),
        ("2023-01-21 00:00", "2023-01-21 08:00", "8 h"),
        ("2023-01-21 16:00", "2023-01-22 06:00", "14 h"),
    ]}
    in_doc("weekly-rows", hours, "**30 h**", *(f"| {a} to {b} | {n} |" for a, b, n in found["s3"]))


def test_business_time_end_of_day_past_midnight_24_hours():
    """#end-of-day-past-midnight-24-hours."""
    rows = ["10:00,23:59", "10:00,23:59:00", "10:00,23:59:59", "10:00,23:58", "10:00,10:00", "23:59,23:59",
            "22:00,06:00"]
    hours = HOURS_HEADER + "".join(f"e{i},2,{row}\n" for i, row in enumerate(rows, 1))
    zones = ZONES_HEADER + "".join(f"e{i},Etc/UTC\n" for i in range(1, 8))
    found = openings(hours, zones, "2023-01-16T00:00:00Z", "2023-01-23T00:00:00Z")
    expected = {
        "e1": ("2023-01-18 10:00", "2023-01-19 00:00", "14 h"),
        "e2": ("2023-01-18 10:00", "2023-01-19 00:00", "14 h"),
        "e3": ("2023-01-18 10:00", "2023-01-19 00:00", "14 h"),
        "e4": ("2023-01-18 10:00", "2023-01-18 23:58", "13 h 58 min"),
        "e5": ("2023-01-18 10:00", "2023-01-19 10:00", "24 h"),
        "e6": ("2023-01-18 23:59", "2023-01-19 00:00", "1 min"),
        "e7": ("2023-01-18 22:00", "2023-01-19 06:00", "8 h"),
    }
    assert found == {store: [interval] for store, interval in expected.items()}
    in_doc("end-of-day-past-midnight-24-hours", hours,
           *(f"| {store} | {a} to {b} | {n} |" for store, (a, b, n) in expected.items()))


DST_HOURS = HOURS_HEADER + (
    "sp1,6,02:30,04:00\nsp2,6,02:30,03:00\nsp3,6,00:00,23:59\n"
    "au1,6,01:30,02:00\nau2,6,00:00,23:59\nau3,6,01:00,01:30\n"
)


def test_business_time_daylight_saving_fold_0():
    """#time-zones-and-daylight-saving: the spring and autumn Sundays of 2023 in Chicago."""
    spring = openings(DST_HOURS, None, "2023-03-11T12:00:00Z", "2023-03-13T12:00:00Z")
    autumn = openings(DST_HOURS, None, "2023-11-04T12:00:00Z", "2023-11-06T12:00:00Z")
    ordinary = openings(DST_HOURS, None, "2023-03-04T12:00:00Z", "2023-03-06T12:00:00Z")
    expected = {
        "sp1": ("2023-03-12 08:30", "2023-03-12 09:00", "30 min"),
        "sp3": ("2023-03-12 06:00", "2023-03-13 05:00", "23 h"),
        "au1": ("2023-11-05 06:30", "2023-11-05 08:00", "1 h 30 min"),
        "au2": ("2023-11-05 05:00", "2023-11-06 06:00", "25 h"),
        "au3": ("2023-11-05 06:00", "2023-11-05 06:30", "30 min"),
    }
    found = {store: intervals for part in (spring, autumn) for store, intervals in part.items()
             if store[:2] == ("sp" if part is spring else "au")}
    assert found == {store: [interval] for store, interval in expected.items()}  # sp2: nothing
    assert ordinary["sp2"] == [("2023-03-05 08:30", "2023-03-05 09:00", "30 min")]
    in_doc("time-zones-and-daylight-saving", DST_HOURS, "| sp2 | nothing | 0 |",
           *(f"| {store} | {a} to {b} | {n} |" for store, (a, b, n) in expected.items()))
    said("time-zones-and-daylight-saving", "(5 March 2023: 08:30 to 09:00 UTC)")


def test_business_time_default_zone():
    """#time-zones-and-daylight-saving, the default zone."""
    hours = HOURS_HEADER + "z1,0,09:00,17:00\nz2,0,09:00,17:00\nz3,0,09:00,17:00\n"
    zones = ZONES_HEADER + "z2,America/Chicagoo\nz3,Europe/Berlin\n"
    assert parse(zones).rejected["reason"].tolist() == ["unknown zone name 'America/Chicagoo'"]
    found = openings(hours, zones, "2023-01-16T00:00:00Z", "2023-01-17T12:00:00Z")
    assert found == {
        "z1": [("2023-01-16 15:00", "2023-01-16 23:00", "8 h")],
        "z2": [("2023-01-16 15:00", "2023-01-16 23:00", "8 h")],
        "z3": [("2023-01-16 08:00", "2023-01-16 16:00", "8 h")],
    }
    in_doc("time-zones-and-daylight-saving", zones, "`0,09:00,17:00`", "`unknown zone name 'America/Chicagoo'`")
    said("time-zones-and-daylight-saving",
         "`z1` and `z2` are open 2023-01-16 15:00 to 23:00 UTC (Chicago), `z3` 2023-01-16 08:00 to 16:00 UTC")


def test_business_time_union_of_rows():
    """#overlapping-rows."""
    hours = HOURS_HEADER + "u1,0,09:00,12:00\nu1,0,11:00,14:00\nu1,6,22:00,02:00\nu1,0,01:00,03:00\n"
    found = openings(hours, ZONES_HEADER + "u1,Etc/UTC\n", "2023-01-15T12:00:00Z", "2023-01-17T00:00:00Z")
    assert found == {"u1": [("2023-01-15 22:00", "2023-01-16 03:00", "5 h"),
                            ("2023-01-16 09:00", "2023-01-16 14:00", "5 h")]}
    in_doc("overlapping-rows", hours)
    said("overlapping-rows", "from Sunday 22:00 to Monday 03:00 (5 h, not 4 h + 2 h)",
         "Monday 09:00 to 14:00 (5 h, not 3 h + 3 h): 10 h in all")


EVERY_DAY_9_TO_5 = "".join(f"{{store}},{day},09:00,17:00\n" for day in range(7))


def _every_day_9_to_5(store: str) -> tuple[str, str]:
    return HOURS_HEADER + EVERY_DAY_9_TO_5.format(store=store), ZONES_HEADER + f"{store},Etc/UTC\n"


def test_status_nearest_evidence_ping():
    """#the-nearest-ping (and #evidence: a closed-hours ping and a ping at an opening's end are not evidence)."""
    pings = PINGS_HEADER + (
        "s4,active,2023-01-16 10:00:00 UTC\n"
        "s4,inactive,2023-01-16 16:00:00 UTC\n"
        "s4,inactive,2023-01-17 08:40:00 UTC\n"
        "s4,active,2023-01-17 10:00:00 UTC\n"
        "s4,inactive,2023-01-17 15:00:00 UTC\n"
        "s4,active,2023-01-17 17:00:00 UTC\n"
    )
    hours, zones = _every_day_9_to_5("s4")
    segments: list = []
    assert report_of(pings, "2023-01-18T00:00:00Z", hours, zones, segments) == (
        "2023-01-18T00:00:00Z", ["s4,0.00,3.50,47.50,0.00,4.50,8.50"])
    assert segments == [
        *((f"2023-01-{day} 09:00:00", f"2023-01-{day} 17:00:00", "active") for day in range(11, 16)),
        ("2023-01-16 09:00:00", "2023-01-16 13:00:00", "active"),
        ("2023-01-16 13:00:00", "2023-01-16 17:00:00", "inactive"),
        ("2023-01-17 09:00:00", "2023-01-17 12:30:00", "active"),
        ("2023-01-17 12:30:00", "2023-01-17 17:00:00", "inactive"),
    ]
    in_doc("the-nearest-ping", pings, "s4,0.00,3.50,47.50,0.00,4.50,8.50",
           "| Mon 16 Jan 09:00-13:00 | active |", "| Mon 16 Jan 13:00-17:00 | inactive |",
           "| Tue 17 Jan 09:00-12:30 | active |", "| Tue 17 Jan 12:30-17:00 | inactive |",
           "| Wed 11 Jan to Sun 15 Jan, 09:00-17:00 each day | active |")


def test_status_tie_goes_to_the_later_ping():
    """#ties."""
    pings = PINGS_HEADER + "s5,active,2023-01-25 10:00:00 UTC\ns5,inactive,2023-01-25 11:00:00 UTC\n"
    segments: list = []
    assert report_of(pings, "2023-01-25T12:00:00Z", segments=segments) == (
        "2023-01-25T12:00:00Z", ["s5,0.00,22.50,166.50,60.00,1.50,1.50"])
    assert segments == [("2023-01-18 12:00:00", "2023-01-25 10:30:00", "active"),
                        ("2023-01-25 10:30:00", "2023-01-25 12:00:00", "inactive")]
    in_doc("ties", pings, "s5,0.00,22.50,166.50,60.00,1.50,1.50")
    said("ties", "`2023-01-18 12:00:00 to 2023-01-25 10:30:00 active` and "
                 "`2023-01-25 10:30:00 to 2023-01-25 12:00:00 inactive`")
    # An odd number of microseconds apart: the midpoint is rounded down to the whole microsecond.
    odd: list = []
    report_of(PINGS_HEADER + "s5,active,2023-01-25 10:00:00.000000 UTC\ns5,inactive,2023-01-25 10:00:00.000003 UTC\n",
              "2023-01-25T12:00:00Z", segments=odd)
    assert odd[1][:1] == ("2023-01-25 10:00:00.000001",) and odd[1][2] == "inactive"


def test_status_no_evidence_is_down():
    """#no-evidence."""
    pings = PINGS_HEADER + "".join(f"s6,active,2023-01-17 {t}:00:00 UTC\n" for t in ("08", "17", "20"))
    hours, zones = _every_day_9_to_5("s6")
    assert report_of(pings, "2023-01-18T00:00:00Z", hours, zones) == (
        "2023-01-18T00:00:00Z", ["s6,0.00,0.00,0.00,0.00,8.00,56.00"])
    in_doc("no-evidence", "s6,0.00,0.00,0.00,0.00,8.00,56.00")


def test_which_data_counts(sqlite_url):
    """#which-data-counts: duplicates and later files, as the warehouse loads them."""
    files = {
        "pings_a.csv": PINGS_HEADER + "d1,active,2023-01-25 10:00:00 UTC\nd1,inactive,2023-01-25 10:20:00 UTC\n"
                                      "d1,active,2023-01-25 10:20:00 UTC\n",
        "pings_b.csv": PINGS_HEADER + "d1,inactive,2023-01-25 10:00:00 UTC\n",
        "hours_1.csv": HOURS_HEADER + "h1,0,09:00,17:00\nh1,1,09:00,17:00\nh2,0,10:00,12:00\n",
        "hours_2.csv": HOURS_HEADER + "h1,2,08:00,12:00\nh1,2,14:00,18:00\nh2,9,10:00,12:00\n",
        "zones_1.csv": ZONES_HEADER + "h1,America/New_York\nh1,Europe/Berlin\nh2,Asia/Tokyo\n",
        "zones_2.csv": ZONES_HEADER + "h1,Asia/Kolkata\n",
    }
    warehouse = Warehouse(sqlite_url)
    try:
        for name, text in files.items():
            warehouse.ingest(parse(text, name), INGESTED_AT_US)
            if name == "zones_1.csv":
                assert dict(warehouse.read_timezones()[["store_id", "timezone"]].to_numpy().tolist())["h1"] == (
                    "Europe/Berlin")
        pings = warehouse.read_pings(0, 2**62)
        hours = warehouse.read_business_hours()
        zones = warehouse.read_timezones()
    finally:
        warehouse.dispose()
    assert [(_when(ts), bool(active)) for ts, active in pings[["ts_us", "active"]].to_numpy().tolist()] == [
        ("2023-01-25 10:00:00", False), ("2023-01-25 10:20:00", True)]
    assert sorted(map(tuple, hours[["store_id", "day_of_week", "start_s", "end_s"]].to_numpy().tolist())) == [
        ("h1", 2, 8 * 3600, 12 * 3600), ("h1", 2, 14 * 3600, 18 * 3600), ("h2", 0, 10 * 3600, 12 * 3600)]
    assert sorted(map(tuple, zones[["store_id", "timezone"]].to_numpy().tolist())) == [
        ("h1", "Asia/Kolkata"), ("h2", "Asia/Tokyo")]
    in_doc("which-data-counts", *(f"`{name}`" for name in files), *files.values(),
           "| d1 | 10:00 inactive, 10:20 active |",
           "| h1 | Wednesday 08:00-12:00 and 14:00-18:00, Asia/Kolkata |",
           "| h2 | Monday 10:00-12:00, Asia/Tokyo |")


EXPORT_AS_SHOWN = (
    '"end_time_local", Day ,STORE_ID,start_time_local,note\n'
    '17:00,0," 42 ",09:00,"opens late, closes early"\n'
    "23:59, 5 ,42,10:00:00,\n"
    "\n"
)


def test_input_file_forms():
    """#values: BOM, CRLF, column order, `day`, case and spaces in the header, quotes, an extra column."""
    data = b"\xef\xbb\xbf" + EXPORT_AS_SHOWN.replace("\n", "\r\n").encode("utf-8")
    parsed = parse_csv_bytes(data, "export.csv", INGESTED_AT_US)
    assert parsed.kind == "business_hours"
    assert parsed.rejected.empty
    assert parsed.rows[["store_id", "day_of_week", "start_s", "end_s"]].to_numpy().tolist() == [
        ["42", 0, 9 * 3600, 17 * 3600], ["42", 5, 10 * 3600, 23 * 3600 + 59 * 60]]
    in_doc("values", "```csv\n" + EXPORT_AS_SHOWN + "```")
    said("values", "two valid rows, both for store `42`: Monday 09:00-17:00 and Saturday 10:00 to the end of the day")


# (reason, header, the row's bytes, how the page shows the row)
REJECTIONS = [
    ("expected 3 fields, found 4", PINGS_HEADER, b"s1,active,2023-01-25 10:00:00 UTC,extra",
     "`s1,active,2023-01-25 10:00:00 UTC,extra` in a pings file"),
    ("not valid UTF-8", ZONES_HEADER, b"s2,Europe/Berlin\xff", "`s2,Europe/Berlin` followed by the byte `0xFF`"),
    ("repeated header row", PINGS_HEADER, b"store_id,status,timestamp_utc", "`store_id,status,timestamp_utc` again"),
    ("empty store_id", PINGS_HEADER, b",active,2023-01-25 10:00:00 UTC", "`,active,2023-01-25 10:00:00 UTC`"),
    ("store_id longer than 255 characters", PINGS_HEADER, b"x" * 256 + b",active,2023-01-25 10:00:00 UTC",
     "a store id of 256 `x`, then `,active,2023-01-25 10:00:00 UTC`"),
    ("store_id contains a NUL character", PINGS_HEADER, b"s1\x00,active,2023-01-25 10:00:00 UTC",
     "`s1`, a NUL byte, then `,active,2023-01-25 10:00:00 UTC`"),
    ("unknown status 'open'", PINGS_HEADER, b"s1,open,2023-01-25 10:00:00 UTC", "`s1,open,2023-01-25 10:00:00 UTC`"),
    ("unparseable timestamp", PINGS_HEADER, b"s1,active,2023-01-25 10:00:00 PST", "`s1,active,2023-01-25 10:00:00 PST`"),
    ("timestamp out of range", PINGS_HEADER, b"s1,active,1999-12-31 23:59:59 UTC", "`s1,active,1999-12-31 23:59:59 UTC`"),
    ("day of week outside 0-6", HOURS_HEADER, b"s1,7,09:00,17:00", "`s1,7,09:00,17:00`"),
    ("unparseable start_time_local", HOURS_HEADER, b"s1,0,9am,17:00", "`s1,0,9am,17:00`"),
    ("unparseable end_time_local", HOURS_HEADER, b"s1,0,09:00,24:00", "`s1,0,09:00,24:00`"),
    ("unknown zone name 'America/Chicagoo'", ZONES_HEADER, b"s1,America/Chicagoo", "`s1,America/Chicagoo`"),
]


@pytest.mark.parametrize("reason, header, row, shown", REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rows_kept_aside(reason, header, row, shown):
    """#rows-kept-aside: each reason, verbatim, with its example row (line 3, after one good row)."""
    good = {PINGS_HEADER: b"s0,active,2023-01-25 09:00:00 UTC", HOURS_HEADER: b"s0,0,09:00,17:00",
            ZONES_HEADER: b"s0,Asia/Tokyo"}[header]
    parsed = parse_csv_bytes(header.encode() + good + b"\n" + row + b"\n", "bad.csv", INGESTED_AT_US)
    assert len(parsed.rows) == 1
    assert parsed.rejected[["file", "line", "reason"]].to_numpy().tolist() == [["bad.csv", 3, reason]]
    in_doc("rows-kept-aside", f"| `{reason}`", shown)


def test_every_reason_in_the_code_is_documented():
    """#rows-kept-aside lists every reason the readers (core/csv_general.py, core/csv_plain_pings.py) can give a row."""
    code = "".join((REPO_ROOT / "storemon_pipeline" / "core" / name).read_text(encoding="utf-8")
                   for name in ("csv_general.py", "csv_plain_pings.py"))
    reasons = set(re.findall(r'reject\([^\n]*?,\s*f?"([^"{]+)', code))
    reasons |= {"expected 3 fields, found 4"} if 'f"expected {n_columns} fields' in code else set()
    table = section("rows-kept-aside")
    assert reasons, "no reason found in the code: the pattern above needs updating"
    for reason in reasons:
        assert f"`{reason.strip()}" in table, f"reason {reason!r} is not in #rows-kept-aside"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "f.csv: the file is empty (no header)"),
        (b"store;status;timestamp_utc\n", "f.csv: header 'store;status;timestamp_utc' matches no input kind (expected "
         "pings: store_id, status, timestamp_utc; business_hours: store_id, dayofweek, start_time_local, "
         "end_time_local; timezones: store_id, timezone_str)"),
        (b"x" * 20_000 + b"\n", "f.csv: the first line is longer than 16384 characters: not a header of any input kind"),
    ],
)
def test_files_that_are_not_read(data, message):
    """#files-that-are-not-read."""
    with pytest.raises(UnknownFileKind) as error:
        parse_csv_bytes(data, "f.csv", INGESTED_AT_US)
    assert str(error.value) == message
    shown = message.replace("f.csv", "<file>").replace("'store;status;timestamp_utc'", "'<the header>'")
    in_doc("files-that-are-not-read", f"`{shown}`")


ACCEPTED_TIMESTAMPS = [
    ("2023-01-22 12:09:39.388884 UTC", "2023-01-22 12:09:39.388884"),
    ("2023-01-22T12:09:39Z", "2023-01-22 12:09:39"),
    ("2023-01-22 12:09:39", "2023-01-22 12:09:39"),
    ("2023-01-22T12:09:39.5utc", "2023-01-22 12:09:39.500000"),
    ("2023-01-22 12:09:39.123456789 UTC", "2023-01-22 12:09:39.123456"),
    ("2023-01-22T12:09:39+05:30", "2023-01-22 06:39:39"),
    ("2023-01-22T12:09:39-0500", "2023-01-22 17:09:39"),
]
REJECTED_TIMESTAMPS = [
    "2023-03-14 11:5", "2023-03-14 11:05", "2023-03-14", "2023-03-14T11", "20230314T110500Z", "2023-03-14 11:05:00.",
    "2023-03-14 11:05:00.1234567890", "2023-03-14 11:05:00 PST", "2023-03-14 11:05:00+05",
    "2023-03-14 11:05:00 +05:30", "2023-02-30 10:00:00", "2023-03-14 24:00:00",
]
def _timestamp_row(value: str, ingested_at_us: int = INGESTED_AT_US):
    return parse(PINGS_HEADER + f"s1,active,{value}\n", "t.csv", ingested_at_us)


@pytest.mark.parametrize("value, instant", ACCEPTED_TIMESTAMPS)
def test_timestamps_accepted(value, instant):
    """#ping-timestamps, the accepted table."""
    parsed = _timestamp_row(value)
    assert parsed.rejected.empty
    assert _when(int(parsed.rows["ts_us"].iloc[0])) == instant
    in_doc("ping-timestamps", f"| `{value}` | {instant} |")


@pytest.mark.parametrize("value", REJECTED_TIMESTAMPS)
def test_timestamps_rejected(value):
    """#ping-timestamps, the rejected table (test_timestamps_rejected_are_documented checks the page)."""
    parsed = _timestamp_row(value)
    assert parsed.rows.empty
    assert parsed.rejected["reason"].tolist() == ["unparseable timestamp"]


def test_timestamps_rejected_are_documented():
    """The page shows each of these values in its rejected table."""
    for value in REJECTED_TIMESTAMPS:
        in_doc("ping-timestamps", f"| `{value}` |")


def test_timestamps_out_of_range():
    """#ping-timestamps: before 2000, or more than an hour after the file is loaded."""
    loaded_at = us("2023-03-14T12:00:00Z")
    for value, reasons in [("1999-12-31 23:59:59 UTC", ["timestamp out of range"]),
                           ("2023-03-14 13:00:01 UTC", ["timestamp out of range"]),
                           ("2023-03-14 13:00:00 UTC", [])]:
        assert _timestamp_row(value, loaded_at).rejected["reason"].tolist() == reasons, value
    said("ping-timestamps", "for a file loaded at 2023-03-14 12:00:00 UTC: `1999-12-31 23:59:59 UTC`",
         "`2023-03-14 13:00:01 UTC` (more than an hour ahead); `2023-03-14 13:00:00 UTC` is accepted")


def test_numbers_units_and_rounding():
    """#units-and-rounding."""
    pings = PINGS_HEADER + "s7,inactive,2023-01-25 11:59:45 UTC\ns7,active,2023-01-25 12:00:00 UTC\n"
    segments: list = []
    assert report_of(pings, segments=segments) == ("2023-01-25T12:00:00Z", ["s7,0.12,0.00,0.00,59.88,24.00,168.00"])
    assert segments[-1] == ("2023-01-25 11:59:52.500000", "2023-01-25 12:00:00", "active")
    in_doc("units-and-rounding", pings, "s7,0.12,0.00,0.00,59.88,24.00,168.00")


def test_numbers_output_header():
    """#the-output-file."""
    header = ",".join(REPORT_COLUMNS)
    assert report_csv(pd.DataFrame(columns=REPORT_COLUMNS)) == header + "\n"
    in_doc("the-output-file", f"```text\n{header}\n```")


def test_numbers_stores_in_a_report(sqlite_url):
    """#the-stores-in-a-report, through the warehouse's list of stores."""
    pings_csv = PINGS_HEADER + ("9,active,2023-01-25 11:00:00 UTC\nlate,active,2023-01-25 13:00:00 UTC\n"
                                ",active,2023-01-25 11:00:00 UTC\n")
    zones_csv = ZONES_HEADER + "10,Asia/Tokyo\nbad,Mars/Base\n"
    as_of_us = us("2023-01-25T12:00:00Z")
    warehouse = Warehouse(sqlite_url)
    try:
        for name, text in (("pings.csv", pings_csv), ("zones.csv", zones_csv)):
            warehouse.ingest(parse(text, name), INGESTED_AT_US)
        store_ids = warehouse.report_store_ids(as_of_us)
        schedules = normalize_schedules(warehouse.read_business_hours(), warehouse.read_timezones(),
                                        warehouse.report_store_ids(2**62))
        pings = warehouse.read_pings(as_of_us - 8 * 24 * 3600 * US, as_of_us)
        rejected = warehouse.read_rejected("zones.csv")["reason"].tolist()
    finally:
        warehouse.dispose()
    assert store_ids == ["10", "9"]
    assert rejected == ["unknown zone name 'Mars/Base'"]
    schedules = schedules[schedules["store_id"].isin(store_ids)]
    text = report_csv(store_report(status_segments(schedules, pings, as_of_us), store_ids, as_of_us))
    assert text == (",".join(REPORT_COLUMNS) + "\n10,0.00,0.00,0.00,60.00,24.00,168.00\n"
                    "9,60.00,24.00,168.00,0.00,0.00,0.00\n")
    in_doc("the-stores-in-a-report", pings_csv, zones_csv, "```text\n" + text + "```",
           "`unknown zone name 'Mars/Base'`")


def test_why_in_business_evidence():
    """#why-the-nearest-in-business-ping: the tablet-off store, with this rule and with the nearest poll of any time."""
    pings = PINGS_HEADER + (
        "w1,inactive,2023-01-17 08:50:00 UTC\nw1,active,2023-01-17 09:50:00 UTC\n"
        "w1,active,2023-01-17 16:50:00 UTC\nw1,inactive,2023-01-17 17:50:00 UTC\n"
    )
    hours, zones = _every_day_9_to_5("w1")
    as_of_us = us("2023-01-18T00:00:00Z")
    _, [row] = report_of(pings, "2023-01-18T00:00:00Z", hours, zones)
    assert row.split(",")[2:4] == ["8.00", "56.00"]
    # Nearest poll of any time: the status of a store open 24x7, read during w1's business time only.
    any_time = status_segments(normalize_schedules(_hours(None), _zones(zones), ["w1"]), parse(pings).rows, as_of_us)
    business = business_intervals_utc(normalize_schedules(_hours(hours), _zones(zones), ["w1"]),
                                      as_of_us - WINDOW_SPANS_US["week"], as_of_us)
    active = any_time[any_time["status"] == "active"]

    def up_hours(window_start_us: int) -> str:
        total = 0
        for a in active.itertuples():
            for b in business.itertuples():
                total += max(0, min(a.end_us, b.end_us) - max(a.start_us, b.start_us, window_start_us))
        return f"{total / (3600 * US):.2f}"

    assert up_hours(as_of_us - WINDOW_SPANS_US["day"]) == "7.67"
    assert up_hours(as_of_us - WINDOW_SPANS_US["week"]) == "7.67"
    in_doc("why-the-nearest-in-business-ping", pings, "**2.28 h**", "| 2.59 h |", "| 3.21 h |", "| 3.48 h |",
           "| 4.67 h |", "**500 simulated stores**")
    said("why-the-nearest-in-business-ping", "uptime_last_day is 8.00 h and uptime_last_week 56.00 h",
         "uptime_last_day 7.67 h and uptime_last_week 7.67 h, of 56 h truly up")


# -- (b) the documentation stands on its own --------------------------------------------------


DOC_FILES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
_EXTERNAL = re.compile(r"^(?:https?:|mailto:)", re.I)


def _links(path: Path) -> list[str]:
    text = _without_code(path.read_text(encoding="utf-8"))
    return _LINK.findall(text) + _REFERENCE.findall(text)


def test_the_docs_have_links_to_check():
    """Guards the checks below against a pattern that silently finds nothing."""
    assert DOC in DOC_FILES
    assert any("docs/report-semantics.md#" in link for link in _links(REPO_ROOT / "README.md"))


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_relative_links_resolve_inside_the_repository(path):
    for link in _links(path):
        if _EXTERNAL.match(link):
            continue
        target, _, anchor = link.partition("#")
        resolved = (path.parent / target).resolve() if target else path
        assert not target.startswith("/"), f"{path.name}: {link} is an absolute path"
        assert resolved.is_relative_to(REPO_ROOT), f"{path.name}: {link} points outside the repository"
        assert resolved.exists(), f"{path.name}: {link} names no file of the repository"
        if anchor:
            assert resolved.suffix == ".md", f"{path.name}: {link} has an anchor into a file that is not markdown"
            anchors = {name for _, name, _ in headings(resolved)}
            assert anchor in anchors, f"{path.name}: {link}: no heading #{anchor} in {resolved.name}"


@pytest.mark.parametrize("path", DOC_FILES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_no_text_points_outside_the_repository(path):
    text = path.read_text(encoding="utf-8")
    for outside in (r"\.\./shared", r"SPEC\.md", r"\bSPEC\b", r"/work/"):
        assert not re.search(outside, text), f"{path.name} mentions {outside!r}, which is not in the repository"
