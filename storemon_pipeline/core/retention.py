"""Retention: which report partitions keep their segments and their reports (pure: no Dagster, no SQL).

Cutoffs are measured back from the newest report's as-of, not from the wall clock: a warehouse
fed late (a backfill, a replay, the simulator's 2023) keeps the same recent partitions as one
fed live, and a stalled feed never empties itself.

A partition strictly older than the segments cutoff loses its status_segments (they are rebuilt
from the pings when it is asked for again); one strictly older than the reports cutoff loses
everything: its segments, its store_report rows, its CSV and chart, its dynamic partition key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from storemon_pipeline.core.clock import US_PER_DAY, US_PER_HOUR, US_PER_S

KEEP_SEGMENTS_ENV = "STOREMON_KEEP_SEGMENTS"
KEEP_REPORTS_ENV = "STOREMON_KEEP_REPORTS"
# Segments serve the store pages of recent reports; two days covers "why was X down yesterday".
DEFAULT_KEEP_SEGMENTS = "48h"
DEFAULT_KEEP_REPORTS = "90d"

DURATION_UNITS_US = {"m": 60 * US_PER_S, "h": US_PER_HOUR, "d": US_PER_DAY, "w": 7 * US_PER_DAY}
_DURATION = re.compile(r"^(\d{1,6})([mhdw])$")


def parse_duration_us(text: str) -> int:
    """`48h`, `90d`, `30m`, `2w` (a whole number and one unit) as microseconds; ValueError in one line otherwise."""
    match = _DURATION.match(str(text).strip().lower())
    if match is None:
        raise ValueError(
            f"not a duration: {text!r} (expected a whole number and a unit m, h, d or w, e.g. 48h or 90d)"
        )
    return int(match.group(1)) * DURATION_UNITS_US[match.group(2)]


@dataclass(frozen=True)
class RetentionPolicy:
    """How far back from the newest report segments and reports are kept."""

    keep_segments_us: int
    keep_reports_us: int

    @classmethod
    def parse(cls, keep_segments: str, keep_reports: str) -> RetentionPolicy:
        return cls(parse_duration_us(keep_segments), parse_duration_us(keep_reports))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] = os.environ, keep_segments: str | None = None, keep_reports: str | None = None
    ) -> RetentionPolicy:
        """The given durations, else STOREMON_KEEP_SEGMENTS / STOREMON_KEEP_REPORTS, else the defaults.
        ValueError names the option or variable a bad duration came from."""
        return cls(
            _duration_from("--keep-segments", keep_segments, environ, KEEP_SEGMENTS_ENV, DEFAULT_KEEP_SEGMENTS),
            _duration_from("--keep-reports", keep_reports, environ, KEEP_REPORTS_ENV, DEFAULT_KEEP_REPORTS),
        )

    def cutoffs(self, newest_report_us: int) -> RetentionCutoffs:
        return RetentionCutoffs(
            newest_report_us=newest_report_us,
            segments_before_us=newest_report_us - self.keep_segments_us,
            reports_before_us=newest_report_us - self.keep_reports_us,
        )


def _duration_from(option: str, given: str | None, environ: Mapping[str, str], variable: str, default: str) -> int:
    source, text = (option, given) if given is not None else (variable, environ.get(variable) or default)
    try:
        return parse_duration_us(text)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


@dataclass(frozen=True)
class RetentionCutoffs:
    newest_report_us: int
    segments_before_us: int
    reports_before_us: int

    def drops_report(self, as_of_us: int) -> bool:
        return as_of_us < self.reports_before_us

    def drops_segments(self, as_of_us: int) -> bool:
        # A partition whose report goes loses its segments too, whatever keep-segments says.
        return as_of_us < max(self.segments_before_us, self.reports_before_us)


@dataclass(frozen=True)
class RetentionPlan:
    """Partitions (as-of, oldest first) that lose their report (and everything else), and those that
    lose only their segments."""

    cutoffs: RetentionCutoffs
    reports_dropped_us: tuple[int, ...]
    segments_dropped_us: tuple[int, ...]


def plan_retention(
    policy: RetentionPolicy, newest_report_us: int, report_as_ofs: Iterable[int], segment_as_ofs: Iterable[int]
) -> RetentionPlan:
    """Which of the stored partitions lose what. `report_as_ofs`: partitions with store_report rows;
    `segment_as_ofs`: partitions with status_segments (either may hold partitions the other lacks)."""
    cutoffs = policy.cutoffs(newest_report_us)
    reports = sorted({int(a) for a in report_as_ofs if cutoffs.drops_report(int(a))})
    segments_only = sorted(
        {int(a) for a in segment_as_ofs if cutoffs.drops_segments(int(a)) and not cutoffs.drops_report(int(a))}
    )
    # Segments of a partition without a report row, older than the reports cutoff: nothing else is left of
    # it, so it goes with the reports (one transaction each, the same as a report's).
    orphans = {int(a) for a in segment_as_ofs if cutoffs.drops_report(int(a))} - set(reports)
    return RetentionPlan(cutoffs, tuple(sorted(set(reports) | orphans)), tuple(segments_only))
