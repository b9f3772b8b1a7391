"""status_segments: each store's last-week business time cut into runs of one status, in store shards.

One asset per report partition, as the UI shows it, computed by a graph of three kinds of step:

    plan_segment_shards ──> shard_segments[shard_0_of_N] ──┐
                       ├──> shard_segments[shard_1_of_N] ──┼──> record_status_segments
                       └──> ...                          ──┘

`plan_segment_shards` marks the partition as being rebuilt (N > 1) and fans out one dynamic step per
shard (N from the run's config, default STOREMON_SHARDS); each `shard_segments` step reads only
its stores' schedules and window pings and writes only their segments, so the executor may run
them anywhere (a process each, celery workers on other machines); `record_status_segments`
records the partition as built once every shard is in, from one schedules build. The steps hand
each other nothing but the shard, in the mapping key: no value needs an IO manager shared
between machines, everything goes through the warehouse.

N is run config, not a number of ops fixed when the definitions load, so one code location
serves `storemon report --shards 16` and the hourly run with the default alike.
"""

# No `from __future__ import annotations`: Dagster inspects the annotations of op
# functions (context, config) as objects.

import re
import resource
import time
import uuid

from dagster import (
    AssetIn,
    Config,
    ConfigMapping,
    DynamicOut,
    DynamicOutput,
    Failure,
    Field as DagsterField,
    In,
    Nothing,
    OpExecutionContext,
    Out,
    graph_asset,
    op,
)
from pydantic import Field

from storemon_pipeline.assets.raw import RAW_KEYS
from storemon_pipeline.assets.schedules import normalized_schedules
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, US_PER_HOUR, as_of_from_partition_key, partition_key
from storemon_pipeline.core.inputs import PINGS
from storemon_pipeline.core.segments import ACTIVE, UNKNOWN, status_segments as compute_status_segments
from storemon_pipeline.core.shards import MAX_SHARDS, Shard, all_shards
from storemon_pipeline.execution import shards_from_env
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import WarehouseResource
from storemon_pipeline.warehouse import BuildSuperseded, ShardsMissing, Warehouse

# -- the work of each step, without Dagster (the benchmark calls these) ------------------------


def begin_status_segments(store: Warehouse, as_of_us: int, shard_count: int, build_id: str) -> None:
    """Before any shard: store_report refuses the partition until every shard is written again.

    Not with one shard: its step replaces the partition and records it as built in one
    transaction under the partition's lock, so two builds of one partition at once (two `storemon
    report` of one as-of) write one after the other. A separate "begin" would let the second
    build's begin erase the first's shard between its write and its record, failing the first.
    """
    if store.normalized_schedules_build() is None:
        raise Failure("normalized_schedules was never built: materialize normalized_schedules first (the report jobs do).")
    if shard_count > 1:
        store.begin_status_segments(as_of_us, build_id, shard_count)


