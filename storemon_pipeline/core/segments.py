"""Status over business time (docs/report-semantics.md#status-evidence-and-the-nearest-ping).

All stores are handled at once: each (store, instant) pair is packed into one
int64 key, `store_code << 40 | (instant - base)`, so a single sorted array
and `searchsorted` answer "which interval / which ping" for every store
without a Python loop per store or per ping.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, WINDOW_SPANS_US

ACTIVE, INACTIVE, UNKNOWN = "active", "inactive", "unknown"
STATUS_CODES = np.array([INACTIVE, ACTIVE, UNKNOWN], dtype=object)  # index = code
CODE_INACTIVE, CODE_ACTIVE, CODE_UNKNOWN = 0, 1, 2
# The segments' status column: categorical, its codes those above.
STATUS_DTYPE = pd.CategoricalDtype(list(STATUS_CODES))
SEGMENT_COLUMNS = ["store_id", "start_us", "end_us", "status"]

# 2**40 us is 12.7 days: room for the 8-day evidence span, and 2**23 stores.
_KEY_SHIFT = 40


def codes_in(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value in `index`, -1 where absent.

    A categorical column (how the warehouse hands over millions of pings) is looked
    up once per category, not once per row.
    """
    if isinstance(values.dtype, pd.CategoricalDtype):
        by_category = np.append(index.get_indexer(values.cat.categories), -1)
        return by_category[values.cat.codes.to_numpy()]  # code -1 (missing) takes the appended -1
    return index.get_indexer(values)


def _keys(codes: np.ndarray, instants_us: np.ndarray, base_us: int) -> np.ndarray:
    return (codes.astype(np.int64) << _KEY_SHIFT) | (instants_us.astype(np.int64) - base_us)


def evidence_pings(pings: pd.DataFrame, intervals: pd.DataFrame, store_index: pd.Index, base_us: int) -> pd.DataFrame:
    """The pings that fall inside business time ([start, end) holds its start, not its end)."""
    ping_codes = codes_in(store_index, pings["store_id"])
    interval_codes = codes_in(store_index, intervals["store_id"])
    starts = _keys(interval_codes, intervals["start_us"].to_numpy(), base_us)
    order = np.argsort(starts, kind="stable")
    starts = starts[order]
    ends = _keys(interval_codes, intervals["end_us"].to_numpy(), base_us)[order]
    ping_keys = _keys(ping_codes, pings["ts_us"].to_numpy(), base_us)
    holder = np.searchsorted(starts, ping_keys, side="right") - 1
    # An interval of an earlier store ends below this store's first key, so
    # `ping < end` also proves the interval is this store's.
    inside = (holder >= 0) & (ping_keys < ends[np.maximum(holder, 0)])
    inside &= ping_codes >= 0
    return pings[inside]


def evidence_span_intervals(schedules: pd.DataFrame, as_of_us: int) -> pd.DataFrame:
    """Business time of the evidence span [T - 8 d, T]: a ping is evidence when one of these holds it.

    One microsecond past T so that a poll exactly at T, inside an opening that goes on
    after T, still counts.
    """
    return business_intervals_utc(schedules, as_of_us - EVIDENCE_SPAN_US, as_of_us + 1)


