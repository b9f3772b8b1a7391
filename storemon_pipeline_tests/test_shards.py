"""Store shards: a stable split of the fleet, shard-restricted warehouse reads and writes, and a
report that is the same bytes for every number of shards, through real Dagster runs, on both dialects."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from dagster import DagsterInstance, Failure, materialize

from storemon_pipeline.assets import all_assets, normalized_schedules, status_segments, store_report
from storemon_pipeline.assets.segments import (
    begin_status_segments,
    build_shard_segments,
    build_status_segments,
    shard_mapping_key,
    shard_of_mapping_key,
)
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, as_of_from_partition_key
from storemon_pipeline.core.report import report_csv
from storemon_pipeline.core.shards import BUCKETS, Shard, all_shards, bucket_indexes, in_shard, shard_indexes
from storemon_pipeline.execution import ExecutionSettingError, shards_from_env
from storemon_pipeline.partitions import report_partitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource, _warehouse_for
from storemon_pipeline.simulate import simulate_fleet, write_fleet
from storemon_pipeline.warehouse import BuildSuperseded, ShardsMissing

AS_OF = "2023-03-14T12:00:00Z"
SHARD_COUNTS = (1, 3, 16)


# -- the split, in the pure core ------------------------------------------------------------------


def test_a_store_s_shard_is_crc32_of_its_utf8_id_whatever_the_process():
    # Fixed numbers, not recomputed: a store may never move shard between versions or machines.
    assert zlib.crc32(b"a") == 0xE8B7BE43
    assert shard_indexes(["a", "b", "\u00e9t\u00e9-7"], 16).tolist() == [
        0xE8B7BE43 % 16, zlib.crc32(b"b") % 16, zlib.crc32("\u00e9t\u00e9-7".encode()) % 16
    ]
    assert shard_indexes([], 3).tolist() == []


def test_the_shards_of_a_fleet_are_disjoint_and_cover_it():
    store_ids = [f"store-{i}" for i in range(5_000)]
    for count in SHARD_COUNTS:
        masks = np.array([in_shard(store_ids, shard) for shard in all_shards(count)])
        assert (masks.sum(axis=0) == 1).all(), count
    # Roughly even: no shard of 16 holds twice its share.
    sizes = np.bincount(shard_indexes(store_ids, 16), minlength=16)
    assert sizes.max() < 2 * len(store_ids) / 16


def test_a_shard_whose_count_divides_the_buckets_is_exactly_its_buckets_stores():
    store_ids = [f"store-{i}" for i in range(5_000)]
    buckets = bucket_indexes(store_ids)
    for count in (1, 2, 4, 16, BUCKETS):
        for shard in all_shards(count):
            assert (np.isin(buckets, shard.buckets()) == in_shard(store_ids, shard)).all(), shard
    # Any other count: every bucket holds stores of every shard, so a read filters store by store.
    assert Shard(0, 3).buckets() is None and Shard(5, 48).buckets() is None
    assert {int(b) for b, kept in zip(buckets, in_shard(store_ids, Shard(0, 3))) if kept} == set(range(BUCKETS))


def test_a_shard_outside_its_count_or_too_many_shards_are_refused():
    for index, count in ((3, 3), (-1, 3), (0, 0), (0, 100_000)):
        with pytest.raises(ValueError):
            Shard(index, count)
    assert shard_of_mapping_key(shard_mapping_key(Shard(2, 16))) == Shard(2, 16)
    with pytest.raises(ValueError):
        shard_of_mapping_key("shard_16_of_16")


def test_the_number_of_shards_from_the_environment(monkeypatch):
    monkeypatch.delenv("STOREMON_SHARDS", raising=False)
    assert shards_from_env() == 1
    monkeypatch.setenv("STOREMON_SHARDS", "16")
    assert shards_from_env() == 16
    for bad in ("0", "-2", "three", "5000"):
        monkeypatch.setenv("STOREMON_SHARDS", bad)
        with pytest.raises(ExecutionSettingError, match="STOREMON_SHARDS"):
            shards_from_env()


# -- a simulated fleet in a warehouse -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    """300 simulated stores over 8 days (zones, split shifts, overnight hours, stores without hours)."""
    out = tmp_path_factory.mktemp("fleet")
    write_fleet(simulate_fleet(300, 8, AS_OF, seed=12), out)
    return out


def resources_for(database_url: str, data_dir, tmp_path) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=database_url),
        "files": StoremonFiles(data_dir=str(data_dir), inbox_dir=str(tmp_path / "inbox"),
                               reports_dir=str(tmp_path / "reports")),
    }


def shards_run_config(count: int) -> dict:
    return {"ops": {"status_segments": {"config": {"shards": count}}}}


def report_bytes(tmp_path) -> bytes:
    return (tmp_path / "reports" / f"report_{AS_OF}.csv").read_bytes()


@pytest.fixture
def loaded(database_url, fleet_dir, tmp_path):
    """The fleet ingested and the report of AS_OF built once with one shard; (resources, instance)."""
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(report_partitions.name, [AS_OF])
    resources = resources_for(database_url, fleet_dir, tmp_path)
    assert materialize(all_assets, partition_key=AS_OF, resources=resources, instance=instance).success
    return resources, instance


def test_a_shard_reads_only_its_stores_and_the_shards_read_the_whole_fleet(loaded):
    resources, _ = loaded
    warehouse = resources["warehouse"].open()
    as_of_us = as_of_from_partition_key(AS_OF)
    window = (as_of_us - EVIDENCE_SPAN_US, as_of_us)
    fleet_ids = warehouse.report_store_ids(as_of_us)
    schedules = warehouse.read_normalized_schedules()
    pings = warehouse.read_pings(*window)
    seen_ids, n_schedules, n_pings = [], 0, 0
    for shard in all_shards(3):
        ids = warehouse.report_store_ids(as_of_us, shard)
        assert ids and in_shard(ids, shard).all()
        shard_schedules = warehouse.read_normalized_schedules(shard)
        shard_pings = warehouse.read_pings(*window, shard)
        assert in_shard(shard_schedules["store_id"].astype(str), shard).all()
        assert in_shard(shard_pings["store_id"].astype(str), shard).all()
        # The same rows as the whole fleet's, for the shard's stores, in the same order; the
        # categories are the shard's own stores (it never read the fleet's).
        expected = pings[pings["store_id"].isin(ids)].reset_index(drop=True)
        assert shard_pings.astype({"store_id": str}).equals(expected.astype({"store_id": str}))
        assert set(ids) <= set(shard_pings["store_id"].cat.categories)
        assert in_shard(list(shard_pings["store_id"].cat.categories), shard).all()
        seen_ids += ids
        n_schedules += len(shard_schedules)
        n_pings += len(shard_pings)
    assert sorted(seen_ids) == fleet_ids
    assert (n_schedules, n_pings) == (len(schedules), len(pings))


def test_the_report_is_the_same_bytes_for_1_3_and_16_shards(loaded, tmp_path):
    resources, instance = loaded
    one_shard = report_bytes(tmp_path)
    as_of_us = as_of_from_partition_key(AS_OF)
    segments = resources["warehouse"].open().read_status_segments(as_of_us)
    metadata = {}
    for count in SHARD_COUNTS:
        (tmp_path / "reports" / f"report_{AS_OF}.csv").unlink()
        result = materialize([normalized_schedules, status_segments, store_report], partition_key=AS_OF,
                             resources=resources, instance=instance, run_config=shards_run_config(count))
        assert result.success, count
        shard_steps = {e.step_key for e in result.all_events if e.is_step_success and "shard_segments[" in e.step_key}
        assert len(shard_steps) == count
        assert report_bytes(tmp_path) == one_shard, count
        assert resources["warehouse"].open().read_status_segments(as_of_us).equals(segments), count
        materialized = result.asset_materializations_for_node("status_segments")[0].metadata
        metadata[count] = {name: value.value for name, value in materialized.items() if not name.startswith("shard")}
        assert materialized["shards"].value == count
    assert metadata[1] == metadata[3] == metadata[16]
    assert metadata[1]["stores"] == 300


def test_store_report_refuses_a_partition_with_a_shard_missing(loaded, tmp_path):
    resources, instance = loaded
    before = report_bytes(tmp_path)
    warehouse = resources["warehouse"].open()
    as_of_us = as_of_from_partition_key(AS_OF)
    # A build of 3 shards whose third step never ran (failed, or its worker died).
    begin_status_segments(warehouse, as_of_us, 3, "run-a")
    for shard in all_shards(3)[:2]:
        build_shard_segments(warehouse, as_of_us, shard, "run-a")
    with pytest.raises(ShardsMissing, match="1 of 3 shards were not written"):
        warehouse.record_status_segments(as_of_us, 3, "run-a")

    result = materialize([store_report], partition_key=AS_OF, resources=resources, instance=instance,
                         raise_on_error=False)
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0].step_failure_data
    assert failure.user_failure_data.description.startswith(f"status_segments[{AS_OF}] is incomplete: 2 of its 3 shards")
    assert report_bytes(tmp_path) == before
    assert report_csv(_warehouse_for(resources["warehouse"].database_url).read_report(as_of_us)).encode() == before

    # The missing shard written: the build completes and the same report comes out.
    build_shard_segments(warehouse, as_of_us, Shard(2, 3), "run-a")
    warehouse.record_status_segments(as_of_us, 3, "run-a")
    assert materialize([store_report], partition_key=AS_OF, resources=resources, instance=instance).success
    assert report_bytes(tmp_path) == before


def test_shards_built_from_two_schedules_builds_are_not_recorded(loaded):
    resources, _ = loaded
    warehouse = resources["warehouse"].open()
    as_of_us = as_of_from_partition_key(AS_OF)
    begin_status_segments(warehouse, as_of_us, 2, "run-a")
    build_shard_segments(warehouse, as_of_us, Shard(0, 2), "run-a")
    # normalized_schedules rebuilt between the two shards (new hours arrived).
    build = warehouse.normalized_schedules_build()
    schedules = warehouse.read_normalized_schedules()
    warehouse.write_normalized_schedules(schedules, version=build.version + "+late-hours", summary=build.summary)
    build_shard_segments(warehouse, as_of_us, Shard(1, 2), "run-a")
    with pytest.raises(ShardsMissing, match="2 different schedules builds"):
        warehouse.record_status_segments(as_of_us, 2, "run-a")


def test_of_two_builds_at_once_the_one_begun_last_records_the_partition(loaded, tmp_path):
    """Two runs of one partition with their shards interleaved: the first fails before it writes
    again, the second records the partition, and the report is the one a single build gives."""
    resources, instance = loaded
    before = report_bytes(tmp_path)
    warehouse = resources["warehouse"].open()
    as_of_us = as_of_from_partition_key(AS_OF)
    begin_status_segments(warehouse, as_of_us, 3, "run-a")
    build_shard_segments(warehouse, as_of_us, Shard(0, 3), "run-a")
    begin_status_segments(warehouse, as_of_us, 3, "run-b")
    build_shard_segments(warehouse, as_of_us, Shard(0, 3), "run-b")
    with pytest.raises(Failure, match=r"shard 1/3 not written: .*now build run-b, begun after this build \(run-a\)"):
        build_shard_segments(warehouse, as_of_us, Shard(1, 3), "run-a")
    with pytest.raises(BuildSuperseded):
        warehouse.record_status_segments(as_of_us, 3, "run-a")
    for shard in all_shards(3)[1:]:
        build_shard_segments(warehouse, as_of_us, shard, "run-b")
    # A shard step of the build run again (re-executed after its worker died past its commit).
    build_shard_segments(warehouse, as_of_us, Shard(1, 3), "run-b")
    with pytest.raises(BuildSuperseded):
        warehouse.record_status_segments(as_of_us, 3, "run-a")
    warehouse.record_status_segments(as_of_us, 3, "run-b")
    assert materialize([store_report], partition_key=AS_OF, resources=resources, instance=instance).success
    assert report_bytes(tmp_path) == before

    # A build of the whole fleet in one step (one shard) supersedes a build in shards begun before it.
    begin_status_segments(warehouse, as_of_us, 3, "run-c")
    build_status_segments(warehouse, as_of_us, 1)
    with pytest.raises(Failure, match="not written"):
        build_shard_segments(warehouse, as_of_us, Shard(0, 3), "run-c")
    assert materialize([store_report], partition_key=AS_OF, resources=resources, instance=instance).success
    assert report_bytes(tmp_path) == before
