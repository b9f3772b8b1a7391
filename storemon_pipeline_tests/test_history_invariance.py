"""History before the evidence window must not change a report (issue 5: "L = 10 x M history").

One fleet is simulated with 80 days of pings up to T. Its "M-like" copy is the
same three files with every ping before T - 8 days dropped: the two histories
agree exactly on the evidence window [T - 8 d, T] and differ only before it.
(Simulating 8 and 80 days separately with one seed would not do: the random
streams are consumed differently, so even the last 8 days would differ.)

Both folders go through the real path, `storemon report` in-process (raw
assets -> warehouse (the long history on SQLite and on PostgreSQL) -> normalized_schedules -> status_segments ->
store_report), and the two report CSVs must be byte-identical.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from storemon_pipeline.cli import main
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, US_PER_DAY
from storemon_pipeline.core.inputs import parse_csv_file
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.core.segments import status_segments
from storemon_pipeline.simulate import BUSINESS_HOURS_HEADER, PINGS_HEADER, TIMEZONES_HEADER, simulate_fleet

AS_OF = "2023-03-14T12:00:00Z"
N_STORES = 120
LONG_DAYS, SHORT_DAYS = 80, 8


def _write(frame: pd.DataFrame, path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def _fleet_folders(tmp_path):
    fleet = simulate_fleet(N_STORES, days=LONG_DAYS, as_of=AS_OF, seed=11)
    # Without bad rows the ping rows are exactly the ping log, in order.
    pings = fleet.pings
    ts_us = fleet.ping_log.ts_us
    assert len(pings) == len(ts_us)
    in_evidence_span = ts_us >= fleet.as_of_us - EVIDENCE_SPAN_US
    assert (~in_evidence_span).sum() > 8 * in_evidence_span.sum(), "the long history must be mostly before the window"

    long_dir, short_dir = tmp_path / "long", tmp_path / "short"
    for folder, ping_rows in ((long_dir, pings), (short_dir, pings[in_evidence_span])):
        _write(ping_rows[PINGS_HEADER], folder / "store_status.csv")
        _write(fleet.business_hours[BUSINESS_HOURS_HEADER], folder / "menu_hours.csv")
        _write(fleet.timezones[TIMEZONES_HEADER], folder / "timezones.csv")
    # The report lists every store seen in any input; both copies must see the same stores,
    # else the reports differ by rule, not by history.
    long_stores = set(pings["store_id"]) | set(fleet.business_hours["store_id"]) | set(fleet.timezones["store_id"])
    short_stores = (
        set(pings[in_evidence_span]["store_id"])
        | set(fleet.business_hours["store_id"])
        | set(fleet.timezones["store_id"])
    )
    assert long_stores == short_stores
    return fleet, long_dir, short_dir


def test_report_ignores_history_before_the_evidence_window(tmp_path, database_url):
    """The long history in the warehouse under test (SQLite, then PostgreSQL), the short one in SQLite."""
    fleet, long_dir, short_dir = _fleet_folders(tmp_path)
    outputs = {}
    urls = {"long": database_url, "short": f"sqlite:///{tmp_path / 'short.db'}"}
    for name, folder in (("long", long_dir), ("short", short_dir)):
        out = tmp_path / f"report_{name}.csv"
        url = urls[name]
        assert main(["report", "--data-dir", str(folder), "--out", str(out), "--database-url", url,
                     "--as-of", AS_OF]) == 0
        outputs[name] = out.read_bytes()
    assert outputs["long"] == outputs["short"]
    report = pd.read_csv(tmp_path / "report_long.csv", dtype={"store_id": str})
    assert len(report) == N_STORES
    # Not a vacuous equality: the stores were up part of the week and down part of it.
    assert report["uptime_last_week"].sum() > 0 and report["downtime_last_week"].sum() > 0


def test_core_segments_ignore_pings_outside_the_window(tmp_path):
    """The same property one layer down: status_segments given all 80 days or only the window."""
    fleet, long_dir, short_dir = _fleet_folders(tmp_path)
    now_us = fleet.as_of_us + US_PER_DAY
    long_pings = parse_csv_file(long_dir / "store_status.csv", now_us).rows
    short_pings = parse_csv_file(short_dir / "store_status.csv", now_us).rows
    assert len(long_pings) > 9 * len(short_pings)
    hours = parse_csv_file(long_dir / "menu_hours.csv", now_us).rows
    zones = parse_csv_file(long_dir / "timezones.csv", now_us).rows
    schedules = normalize_schedules(hours, zones, np.unique(long_pings["store_id"]))
    from_long = status_segments(schedules, long_pings, fleet.as_of_us)
    from_short = status_segments(schedules, short_pings, fleet.as_of_us)
    pd.testing.assert_frame_equal(from_long.reset_index(drop=True), from_short.reset_index(drop=True))
