"""Faults: a killed ingest, the database going away mid-run, two loads of one file at once.

The kill runs on SQLite and PostgreSQL; the database going away on PostgreSQL (a server
that drops connections); the concurrent loads through the CLI on PostgreSQL (test_warehouse.py
races Warehouse.ingest on both dialects). Nothing is mocked:
processes are really killed (SIGKILL), PostgreSQL backends really terminated, and the
concurrent loads are two OS processes released by one barrier.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psycopg2.extensions
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, RetryPolicy, materialize

from storemon_pipeline.assets.raw import raw_inputs, raw_paths_run_config
from storemon_pipeline.core.inputs import parse_csv_file
from storemon_pipeline.resources import StoremonFiles, WarehouseResource
from storemon_pipeline.warehouse import Warehouse
from storemon_pipeline_tests.test_bad_input import NOW_US, load_baseline, snapshot

# Minutes of pings for STORES stores: big enough that writing takes a noticeable moment.
STORES = 1_000
MINUTES = 100


def write_big_pings_file(path: Path) -> int:
    """STORES x MINUTES distinct pings (100 000 rows, about 5 MB); returns the row count."""
    minutes = np.datetime64("2023-01-24T00:00:00") + np.arange(MINUTES).astype("timedelta64[m]")
    minute_texts = [str(m).replace("T", " ") + " UTC" for m in minutes]
    store_texts = [f"big-{i:05d}" for i in range(STORES)]
    lines = ["store_id,status,timestamp_utc"]
    for minute, minute_text in enumerate(minute_texts):
        status = "active" if minute % 3 else "inactive"
        lines.extend(f"{store},{status},{minute_text}" for store in store_texts)
    path.write_text("\n".join(lines) + "\n")
    return STORES * MINUTES


def table_count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar_one()
    finally:
        engine.dispose()


def resources_for(url: str, tmp_path: Path) -> dict:
    return {
        "warehouse": WarehouseResource(database_url=url),
        "files": StoremonFiles(data_dir=str(tmp_path), reports_dir=str(tmp_path / "reports")),
    }


# -- a run killed in the middle of an ingest ----------------------------------------------------------

# The child ingests the file and says when its ingest transaction has started. Its commit is
# held back, so a kill, whenever it lands after that line, lands before the commit.
KILLED_INGEST = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    from storemon_pipeline.core.inputs import parse_csv_file
    from storemon_pipeline.warehouse import Warehouse

    url, path, now_us = sys.argv[1], sys.argv[2], int(sys.argv[3])
    in_ingest = False

    @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
    def announce(conn, cursor, statement, parameters, context, executemany):
        global in_ingest
        if not in_ingest and statement.lstrip().upper().startswith("INSERT INTO INGESTED_FILES"):
            in_ingest = True
            print("in transaction", flush=True)

    @sa.event.listens_for(sa.engine.Engine, "commit")
    def hold(conn):
        if in_ingest:
            print("about to commit", flush=True)
            time.sleep(600)

    parsed = parse_csv_file(path, now_us)
    Warehouse(url).ingest(parsed, now_us)
    print("committed", flush=True)
    """
)


def read_line(stream, timeout_s: float) -> str:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    return line[0].strip() if line else ""


def test_a_killed_ingest_leaves_the_warehouse_as_before_and_the_next_run_loads_all(database_url, tmp_path):
    url = load_baseline(database_url, tmp_path)
    big = tmp_path / "big_pings.csv"
    n_rows = write_big_pings_file(big)
    before = snapshot(url)
    n_pings_before = len(before["pings"])

    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_INGEST, url, str(big), str(NOW_US)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(child.stdout, 120) == "in transaction"
        time.sleep(0.1)  # let rows move: the kill lands mid-write, or at the latest before the commit
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(30)
    assert child.returncode == -signal.SIGKILL

    # Exactly the before-state: no file row, no pings, no rejected rows, no half of anything.
    assert snapshot(url) == before

    # The next run (what the sensor's retry or the next tick does) loads the file in full.
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [raw_inputs], resources=resources_for(url, tmp_path), run_config=raw_paths_run_config([str(big)]),
        instance=instance,
    )
    assert result.success
    files = Warehouse(url).ingested_files()
    assert list(files["file_name"]).count("big_pings.csv") == 1
    assert files.iloc[-1].rows_loaded == n_rows and files.iloc[-1].rows_rejected == 0
    assert table_count(url, "pings") == n_pings_before + n_rows
    # ... and only once: one more run changes nothing.
    again = materialize(
        [raw_inputs], resources=resources_for(url, tmp_path), run_config=raw_paths_run_config([str(big)]),
        instance=instance,
    )
    assert again.success and table_count(url, "pings") == n_pings_before + n_rows
    assert len(Warehouse(url).ingested_files()) == len(files)


