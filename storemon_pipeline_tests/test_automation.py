"""The inbox sensor, the hourly schedule and the `request_report_job` button, against real parts.

Every test uses a real SQLite warehouse file, a real Dagster instance and real in-process runs of the
jobs the sensor and schedule request: a tick is evaluated with `build_sensor_context` /
`build_schedule_context`, its run requests are executed as the daemon would (partitions first).
"""

from __future__ import annotations


from pathlib import Path

import pytest
from dagster import (
    DagsterInvalidConfigError,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    RunRequest,
    SensorResult,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from storemon_pipeline.automation import (
    InboxCursor,
    hourly_report_schedule,
    inbox_sensor,
    report_request_sensor,
)
from storemon_pipeline.assets.raw import RAW_OP, raw_materialization_metadata, raw_paths_run_config
from storemon_pipeline.core.inputs import PINGS
from storemon_pipeline.definitions import build_definitions
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.warehouse import Warehouse

PINGS_HEADER = "store_id,status,timestamp_utc\n"
HOURS = "store_id,dayOfWeek,start_time_local,end_time_local\n" + "".join(
    f"s1,{d},09:00:00,17:00:00\n" for d in range(7)
)
ZONES = "store_id,timezone_str\ns1,America/New_York\ns2,Europe/Paris\n"


def pings_csv(*rows: tuple[str, str, str]) -> str:
    return PINGS_HEADER + "".join(f"{s},{status},{ts} UTC\n" for s, status, ts in rows)


def hourly_pings(store: str, day: str, hours: range, status: str = "active") -> list[tuple[str, str, str]]:
    return [(store, status, f"{day} {h:02d}:05:00") for h in hours]


class Stack:
    """The code location's definitions wired to temporary folders, a SQLite warehouse and one instance."""

    def __init__(self, tmp_path: Path, database_url: str, instance: DagsterInstance):
        self.inbox = tmp_path / "inbox"
        self.inbox.mkdir()
        self.reports = tmp_path / "reports"
        self.data_dir = tmp_path / "data"
        self.data_dir.mkdir()
        self.database_url = database_url
        self.resources = {
            "warehouse": WarehouseResource(database_url=database_url),
            "files": StoremonFiles(
                data_dir=str(self.data_dir), inbox_dir=str(self.inbox), reports_dir=str(self.reports)
            ),
        }
        self.defs = build_definitions(self.resources)
        self.instance = instance
        self.cursor: str | None = None
        self.runs: list = []

    @property
    def warehouse(self) -> Warehouse:
        return self.resources["warehouse"].open()

    def drop(self, name: str, text: str) -> Path:
        path = self.inbox / name
        path.write_text(text, encoding="utf-8")
        return path

    def tick(self) -> SensorResult:
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources=self.resources, definitions=self.defs
        )
        result = inbox_sensor(context)
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result

    def execute(self, request: RunRequest, job_name: str | None = None):
        job = self.defs.resolve_job_def(request.job_name or job_name)
        result = job.execute_in_process(
            run_config=request.run_config or None,
            partition_key=request.partition_key,
            instance=self.instance,
            tags=request.tags,
            raise_on_error=False,
        )
        self.runs.append(result)
        return result

    def tick_and_run(self) -> SensorResult:
        result = self.tick()
        for request in result.run_requests or []:
            assert self.execute(request).success
        return result

    def materialized_report_keys(self) -> set[str]:
        return set(self.instance.get_materialized_partitions(AssetKey("store_report")))


@pytest.fixture
def stack(tmp_path, sqlite_url):
    """In-memory instance: the cheapest real one (about 150 ms per in-process run)."""
    return Stack(tmp_path, sqlite_url, DagsterInstance.ephemeral())


@pytest.fixture
def stack_with_instance_ref(tmp_path, sqlite_url):
    """A schedule context needs an instance reference, which only an on-disk instance has."""
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        yield Stack(tmp_path, sqlite_url, instance)


def requests_of(result: SensorResult) -> list[RunRequest]:
    return list(result.run_requests or [])


