"""Synthetic stores whose true status is known: test data, benchmarks, the sample.

The world simulated (docs/report-semantics.md#why-the-nearest-in-business-ping): every store
has a continuous-time active/inactive process; a poller asks it about hourly
(jitter, dropped polls, poller outages); half the stores switch their tablet
off while closed, so their closed-hours polls say inactive. The truth is what
a perfect observer would report: business time (docs/report-semantics.md#business-time, computed with the
project's own `core.schedules` / `core.business_time`) split by the TRUE
status, not by what the polls saw, and summed by the report's own `core.report`.

Everything is vectorised over stores and polls; the only loops are over
schedule profiles, zones, poll chunks of many stores and output chunks.

    storemon simulate --stores 300 --days 8 \
        --as-of 2023-03-14T12:00:00Z --seed 0 --out /tmp/fleet [--bad-rows]

The modules, in the order a fleet is made: model (knobs, ping log, the fleet),
stores (ids, zones, hours), status (true status, polls), intervals (the lookup
both use), bad_rows, truth, fleet (simulate_fleet), text and files (the CSVs),
command (`main`).
"""

from storemon_pipeline.simulate.command import main
from storemon_pipeline.simulate.files import write_fleet
from storemon_pipeline.simulate.fleet import simulate_fleet
from storemon_pipeline.simulate.model import (
    BUSINESS_HOURS_HEADER,
    PINGS_HEADER,
    TIMEZONES_HEADER,
    FleetKnobs,
    PingLog,
    SimulatedFleet,
)
from storemon_pipeline.simulate.text import format_timestamps_utc
from storemon_pipeline.simulate.truth import truth_as_of

__all__ = [
    "BUSINESS_HOURS_HEADER",
    "PINGS_HEADER",
    "TIMEZONES_HEADER",
    "FleetKnobs",
    "PingLog",
    "SimulatedFleet",
    "format_timestamps_utc",
    "main",
    "simulate_fleet",
    "truth_as_of",
    "write_fleet",
]