def build_shard_segments(store: Warehouse, as_of_us: int, shard: Shard, build_id: str) -> dict:
    """One shard's schedules and window pings through the core, its segments into the warehouse;
    returns the shard's summary (integers, so that the shards' sums are exact whatever N)."""
    started = time.monotonic()
    # The build's version before its rows: a rebuild in between makes store_report refuse, never sum wrong.
    build = store.normalized_schedules_build()
    if build is None:
        raise Failure("normalized_schedules was never built: materialize normalized_schedules first (the report jobs do).")
    inputs = store.read_shard_inputs(as_of_us, as_of_us - EVIDENCE_SPAN_US, shard)
    store_ids, schedules, pings = set(inputs.store_ids), inputs.schedules, inputs.pings
    missing = store_ids - set(schedules["store_id"].unique())
    if missing:
        raise Failure(
            f"{len(missing)} stores have pings but no normalized schedule (e.g. {sorted(missing)[0]}): "
            "materialize normalized_schedules first (the report jobs do)."
        )
    schedules = schedules[schedules["store_id"].isin(store_ids)]
    segments = compute_status_segments(schedules, pings, as_of_us)
    duration_us = segments["end_us"] - segments["start_us"]
    status = segments["status"]
    summary = {
        "stores": len(store_ids),
        "segments": len(segments),
        "evidence_window_pings": len(pings),
        "stores_without_evidence": int(
            segments["store_id"].nunique() - segments.loc[status != UNKNOWN, "store_id"].nunique()
        ),
        "business_us_active": int(duration_us[status == ACTIVE].sum()),
        "business_us_total": int(duration_us.sum()),
    }
    # Time and memory of the step, wherever it ran: what docs/scaling.md's estimates start from.
    # The peak is the process's so far (Linux reports KiB): a worker's, for a step in a long-lived one.
    cost = {"duration_s": round(time.monotonic() - started, 3),
            "process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if shard.is_whole_fleet:
        # Forget, replace and record in one transaction (begin_status_segments says why).
        store.write_status_segments(as_of_us, segments, schedules_version=build.version, summary={**summary, **cost})
    else:
        try:
            store.write_shard_segments(as_of_us, shard, segments, build_id=build_id, schedules_version=build.version,
                                       summary={**summary, **cost})
        except BuildSuperseded as error:
            raise Failure(f"status_segments[{partition_key(as_of_us)}] {shard} not written: {error}") from None
    return summary


def finish_status_segments(store: Warehouse, as_of_us: int, shard_count: int, build_id: str) -> dict:
    """After the last shard: the partition recorded as built; the asset's metadata."""
    try:
        # One shard's step recorded its build whole (begin_status_segments says why): any complete
        # build found now is right, even another run's written after it.
        summaries = store.record_status_segments(as_of_us, shard_count, build_id if shard_count > 1 else None)
    except (ShardsMissing, BuildSuperseded) as error:
        raise Failure(f"status_segments[{partition_key(as_of_us)}] not recorded as built: {error}") from None
    costs = ("duration_s", "process_peak_rss_mb")
    total = {name: sum(summary[name] for summary in summaries) for name in summaries[0] if name not in costs}
    seconds = [summary["duration_s"] for summary in summaries]
    return {
        "as_of": partition_key(as_of_us),
        "segments": total["segments"],
        "stores": total["stores"],
        "evidence_window_pings": total["evidence_window_pings"],
        "stores_without_evidence": total["stores_without_evidence"],
        "business_hours_active": round(total["business_us_active"] / US_PER_HOUR, 2),
        "business_hours_total": round(total["business_us_total"] / US_PER_HOUR, 2),
        "shards": shard_count,
        # Each shard's own time, wherever it ran: the cost of one shard, for docs/scaling.md.
        "shard_seconds_max": max(seconds),
        "shard_seconds_total": round(sum(seconds), 3),
        "shard_process_peak_rss_mb_max": max(summary["process_peak_rss_mb"] for summary in summaries),
    }


def build_status_segments(store: Warehouse, as_of_us: int, shards: int = 1) -> dict:
    """Every step of the asset in this process, one shard after the other; returns its metadata."""
    build_id = f"local-{uuid.uuid4().hex}"
    begin_status_segments(store, as_of_us, shards, build_id)
    for shard in all_shards(shards):
        build_shard_segments(store, as_of_us, shard, build_id)
    return finish_status_segments(store, as_of_us, shards, build_id)


def build_id_of_run(context: OpExecutionContext) -> str:
    """The build's id: its run's root run, so that a re-execution of failed shard steps (a new run
    of the same root) finishes the build its first run began, and any other run supersedes it."""
    return context.run.root_run_id or context.run_id


# -- the Dagster steps --------------------------------------------------------------------------

_MAPPING_KEY = re.compile(r"shard_(\d+)_of_(\d+)")


def shard_mapping_key(shard: Shard) -> str:
    return f"shard_{shard.index}_of_{shard.count}"


def shard_of_mapping_key(key: str) -> Shard:
    match = _MAPPING_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a shard step's mapping key: {key!r}")
    return Shard(int(match[1]), int(match[2]))


def shards_run_config(count: int) -> dict:
    """The run config that asks for `count` shards (storemon report --shards, tests, the benchmark)."""
    return {"ops": {"status_segments": {"config": {"shards": count}}}}


class SegmentShardsConfig(Config):
    shards: int = Field(ge=1, le=MAX_SHARDS)


def _shards_to_ops(graph_config: dict) -> dict:
    """The asset's one setting, given to the two steps that need it."""
    shards = {"config": {"shards": graph_config["shards"]}}
    return {plan_segment_shards.name: shards, record_status_segments.name: shards}


@op(ins={"schedules": In(Nothing), "pings": In(Nothing)}, out=DynamicOut(Nothing),
    description="Marks the partition as being rebuilt (with more than one shard); one step per store shard.")
def plan_segment_shards(context: OpExecutionContext, config: SegmentShardsConfig, warehouse: WarehouseResource):
    begin_status_segments(warehouse.open(), as_of_from_partition_key(context.partition_key), config.shards,
                          build_id_of_run(context))
    for shard in all_shards(config.shards):
        yield DynamicOutput(None, mapping_key=shard_mapping_key(shard))


@op(ins={"planned": In(Nothing)}, out=Out(Nothing), description="The segments of one shard's stores.")
def shard_segments(context: OpExecutionContext, warehouse: WarehouseResource) -> None:
    shard = shard_of_mapping_key(context.get_mapping_key())
    summary = build_shard_segments(warehouse.open(), as_of_from_partition_key(context.partition_key), shard,
                                   build_id_of_run(context))
    context.log.info(f"{shard}: {summary['stores']} stores, {summary['segments']} segments, "
                     f"{summary['evidence_window_pings']} window pings")


@op(ins={"shards_done": In(Nothing)}, out=Out(Nothing),
    description="Records the partition as built once every shard is written from one schedules build.")
def record_status_segments(context: OpExecutionContext, config: SegmentShardsConfig, warehouse: WarehouseResource):
    metadata = finish_status_segments(warehouse.open(), as_of_from_partition_key(context.partition_key), config.shards,
                                      build_id_of_run(context))
    context.add_output_metadata(metadata)


@graph_asset(
    # Inputs that carry no value: the order of the stages, as `deps` says for a plain asset.
    ins={
        "schedules": AssetIn(key=normalized_schedules.key, dagster_type=Nothing),
        "pings": AssetIn(key=RAW_KEYS[PINGS], dagster_type=Nothing),
    },
    config=ConfigMapping(
        config_fn=_shards_to_ops,
        config_schema={
            "shards": DagsterField(
                int,
                default_value=shards_from_env(),
                description=f"Store shards (1 to {MAX_SHARDS}): separate steps, each computing the segments of "
                "its stores; default STOREMON_SHARDS. The report is the same bytes for every number.",
            )
        },
    ),
    partitions_def=report_partitions,
    group_name="report",
    description="Per store, business time in [T-7d, T] as maximal (start, end, status) runs; no evidence = unknown "
    "(down). Computed in store shards, each its own step (config `shards`, default STOREMON_SHARDS).",
)
def status_segments(schedules, pings):
    planned = plan_segment_shards(schedules=schedules, pings=pings)
    done = planned.map(lambda one: shard_segments(planned=one)).collect()
    return record_status_segments(shards_done=done)
