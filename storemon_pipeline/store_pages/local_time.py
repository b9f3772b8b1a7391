"""Instants as a person at the store reads them: wall clock with the zone's abbreviation.

The abbreviation (EST / EDT) tells the two 01:30 of an autumn night apart; seconds are shown
only when there are any (a status changes halfway between two pings, often at odd seconds).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from storemon_pipeline.core.clock import US_PER_HOUR, US_PER_S


def local_text(instant_us: int, zone_name: str) -> str:
    """`Tue 07 Mar 09:00 EST`, or `... 09:00:30 EST` when the instant has seconds."""
    seconds, micros = divmod(int(instant_us), US_PER_S)
    utc = datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=micros)
    local = utc.astimezone(ZoneInfo(zone_name))
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    return local.strftime(f"%a %d %b {clock} %Z")


def duration_text(length_us: int) -> str:
    """Hours with two decimals, as the report writes them."""
    return f"{length_us / US_PER_HOUR:.2f} h"