# -- the database going away in the middle of a run ----------------------------------------------------


def test_the_ingest_assets_carry_a_retry_policy():
    policy = raw_inputs.op.retry_policy
    assert isinstance(policy, RetryPolicy) and policy.max_retries >= 1 and policy.delay


def _terminate_and_wait(admin: sa.Engine, pid: int) -> None:
    """Terminate PostgreSQL backend `pid` and return once it is gone: what the run sends next fails."""
    with admin.begin() as admin_conn:
        admin_conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
    activity = sa.table("pg_stat_activity", sa.column("pid"))
    with admin.connect() as admin_conn:
        for _ in range(500):
            query = sa.select(sa.func.count()).select_from(activity).where(activity.c.pid == pid)
            if not admin_conn.execute(query).scalar_one():
                return
            time.sleep(0.01)
    raise AssertionError(f"backend {pid} still alive")


def _database_goes_away(admin_url: str, where: str, times: int):
    """The warehouse connection is terminated by the server, `times` times, at `where`:

    - "statement": just before the INSERT INTO ingested_files of the ingest transaction
      (a statement SQLAlchemy runs);
    - "copy": just before the bulk COPY (run on the raw psycopg2 cursor).
    """
    admin = sa.create_engine(admin_url)
    remaining = [times]

    def before_statement(conn, cursor, statement, parameters, context, executemany):
        if remaining[0] > 0 and statement.lstrip().upper().startswith("INSERT INTO INGESTED_FILES"):
            remaining[0] -= 1
            _terminate_and_wait(admin, conn.connection.dbapi_connection.get_backend_pid())

    class CopyAfterTermination(psycopg2.extensions.cursor):
        def copy_expert(self, sql, file, *args, **kwargs):
            if remaining[0] > 0:
                remaining[0] -= 1
                _terminate_and_wait(admin, self.connection.get_backend_pid())
            return super().copy_expert(sql, file, *args, **kwargs)

    def on_connect(dbapi_connection, _record):
        if isinstance(dbapi_connection, psycopg2.extensions.connection):
            dbapi_connection.cursor_factory = CopyAfterTermination

    if where == "statement":
        listeners = [(sa.engine.Engine, "before_cursor_execute", before_statement)]
    else:
        listeners = [(sa.pool.Pool, "connect", on_connect)]
    for target, event, listener in listeners:
        sa.event.listen(target, event, listener)

    def stop():
        for target, event, listener in listeners:
            sa.event.remove(target, event, listener)
        admin.dispose()

    return stop


@pytest.fixture
def raw_pings_without_delay(monkeypatch):
    """The raw assets with their own retry policy (same retries), minus the wait between attempts."""
    from storemon_pipeline.assets import raw

    policy = raw.INGEST_RETRY
    return raw.build_raw_inputs(RetryPolicy(max_retries=policy.max_retries, delay=0)), policy.max_retries


@pytest.mark.parametrize("where", ["statement", "copy"])
def test_the_database_going_away_fails_the_run_clearly_and_changes_nothing(
    pg_url, tmp_path, where, raw_pings_without_delay
):
    """Every attempt (the first and each retry) loses its connection: the run fails, clearly."""
    asset, max_retries = raw_pings_without_delay
    url = load_baseline(pg_url, tmp_path)
    pings = tmp_path / "pings.csv"
    pings.write_text("store_id,status,timestamp_utc\nnew-1,active,2023-01-25 12:00:00 UTC\n")
    before = snapshot(url)
    base_url = os.environ["STOREMON_TEST_POSTGRES_URL"]
    stop = _database_goes_away(base_url, where, times=1 + max_retries)
    instance = DagsterInstance.ephemeral()
    try:
        result = materialize(
            [asset],
            resources=resources_for(url, tmp_path),
            run_config=raw_paths_run_config([str(pings)]),
            instance=instance,
            raise_on_error=False,
        )
    finally:
        stop()
    assert not result.success
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == max_retries
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    message = failure.message.strip()
    while failure.cause is not None and "unavailable" not in message:
        failure = failure.cause
        message = failure.message.strip()
    # One line that names the warehouse (password masked) and the reason.
    assert message.startswith("storemon_pipeline.warehouse.engine.WarehouseUnavailable: warehouse postgresql")
    assert "unavailable" in message and ("terminat" in message or "closed" in message), message
    assert snapshot(url) == before


