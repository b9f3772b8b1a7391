"""The numpy fast path for plain pings files gives exactly what the general reader gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from storemon_pipeline.core import csv_general, csv_plain_pings, inputs
from storemon_pipeline.core.formats import plain_pings_columns

NOW_US = 1_700_000_000_000_000  # 2023-11-14

ODD_LINES = [
    " a2,active,2023-01-22 12:09:39.388884 UTC",
    "a3,ACTIVE,2023-01-22 12:09:39 UTC",
    "a4,inactive,2023-01-22T12:09:39Z",
    "",
    "a5,inactive,2023-02-29T12:09:39Z",
    "a6,inactive,2024-02-29T12:09:39.5Z",
    "a7,active,2024-02-29 12:09:39+01:00",
    "a8,active,1999-12-31 23:59:59.999999 UTC",
    ",active,2020-12-31 23:59:59.999999 UTC",
    "store_id,status,timestamp_utc",
    "a9,active,2020-12-31 23:59:60 UTC",
    "a9,active,2020-12-31 24:00:00 UTC",
    "a9,active,2020-13-31 20:00:00 UTC",
    "a9,active,2030-12-31 20:00:00 UTC",
    "a10,active , 2020-12-31 20:00:00 UTC ",
    "a10,inactive,2020-12-31 20:00:00 utc",
    "a11,unknown,2020-12-31 20:00:00 UTC",
    "a12,active,not a time",
    "   ,  ,  ",
    "a13,active,2023-11-14 23:13:20 UTC",  # within the hour after NOW: fine
    "a13,active,2023-11-15 00:13:21 UTC",  # past it: out of range
]


def _dispatched(data: bytes) -> inputs.ParsedFile:
    return inputs.parse_csv_bytes(data, "pings.csv", NOW_US)


def _general(data: bytes, sha256: str) -> inputs.ParsedFile:
    """The general reader alone, on the whole file."""
    return csv_general.parse_general_csv(data, "pings.csv", sha256, NOW_US)


def _plain_lines(rng: np.random.Generator, n: int) -> list[str]:
    stores = [f"store-{i:03d}" for i in range(25)] + ["8419537941919820732", "x"]
    ts_us = rng.integers(946_684_800_000_000, NOW_US, n)
    lines = []
    for k, t in enumerate(ts_us):
        stamp = pd.Timestamp(int(t), unit="us")
        text = stamp.strftime("%Y-%m-%d %H:%M:%S")
        shape = k % 6
        if shape == 0:
            text += f".{stamp.microsecond:06d} UTC"
        elif shape == 1:
            text += " UTC"
        elif shape == 2:
            text = text.replace(" ", "T") + "Z"
        elif shape == 3:
            text = text.replace(" ", "T") + f".{stamp.microsecond:06d}Z"
        elif shape == 4:
            text += f".{stamp.microsecond:06d}"
        lines.append(f"{stores[rng.integers(len(stores))]},{'active' if rng.random() < 0.7 else 'inactive'},{text}")
    return lines


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("column_order", [(0, 1, 2), (2, 0, 1)])
def test_fast_path_equals_general_reader(monkeypatch, seed, line_end, column_order):
    rng = np.random.default_rng(seed)
    lines = _plain_lines(rng, 400)
    for odd in ODD_LINES:
        lines.insert(int(rng.integers(len(lines) + 1)), odd)
    header = ["store_id", "status", "timestamp_utc"]

    def reorder(line: str) -> str:
        fields = line.split(",")
        return ",".join(fields[i] for i in column_order) if len(fields) == 3 else line

    text = line_end.join(reorder(line) for line in [",".join(header), *lines]) + line_end
    data = text.encode()
    # Small chunks: lines are spread over many chunks, as in a big file.
    monkeypatch.setattr(csv_plain_pings, "CHUNK_BYTES", 512)
    fast = _dispatched(data)
    assert csv_plain_pings.read_plain_pings(data, plain_pings_columns(data), NOW_US) is not None
    general = _general(data, fast.sha256)
    pd.testing.assert_frame_equal(fast.rows, general.rows)
    pd.testing.assert_frame_equal(fast.rejected, general.rejected)
    assert (fast.n_rows, fast.kind, fast.sha256) == (general.n_rows, general.kind, general.sha256)
    assert len(fast.rejected) >= 10


@pytest.mark.parametrize(
    "data",
    [
        b"store_id,status,timestamp_utc\na,active,\"2023-01-22 12:09:39 UTC\"\n",  # quoted: general reader
        b"store_id,status,timestamp_utc\na,active,2023-01-22 12:09:39 UTC,extra\n",  # ragged
        "store_id,status,timestamp_utc\nmagasin-\u00e9,active,2023-01-22 12:09:39 UTC\n".encode(),  # not ASCII
        b"\xef\xbb\xbfstore_id,status,timestamp_utc\r\na,active,2023-01-22 12:09:39 UTC\r\n",  # BOM
        b"store_id,status,timestamp_utc\n",  # header only
        b"store_id,status,timestamp_utc\na,active,2023-01-22 12:09:39 UTC",  # no final newline
        b"store_id,timezone_str\na,America/Chicago\n",  # not pings
    ],
)
def test_edge_files_equal_general_reader(data):
    fast = _dispatched(data)
    general = _general(data, fast.sha256)
    pd.testing.assert_frame_equal(fast.rows, general.rows)
    pd.testing.assert_frame_equal(fast.rejected, general.rejected)
    assert fast.n_rows == general.n_rows
