"""The truth: what a perfect observer, who knows every store's true status, would report."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from storemon_pipeline.core.business_time import business_intervals_utc
from storemon_pipeline.core.clock import WINDOW_SPANS_US
from storemon_pipeline.core.report import business_time_by_window, store_report
from storemon_pipeline.core.segments import CODE_ACTIVE, CODE_INACTIVE, STATUS_DTYPE
from storemon_pipeline.simulate.intervals import IntervalLookup


def truth_as_of(schedules: pd.DataFrame, true_status: pd.DataFrame, as_of_us: int,
                store_ids: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(truth, business_time) per store as of `as_of_us`: what a perfect observer would report.

    `true_status`: store_id, start_us, end_us, active (disjoint per store);
    time a store's segments do not cover counts as not active. `schedules`:
    `core.schedules.normalize_schedules` output. The last week's business time,
    split by the true status, goes through the report's own sums
    (`core.report.store_report`), so truth is rounded like the report;
    business_time (`core.report.business_time_by_window`) is exact, in the same units.
    """
    if store_ids is None:
        store_ids = schedules["store_id"].unique()
    store_ids = np.sort(np.asarray(list(store_ids), dtype=object).astype(str)).astype(object)
    week_start_us = as_of_us - WINDOW_SPANS_US["week"]
    business = business_intervals_utc(schedules, week_start_us, as_of_us)
    observed = _business_time_by_true_status(business, true_status, pd.Index(store_ids), week_start_us, as_of_us)
    return store_report(observed, store_ids, as_of_us), business_time_by_window(business, store_ids, as_of_us)


def _business_time_by_true_status(business: pd.DataFrame, true_status: pd.DataFrame, stores: pd.Index,
                                  lo_us: int, hi_us: int) -> pd.DataFrame:
    """Business time within [lo_us, hi_us] as segments (core.segments.SEGMENT_COLUMNS) of the true status.

    Cut at every boundary of a business interval or a status segment, each
    piece is wholly inside or outside business time and of one true status.
    """
    def lookup(frame: pd.DataFrame, weight: np.ndarray | None) -> IntervalLookup:
        store = stores.get_indexer(frame["store_id"])
        start_us, end_us = frame["start_us"].to_numpy(np.int64), frame["end_us"].to_numpy(np.int64)
        keep = (store >= 0) & (end_us > lo_us) & (start_us < hi_us)
        return IntervalLookup(store[keep], start_us[keep], end_us[keep], None if weight is None else weight[keep],
                              lo_us, hi_us)

    is_open = lookup(business, None)
    is_active = lookup(true_status, true_status["active"].to_numpy(bool))
    cuts = np.sort(np.concatenate([is_open.boundary_keys(), is_active.boundary_keys()]))
    cuts = cuts[np.diff(cuts, prepend=-1) > 0]  # keys are >= 0
    store, start_us = np.divmod(cuts[:-1], is_open.stride)
    end_store, end_us = np.divmod(cuts[1:], is_open.stride)
    start_us, end_us = start_us + lo_us, end_us + lo_us
    piece = (store == end_store) & is_open.contains(store, start_us)
    store, start_us, end_us = store[piece], start_us[piece], end_us[piece]
    # Categorical columns, as core.segments.status_segments hands them to the report.
    return pd.DataFrame({
        "store_id": pd.Categorical.from_codes(store, categories=stores),
        "start_us": start_us,
        "end_us": end_us,
        "status": pd.Categorical.from_codes(np.where(is_active.value_at(store, start_us), CODE_ACTIVE, CODE_INACTIVE),
                                            dtype=STATUS_DTYPE),
    })
