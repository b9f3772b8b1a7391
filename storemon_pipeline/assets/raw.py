"""raw_pings, raw_business_hours, raw_timezones: new CSV files into the warehouse.

Each asset loads the files of its own kind; a file already ingested (same
content hash) is skipped before it is parsed, so re-running costs a hash.
"""

# No `from __future__ import annotations`: Dagster reads the `config: IngestConfig`
# annotation as an object, and a string annotation fails to resolve at import.

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, RetryPolicy, asset
from pydantic import Field

from storemon_pipeline.core.inputs import (
    BUSINESS_HOURS,
    PINGS,
    TIMEZONES,
    UnknownFileKind,
    parse_csv_parts,
    peek_kind,
    scan_csv_file,
)
from storemon_pipeline.partitions import latest_report_partition_key
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.warehouse import IngestResult, Warehouse

RAW_GROUP = "raw"
# A lost connection or a locked SQLite file is worth another try; a file is
# ingested in one transaction, so a retry never loads half of it twice.
INGEST_RETRY = RetryPolicy(max_retries=2, delay=5)


class IngestConfig(Config):
    paths: list[str] = Field(
        default_factory=list,
        description="CSV files to load. Empty: every *.csv directly in the data folder.",
    )


@dataclass
class FolderIngest:
    results: list[IngestResult] = field(default_factory=list)
    unrecognised: list[str] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(r.rows_loaded for r in self.results if not r.already_ingested)

    @property
    def rows_rejected(self) -> int:
        return sum(r.rows_rejected for r in self.results if not r.already_ingested)

    def table_markdown(self) -> str:
        lines = ["| file | rows loaded | rows rejected | note |", "| --- | ---: | ---: | --- |"]
        for r in self.results:
            note = "already ingested" if r.already_ingested else ""
            lines.append(f"| {r.file_name} | {r.rows_loaded} | {r.rows_rejected} | {note} |")
        return "\n".join(lines)


def now_us() -> int:
    return int(datetime.now(timezone.utc).timestamp() * 1_000_000)


def candidate_files(paths: list[str], data_dir: str) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    # Regular files only: a folder named x.csv is not an input (storemon ingest skips it too).
    return sorted(p for p in Path(data_dir).glob("*.csv") if p.is_file())


def ingest_csv_files(warehouse: Warehouse, paths: list[Path], kind: str | None = None) -> FolderIngest:
    """Load the files of `kind` (all kinds when None) in name order, one transaction each.

    A file is hashed first and parsed only if the warehouse does not hold its bytes yet;
    a big pings file is then parsed and loaded a part at a time (core.inputs.parse_csv_parts).
    """
    outcome = FolderIngest()
    for path in sorted(paths, key=lambda p: p.name):
        try:
            file_kind = peek_kind(path)
        except UnknownFileKind as exc:
            outcome.unrecognised.append(str(exc))
            continue
        except OSError as exc:
            # Removed or unreadable since it was listed: the other files still load.
            outcome.unrecognised.append(f"{path.name}: cannot be read: {exc.strerror or exc}")
            continue
        if kind is not None and file_kind != kind:
            continue
        ingested_at_us = now_us()
        try:
            scan = scan_csv_file(path)
            parts = parse_csv_parts(path, ingested_at_us, scan)
            outcome.results.append(warehouse.ingest_parts(path.name, scan.sha256, file_kind, parts, ingested_at_us))
        except OSError as exc:
            outcome.unrecognised.append(f"{path.name}: cannot be read: {exc.strerror or exc}")
    return outcome


def _raw_asset(kind: str, name: str, description: str):
    @asset(name=name, group_name=RAW_GROUP, description=description, retry_policy=INGEST_RETRY)
    def _load(
        context: AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource, files: StoremonFiles
    ) -> MaterializeResult:
        started = time.monotonic()
        paths = candidate_files(config.paths, files.data_dir)
        outcome = ingest_csv_files(warehouse.open(), paths, kind)
        for problem in outcome.unrecognised if kind == PINGS else []:
            # Reported once (by raw_pings), not by each of the three loaders.
            context.log.error(f"not loaded: {problem}")
        for result in outcome.results:
            context.log.info(
                f"{result.file_name}: {result.rows_loaded} rows loaded, {result.rows_rejected} rejected"
                + (" (already ingested: nothing changed)" if result.already_ingested else "")
            )
        metadata = {
            "files": MetadataValue.md(outcome.table_markdown()),
            "files_loaded": sum(not r.already_ingested for r in outcome.results),
            "rows_loaded": outcome.rows_loaded,
            "rows_rejected": outcome.rows_rejected,
            "duration_s": round(time.monotonic() - started, 3),
            # Per file newly loaded by this run: what the rejected_rows check grades.
            "ingested_files": MetadataValue.json(
                [
                    {"file_name": r.file_name, "rows_loaded": r.rows_loaded, "rows_rejected": r.rows_rejected}
                    for r in outcome.results
                    if not r.already_ingested
                ]
            ),
        }
        if kind == PINGS:
            metadata["unrecognised_files"] = MetadataValue.json(outcome.unrecognised)
            latest_key = latest_report_partition_key(warehouse.open())
            if latest_key is not None:
                metadata["latest_report_as_of"] = latest_key
        return MaterializeResult(metadata=metadata)

    return _load


raw_pings = _raw_asset(PINGS, "raw_pings", "Store polls (store_id, timestamp, active) in the warehouse.")
raw_business_hours = _raw_asset(
    BUSINESS_HOURS, "raw_business_hours", "Weekly local business hours per store, as the latest file gave them."
)
raw_timezones = _raw_asset(TIMEZONES, "raw_timezones", "IANA time zone per store, as the latest file gave it.")

raw_assets = [raw_pings, raw_business_hours, raw_timezones]

