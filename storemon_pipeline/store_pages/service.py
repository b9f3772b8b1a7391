"""From a request's store id and as-of to what a page shows, or a one-line refusal.

The router only maps these results and errors to HTTP; everything here is plain Python
on the warehouse's reads and the core, so it is tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, as_of_from_partition_key, partition_key
from storemon_pipeline.core.csv_general import MAX_STORE_ID_CHARS
from storemon_pipeline.core.report import worst_stores
from storemon_pipeline.core.timeline import StoreTimeline, store_timeline
from storemon_pipeline.warehouse import Warehouse

# The worst stores the root page lists: as many as the report's metadata shows.
WORST_STORES_LISTED = 20
_ECHO_LIMIT = 80


class PageError(Exception):
    """A request the pages cannot answer; `message` is one line for the person who asked."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(PageError):
    status_code = 404


class SegmentsPruned(PageError):
    """The report row is there but the segments it was summed from are gone."""

    status_code = 409


class WarehouseDown(PageError):
    status_code = 503


def _echo(text: str) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= _ECHO_LIMIT else text[: _ECHO_LIMIT - 1] + "…")


@dataclass(frozen=True)
class ReportChoice:
    """The report a page is about, and every report there is (newest first), as partition keys."""

    as_of_us: int
    keys: list[str]

    @property
    def key(self) -> str:
        return partition_key(self.as_of_us)


def choose_report(warehouse: Warehouse, as_of: str | None) -> ReportChoice:
    """The report as of `as_of` (a partition key), or the latest one; NotFound when there is none."""
    as_ofs = warehouse.report_as_ofs()
    keys = [partition_key(value) for value in as_ofs]
    if as_of is None:
        if not as_ofs:
            raise NotFound("no report has been computed yet: trigger one (POST /trigger_report) and come back")
        return ReportChoice(as_ofs[0], keys)
    try:
        as_of_us = as_of_from_partition_key(as_of)
    except (ValueError, OverflowError):
        raise NotFound(f"no report as of {_echo(as_of)}: an as-of is a key like 2023-01-25T18:13:23Z") from None
    if as_of_us not in set(as_ofs):
        raise NotFound(f"no report as of {as_of}: pick one of the reports listed at /")
    return ReportChoice(as_of_us, keys)


def load_timeline(warehouse: Warehouse, store_id: str, as_of: str | None) -> tuple[StoreTimeline, ReportChoice]:
    """The store's timeline in the chosen report, from the rows that report's run stored."""
    choice = choose_report(warehouse, as_of)
    # Ids no input can hold are answered here: PostgreSQL refuses a NUL in a bound parameter.
    if not store_id or len(store_id) > MAX_STORE_ID_CHARS or "\x00" in store_id:
        raise NotFound(f"store {_echo(store_id)} is not in the report as of {choice.key}")
    rows = warehouse.read_store_partition(choice.as_of_us, store_id, choice.as_of_us - EVIDENCE_SPAN_US)
    if rows.report_row is None:
        raise NotFound(f"store {_echo(store_id)} is not in the report as of {choice.key}")
    if not rows.segments_stored:
        raise SegmentsPruned(
            f"the status segments of the report as of {choice.key} are no longer stored (pruned): re-run the "
            f"report for that as-of (storemon report --as-of {choice.key}, or request_report with as_of "
            f"{choice.key}) to see its timelines"
        )
    timeline = store_timeline(store_id, choice.as_of_us, rows.schedules, rows.segments, rows.pings, rows.report_row)
    return timeline, choice


def load_worst_stores(warehouse: Warehouse, as_of: str | None) -> tuple[pd.DataFrame, int, ReportChoice]:
    """The chosen report's worst stores, its number of stores, and the choice."""
    choice = choose_report(warehouse, as_of)
    report = warehouse.read_report(choice.as_of_us)
    return worst_stores(report, WORST_STORES_LISTED), len(report), choice
