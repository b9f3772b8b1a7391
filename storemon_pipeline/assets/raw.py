"""raw_pings, raw_business_hours, raw_timezones: new CSV files into the warehouse.

One multi_asset reads the folder once and sends each file to the table of its kind
(recognised by its header); a file already ingested (same content hash) is skipped
before it is parsed, so re-running costs a hash. Its checks are emitted with the
materializations: they grade the files this very run loaded, never another run's.
"""

# No `from __future__ import annotations`: Dagster reads the `config: IngestConfig`
# annotation as an object, and a string annotation fails to resolve at import.

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    RetryPolicy,
    multi_asset,
)
from pydantic import Field

from storemon_pipeline.assets.markdown import markdown_table

from storemon_pipeline.core.inputs import (
    BUSINESS_HOURS,
    PINGS,
    TIMEZONES,
    UnknownFileKind,
    parse_csv_parts,
    peek_kind,
    scan_csv_file,
)
from storemon_pipeline.core.quality import REJECTED_SHARE_ERROR, rejected_share_by_file
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

    def of_kind(self, kind: str) -> "FolderIngest":
        return FolderIngest([r for r in self.results if r.kind == kind])

    @property
    def newly_loaded(self) -> list[IngestResult]:
        return [r for r in self.results if not r.already_ingested]

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


def ingest_csv_files(warehouse: Warehouse, paths: list[Path]) -> FolderIngest:
    """Load the files in name order, each into the table of its kind, one transaction each.

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
        ingested_at_us = now_us()
        try:
            scan = scan_csv_file(path)
            parts = parse_csv_parts(path, ingested_at_us, scan)
            outcome.results.append(warehouse.ingest_parts(path.name, scan.sha256, file_kind, parts, ingested_at_us))
        except OSError as exc:
            outcome.unrecognised.append(f"{path.name}: cannot be read: {exc.strerror or exc}")
    return outcome


RAW_ASSET_DESCRIPTIONS = {
    PINGS: ("raw_pings", "Store polls (store_id, timestamp, active) in the warehouse."),
    BUSINESS_HOURS: ("raw_business_hours", "Weekly local business hours per store, as the latest file gave them."),
    TIMEZONES: ("raw_timezones", "IANA time zone per store, as the latest file gave it."),
}
RAW_KEYS = {kind: AssetKey(name) for kind, (name, _) in RAW_ASSET_DESCRIPTIONS.items()}
REJECTED_ROWS_CHECK = "rejected_rows"
FILES_RECOGNISED_CHECK = "files_recognised"
RAW_OP = "raw_inputs"


def build_raw_inputs(retry_policy: RetryPolicy = INGEST_RETRY):
    """The raw multi_asset; tests build it with a retry policy that does not wait."""

    @multi_asset(
        name=RAW_OP,
        specs=[
            AssetSpec(RAW_KEYS[kind], group_name=RAW_GROUP, description=description)
            for kind, (_, description) in RAW_ASSET_DESCRIPTIONS.items()
        ],
        check_specs=[
            *(
                AssetCheckSpec(
                    REJECTED_ROWS_CHECK,
                    asset=key,
                    description=(
                        "Rows of the files this run loaded that were kept aside (file, line and reason in the "
                        f"warehouse's rejected_rows): WARN above 0, ERROR above {REJECTED_SHARE_ERROR:.0%} of a file."
                    ),
                )
                for key in RAW_KEYS.values()
            ),
            AssetCheckSpec(
                FILES_RECOGNISED_CHECK,
                asset=RAW_KEYS[PINGS],
                description="Every file given to this ingest was one of the three input kinds (recognised by its header).",
            ),
        ],
            retry_policy=retry_policy,
    )
    def raw_inputs(context: AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource, files: StoremonFiles):
        """The data folder (or the files of the run config) read once: each file goes to the table of its
        kind, and each raw asset's checks grade exactly the files this run loaded."""
        started = time.monotonic()
        store = warehouse.open()
        outcome = ingest_csv_files(store, candidate_files(config.paths, files.data_dir))
        for problem in outcome.unrecognised:
            context.log.error(f"not loaded: {problem}")
        for result in outcome.results:
            context.log.info(
                f"{result.file_name}: {result.kind}: {result.rows_loaded} rows loaded, {result.rows_rejected} rejected"
                + (" (already ingested: nothing changed)" if result.already_ingested else "")
            )
        duration_s = round(time.monotonic() - started, 3)
        for kind, key in RAW_KEYS.items():
            of_kind = outcome.of_kind(kind)
            metadata = {
                "files": MetadataValue.md(of_kind.table_markdown()),
                "files_loaded": len(of_kind.newly_loaded),
                "rows_loaded": of_kind.rows_loaded,
                "rows_rejected": of_kind.rows_rejected,
                "duration_s": duration_s,
            }
            if kind == PINGS:
                metadata["unrecognised_files"] = MetadataValue.json(outcome.unrecognised)
                latest_key = latest_report_partition_key(store)
                if latest_key is not None:
                    metadata["latest_report_as_of"] = latest_key
            yield MaterializeResult(asset_key=key, metadata=metadata)
            yield rejected_rows_result(store, key, of_kind.newly_loaded)
        problems = outcome.unrecognised
        yield AssetCheckResult(
            asset_key=RAW_KEYS[PINGS],
            check_name=FILES_RECOGNISED_CHECK,
            passed=not problems,
            severity=AssetCheckSeverity.ERROR,
            description=f"{len(problems)} file(s) of no known kind were not loaded" if problems else "all files recognised",
            metadata={"unrecognised_files": MetadataValue.md("\n".join(f"- {p}" for p in problems) or "(none)")},
        )

    return raw_inputs


