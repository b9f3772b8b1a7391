"""The fleet as files: the three input CSVs, written as the exports write them, and the truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from storemon_pipeline.simulate.model import (
    BUSINESS_HOURS_HEADER,
    PINGS_HEADER,
    TIMEZONES_HEADER,
    PingLog,
    SimulatedFleet,
)


def _write_atomically(path: Path, write) -> None:
    # An inbox sensor must never pick up half a file: write beside it, then rename
    # (the sensor skips *.tmp). Not assets.report.write_atomically: that one takes
    # the whole text at once, where millions of pings are written chunk by chunk,
    # and the simulator stays free of Dagster's assets.
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        write(handle)
    os.replace(temporary, path)


def _write_pings(log: PingLog, handle) -> None:
    handle.write((",".join(PINGS_HEADER) + "\n").encode())
    for columns in log.chunks():
        width = {name: values.dtype.itemsize for name, values in columns.items()}
        layout = np.dtype({
            "names": ["store_id", "c1", "status", "c2", "timestamp_utc", "nl"],
            "formats": [f"S{width['store_id']}", "S1", f"S{width['status']}", "S1", f"S{width['timestamp_utc']}", "S1"],
        })
        lines = np.zeros(len(columns["store_id"]), dtype=layout)
        for name, values in columns.items():
            lines[name] = values
        lines["c1"] = lines["c2"] = b","
        lines["nl"] = b"\n"
        # Fields are NUL-padded to a common width; dropping the NULs leaves the CSV text.
        handle.write(lines.tobytes().translate(None, b"\0"))


def _write_frame(frame: pd.DataFrame, handle) -> None:
    # Not core.report.report_csv (fixed two decimals, the report's columns only): the
    # truth keeps pandas' shortest float text (1.5, not 1.50), in which data/ and
    # storemon_pipeline_tests/fixtures/sample_truth.csv were written; tests compare numbers.
    handle.write(frame.to_csv(index=False, lineterminator="\n").encode())


def write_fleet(fleet: SimulatedFleet, out_dir: str | os.PathLike, truth_path: str | os.PathLike | None = None
                ) -> dict[str, Path]:
    """Write store_status.csv, menu_hours.csv, timezones.csv and the truth; returns kind -> path.

    The truth goes to out_dir/truth.csv unless `truth_path` says otherwise
    (its header is no input kind, so an ingest would reject it as unknown).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "pings": out / "store_status.csv",
        "business_hours": out / "menu_hours.csv",
        "timezones": out / "timezones.csv",
        "truth": Path(truth_path) if truth_path is not None else out / "truth.csv",
    }
    paths["truth"].parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(paths["pings"], lambda handle: _write_pings(fleet.ping_log, handle))
    _write_atomically(paths["business_hours"],
                      lambda handle: _write_frame(fleet.business_hours[BUSINESS_HOURS_HEADER], handle))
    _write_atomically(paths["timezones"], lambda handle: _write_frame(fleet.timezones[TIMEZONES_HEADER], handle))
    _write_atomically(paths["truth"], lambda handle: _write_frame(fleet.truth, handle))
    return paths
