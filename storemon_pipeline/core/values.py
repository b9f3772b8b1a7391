"""The values of the input files: instants, times of day, days of the week, zone names.

Each parser takes a column of trimmed strings and gives the value or <NA>, a row per
value: the rules of docs/report-semantics.md#input-files, written once. The file
readers (core/csv_general.py, core/csv_plain_pings.py) and the clock use these;
nothing here knows about files, headers or rows kept aside.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import available_timezones

import numpy as np
import pandas as pd

# A ping is kept from this instant on: no export reaches further back.
EARLIEST_PING_US = int(datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp() * 1_000_000)
# How far past the moment of ingest a ping may lie before it is "out of range".
FUTURE_TOLERANCE_US = 3600 * 1_000_000

# The only timestamps a ping may carry: a complete instant, date and time to the second, an
# optional fraction, then optionally UTC / Z or a numeric offset. ISO 8601 also allows dates
# and times cut short (`2023-03-14`, `2023-03-14 11:5`), and pandas reads those as real
# instants (midnight, 11:05): a row cut off while its file was being written would load as
# a ping at a made-up time. Anything else is an unparseable timestamp.
COMPLETE_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?: ?UTC|Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_TS_SUFFIX = re.compile(r"\s*(?:UTC|Z)$", re.IGNORECASE)

_TIME_OF_DAY = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$")
_ZERO = ord("0")

_PLAIN_DAYS = {str(d): float(d) for d in range(7)}


def ping_times_in_range(ts_us, ingested_at_us: int):
    """Which instants a ping may carry: from 2000 on, and at most FUTURE_TOLERANCE_US past the ingest."""
    return (ts_us >= EARLIEST_PING_US) & (ts_us <= ingested_at_us + FUTURE_TOLERANCE_US)


def _without_zone_suffix(values: pd.Series) -> pd.Series:
    """`values` with `_TS_SUFFIX` removed.

    A regex call per value was most of the time of a large pings file. The
    export's own ending, one space and `UTC` after a non-space, is cut by
    slicing; only the other values meet the regex.
    """
    texts = values.to_numpy(dtype=object)
    plain = np.array(
        [isinstance(v, str) and v.endswith(" UTC") and not v[-5:-4].isspace() for v in texts], dtype=bool
    )
    cleaned = pd.Series(texts, index=values.index, dtype=object)
    cleaned[plain] = [v[:-4] for v in texts[plain]]
    if not plain.all():
        cleaned[~plain] = values[~plain].str.replace(_TS_SUFFIX, "", regex=True).to_numpy(dtype=object)
    return cleaned


def parse_timestamps_us(values: pd.Series) -> pd.Series:
    """Microseconds since the epoch (UTC) or <NA> for a value that is not a complete instant.

    Accepts the export's `2023-01-22 12:09:39.388884 UTC` and ISO 8601 with
    `T` and/or `Z`, with or without a fraction; an explicit offset is honoured.
    """
    complete = values.str.fullmatch(COMPLETE_INSTANT).fillna(False).to_numpy(dtype=bool)
    values = values.where(complete, None)
    parsed = pd.to_datetime(_without_zone_suffix(values), format="ISO8601", errors="coerce", utc=True)
    as_us = parsed.dt.as_unit("us")
    result = pd.Series(pd.NA, index=values.index, dtype="Int64")
    valid = as_us.notna()
    result[valid] = as_us[valid].astype("int64")
    return result


def _parse_times_of_day_regex(values: pd.Series) -> pd.Series:
    parts = values.str.extract(_TIME_OF_DAY)
    hours = pd.to_numeric(parts[0], errors="coerce")
    minutes = pd.to_numeric(parts[1], errors="coerce")
    seconds = pd.to_numeric(parts[2], errors="coerce").fillna(0)
    ok = hours.between(0, 23) & minutes.between(0, 59) & seconds.between(0, 59)
    total = hours * 3600 + minutes * 60 + seconds
    return total.where(ok).astype("Int64")


def parse_times_of_day_s(values: pd.Series) -> pd.Series:
    """Seconds since local midnight for `HH:MM[:SS]`, or <NA> when not a time of day.

    The regex above is the definition; running it per value is the slow part
    of a large hours file. Nearly every value is exactly `HH:MM:SS` or
    `HH:MM`, so those are read as fixed character positions of a numpy
    unicode array, and only the rest (`9:00`, fractions, junk) meets the regex.
    """
    n = len(values)
    lengths = values.str.len().to_numpy(dtype="float64", na_value=np.nan)
    # U8 keeps the first 8 characters, all that the two fixed forms have.
    chars = values.to_numpy(dtype=object).astype("U8").view(np.uint32).reshape(n, 8).astype(np.int64) - _ZERO
    digit = (chars >= 0) & (chars <= 9)
    colon = chars == ord(":") - _ZERO
    long_form = (lengths == 8) & colon[:, 2] & colon[:, 5] & digit[:, [0, 1, 3, 4, 6, 7]].all(axis=1)
    short_form = (lengths == 5) & colon[:, 2] & digit[:, [0, 1, 3, 4]].all(axis=1)
    fixed = long_form | short_form
    hours = chars[:, 0] * 10 + chars[:, 1]
    minutes = chars[:, 3] * 10 + chars[:, 4]
    seconds = np.where(long_form, chars[:, 6] * 10 + chars[:, 7], 0)
    ok = fixed & (hours <= 23) & (minutes <= 59) & (seconds <= 59)
    result = pd.Series(
        pd.array(hours * 3600 + minutes * 60 + seconds, dtype="Int64"), index=values.index
    )
    result[~ok] = pd.NA
    if not fixed.all():
        result[~fixed] = _parse_times_of_day_regex(values[~fixed])
    return result


def parse_days_of_week(values: pd.Series) -> pd.Series:
    """The day 0 (Monday) to 6 of each value as a float, or NaN when it is not one.

    The plain spellings "0".."6" are nearly all values; only the rest meets the
    regex (digits only: `01` is Tuesday, `-1` and `1.0` are not days).
    """
    plain = values.isin(list(_PLAIN_DAYS))
    day = pd.Series(np.nan, index=values.index)
    day[plain] = values[plain].map(_PLAIN_DAYS)
    other = ~plain
    if other.any():
        odd = values[other]
        day[other] = pd.to_numeric(odd.where(odd.str.fullmatch(r"\d+"), None), errors="coerce")
    return day.where(day.between(0, 6))


@lru_cache(maxsize=1)
def known_zone_names() -> frozenset[str]:
    """The IANA zone names this machine's tz database knows: the only zones a store may name."""
    return frozenset(available_timezones())
