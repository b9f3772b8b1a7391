"""Rows a correct parser must reject, and duplicate pings, added to a fleet's inputs (`bad_rows=True`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from storemon_pipeline.core.clock import US_PER_DAY, US_PER_HOUR, US_PER_S
from storemon_pipeline.core.values import EARLIEST_PING_US
from storemon_pipeline.core.segments import ACTIVE, INACTIVE
from storemon_pipeline.simulate.model import PINGS_HEADER, FleetKnobs
from storemon_pipeline.simulate.text import format_timestamps_utc

# (file, kind, line, raw): one rejected row; line 1 is the header.
BadRecord = tuple[str, str, int, str]


def no_extra_pings() -> pd.DataFrame:
    """PingLog.extra_rows with no rows."""
    return pd.DataFrame({"position": pd.Series(dtype=np.int64), "store_id": pd.Series(dtype=object),
                         "status": pd.Series(dtype=object), "timestamp_utc": pd.Series(dtype=object)})


def add_bad_rows(rng: np.random.Generator, knobs: FleetKnobs, as_of_us: int, store_ids: np.ndarray,
                 zone_state: np.ndarray, business_hours: pd.DataFrame, timezones: pd.DataFrame,
                 polls: tuple[np.ndarray, np.ndarray, np.ndarray]
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, list[BadRecord]]:
    """(business_hours, timezones, extra ping rows, records) with bad rows and duplicate pings added.

    Hours and zone rows land in the tables at random places; ping rows stay apart
    (PingLog.extra_rows, each before valid row `position`). `polls` is the poll log
    as (store index, ts_us, active).
    """
    poll_store, poll_ts, active = polls
    has_hours = np.isin(store_ids, business_hours["store_id"].to_numpy())
    bad = _bad_rows(rng, store_ids, has_hours, zone_state, as_of_us, knobs.bad_rows_per_kind)
    records: list[BadRecord] = []
    business_hours, landed = _insert_rows(rng, business_hours, [f for _, f in bad["menu_hours.csv"]])
    records += [("menu_hours.csv", kind, int(at) + 2, ",".join(f)) for (kind, f), at in zip(bad["menu_hours.csv"], landed)]
    timezones, landed = _insert_rows(rng, timezones, [f for _, f in bad["timezones.csv"]])
    records += [("timezones.csv", kind, int(at) + 2, ",".join(f)) for (kind, f), at in zip(bad["timezones.csv"], landed)]
    bad_ping_rows = pd.DataFrame([f for _, f in bad["store_status.csv"]], columns=PINGS_HEADER, dtype=object)
    bad_ping_rows["position"] = rng.integers(0, len(poll_ts) + 1, len(bad_ping_rows))
    bad_ping_rows["kind"] = [kind for kind, _ in bad["store_status.csv"]]
    # Exact duplicates of real polls, right after the original: count once.
    copied = rng.choice(len(poll_ts), size=min(knobs.duplicate_pings, len(poll_ts)), replace=False)
    duplicates = pd.DataFrame({
        "store_id": store_ids[poll_store[copied]],
        "status": np.where(active[copied], ACTIVE, INACTIVE).astype(object),
        "timestamp_utc": format_timestamps_utc(poll_ts[copied]).astype(str).astype(object),
        "position": copied + 1,
        "kind": "duplicate",
    })
    extra_pings = pd.concat([bad_ping_rows, duplicates], ignore_index=True)
    extra_pings = extra_pings.sort_values("position", kind="stable").reset_index(drop=True)
    # np.insert puts an extra row before valid row `position`; earlier extras shift it down.
    file_row = extra_pings["position"].to_numpy() + np.arange(len(extra_pings))
    records += [("store_status.csv", kind, int(row) + 2, f"{s},{st},{t}") for kind, row, s, st, t in zip(
        extra_pings["kind"], file_row, extra_pings["store_id"], extra_pings["status"], extra_pings["timestamp_utc"])
        if kind != "duplicate"]
    return business_hours, timezones, extra_pings.drop(columns="kind"), records


def bad_rows_table(records: list[BadRecord], timezones: pd.DataFrame, misspelt_zone_stores: np.ndarray) -> pd.DataFrame:
    """file, line, kind, raw of every row a correct parser rejects, by file and line.

    The world's own misspelt zones are rejected rows too (injected ones name other stores).
    """
    misspelt = np.flatnonzero(timezones["store_id"].isin(misspelt_zone_stores).to_numpy())
    records = records + [("timezones.csv", "unknown zone", int(i) + 2,
                          f"{timezones['store_id'].iat[i]},{timezones['timezone_str'].iat[i]}") for i in misspelt]
    bad_rows = pd.DataFrame(records, columns=["file", "kind", "line", "raw"])[["file", "line", "kind", "raw"]]
    return bad_rows.sort_values(["file", "line"], kind="stable").reset_index(drop=True)


def _bad_rows(rng: np.random.Generator, store_ids: np.ndarray, has_hours: np.ndarray, zone_state: np.ndarray,
              as_of_us: int, per_kind: int) -> dict[str, list[tuple[str, list[str]]]]:
    """Rows a correct parser rejects, per file: (kind, fields in header order).

    They name real stores where that is harmless under docs/report-semantics.md#rows-kept-aside (a rejected row
    is not used): unknown zones go to stores without a zone row, so the store
    is a Chicago store whichever way the row is read.
    """
    def some(candidates: np.ndarray) -> np.ndarray:
        if len(candidates) == 0:
            return np.array([""] * per_kind, dtype=object)
        return candidates[rng.integers(0, len(candidates), per_kind)]

    def cycle(options: list[str]) -> list[str]:
        return [options[i % len(options)] for i in range(per_kind)]

    recent_us = as_of_us - rng.integers(US_PER_HOUR, US_PER_DAY, per_kind, dtype=np.int64)
    recent = format_timestamps_utc(recent_us).astype(str)
    # A second before the earliest ping the core accepts; the other one far past any ingest.
    too_early = format_timestamps_utc(np.array([EARLIEST_PING_US - US_PER_S])).astype(str)[0]
    pings = (
        [("unknown status", [s, status, t])
         for s, status, t in zip(some(store_ids), cycle(["unknown", "online", "act1ve"]), recent)]
        + [("unparseable timestamp", [s, ACTIVE, t]) for s, t in
           zip(some(store_ids), cycle(["not a timestamp", "2023-02-30 10:00:00 UTC", "2023-03-13 25:61:00 UTC"]))]
        + [("empty store_id", ["", ACTIVE, t]) for t in recent]
        + [("out of range", [s, ACTIVE, t]) for s, t in
           zip(some(store_ids), cycle([too_early, "2099-01-01 00:00:00.000000 UTC"]))]
    )
    with_hours = some(store_ids[has_hours])
    hours = (
        [("day outside 0-6", [s, "7", "09:00:00", "17:00:00"]) for s in with_hours]
        + [("unparseable time", [s, str(d), "25:00:00", "26:00:00"]) for s, d in
           zip(some(store_ids[has_hours]), rng.integers(0, 7, per_kind))]
        + [("empty store_id", ["", "1", "09:00:00", "17:00:00"]) for _ in range(per_kind)]
    )
    zones = (
        [("unknown zone", [s, z]) for s, z in zip(some(store_ids[zone_state == "missing"]),
                                                   cycle(["Mars/Olympus_Mons", "America/Chicagoo", "UTC+5"]))]
        + [("empty store_id", ["", "America/New_York"]) for _ in range(per_kind)]
    )
    return {"store_status.csv": pings, "menu_hours.csv": hours, "timezones.csv": zones}


def _insert_rows(rng: np.random.Generator, table: pd.DataFrame, rows: list[list[str]]
                 ) -> tuple[pd.DataFrame, np.ndarray]:
    """Table with `rows` at random places (its own order kept), and the 0-based rows they landed at."""
    extra = pd.DataFrame(rows, columns=table.columns, dtype=object)
    before = np.sort(rng.integers(0, len(table) + 1, len(extra)))
    # Sorting by (place, original row first) keeps the table's order and puts each extra row before row `before`.
    place = np.concatenate([np.arange(len(table)), before])
    tie = np.concatenate([np.ones(len(table)), np.zeros(len(extra))])
    order = np.lexsort((tie, place))
    combined = pd.concat([table, extra], ignore_index=True).iloc[order].reset_index(drop=True)
    landed = np.argsort(order)[len(table):]
    return combined, landed