raw_inputs = build_raw_inputs()


def rejected_rows_result(store: Warehouse, key: AssetKey, loaded: list[IngestResult]) -> AssetCheckResult:
    """Grade the files newly loaded into one raw asset by the share of their rows kept aside."""
    files = pd.DataFrame(
        [(r.file_name, r.rows_loaded, r.rows_rejected) for r in loaded],
        columns=["file_name", "rows_loaded", "rows_rejected"],
    ).astype({"rows_loaded": "int64", "rows_rejected": "int64"})
    shares = rejected_share_by_file(files)
    rejected = int(shares["rows_rejected"].sum())
    worst_share = float(shares["rejected_share"].max()) if len(shares) else 0.0
    reasons = pd.DataFrame(columns=["file", "reason", "rows"])
    if rejected:
        kept_aside = pd.concat([store.read_rejected(name) for name in shares["file_name"]], ignore_index=True)
        reasons = (
            kept_aside.assign(reason=kept_aside["reason"].str.slice(0, 80))
            .groupby(["file", "reason"], as_index=False)
            .size()
            .rename(columns={"size": "rows"})
            .sort_values("rows", ascending=False)
        )
    table = shares.assign(rejected_share=(100 * shares["rejected_share"]).round(2)).rename(
        columns={"rejected_share": "rejected %"}
    )
    return AssetCheckResult(
        asset_key=key,
        check_name=REJECTED_ROWS_CHECK,
        passed=rejected == 0,
        severity=AssetCheckSeverity.ERROR if worst_share > REJECTED_SHARE_ERROR else AssetCheckSeverity.WARN,
        description=(
            f"{rejected} rows kept aside in {len(shares)} file(s) loaded by this run"
            + (f"; worst file {worst_share:.1%}" if rejected else "")
        ),
        metadata={
            "files_loaded": len(shares),
            "rows_rejected": rejected,
            "worst_file_rejected_pct": round(100 * worst_share, 2),
            "files": MetadataValue.md(markdown_table(table)),
            "reasons": MetadataValue.md(markdown_table(reasons)),
        },
    )


def raw_paths_run_config(paths: list[str]) -> dict:
    """Run config giving the raw assets exactly these files (instead of the data folder)."""
    return {"ops": {RAW_OP: {"config": {"paths": list(paths)}}}}


raw_assets = [raw_inputs]


def raw_materialization_metadata(result, kind: str) -> dict:
    """The metadata of one raw asset's materialization in an in-process run's result."""
    [materialization] = [m for m in result.asset_materializations_for_node(RAW_OP) if m.asset_key == RAW_KEYS[kind]]
    return materialization.metadata
