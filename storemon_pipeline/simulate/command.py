"""`storemon simulate` (and `python -m storemon_pipeline.simulate`): write a fleet and print a summary."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from storemon_pipeline.simulate.files import write_fleet
from storemon_pipeline.simulate.fleet import simulate_fleet
from storemon_pipeline.simulate.model import FleetKnobs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="storemon simulate",
                                     description="Write a synthetic fleet's three input CSVs and its truth.")
    parser.add_argument("--stores", type=int, default=300, help="number of stores (default 300)")
    parser.add_argument("--days", type=float, default=8.0, help="days of pings before --as-of (default 8)")
    parser.add_argument("--as-of", default="2023-03-14T12:00:00Z", help="report instant, ISO 8601 (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="directory for the CSV files")
    parser.add_argument("--truth", default=None, help="where to write the truth (default OUT/truth.csv)")
    parser.add_argument("--bad-rows", action="store_true", help="add rows a parser must reject, and duplicate pings")
    parser.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                        help="set a FleetKnobs field, e.g. --knob p_poll_dropped=0.15 (repeatable)")
    args = parser.parse_args(argv)
    knobs = {"bad_rows": args.bad_rows}
    for item in args.knob:
        name, _, value = item.partition("=")
        if name not in FleetKnobs.__dataclass_fields__:
            parser.error(f"unknown knob {name!r}; knobs: {', '.join(FleetKnobs.__dataclass_fields__)}")
        default = getattr(FleetKnobs(), name)
        knobs[name] = value.lower() in ("1", "true", "yes") if isinstance(default, bool) else type(default)(value)

    started = time.perf_counter()
    fleet = simulate_fleet(args.stores, args.days, args.as_of, seed=args.seed, **knobs)
    simulated = time.perf_counter()
    paths = write_fleet(fleet, args.out, truth_path=args.truth)
    summary = {
        "as_of": fleet.as_of,
        "stores": args.stores,
        "stores_in_report": int(len(fleet.truth)),
        "ping_rows": len(fleet.ping_log),
        "business_hours_rows": int(len(fleet.business_hours)),
        "timezone_rows": int(len(fleet.timezones)),
        "bad_rows": int(len(fleet.bad_rows)),
        "simulate_seconds": round(simulated - started, 2),
        "write_seconds": round(time.perf_counter() - simulated, 2),
        "files": {kind: str(path) for kind, path in paths.items()},
    }
    print(json.dumps(summary, indent=2))
    return 0