def test_a_dropped_file_yields_one_ingest_and_one_report_run(stack):
    stack.drop("pings_0900.csv", pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))

    first = stack.tick()
    assert requests_of(first) == [] and "waiting for 1 file" in first.skip_reason.skip_message

    ingest = requests_of(stack.tick())
    assert [r.job_name for r in ingest] == ["ingest_job"]
    assert ingest[0].run_config["ops"][RAW_OP]["config"]["paths"] == [str(stack.inbox / "pings_0900.csv")]
    assert stack.execute(ingest[0]).success

    report = stack.tick()
    assert [(r.job_name, r.partition_key) for r in requests_of(report)] == [
        ("report_from_warehouse_job", "2023-01-25T09:05:00Z")
    ]
    assert report.run_requests[0].run_key == "report:2023-01-25T09:05:00Z"
    assert [r.partition_keys for r in report.dynamic_partitions_requests] == [["2023-01-25T09:05:00Z"]]
    assert stack.execute(report.run_requests[0]).success
    assert stack.materialized_report_keys() == {"2023-01-25T09:05:00Z"}
    assert (stack.reports / "report_2023-01-25T09:05:00Z.csv").exists()

    for _ in range(3):
        assert requests_of(stack.tick()) == []
    assert len(stack.runs) == 2
    assert stack.warehouse.ingested_files()["file_name"].tolist() == ["pings_0900.csv"]


def test_the_same_file_twice_yields_one_ingest(stack):
    text = pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10)))
    path = stack.drop("pings.csv", text)
    stack.tick()
    assert len(requests_of(stack.tick_and_run())) == 1  # the ingest
    assert len(requests_of(stack.tick_and_run())) == 1  # the report

    path.touch()  # new mtime, same bytes
    stack.drop("pings_copy.csv", text)  # same bytes, other name
    for _ in range(3):
        assert requests_of(stack.tick_and_run()) == []
    assert len(stack.warehouse.ingested_files()) == 1
    assert len(stack.runs) == 2


def test_a_half_written_file_is_not_picked_up_until_complete(stack):
    path = stack.inbox / "pings.csv"
    complete = pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10)))
    path.write_text(complete[:40])
    assert requests_of(stack.tick()) == []
    with path.open("a") as handle:  # still being written: size changes between ticks
        handle.write(complete[40:80])
    assert requests_of(stack.tick()) == []
    with path.open("a") as handle:
        handle.write(complete[80:])
    assert requests_of(stack.tick()) == []
    ingest = requests_of(stack.tick())  # unchanged over two ticks: complete
    assert len(ingest) == 1
    assert stack.execute(ingest[0]).success
    assert stack.warehouse.latest_ping_us() is not None
    assert int(stack.warehouse.ingested_files()["rows_loaded"].iloc[0]) == 10


def test_tmp_and_partial_files_wait_for_their_rename(stack):
    text = pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10)))
    stack.drop("pings.csv.tmp", text)
    stack.drop("hours.csv.partial", HOURS)
    for _ in range(3):
        assert requests_of(stack.tick()) == []
    (stack.inbox / "pings.csv.tmp").rename(stack.inbox / "pings.csv")
    (stack.inbox / "hours.csv.partial").rename(stack.inbox / "hours.csv")
    assert requests_of(stack.tick()) == []
    ingest = requests_of(stack.tick())
    assert len(ingest) == 1
    assert sorted(Path(p).name for p in ingest[0].run_config["ops"][RAW_OP]["config"]["paths"]) == [
        "hours.csv",
        "pings.csv",
    ]


def test_future_rows_never_move_the_report_key(stack):
    rows = hourly_pings("s1", "2023-01-25", range(0, 10)) + [("s2", "active", "2999-01-01 00:00:00")]
    stack.drop("pings.csv", pings_csv(*rows))
    stack.tick()
    stack.tick_and_run()
    report = stack.tick()
    assert [r.partition_key for r in requests_of(report)] == ["2023-01-25T09:05:00Z"]


