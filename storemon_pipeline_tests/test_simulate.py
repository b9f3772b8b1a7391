"""The simulator: deterministic, shaped like the real exports, and its truth is right."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.inputs import UnknownFileKind, parse_csv_file, peek_kind
from storemon_pipeline.core.report import REPORT_COLUMNS
from storemon_pipeline.core.schedules import normalize_schedules
from storemon_pipeline.simulate import (
    BUSINESS_HOURS_HEADER,
    PINGS_HEADER,
    TIMEZONES_HEADER,
    format_timestamps_utc,
    main,
    simulate_fleet,
    truth_as_of,
    write_fleet,
)
from storemon_pipeline_tests.conftest import REPO_ROOT, SAMPLE_DATA_DIR

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
DAY_US = 24 * HOUR_US
AS_OF = "2023-03-14T12:00:00Z"  # a Tuesday; the week spans the US spring-forward of 2023-03-12
AS_OF_US = int(datetime(2023, 3, 14, 12, tzinfo=timezone.utc).timestamp()) * US
# Parsing as if ingested long after the data: no ping is "from the future".
INGESTED_AT_US = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp()) * US


@pytest.fixture(scope="module")
def fleet():
    return simulate_fleet(2000, days=8, as_of=AS_OF, seed=3)


@pytest.fixture(scope="module")
def fleet_with_bad_rows():
    return simulate_fleet(300, days=8, as_of=AS_OF, seed=5, bad_rows=True)


@pytest.fixture(scope="module")
def written(fleet_with_bad_rows, tmp_path_factory):
    return write_fleet(fleet_with_bad_rows, tmp_path_factory.mktemp("fleet"))


def evidence_frame(fleet):
    """Valid pings as numbers (no string parsing), in log order."""
    log = fleet.ping_log
    return pd.DataFrame({"store_id": log.store_ids[log.store_index], "ts_us": log.ts_us, "active": log.active})


# ---------------------------------------------------------------- determinism


def test_same_seed_same_fleet():
    a = simulate_fleet(150, days=3, as_of=AS_OF, seed=11, bad_rows=True)
    b = simulate_fleet(150, days=3, as_of=AS_OF, seed=11, bad_rows=True)
    for name in ("pings", "business_hours", "timezones", "truth", "true_status", "bad_rows"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), obj=name)
    c = simulate_fleet(150, days=3, as_of=AS_OF, seed=12, bad_rows=True)
    assert not a.truth["store_id"].equals(c.truth["store_id"])


def test_bad_rows_change_no_valid_row():
    clean = simulate_fleet(200, days=2, as_of=AS_OF, seed=4)
    dirty = simulate_fleet(200, days=2, as_of=AS_OF, seed=4, bad_rows=True)
    pd.testing.assert_frame_equal(clean.truth, dirty.truth)
    np.testing.assert_array_equal(clean.ping_log.ts_us, dirty.ping_log.ts_us)
    np.testing.assert_array_equal(clean.ping_log.active, dirty.ping_log.active)
    assert len(dirty.bad_rows) > len(clean.bad_rows)


def test_unknown_knob_is_refused():
    with pytest.raises(TypeError):
        simulate_fleet(10, days=1, as_of=AS_OF, poll_every=5)


# ---------------------------------------------------------------- files


def test_written_files_have_the_export_headers_and_all_rows(fleet_with_bad_rows, written):
    expected = {
        "pings": (PINGS_HEADER, len(fleet_with_bad_rows.ping_log)),
        "business_hours": (BUSINESS_HOURS_HEADER, len(fleet_with_bad_rows.business_hours)),
        "timezones": (TIMEZONES_HEADER, len(fleet_with_bad_rows.timezones)),
        "truth": (REPORT_COLUMNS, len(fleet_with_bad_rows.truth)),
    }
    for kind, (header, n_rows) in expected.items():
        lines = written[kind].read_text().splitlines()
        assert lines[0] == ",".join(header), kind
        assert len(lines) - 1 == n_rows, kind
    for kind in ("pings", "business_hours", "timezones"):
        assert peek_kind(written[kind]) == kind
    # The truth must never be taken for an input if it lands in an inbox.
    with pytest.raises(UnknownFileKind):
        peek_kind(written["truth"])
    assert not list(written["pings"].parent.glob("*.tmp"))


def test_pings_frame_is_the_file(fleet_with_bad_rows, written):
    from_file = pd.read_csv(written["pings"], dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(from_file, fleet_with_bad_rows.pings.astype(object), check_dtype=False)


def test_timestamps_look_like_the_export():
    ts_us = np.array([int(datetime(2023, 1, 22, 12, 9, 39, 388884, tzinfo=timezone.utc).timestamp() * US),
                      AS_OF_US, AS_OF_US - 1])
    assert format_timestamps_utc(ts_us).astype(str).tolist() == [
        "2023-01-22 12:09:39.388884 UTC", "2023-03-14 12:00:00.000000 UTC", "2023-03-14 11:59:59.999999 UTC"]


def test_parser_rejects_exactly_the_bad_rows_and_reads_back_the_simulated_inputs(fleet_with_bad_rows, written):
    fleet = fleet_with_bad_rows
    parsed = {kind: parse_csv_file(written[kind], INGESTED_AT_US) for kind in ("pings", "business_hours", "timezones")}
    for kind, result in parsed.items():
        expected = fleet.bad_rows[fleet.bad_rows["file"] == written[kind].name]
        assert sorted(result.rejected["line"]) == sorted(expected["line"]), kind
        assert set(expected["kind"]) and len(result.rows) + len(result.rejected) == result.n_rows
    kinds = set(fleet.bad_rows["kind"])
    assert {"unknown status", "unparseable timestamp", "out of range", "empty store_id", "day outside 0-6",
            "unparseable time", "unknown zone"} <= kinds

    # The truth was computed from the numbers behind the strings; the parser must read the same.
    hours = parsed["business_hours"].rows.drop(columns="line")
    zones = parsed["timezones"].rows.drop(columns="line")
    pd.testing.assert_frame_equal(normalize_schedules(hours, zones, fleet.stores["store_id"]), fleet.schedules)

    pings = parsed["pings"].rows
    duplicates = fleet.knobs.duplicate_pings
    assert len(pings) == len(fleet.ping_log.ts_us) + duplicates
    assert pings.duplicated(["store_id", "ts_us"]).sum() == duplicates
    # The latest report of these files is as of the simulated as_of.
    assert -(-int(pings["ts_us"].max()) // US) * US == fleet.as_of_us


def test_main_writes_the_files(tmp_path, capsys):
    truth = tmp_path / "elsewhere" / "truth.csv"
    assert main(["--stores", "20", "--days", "1", "--as-of", AS_OF, "--seed", "1", "--out", str(tmp_path / "in"),
                 "--truth", str(truth), "--bad-rows", "--knob", "p_poll_dropped=0.5"]) == 0
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["menu_hours.csv", "store_status.csv",
                                                                  "timezones.csv"]
    assert truth.read_text().startswith(",".join(REPORT_COLUMNS))
    assert '"ping_rows"' in capsys.readouterr().out


# ---------------------------------------------------------------- the simulated world


def test_stores_zones_and_hours_resemble_the_export(fleet):
    stores = fleet.stores
    assert stores["store_id"].is_unique and stores["store_id"].str.fullmatch(r"\d{18,19}").all()
    share = stores["zone_state"].value_counts(normalize=True)
    assert 0.03 < share["missing"] < 0.07 and 0.002 < share["invalid"] < 0.025
    assert stores["timezone"].isin(["Asia/Kolkata", "Asia/Beirut", "Europe/London"]).any()
    assert 0.07 < (stores["hours_profile"] == "none").mean() < 0.13

    hours = fleet.business_hours
    assert {"23:59:59", "23:59:00", "23:59"} <= set(hours["end_time_local"])
    assert (hours["start_time_local"] == hours["end_time_local"]).any()  # 24-hour rows
    assert (hours["end_time_local"].str.slice(0, 5) < hours["start_time_local"].str.slice(0, 5)).any()  # overnight
    rows_per_day = hours.groupby(["store_id", "dayOfWeek"]).size()
    assert (rows_per_day >= 2).any()  # split shifts
    days_per_store = hours.groupby("store_id")["dayOfWeek"].nunique()
    assert (days_per_store < 7).any()  # closed weekdays


def test_polls_are_about_hourly(fleet):
    pings = evidence_frame(fleet).sort_values(["store_id", "ts_us"])
    gap_min = pings.groupby("store_id")["ts_us"].diff().dropna() / MINUTE_US
    assert 55 < gap_min.median() < 65
    assert gap_min.min() >= 60 - 2 * 10  # jitter is +-10 min
    # Dropped polls make gaps of two hours; poller outages much longer ones.
    assert (gap_min > 100).mean() > 0.05 and gap_min.max() > 4 * 60
    per_store_day = pings.groupby("store_id").size() / 8
    assert 19 < per_store_day.mean() < 23
    assert pings["ts_us"].max() <= fleet.as_of_us and pings["ts_us"].min() >= fleet.as_of_us - 8 * DAY_US


def test_half_the_stores_switch_off_when_closed_and_their_closed_polls_say_inactive(fleet):
    stores = fleet.stores.set_index("store_id")
    assert 0.45 < stores["switches_off_when_closed"].mean() < 0.55

    pings = evidence_frame(fleet)
    intervals = business_intervals_utc(fleet.schedules, fleet.as_of_us - 9 * DAY_US, fleet.as_of_us + HOUR_US)
    open_at = pd.merge_asof(pings.sort_values("ts_us"), intervals.sort_values("start_us"), left_on="ts_us",
                            right_on="start_us", by="store_id")
    closed = ~(open_at["ts_us"] < open_at["end_us"])
    switches_off = open_at["store_id"].map(stores["switches_off_when_closed"]).astype(bool)
    assert closed.sum() > 1000
    assert not open_at.loc[closed & switches_off, "active"].any()
    # The others keep answering with their true status: mostly active.
    assert open_at.loc[closed & ~switches_off, "active"].mean() > 0.8


def test_true_status_is_mostly_active_with_outages(fleet):
    status = fleet.true_status
    length = status["end_us"] - status["start_us"]
    per_store = status.assign(up=length * status["active"], total=length).groupby("store_id")[["up", "total"]].sum()
    share_up = per_store["up"] / per_store["total"]
    assert 0.9 < share_up.median() < 1.0
    assert (share_up == 0).any()  # dead stores
    assert ((~status["active"]) & (length > 6 * HOUR_US)).any()  # long outages


# ---------------------------------------------------------------- the truth


def test_uptime_plus_downtime_is_business_time(fleet):
    truth = fleet.truth.set_index("store_id")
    business = fleet.business_time.set_index("store_id")
    for window, limit in (("last_hour", 60), ("last_day", 24), ("last_week", 168)):
        total = truth[f"uptime_{window}"] + truth[f"downtime_{window}"]
        assert (total - business[f"business_{window}"]).abs().max() <= 0.011, window
        assert business[f"business_{window}"].between(0, limit + 1e-9).all(), window
        assert (truth[[f"uptime_{window}", f"downtime_{window}"]] >= 0).all().all()
    always_open = fleet.stores.loc[fleet.stores["hours_profile"] == "none", "store_id"]
    assert np.allclose(business.loc[always_open, "business_last_week"], 168)
    assert np.allclose(business.loc[always_open, "business_last_hour"], 60)
    assert list(truth.index) == sorted(truth.index)


def test_truth_matches_brute_force_sampling():
    """Every 10 s of the week: open (from the UTC intervals) and truly active (from the segments)?"""
    small = simulate_fleet(40, days=8, as_of=AS_OF, seed=9)
    intervals = business_intervals_utc(small.schedules, small.as_of_us - 7 * DAY_US, small.as_of_us)
    step_us = 10 * US
    grid = np.arange(small.as_of_us - 7 * DAY_US, small.as_of_us, step_us) + step_us // 2
    truth = small.truth.set_index("store_id")
    for store_id, status in small.true_status.groupby("store_id"):
        if store_id not in truth.index:
            continue
        own = intervals[intervals["store_id"] == store_id]
        at = np.searchsorted(own["start_us"].to_numpy(), grid, side="right") - 1
        is_open = (at >= 0) & (grid < own["end_us"].to_numpy()[np.maximum(at, 0)])
        seg = np.searchsorted(status["start_us"].to_numpy(), grid, side="right") - 1
        is_active = status["active"].to_numpy()[seg]
        for window, length_us, unit_us, tolerance in (("last_hour", HOUR_US, MINUTE_US, 1.0),
                                                      ("last_day", DAY_US, HOUR_US, 0.05),
                                                      ("last_week", 7 * DAY_US, HOUR_US, 0.2)):
            in_window = grid >= small.as_of_us - length_us
            up = (is_open & is_active & in_window).sum() * step_us / unit_us
            down = (is_open & ~is_active & in_window).sum() * step_us / unit_us
            assert truth.loc[store_id, f"uptime_{window}"] == pytest.approx(up, abs=tolerance), (store_id, window)
            assert truth.loc[store_id, f"downtime_{window}"] == pytest.approx(down, abs=tolerance), (store_id, window)


def _status(rows):
    return pd.DataFrame(rows, columns=["store_id", "start_us", "end_us", "active"])


def test_truth_of_a_24x7_store_is_its_outage():
    schedules = normalize_schedules(pd.DataFrame(columns=["store_id", "day_of_week", "start_s", "end_s"]),
                                    pd.DataFrame(columns=["store_id", "timezone"]), ["s1"])
    start = AS_OF_US - 9 * DAY_US
    outage = (AS_OF_US - 90 * 60 * US, AS_OF_US - 30 * 60 * US)
    true_status = _status([("s1", start, outage[0], True), ("s1", outage[0], outage[1], False),
                           ("s1", outage[1], AS_OF_US, True)])
    truth, business = truth_as_of(schedules, true_status, AS_OF_US)
    row = truth.iloc[0]
    assert (row["uptime_last_hour"], row["downtime_last_hour"]) == (30.0, 30.0)  # minutes
    assert (row["uptime_last_day"], row["downtime_last_day"]) == (23.0, 1.0)  # hours
    assert (row["uptime_last_week"], row["downtime_last_week"]) == (167.0, 1.0)
    assert business.iloc[0].tolist()[1:] == [60.0, 24.0, 168.0]


def test_truth_of_a_store_open_one_day_across_spring_forward():
    # Chicago, Mondays 09:00-17:00 and Sundays 01:00-03:00 local. Week [Tue 03-07 12:00Z, Tue 03-14 12:00Z]:
    # Mon 03-13 is CDT (UTC-5): 14:00-22:00Z, 8 h. Sun 03-12 01:00 CST = 07:00Z; 03:00 local is after the
    # 02:00 jump (CDT), 08:00Z: 1 h of business time, not 2.
    hours = pd.DataFrame([("c", 0, 9 * 3600, 17 * 3600), ("c", 6, 3600, 3 * 3600)],
                         columns=["store_id", "day_of_week", "start_s", "end_s"])
    schedules = normalize_schedules(hours, pd.DataFrame([("c", "America/Chicago")], columns=["store_id", "timezone"]),
                                    ["c"])
    monday_14z = AS_OF_US - DAY_US + 2 * HOUR_US
    true_status = _status([("c", AS_OF_US - 8 * DAY_US, monday_14z + HOUR_US, True),
                           ("c", monday_14z + HOUR_US, monday_14z + 2 * HOUR_US + 30 * MINUTE_US, False),
                           ("c", monday_14z + 2 * HOUR_US + 30 * MINUTE_US, AS_OF_US, True)])
    truth, business = truth_as_of(schedules, true_status, AS_OF_US)
    assert business.iloc[0].tolist()[1:] == [0.0, 8.0, 9.0]
    assert truth.iloc[0].tolist()[1:] == [0.0, 6.5, 7.5, 0.0, 1.5, 1.5]


def test_uncovered_time_counts_as_down():
    schedules = normalize_schedules(pd.DataFrame(columns=["store_id", "day_of_week", "start_s", "end_s"]),
                                    pd.DataFrame(columns=["store_id", "timezone"]), ["a", "b"])
    true_status = _status([("a", AS_OF_US - 2 * HOUR_US, AS_OF_US, True)])
    truth, _ = truth_as_of(schedules, true_status, AS_OF_US)
    assert truth["uptime_last_week"].tolist() == [2.0, 0.0]
    assert truth["downtime_last_week"].tolist() == [166.0, 168.0]


# ---------------------------------------------------------------- the shipped sample

# The command that made data/*.csv and fixtures/sample_truth.csv. 202 stores: the
# sample must stay under 2 MB (about 10 KB of pings per store for 8 days) and
# hold more than 200 stores; dropping 15 % of polls instead of 10 % makes both fit.
SAMPLE_ARGS = ["--stores", "202", "--days", "8", "--as-of", AS_OF, "--seed", "0", "--bad-rows",
               "--knob", "p_poll_dropped=0.15"]


def test_shipped_sample_is_what_the_simulator_makes(tmp_path):
    truth = tmp_path / "truth.csv"
    assert main([*SAMPLE_ARGS, "--out", str(tmp_path), "--truth", str(truth)]) == 0
    hint = "regenerate: python -m storemon_pipeline.simulate " + " ".join(SAMPLE_ARGS) + \
        " --out data --truth storemon_pipeline_tests/fixtures/sample_truth.csv"
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        assert (tmp_path / name).read_bytes() == (SAMPLE_DATA_DIR / name).read_bytes(), hint
    assert truth.read_bytes() == (REPO_ROOT / "storemon_pipeline_tests" / "fixtures" / "sample_truth.csv").read_bytes(), hint
    assert sum(p.stat().st_size for p in SAMPLE_DATA_DIR.glob("*.csv")) < 2_000_000