def status_segments(
    schedules: pd.DataFrame, pings: pd.DataFrame, as_of_us: int
) -> pd.DataFrame:
    """Business time of the last week cut into maximal runs of one status.

    `pings` may hold any pings; only those in [T - 8 d, T] inside business
    time are evidence. Every instant takes the status of the nearest evidence
    ping; a store with none is `unknown` (counted as down).
    """
    evidence_start_us = as_of_us - EVIDENCE_SPAN_US
    week_start_us = as_of_us - WINDOW_SPANS_US["week"]
    base_us = evidence_start_us

    open_intervals = evidence_span_intervals(schedules, as_of_us)
    store_index = pd.Index(np.sort(pd.unique(schedules["store_id"].to_numpy(dtype=object))), dtype=object)

    in_window = pings[(pings["ts_us"] >= evidence_start_us) & (pings["ts_us"] <= as_of_us)]
    evidence = evidence_pings(in_window, open_intervals, store_index, base_us)
    ev_codes = codes_in(store_index, evidence["store_id"]).astype(np.int64)
    ev_ts = evidence["ts_us"].to_numpy(dtype=np.int64)
    order = np.lexsort((ev_ts, ev_codes))
    ev_codes, ev_ts = ev_codes[order], ev_ts[order]
    ev_status = evidence["active"].to_numpy(dtype=bool)[order].astype(np.int8)
    # Duplicate pings (same store and instant) count once and the last one
    # given wins, as the last ingested does (docs/report-semantics.md#which-data-counts). The warehouse already
    # hands over one ping per instant; this keeps the core right on its own.
    # lexsort is stable, so the last of equal keys is the last in `pings`.
    last_of_instant = np.ones(len(ev_codes), dtype=bool)
    last_of_instant[:-1] = (ev_codes[1:] != ev_codes[:-1]) | (ev_ts[1:] != ev_ts[:-1])
    ev_codes, ev_ts, ev_status = ev_codes[last_of_instant], ev_ts[last_of_instant], ev_status[last_of_instant]

    # Nearest-ping status changes halfway between two evidence pings of
    # different status; equal neighbours make no change point.
    same_store = ev_codes[1:] == ev_codes[:-1]
    flips = same_store & (ev_status[1:] != ev_status[:-1])
    change_codes = ev_codes[1:][flips]
    change_us = (ev_ts[:-1][flips] + ev_ts[1:][flips]) // 2
    change_status = ev_status[1:][flips]
    change_keys = _keys(change_codes, change_us, base_us)

    first_status = np.full(len(store_index), CODE_UNKNOWN, dtype=np.int8)
    first_of_store = np.ones(len(ev_codes), dtype=bool)
    first_of_store[1:] = ~same_store
    first_status[ev_codes[first_of_store]] = ev_status[first_of_store]

    week = open_intervals.copy()
    week["start_us"] = week["start_us"].clip(lower=week_start_us)
    week["end_us"] = week["end_us"].clip(upper=as_of_us)
    week = week[week["end_us"] > week["start_us"]]
    week = week.iloc[np.lexsort((week["start_us"].to_numpy(), store_index.get_indexer(week["store_id"])))]
    week = week.reset_index(drop=True)
    iv_codes = store_index.get_indexer(week["store_id"]).astype(np.int64)
    iv_start_keys = _keys(iv_codes, week["start_us"].to_numpy(), base_us)
    iv_end_keys = _keys(iv_codes, week["end_us"].to_numpy(), base_us)

    # Status at each interval start: the last change at or before it, else
    # the store's first evidence status.
    last_change = np.searchsorted(change_keys, iv_start_keys, side="right") - 1
    has_change = last_change >= 0
    has_change[has_change] = change_codes[last_change[has_change]] == iv_codes[has_change]
    start_status = first_status[iv_codes]
    start_status[has_change] = change_status[last_change[has_change]]

    # Change points strictly inside an interval cut it.
    holder = np.searchsorted(iv_start_keys, change_keys, side="right") - 1
    safe_holder = np.maximum(holder, 0)
    inside = (holder >= 0) & (change_keys > iv_start_keys[safe_holder]) & (change_keys < iv_end_keys[safe_holder])

    piece_interval = np.concatenate([np.arange(len(week)), holder[inside]])
    piece_start_keys = np.concatenate([iv_start_keys, change_keys[inside]])
    piece_status = np.concatenate([start_status, change_status[inside]])
    order = np.argsort(piece_start_keys, kind="stable")
    piece_interval, piece_start_keys, piece_status = piece_interval[order], piece_start_keys[order], piece_status[order]
    piece_end_keys = iv_end_keys[piece_interval].copy()
    same_interval = piece_interval[1:] == piece_interval[:-1]
    piece_end_keys[:-1][same_interval] = piece_start_keys[1:][same_interval]

    offset_mask = (1 << _KEY_SHIFT) - 1
    # Categorical columns: a store id or status per segment would be 10^5 string objects.
    return pd.DataFrame(
        {
            "store_id": pd.Categorical.from_codes(iv_codes[piece_interval], categories=store_index),
            "start_us": (piece_start_keys & offset_mask) + base_us,
            "end_us": (piece_end_keys & offset_mask) + base_us,
            "status": pd.Categorical.from_codes(piece_status, dtype=STATUS_DTYPE),
        }
    )[SEGMENT_COLUMNS]
