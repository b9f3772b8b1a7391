"""docs/report-semantics.md#input-files: header detection, value forms, and rows kept aside."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storemon_pipeline.core.inputs import (
    BUSINESS_HOURS,
    PINGS,
    TIMEZONES,
    UnknownFileKind,
    parse_csv_bytes,
    parse_csv_file,
)
from storemon_pipeline.core.values import (
    _TS_SUFFIX,
    COMPLETE_INSTANT,
    _parse_times_of_day_regex,
    parse_timestamps_us,
    parse_times_of_day_s,
)

# 2023-01-22 00:00:00 UTC: 53 years since 1970 with 13 leap days (1972..2020)
# = 19358 days to 2023-01-01, + 21 days = 19379 days; * 86400 = 1_674_345_600 s.
JAN22_S = 1_674_345_600
# 12:09:39 = 12*3600 + 9*60 + 39 = 43_779 s.
JAN22_120939_US = (JAN22_S + 43_779) * 1_000_000
INGESTED_US = (JAN22_S + 4 * 86_400) * 1_000_000  # 2023-01-26 00:00 UTC

PINGS_HEADER = "store_id,status,timestamp_utc\n"
HOURS_HEADER = "store_id,dayOfWeek,start_time_local,end_time_local\n"
ZONES_HEADER = "store_id,timezone_str\n"


def parse(text: str | bytes, name: str = "f.csv", ingested_at_us: int = INGESTED_US):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_csv_bytes(data, name, ingested_at_us)


def assert_counts_add_up(parsed, data_rows: int) -> None:
    assert len(parsed.rows) + len(parsed.rejected) == parsed.n_rows == data_rows


# --- header detection -------------------------------------------------------


def test_pings_header_in_any_order_with_extra_columns():
    parsed = parse(
        "timestamp_utc,note,Status,STORE_ID,zone\n"
        "2023-01-22 12:09:39.388884 UTC,hello,active,s1,x\n"
    )
    assert parsed.kind == PINGS
    assert parsed.rows[["store_id", "ts_us", "active", "line"]].to_dict("records") == [
        {"store_id": "s1", "ts_us": JAN22_120939_US + 388_884, "active": True, "line": 2}
    ]
    assert_counts_add_up(parsed, 1)


@pytest.mark.parametrize("day_column", ["dayOfWeek", "day", "DAY", " dayofweek "])
def test_business_hours_header_accepts_day_alias(day_column):
    parsed = parse(f"end_time_local,{day_column},store_id,start_time_local\n17:00:00,2,s1,09:00:00\n")
    assert parsed.kind == BUSINESS_HOURS
    # 09:00:00 = 9*3600 = 32400 s; 17:00:00 = 17*3600 = 61200 s.
    assert parsed.rows[["store_id", "day_of_week", "start_s", "end_s"]].to_dict("records") == [
        {"store_id": "s1", "day_of_week": 2, "start_s": 32_400, "end_s": 61_200}
    ]


def test_timezones_header_and_dtypes():
    parsed = parse("timezone_str,store_id\nAmerica/New_York,s1\n")
    assert parsed.kind == TIMEZONES
    assert parsed.rows[["store_id", "timezone"]].to_dict("records") == [
        {"store_id": "s1", "timezone": "America/New_York"}
    ]
    assert parsed.rows["line"].dtype == "int64"


def test_bom_crlf_quotes_and_surrounding_spaces_are_ordinary_csv():
    data = (
        b"\xef\xbb\xbf\"store_id\", status ,timestamp_utc\r\n"
        b"\" s1 \", ACTIVE ,\"2023-01-22 12:09:39 UTC\"\r\n"
        b"s2,\" InActive\",  2023-01-22T12:09:39Z  \r\n"
    )
    parsed = parse(data)
    assert parsed.kind == PINGS
    assert parsed.rows[["store_id", "ts_us", "active", "line"]].to_dict("records") == [
        {"store_id": "s1", "ts_us": JAN22_120939_US, "active": True, "line": 2},
        {"store_id": "s2", "ts_us": JAN22_120939_US, "active": False, "line": 3},
    ]
    assert parsed.rejected.empty


def test_quoted_field_with_line_break_keeps_physical_line_numbers():
    parsed = parse(
        PINGS_HEADER
        + '"s\n1",active,2023-01-22T12:09:39Z\n'  # lines 2-3
        + "s2,bogus,2023-01-22T12:09:39Z\n"  # line 4
        + "s3,active,2023-01-22T12:09:39Z\n"  # line 5
    )
    assert parsed.rows["line"].tolist() == [2, 5]
    assert parsed.rows["store_id"].tolist() == ["s\n1", "s3"]
    assert parsed.rejected[["line", "reason"]].to_dict("records") == [{"line": 4, "reason": "unknown status 'bogus'"}]


@pytest.mark.parametrize("status,active", [("active", True), ("Active", True), ("ACTIVE", True),
                                           ("inactive", False), (" InActive ", False)])
def test_status_any_case(status, active):
    parsed = parse(PINGS_HEADER + f"s1,{status},2023-01-22T12:09:39Z\n")
    assert parsed.rows["active"].tolist() == [active]


def test_unknown_header_raises_with_a_clear_message():
    with pytest.raises(UnknownFileKind) as info:
        parse("store,state,when\ns1,active,2023-01-22T12:09:39Z\n", name="mystery.csv")
    message = str(info.value)
    assert "mystery.csv" in message
    assert "store,state,when" in message
    # The message names what each kind needs, so the operator can fix the export.
    for column in ("store_id", "status", "timestamp_utc", "dayofweek", "start_time_local", "timezone_str"):
        assert column in message


def test_empty_file_is_an_unknown_kind():
    with pytest.raises(UnknownFileKind, match="empty.csv"):
        parse(b"", name="empty.csv")


def test_header_only_file_has_no_rows():
    parsed = parse(HOURS_HEADER)
    assert parsed.kind == BUSINESS_HOURS
    assert_counts_add_up(parsed, 0)


def test_parse_csv_file_uses_base_name_and_sha256(tmp_path):
    path = tmp_path / "any name.txt"
    data = (ZONES_HEADER + "s1,Asia/Kolkata\n").encode()
    path.write_bytes(data)
    parsed = parse_csv_file(path, INGESTED_US)
    assert parsed.file_name == "any name.txt"
    import hashlib

    assert parsed.sha256 == hashlib.sha256(data).hexdigest()
    assert parsed.kind == TIMEZONES


# --- value forms -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,expected_us",
    [
        ("2023-01-22 12:09:39.388884 UTC", JAN22_120939_US + 388_884),
        ("2023-01-22 12:09:39 UTC", JAN22_120939_US),
        ("2023-01-22 12:09:39.5 utc", JAN22_120939_US + 500_000),
        ("2023-01-22T12:09:39Z", JAN22_120939_US),
        ("2023-01-22T12:09:39.388884Z", JAN22_120939_US + 388_884),
        ("2023-01-22T12:09:39", JAN22_120939_US),
        ("2023-01-22 12:09:39Z", JAN22_120939_US),
        ("2023-01-22T12:09:39.25", JAN22_120939_US + 250_000),
        # An explicit offset is honoured: 14:09:39+02:00 is 12:09:39 UTC.
        ("2023-01-22T14:09:39+02:00", JAN22_120939_US),
    ],
)
def test_timestamp_forms(text, expected_us):
    assert parse_timestamps_us(pd.Series([text], dtype=str)).tolist() == [expected_us]
    parsed = parse(PINGS_HEADER + f"s1,active,{text}\n")
    assert parsed.rows["ts_us"].tolist() == [expected_us]


@pytest.mark.parametrize(
    "text,expected_s",
    [
        ("09:30:15", 34_215),  # 9*3600 + 30*60 + 15
        ("09:30", 34_200),  # 9*3600 + 30*60
        ("9:30", 34_200),
        ("00:00:00", 0),
        ("23:59:59", 86_399),  # 23*3600 + 59*60 + 59
        ("23:59", 86_340),  # 23*3600 + 59*60
        ("17:00:00.75", 61_200),  # fraction dropped: 17*3600
    ],
)
def test_time_of_day_forms(text, expected_s):
    assert parse_times_of_day_s(pd.Series([text], dtype=str)).tolist() == [expected_s]


@pytest.mark.parametrize("text", ["25:00:00", "24:00:00", "12:60", "12:00:60", "noon", "", "12", "1200", "12:0"])
def test_not_a_time_of_day(text):
    assert parse_times_of_day_s(pd.Series([text], dtype=str)).isna().all()


time_like = st.text(alphabet="0123456789:. x\u0663", max_size=11) | st.builds(
    lambda h, m, s, form: form.format(h=h, m=m, s=s),
    st.integers(0, 99), st.integers(0, 99), st.integers(0, 99),
    st.sampled_from(["{h:02d}:{m:02d}:{s:02d}", "{h:02d}:{m:02d}", "{h}:{m:02d}", "{h:02d}:{m:02d}:{s:02d}.5"]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(time_like, max_size=20))
def test_fast_time_parser_matches_the_regex_definition(texts):
    values = pd.Series(texts, dtype=str, index=pd.RangeIndex(10, 10 + len(texts)))
    fast = parse_times_of_day_s(values)
    reference = _parse_times_of_day_regex(values)
    assert fast.index.equals(reference.index)
    assert fast.astype(object).where(fast.notna(), None).tolist() == reference.astype(object).where(
        reference.notna(), None
    ).tolist()


# --- rows kept aside --------------------------------------------------------


def test_bad_ping_rows_are_kept_aside_with_file_line_reason_raw():
    ingest = INGESTED_US
    parsed = parse(
        PINGS_HEADER
        + "s1,active,2023-01-22T12:09:39Z\n"  # 2 ok
        + " ,active,2023-01-22T12:09:39Z\n"  # 3 empty store_id
        + "s2,maybe,2023-01-22T12:09:39Z\n"  # 4 unknown status
        + "s3,active,yesterday\n"  # 5 unparseable timestamp
        + "s4,inactive,1999-12-31T23:59:59Z\n"  # 6 before 2000
        + "s5,inactive,2000-01-01T00:00:00Z\n"  # 7 ok: 2000-01-01 itself
        + "s6,active,2023-01-26T01:00:00Z\n"  # 8 ok: exactly ingest + 1 h
        + "s7,active,2023-01-26T01:00:00.000001Z\n"  # 9 ingest + 1 h + 1 us
        + "s8,active,\n"  # 10 empty timestamp
        + "store_id,status,timestamp_utc\n"  # 11 repeated header
        + "\n"  # 12 blank: not a data row
        + "s9,active,2023-01-22T12:09:39Z\n",  # 13 ok
        name="pings.csv",
        ingested_at_us=ingest,
    )
    assert parsed.rows["line"].tolist() == [2, 7, 8, 13]
    # 2000-01-01 = 30 years * 365 + 7 leap days (1972..1996) = 10957 days = 946_684_800 s.
    assert parsed.rows["ts_us"].tolist() == [
        JAN22_120939_US,
        946_684_800_000_000,
        ingest + 3_600_000_000,
        JAN22_120939_US,
    ]
    assert parsed.rejected.to_dict("records") == [
        {"file": "pings.csv", "line": 3, "reason": "empty store_id", "raw": " ,active,2023-01-22T12:09:39Z"},
        {"file": "pings.csv", "line": 4, "reason": "unknown status 'maybe'", "raw": "s2,maybe,2023-01-22T12:09:39Z"},
        {"file": "pings.csv", "line": 5, "reason": "unparseable timestamp", "raw": "s3,active,yesterday"},
        {"file": "pings.csv", "line": 6, "reason": "timestamp out of range", "raw": "s4,inactive,1999-12-31T23:59:59Z"},
        {"file": "pings.csv", "line": 9, "reason": "timestamp out of range",
         "raw": "s7,active,2023-01-26T01:00:00.000001Z"},
        {"file": "pings.csv", "line": 10, "reason": "unparseable timestamp", "raw": "s8,active,"},
        {"file": "pings.csv", "line": 11, "reason": "repeated header row", "raw": "store_id,status,timestamp_utc"},
    ]
    assert_counts_add_up(parsed, 11)


@pytest.mark.parametrize("text", ["1600-01-01 00:00:00 UTC", "9999-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_far_timestamps_are_out_of_range_not_unparseable(text):
    parsed = parse(PINGS_HEADER + f"s1,active,{text}\n")
    assert parsed.rejected["reason"].tolist() == ["timestamp out of range"]


def test_bad_business_hours_rows():
    parsed = parse(
        HOURS_HEADER
        + "s1,0,09:00:00,17:00:00\n"  # 2 ok
        + "s1,1,25:00:00,17:00:00\n"  # 3 bad start
        + "s1,7,09:00,17:00\n"  # 4 day 7
        + "s1,-1,09:00,17:00\n"  # 5 negative day
        + "s1,mon,09:00,17:00\n"  # 6 named day
        + "s1,2,09:00,5pm\n"  # 7 bad end
        + ",3,09:00,17:00\n"  # 8 empty store
        + "s1,06,09:00,17:00\n",  # 9 ok: "06" is 6
        name="hours.csv",
    )
    assert parsed.rows[["line", "day_of_week", "start_s", "end_s"]].to_dict("records") == [
        {"line": 2, "day_of_week": 0, "start_s": 32_400, "end_s": 61_200},
        {"line": 9, "day_of_week": 6, "start_s": 32_400, "end_s": 61_200},
    ]
    assert parsed.rejected[["line", "reason"]].to_dict("records") == [
        {"line": 3, "reason": "unparseable start_time_local"},
        {"line": 4, "reason": "day of week outside 0-6"},
        {"line": 5, "reason": "day of week outside 0-6"},
        {"line": 6, "reason": "day of week outside 0-6"},
        {"line": 7, "reason": "unparseable end_time_local"},
        {"line": 8, "reason": "empty store_id"},
    ]
    assert parsed.rows["day_of_week"].dtype == "int8"
    assert parsed.rows["start_s"].dtype == "int32"
    assert_counts_add_up(parsed, 8)


def test_unknown_zone_is_kept_aside():
    parsed = parse(ZONES_HEADER + "s1,America/Chicagoo\ns2, America/Chicago \n", name="tz.csv")
    assert parsed.rows[["store_id", "timezone"]].to_dict("records") == [
        {"store_id": "s2", "timezone": "America/Chicago"}
    ]
    assert parsed.rejected.to_dict("records") == [
        {"file": "tz.csv", "line": 2, "reason": "unknown zone name 'America/Chicagoo'", "raw": "s1,America/Chicagoo"}
    ]


def test_ragged_row_in_the_middle_is_kept_aside():
    parsed = parse(
        PINGS_HEADER
        + "s1,active,2023-01-22T12:09:39Z\n"
        + "s2,active,2023-01-22T12:09:39Z,extra\n"
        + "s3,inactive\n"
        + "s4,active,2023-01-22T12:09:39Z\n"
    )
    assert parsed.rows["store_id"].tolist() == ["s1", "s4"]
    assert parsed.rejected[["line", "reason", "raw"]].to_dict("records") == [
        {"line": 3, "reason": "expected 3 fields, found 4", "raw": "s2,active,2023-01-22T12:09:39Z,extra"},
        {"line": 4, "reason": "expected 3 fields, found 2", "raw": "s3,inactive"},
    ]
    assert_counts_add_up(parsed, 4)


def test_ragged_first_row_does_not_shift_the_columns():
    # pandas' reader makes the first column an index when the first row has
    # one field more than the header: every row would be read shifted.
    parsed = parse(
        ZONES_HEADER
        + "s1,America/New_York,oops\n"
        + "s2,Asia/Kolkata\n"
    )
    assert parsed.rows[["store_id", "timezone", "line"]].to_dict("records") == [
        {"store_id": "s2", "timezone": "Asia/Kolkata", "line": 3}
    ]
    assert parsed.rejected[["line", "reason", "raw"]].to_dict("records") == [
        {"line": 2, "reason": "expected 2 fields, found 3", "raw": "s1,America/New_York,oops"}
    ]


def test_trailing_comma_on_every_row_is_ragged_not_misread():
    parsed = parse(HOURS_HEADER + "s1,0,09:00,17:00,\ns2,1,09:00,17:00,\n")
    assert parsed.rows.empty
    assert parsed.rejected["reason"].tolist() == ["expected 4 fields, found 5"] * 2
    assert parsed.rejected["raw"].tolist() == ["s1,0,09:00,17:00,", "s2,1,09:00,17:00,"]


def test_whitespace_only_lines_are_not_data_rows():
    parsed = parse(ZONES_HEADER + "s1,Asia/Kolkata\n   \n , \r\n\n")
    assert_counts_add_up(parsed, 1)
    assert parsed.rejected.empty


def test_non_utf8_bytes_reject_only_their_row():
    data = (PINGS_HEADER.encode() + b"s\xff1,active,2023-01-22T12:09:39Z\n" + b"s2,active,2023-01-22T12:09:39Z\n")
    parsed = parse(data, name="latin.csv")
    assert parsed.rows["store_id"].tolist() == ["s2"]
    assert parsed.rejected[["file", "line", "reason"]].to_dict("records") == [
        {"file": "latin.csv", "line": 2, "reason": "not valid UTF-8"}
    ]
    assert parsed.rejected["raw"].iloc[0] == "s\ufffd1,active,2023-01-22T12:09:39Z"


def test_parser_keeps_duplicate_pings_for_the_warehouse_to_resolve():
    parsed = parse(PINGS_HEADER + "s1,active,2023-01-22T12:09:39Z\ns1,inactive,2023-01-22 12:09:39 UTC\n")
    assert parsed.rows[["ts_us", "active", "line"]].to_dict("records") == [
        {"ts_us": JAN22_120939_US, "active": True, "line": 2},
        {"ts_us": JAN22_120939_US, "active": False, "line": 3},
    ]


def test_quoted_file_with_a_bad_row_still_reports_every_row():
    # Quotes send the file through the csv-module reader: same rules apply.
    parsed = parse(
        '"store_id","status","timestamp_utc"\n'
        '"s1","active","2023-01-22 12:09:39 UTC"\n'
        '"","active","2023-01-22 12:09:39 UTC"\n'
        '"s3","active","2023-01-22 12:09:39 UTC","x"\n'
    )
    assert parsed.rows["store_id"].tolist() == ["s1"]
    assert parsed.rejected[["line", "reason"]].to_dict("records") == [
        {"line": 3, "reason": "empty store_id"},
        {"line": 4, "reason": "expected 3 fields, found 4"},
    ]
    assert_counts_add_up(parsed, 3)


def test_many_rows_count_up():
    rows = [f"s{i},{i % 7},{i % 24:02d}:00,{(i + 5) % 24:02d}:30:00" for i in range(500)]
    rows[17] = "s17,9,10:00,11:00"
    rows[300] = "s300,1,10:00"
    parsed = parse(HOURS_HEADER + "\n".join(rows) + "\n")
    assert_counts_add_up(parsed, 500)
    assert parsed.rejected["line"].tolist() == [19, 302]  # data row i is on line i + 2
    assert len(parsed.rows) == 498
    ok = parsed.rows.set_index("store_id").loc["s10"]
    # s10: day 10 % 7 = 3, 10:00 = 36000 s, (10+5)%24 = 15 -> 15:30:00 = 55800 s.
    assert (ok["day_of_week"], ok["start_s"], ok["end_s"], ok["line"]) == (3, 36_000, 55_800, 12)


def test_ingest_moment_matters_only_for_the_future_bound():
    ingest = int(datetime(2023, 1, 22, 11, 9, 39, tzinfo=timezone.utc).timestamp()) * 1_000_000
    # 12:09:39 is exactly ingest + 1 h: accepted; one second later is not.
    parsed = parse(
        PINGS_HEADER + "s1,active,2023-01-22T12:09:39Z\ns1,active,2023-01-22T12:09:40Z\n", ingested_at_us=ingest
    )
    assert parsed.rows["ts_us"].tolist() == [JAN22_120939_US]
    assert parsed.rejected["reason"].tolist() == ["timestamp out of range"]


def test_mixed_timestamp_forms_in_one_file():
    # One column, three spellings of the same instant plus a naive one: no
    # per-file format guess may reject or shift the others.
    parsed = parse(
        PINGS_HEADER
        + "s1,active,2023-01-22T12:09:39\n"
        + "s1,active,2023-01-22T14:09:39+02:00\n"
        + "s1,active,2023-01-22 12:09:39.388884 UTC\n"
        + "s1,active,2023-01-22T12:09:39.5Z\n"
    )
    assert parsed.rows["ts_us"].tolist() == [
        JAN22_120939_US, JAN22_120939_US, JAN22_120939_US + 388_884, JAN22_120939_US + 500_000
    ]


def test_time_parser_keeps_index_and_missing_values():
    values = pd.Series(["09:00", None, "10:00:00", "7:05"], index=[7, 3, 5, 1], dtype=str)
    parsed = parse_times_of_day_s(values)
    assert parsed.index.tolist() == [7, 3, 5, 1]
    # 9*3600 = 32400; 10*3600 = 36000; 7*3600 + 5*60 = 25500.
    assert parsed.astype(object).where(parsed.notna(), None).tolist() == [32_400, None, 36_000, 25_500]


def timestamps_by_regex(values: pd.Series) -> pd.Series:
    """The definition the fast suffix cut must match: the grammar, then the regex, on every value."""
    complete = values.str.fullmatch(COMPLETE_INSTANT).fillna(False).astype(bool)
    cleaned = values.where(complete, None).str.replace(_TS_SUFFIX, "", regex=True)
    parsed = pd.to_datetime(cleaned, format="ISO8601", errors="coerce", utc=True)
    return pd.Series([None if pd.isna(v) else int(v.value // 1000) for v in parsed], index=values.index, dtype=object)


timestamp_like = st.builds(
    lambda stamp, gap, suffix: stamp + gap + suffix,
    st.sampled_from(["2023-01-22 12:09:39.388884", "2023-01-22T12:09:39", "2023-01-22", "", "x", "2023-01-22T12:09:39+02:00"]),
    st.sampled_from(["", " ", "  ", "\t", " \t"]),
    st.sampled_from(["", "UTC", "utc", "Utc", "Z", "z", "UTC ", " UTC", "UTCZ"]),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(timestamp_like, max_size=12))
def test_fast_timestamp_suffix_cut_matches_the_regex_definition(texts):
    values = pd.Series(texts, dtype=str, index=pd.RangeIndex(3, 3 + len(texts)))
    got = parse_timestamps_us(values)
    assert got.index.equals(values.index)
    assert got.astype(object).where(got.notna(), None).tolist() == timestamps_by_regex(values).tolist()


# A row cut off while its file was being written: ISO 8601 (and pandas) would read each of these
# as a real instant (midnight, 11:05, 11:00, the 1st, New Year), a ping at a made-up time.
CUT_OFF_TIMESTAMPS = ["2023-01-22 ", "2023-01-22", "2023-01-22 11:5", "2023-01-22 11", "2023-01-22 11:59",
                      "2023-01-2", "2023", "2023-01-22 11:59:3", "2023-01-22 11:59:30 UT", "2023-01-22 11:59:30."]


@pytest.mark.parametrize("text", CUT_OFF_TIMESTAMPS)
def test_a_timestamp_cut_short_is_rejected_not_completed(text):
    parsed = parse(PINGS_HEADER + f"s1,active,{text}\n")
    assert parsed.rows.empty
    assert parsed.rejected["reason"].tolist() == ["unparseable timestamp"]


def test_a_file_cut_inside_its_last_timestamp_loses_only_that_row():
    # Plain rows (the fast reader) and the cut last row of a stalled upload, no final newline.
    rows = "".join(f"s{i},active,2023-01-22 1{i}:00:00.000000 UTC\n" for i in range(5))
    parsed = parse(PINGS_HEADER + rows + "s9,inactive,2023-01-22 11:5")
    assert len(parsed.rows) == 5
    assert parsed.rejected[["line", "reason"]].values.tolist() == [[7, "unparseable timestamp"]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2023-01-22 11:05:00", "2023-01-22T11:05:00Z"),
        ("2023-01-22T11:05:00.5z", "2023-01-22T11:05:00.5Z"),
        ("2023-01-22 11:05:00.123456789 utc", "2023-01-22T11:05:00.123456Z"),
        ("2023-01-22T11:05:00+01:00", "2023-01-22T10:05:00Z"),
        ("2023-01-22T11:05:00-0130", "2023-01-22T12:35:00Z"),
    ],
)
def test_complete_instants_in_every_documented_form_are_read(text, expected):
    parsed = parse(PINGS_HEADER + f"s1,active,{text}\n")
    assert parsed.rejected.empty
    assert parsed.rows["ts_us"].tolist() == [pd.Timestamp(expected).value // 1000]