def test_a_short_database_outage_is_healed_by_the_retry_policy(pg_url, tmp_path, raw_pings_without_delay):
    asset, _ = raw_pings_without_delay
    url = load_baseline(pg_url, tmp_path)
    pings = tmp_path / "pings.csv"
    pings.write_text("store_id,status,timestamp_utc\nnew-1,active,2023-01-25 12:00:00 UTC\n")
    stop = _database_goes_away(os.environ["STOREMON_TEST_POSTGRES_URL"], "copy", times=1)
    instance = DagsterInstance.ephemeral()
    try:
        result = materialize(
            [asset], resources=resources_for(url, tmp_path), run_config=raw_paths_run_config([str(pings)]),
            instance=instance, raise_on_error=False,
        )
    finally:
        stop()
    assert result.success
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == 1
    assert list(Warehouse(url).ingested_files()["file_name"]).count("pings.csv") == 1


# -- two loads of the same file at the same instant ---------------------------------------------------

# test_warehouse.py races Warehouse.ingest itself in several processes. Here the race is one level
# up, what an operator actually does: two `storemon ingest` commands (each a Dagster run of the
# raw assets) on the same folder at the same instant, released by a file-system barrier.
CONCURRENT_CLI_INGEST = textwrap.dedent(
    """
    import os, sys, time
    from storemon_pipeline import cli
    import dagster  # imported before the barrier: both commands start their runs together

    go, argv = sys.argv[1], sys.argv[2:]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    sys.exit(cli.main(argv))
    """
)


def test_two_ingest_commands_at_once_load_a_file_once(pg_url, tmp_path):
    """PostgreSQL, where the loser's transaction fails on the unique sha256 and is rolled back.

    (On SQLite the writers queue on BEGIN IMMEDIATE; test_warehouse.py races both dialects.)
    """
    url = load_baseline(pg_url, tmp_path)
    data_dir = tmp_path / "drop"
    data_dir.mkdir()
    path = data_dir / "same.csv"
    lines = ["store_id,status,timestamp_utc"] + [
        f"same-{i % 500},{'active' if i % 2 else 'inactive'},2023-01-25 {i // 500 % 24:02d}:{i % 60:02d}:00 UTC"
        for i in range(5_000)
    ] + ["same-x,bogus,2023-01-25 12:00:00 UTC"]
    path.write_text("\n".join(lines) + "\n")
    expected_pings = len(parse_csv_file(path, NOW_US).rows.drop_duplicates(["store_id", "ts_us"]))
    pings_before = table_count(url, "pings")
    go = tmp_path / "go"

    command = ["ingest", "--data-dir", str(data_dir), "--database-url", url]
    workers = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_CLI_INGEST, str(go), *command], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        assert [read_line(w.stdout, 120) for w in workers] == ["ready", "ready"]
        go.touch()
        outputs = [w.communicate(timeout=180) for w in workers]
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(30)

    # Both commands succeed and report the one load; the warehouse holds the file once.
    assert [w.returncode for w in workers] == [0, 0], outputs
    for out, _ in outputs:
        assert out.strip() == f"same.csv: pings: {len(lines) - 2} rows loaded, 1 rejected"
    files = Warehouse(url).ingested_files()
    assert list(files["file_name"]).count("same.csv") == 1
    assert table_count(url, "pings") == pings_before + expected_pings
    assert list(Warehouse(url).read_rejected("same.csv")["line"]) == [len(lines)]


# -- the inbox sensor after a run that died -------------------------------------------------------------


def test_a_file_whose_ingest_run_died_is_requested_again(tmp_path, sqlite_url):
    from dagster import build_sensor_context

    from storemon_pipeline.automation import MAX_INGEST_ATTEMPTS, inbox_sensor

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "pings.csv").write_text("store_id,status,timestamp_utc\ns1,active,2023-01-25 12:00:00 UTC\n")
    resources = {
        "warehouse": WarehouseResource(database_url=sqlite_url),
        "files": StoremonFiles(data_dir=str(tmp_path), inbox_dir=str(inbox), reports_dir=str(tmp_path / "reports")),
    }
    instance = DagsterInstance.ephemeral()
    cursor = None

    def tick():
        nonlocal cursor
        result = inbox_sensor(build_sensor_context(instance=instance, cursor=cursor, resources=resources))
        cursor = result.cursor
        return list(result.run_requests or [])

    tick()  # first sight: wait until the file stops growing
    assert len(tick()) == 1  # ingest requested ... and its run is killed before it loads anything
    requested_again = [request for _ in range(6) for request in tick()]
    # Asked again, each time under a new run_key, and then no more: a file whose loads keep
    # failing must not launch a run every tick forever.
    assert sum("pings.csv" in str(request.run_config) for request in requested_again) == MAX_INGEST_ATTEMPTS - 1
    assert len({request.run_key for request in requested_again}) == len(requested_again)
