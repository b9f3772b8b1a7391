"""The report clock (docs/report-semantics.md#the-clock-and-the-as-of): as-of instants, windows, partition keys."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from storemon_pipeline.core.values import parse_timestamps_us

US_PER_S = 1_000_000
US_PER_HOUR = 3600 * US_PER_S
US_PER_DAY = 24 * US_PER_HOUR
# Evidence reaches one day further back than the longest window, so the
# first hours of the week still have a neighbour poll on their left.
EVIDENCE_SPAN_US = 8 * US_PER_DAY
WINDOW_SPANS_US = {"hour": US_PER_HOUR, "day": US_PER_DAY, "week": 7 * US_PER_DAY}
PARTITION_KEY_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def whole_second_at_or_after_us(instant_us: int) -> int:
    """Report instants are whole seconds (their partition keys have no fraction)."""
    return -(-instant_us // US_PER_S) * US_PER_S


def latest_report_as_of_us(latest_ping_us: int) -> int:
    """The greatest ping timestamp rounded up to the whole second."""
    return whole_second_at_or_after_us(latest_ping_us)


def partition_key(as_of_us: int) -> str:
    """`2023-01-25T18:13:23Z`; report instants are whole seconds."""
    return datetime.fromtimestamp(as_of_us // US_PER_S, tz=timezone.utc).strftime(PARTITION_KEY_FORMAT)


def parse_instant_us(text: str) -> int:
    """An ISO 8601 instant (naive means UTC) to microseconds; ValueError with the text otherwise."""
    parsed = parse_timestamps_us(pd.Series([str(text).strip()], dtype=object))
    if parsed.isna().iloc[0]:
        raise ValueError(f"not an ISO 8601 instant: {text!r} (expected e.g. 2023-01-25T18:13:23Z)")
    return int(parsed.iloc[0])


def as_of_from_partition_key(key: str) -> int:
    """Inverse of `partition_key`; rejects anything but the exact key form."""
    try:
        parsed = datetime.strptime(key, PARTITION_KEY_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        parsed = None
    # strptime also takes unpadded fields (2023-1-5T1:2:3Z): one instant, one key.
    if parsed is None or parsed.strftime(PARTITION_KEY_FORMAT) != key:
        raise ValueError(f"not a report partition key: {key!r} (expected e.g. 2023-01-25T18:13:23Z)")
    return int(parsed.timestamp()) * US_PER_S


def iso_utc(instant_us: int) -> str:
    """An instant as ISO 8601 UTC with `Z`: whole seconds as in a partition key, else six fraction digits.

    Segments change status halfway between two pings, so their ends are not always whole seconds.
    """
    seconds, micros = divmod(int(instant_us), US_PER_S)
    text = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime(PARTITION_KEY_FORMAT)
    return text if micros == 0 else f"{text[:-1]}.{micros:06d}Z"