def test_a_new_hours_file_reruns_the_report_for_the_same_key(stack):
    stack.drop("pings.csv", pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    stack.tick()
    stack.tick_and_run()
    stack.tick_and_run()
    stack.drop("hours.csv", HOURS)
    stack.tick()
    assert [r.job_name for r in requests_of(stack.tick_and_run())] == ["ingest_job"]
    rerun = requests_of(stack.tick_and_run())
    assert [r.partition_key for r in rerun] == ["2023-01-25T09:05:00Z"]
    assert rerun[0].run_key.startswith("report:2023-01-25T09:05:00Z:after:ingest:")
    assert requests_of(stack.tick()) == []


def test_nothing_is_requested_while_a_sensor_run_is_in_flight(stack):
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    create_run_for_test(
        stack.instance, job_name="ingest_job", status=DagsterRunStatus.STARTED, tags={"storemon/trigger": "inbox_sensor"}
    )
    stack.drop("pings.csv", pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    for _ in range(3):
        result = stack.tick()
        assert requests_of(result) == []
    assert "waiting for run" in result.skip_reason.skip_message
    assert InboxCursor.load(stack.cursor).seen == {}  # still to do once the run is over


def test_a_bad_file_loads_its_good_rows_counts_the_bad_and_fails_the_check(stack):
    good = hourly_pings("s1", "2023-01-25", range(0, 10))
    bad = "s2,sleeping,2023-01-25 01:00:00 UTC\n,active,2023-01-25 01:00:00 UTC\ns3,active,yesterday\n"
    stack.drop("pings.csv", pings_csv(*good) + bad)
    stack.tick()
    ingest = requests_of(stack.tick())
    run = stack.execute(ingest[0])
    assert run.success  # bad rows never stop the run

    metadata = raw_materialization_metadata(run, PINGS)
    assert metadata["rows_loaded"].value == 10
    assert metadata["rows_rejected"].value == 3
    checks = {e.asset_check_key.name: e for e in run.get_asset_check_evaluations() if e.asset_key.path == ["raw_pings"]}
    rejected = checks["rejected_rows"]
    assert not rejected.passed and rejected.severity == AssetCheckSeverity.ERROR  # 3 of 13 > 5 %
    assert rejected.metadata["rows_rejected"].value == 3
    assert checks["files_recognised"].passed
    # The report still follows.
    assert len(requests_of(stack.tick_and_run())) == 1


def test_a_few_bad_rows_are_a_warning(stack):
    good = hourly_pings("s1", "2023-01-25", range(0, 24)) + hourly_pings("s2", "2023-01-25", range(0, 24))
    stack.drop("pings.csv", pings_csv(*good) + "s3,unknown-status,2023-01-25 01:00:00 UTC\n")
    stack.tick()
    run = stack.execute(requests_of(stack.tick())[0])
    check = next(e for e in run.get_asset_check_evaluations() if e.asset_check_key.name == "rejected_rows"
                 and e.asset_key.path == ["raw_pings"])
    assert not check.passed and check.severity == AssetCheckSeverity.WARN  # 1 of 49 ≈ 2 %


def test_a_file_of_no_known_kind_errors_once_and_is_never_retried(stack):
    stack.drop("orders.csv", "order_id,amount\n1,2\n")
    stack.tick()
    ingest = requests_of(stack.tick())
    assert len(ingest) == 1
    run = stack.execute(ingest[0])
    assert run.success
    errors = [e for e in run.all_events if e.event_type_value == "ENGINE_EVENT" or e.is_step_event]
    messages = [r.user_message for r in stack.instance.all_logs(run.run_id) if r.level >= 40]
    assert any("orders.csv" in m and "matches no input kind" in m for m in messages)
    check = next(e for e in run.get_asset_check_evaluations() if e.asset_check_key.name == "files_recognised")
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert errors is not None
    for _ in range(3):
        assert requests_of(stack.tick()) == []  # no pings, nothing to report, and no retry


def test_the_hourly_schedule_reports_only_newer_pings(stack_with_instance_ref):
    stack = stack_with_instance_ref
    warehouse = stack.warehouse

    def evaluate_schedule():
        # `with`: the context opens its own instance from the reference and must close it again.
        with build_schedule_context(instance=stack.instance, resources=stack.resources) as context:
            return hourly_report_schedule(context)

    idle = evaluate_schedule()
    assert isinstance(idle, SkipReason) and "no pings" in idle.skip_message

    (stack.data_dir / "pings.csv").write_text(pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    ingest = RunRequest(run_config=raw_paths_run_config([]))
    assert stack.execute(ingest, "ingest_job").success
    assert warehouse.latest_ping_us() is not None

    request = evaluate_schedule()
    assert isinstance(request, RunRequest) and request.partition_key == "2023-01-25T09:05:00Z"
    assert stack.instance.has_dynamic_partition("report_ts", "2023-01-25T09:05:00Z")
    assert stack.execute(request, "report_from_warehouse_job").success

    # An idle hour: no newer ping than the last report launches nothing.
    for _ in range(2):
        idle = evaluate_schedule()
        assert isinstance(idle, SkipReason) and "no ping newer" in idle.skip_message

    (stack.data_dir / "later.csv").write_text(pings_csv(("s1", "inactive", "2023-01-25 10:30:00.5")))
    assert stack.execute(ingest, "ingest_job").success
    request = evaluate_schedule()
    assert isinstance(request, RunRequest) and request.partition_key == "2023-01-25T10:30:01Z"


def test_request_report_launches_the_latest_report_without_a_key(stack):
    (stack.data_dir / "pings.csv").write_text(pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    stack.execute(RunRequest(run_config={}), "ingest_job")

    request_run = stack.defs.get_job_def("request_report_job").execute_in_process(instance=stack.instance)
    assert request_run.success
    run = stack.instance.get_run_by_id(request_run.run_id)
    assert run.tags["storemon/report_key"] == "2023-01-25T09:05:00Z"
    assert stack.instance.has_dynamic_partition("report_ts", "2023-01-25T09:05:00Z")

    success_event = next(e for e in request_run.all_events if e.event_type_value == "PIPELINE_SUCCESS")
    context = build_run_status_sensor_context(
        sensor_name="report_request_sensor", dagster_event=success_event, dagster_instance=stack.instance,
        dagster_run=run,
    )
    request = report_request_sensor(context)
    assert isinstance(request, RunRequest) and request.partition_key == "2023-01-25T09:05:00Z"
    assert stack.execute(request, "report_from_warehouse_job").success
    assert stack.materialized_report_keys() == {"2023-01-25T09:05:00Z"}


def test_request_report_backfills_a_chosen_as_of(stack):
    (stack.data_dir / "pings.csv").write_text(pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    stack.execute(RunRequest(run_config={}), "ingest_job")
    config = {"as_of": "2023-01-25T05:00:00.2Z"}
    run = stack.defs.get_job_def("request_report_job").execute_in_process(instance=stack.instance, run_config=config)
    assert stack.instance.get_run_by_id(run.run_id).tags["storemon/report_key"] == "2023-01-25T05:00:01Z"

    # A bad as-of refuses the launch itself, in one line: no run is created.
    runs_before = len(stack.instance.get_runs())
    with pytest.raises(DagsterInvalidConfigError) as refused:
        stack.defs.get_job_def("request_report_job").execute_in_process(
            instance=stack.instance, run_config={"as_of": "2023-01-25 05:00"}
        )
    assert str(refused.value).startswith("as_of: not an ISO 8601 instant: '2023-01-25 05:00'")
    assert "\n" not in str(refused.value).strip()
    assert len(stack.instance.get_runs()) == runs_before


def test_definitions_load_with_schedule_and_sensors_running():
    from dagster import DefaultScheduleStatus, DefaultSensorStatus

    from storemon_pipeline.definitions import defs

    repo = defs.get_repository_def()
    assert repo.get_schedule_def("hourly_report_schedule").default_status == DefaultScheduleStatus.RUNNING
    assert repo.get_schedule_def("hourly_report_schedule").execution_timezone == "UTC"
    for name in ("inbox_sensor", "report_request_sensor"):
        sensor = repo.get_sensor_def(name)
        assert sensor.default_status == DefaultSensorStatus.RUNNING
        assert sensor.minimum_interval_seconds <= 30
    assert {"ingest_and_report_job", "ingest_job", "report_from_warehouse_job", "request_report_job"} <= {j.name for j in repo.get_all_jobs()}



def test_the_sensor_leaves_an_already_materialized_latest_report_alone(stack):
    (stack.data_dir / "pings.csv").write_text(pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    stack.execute(RunRequest(run_config={}), "ingest_job")
    stack.instance.add_dynamic_partitions("report_ts", ["2023-01-25T09:05:00Z"])
    assert stack.execute(RunRequest(partition_key="2023-01-25T09:05:00Z"), "report_from_warehouse_job").success

    result = stack.tick()  # a fresh cursor, as after `make run` started the sensor for the first time
    assert requests_of(result) == []
    assert InboxCursor.load(stack.cursor).last_report_key == "2023-01-25T09:05:00Z"


def test_a_report_waits_for_files_still_arriving(stack):
    (stack.data_dir / "pings.csv").write_text(pings_csv(*hourly_pings("s1", "2023-01-25", range(0, 10))))
    stack.execute(RunRequest(run_config={}), "ingest_job")
    stack.drop("more.csv", pings_csv(("s1", "active", "2023-01-25 11:00:00")))
    assert requests_of(stack.tick()) == []  # the drop is not complete yet: no report of the old data
    assert [r.job_name for r in requests_of(stack.tick_and_run())] == ["ingest_job"]
    assert [r.partition_key for r in requests_of(stack.tick())] == ["2023-01-25T11:00:00Z"]
