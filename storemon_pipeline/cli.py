"""The `storemon` command. It runs the same assets as Dagster, in-process.

Errors a user can act on (missing folder, no pings, database down, a bad
--as-of) end in one line on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from storemon_pipeline.core.clock import parse_instant_us, partition_key, whole_second_at_or_after_us
from storemon_pipeline.core.inputs import PINGS, UnknownFileKind, file_sha256, peek_kind
from storemon_pipeline.instance import ensure_instance_settings, write_dev_workspace

if TYPE_CHECKING:
    import pandas as pd


CONSOLE_LOG_LEVEL = os.getenv("STOREMON_LOG_LEVEL", "CRITICAL")


class UserError(Exception):
    """A problem the user can fix; printed as one line."""


def _resources(database_url: str | None, data_dir: str | None = None, reports_dir: str | None = None) -> dict:
    from storemon_pipeline.resources import StoremonFiles, WarehouseResource

    warehouse = WarehouseResource(database_url=database_url) if database_url else WarehouseResource()
    file_settings = {k: v for k, v in {"data_dir": data_dir, "reports_dir": reports_dir}.items() if v}
    return {"warehouse": warehouse, "files": StoremonFiles(**file_settings)}


def open_warehouse(resources: dict):
    from storemon_pipeline.warehouse import WarehouseUnavailable, WarehouseUrlError

    try:
        # A URL storemon cannot use is refused here (warehouse.engine decides), then the
        # warehouse connects (and creates the schema): a database that is down fails
        # here in one line, not three retries deep inside a run.
        warehouse = resources["warehouse"].open()
        warehouse.latest_ping_us()
    except (WarehouseUrlError, WarehouseUnavailable) as exc:
        raise UserError(str(exc)) from None
    return warehouse


def warn(message: str) -> None:
    print(f"storemon: warning: {message}", file=sys.stderr)


def csv_files(data_dir: str) -> list[Path]:
    """The regular files `*.csv` directly in the folder, by name.

    Anything else with such a name (a folder, a broken link, a FIFO) is no input: it is
    skipped with a one-line warning, rather than failing the whole command.
    """
    folder = Path(data_dir)
    if not folder.is_dir():
        raise UserError(f"data folder not found: {folder}")
    files = []
    for path in sorted(folder.glob("*.csv")):
        if path.is_file():
            files.append(path)
        else:
            warn(f"{path}: skipped: not a regular file")
    return files


def materialize_in_process(assets, resources: dict, partition_key: str | None = None, run_config=None, instance=None):
    """One in-process Dagster run; raises UserError with the first failure's message."""
    from dagster import DagsterInstance, materialize

    instance = instance or DagsterInstance.ephemeral()
    # Dagster's console log is for operators; the command speaks in one line.
    run_config = {**(run_config or {}), "loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}
    if partition_key is not None:
        from storemon_pipeline.partitions import report_partitions

        instance.add_dynamic_partitions(report_partitions.name, [partition_key])
    result = materialize(
        assets,
        resources=resources,
        partition_key=partition_key,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
    )
    if not result.success:
        raise UserError(_first_failure(result))
    return result


def _first_failure(result) -> str:
    """The first failed step's reason, one line."""
    failures = [e for e in result.all_events if e.is_step_failure]
    if not failures:
        return "run failed"
    data = failures[0].step_failure_data
    message = (data.user_failure_data.description if data.user_failure_data else None) or data.error.message
    message = (message or "").strip()
    return message.splitlines()[-1] if message else "run failed"


def execute_report_job(key: str, run_config: dict) -> None:
    """report_from_warehouse_job for partition `key`, on the executor STOREMON_EXECUTOR names, in the
    Dagster instance of DAGSTER_HOME: other processes (multiprocess) or machines (celery workers) run
    its steps, so the job is loaded by reference from the code location and the instance is one they
    share. The warehouse and folders are those of the environment, in every process."""
    if not os.getenv("DAGSTER_HOME"):
        raise UserError(
            "STOREMON_EXECUTOR=multiprocess or celery runs the steps in other processes, which share a Dagster "
            "instance: set DAGSTER_HOME (its dagster.yaml with PostgreSQL storage for celery workers)"
        )
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from storemon_pipeline.instance import DEFINITIONS_MODULE
    from storemon_pipeline.jobs import report_from_warehouse_job
    from storemon_pipeline.partitions import report_partitions
    from storemon_pipeline.runs import PARTITION_TAG

    job = ReconstructableRepository.for_module(DEFINITIONS_MODULE, "defs").get_reconstructable_job(
        report_from_warehouse_job.name
    )
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}}}
    with DagsterInstance.get() as instance:
        if not instance.has_dynamic_partition(report_partitions.name, key):
            instance.add_dynamic_partitions(report_partitions.name, [key])
        with execute_job(job, instance, run_config=run_config, tags={PARTITION_TAG: key}) as result:
            if not result.success:
                raise UserError(f"{_first_failure(result)} (run {result.run_id})")


def ingest_files(resources: dict, paths: list[Path]) -> None:
    """Load `paths` (csv_files of a folder) through the raw assets."""
    from storemon_pipeline.assets.raw import raw_assets, raw_paths_run_config

    open_warehouse(resources)
    if paths:  # (given no paths, the assets would scan the data folder themselves)
        materialize_in_process(raw_assets, resources, run_config=raw_paths_run_config([str(p) for p in paths]))


def cmd_ingest(args: argparse.Namespace) -> int:
    """Load the folder, then say for each file what became of it (one line each)."""
    paths = csv_files(args.data_dir)
    resources = _resources(args.database_url, data_dir=args.data_dir)
    loaded_before = set(open_warehouse(resources).ingested_files()["sha256"])
    ingest_files(resources, paths)
    for line in ingest_outcomes(paths, loaded_before, open_warehouse(resources).ingested_files()):
        print(line)
    return 0


def ingest_outcomes(paths: list[Path], loaded_before: set[str], ingested: pd.DataFrame) -> list[str]:
    """One line per file: loaded (rows, rejected), already ingested, a copy of another file, or not loaded.

    The warehouse knows a file by its bytes (sha256) and keeps the name it was first loaded
    under, so the same bytes under another name, in this folder or loaded earlier, are a copy.
    """
    loaded_by_sha = {row.sha256: row for row in ingested.itertuples(index=False)}
    loaded_now = {row.file_name: row for row in loaded_by_sha.values() if row.sha256 not in loaded_before}
    lines = []
    for path in paths:
        name = path.name
        try:
            peek_kind(path)
            # A file loaded by this run is known by name; any other is hashed, as the ingest does.
            row = loaded_now.get(name) or loaded_by_sha.get(file_sha256(path))
        except UnknownFileKind as exc:
            lines.append(f"{name}: not loaded: {str(exc).removeprefix(f'{name}: ')}")
            continue
        except OSError as exc:
            lines.append(f"{name}: not loaded: cannot be read: {exc.strerror or exc}")
            continue
        if row is None:
            lines.append(f"{name}: not loaded (its bytes changed while it was read, or it went away)")
        elif row.sha256 not in loaded_before and row.file_name == name:
            lines.append(f"{name}: {row.kind}: {row.rows_loaded} rows loaded, {row.rows_rejected} rejected")
        elif row.file_name == name:
            lines.append(f"{name}: already ingested")
        else:
            lines.append(f"{name}: skipped: a copy of {row.file_name}")
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    from storemon_pipeline.assets import normalized_schedules, status_segments, store_report
    from storemon_pipeline.assets.segments import shards_run_config
    from storemon_pipeline.execution import IN_PROCESS, ExecutionSettingError, executor_name_from_env, shards_from_env

    try:
        executor = executor_name_from_env()
        shards = args.shards if args.shards is not None else shards_from_env()
    except ExecutionSettingError as exc:
        raise UserError(str(exc)) from None

    paths = csv_files(args.data_dir)
    if not any(_is_pings(p) for p in paths):
        raise UserError(f"no pings file in {args.data_dir} (a CSV with header store_id,status,timestamp_utc)")
    key = None
    if args.as_of:
        try:
            key = partition_key(whole_second_at_or_after_us(parse_instant_us(args.as_of)))
        except ValueError as exc:
            raise UserError(f"--as-of: {exc}") from None

    resources = _resources(args.database_url, data_dir=args.data_dir)
    ingest_files(resources, paths)
    if key is None:
        from storemon_pipeline.partitions import latest_report_partition_key

        key = latest_report_partition_key(open_warehouse(resources))
        if key is None:
            raise UserError(f"no valid pings in {args.data_dir}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if executor == IN_PROCESS:
        materialize_in_process([normalized_schedules, status_segments, store_report], resources, partition_key=key,
                               run_config=shards_run_config(shards))
        shutil.copyfile(resources["files"].report_path(key), args.out)
    else:
        # The other processes load the code location with this environment: the same warehouse.
        if args.database_url:
            os.environ["STOREMON_DATABASE_URL"] = args.database_url
        os.environ["STOREMON_DATA_DIR"] = args.data_dir
        execute_report_job(key, shards_run_config(shards))
        # From the warehouse, not the file: store_report may have run on another machine.
        from storemon_pipeline.core.clock import as_of_from_partition_key
        from storemon_pipeline.core.report import report_csv

        csv_text = report_csv(open_warehouse(resources).read_report(as_of_from_partition_key(key)))
        Path(args.out).write_text(csv_text, encoding="utf-8", newline="")
    print(f"report as of {key}: {args.out}")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    """Old report partitions out of the warehouse, the reports folder and (with DAGSTER_HOME) Dagster: one line."""
    from storemon_pipeline.core.retention import RetentionPolicy
    from storemon_pipeline.retention import prune

    try:
        policy = RetentionPolicy.from_env(keep_segments=args.keep_segments, keep_reports=args.keep_reports)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    resources = _resources(args.database_url)
    warehouse = open_warehouse(resources)
    if os.getenv("DAGSTER_HOME"):
        # The instance the UI and the daemon use: partition keys and runs of pruned reports go too.
        from dagster import DagsterInstance

        with DagsterInstance.get() as instance:
            outcome = prune(warehouse, resources["files"], policy, instance)
    else:
        outcome = prune(warehouse, resources["files"], policy)
    print(outcome.summary())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Dagster (webserver + daemon) and the report API side by side, until Ctrl-C.

    Each child gets its own process group (child_processes). When a child dies on its own,
    the rest is stopped and the command exits 1 naming it: a supervisor then sees the failure
    instead of a half-running stack. (`storemon run-production` restarts it instead.)
    """
    import signal
    import time

    from storemon_pipeline.child_processes import how_it_ended, start_in_group, stop_groups

    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(Path("var/dagster_home").resolve()))
    env.setdefault("STOREMON_DAGSTER_URL", f"http://{args.host}:{args.dagster_port}")
    env.setdefault("STOREMON_API_URL", f"http://{args.host}:{args.api_port}")  # store links in the report's metadata
    dagster_home = Path(env["DAGSTER_HOME"])
    warning = ensure_instance_settings(dagster_home)
    if warning:
        print(f"storemon run: {warning}", file=sys.stderr)
    if not args.no_ingest:
        _ingest_through_dagster(dagster_home)
    bin_dir = Path(sys.executable).parent
    commands = {
        "Dagster (dagster dev)": [
            str(bin_dir / "dagster"), "dev", "-w", str(write_dev_workspace(dagster_home)), "-h", args.host,
            "-p", str(args.dagster_port),
        ],
        "the report API": [str(bin_dir / "storemon"), "serve", "--host", args.host, "--port", str(args.api_port)],
    }
    # A shell starting us in the background leaves SIGINT ignored: restore it here (each child
    # restores its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    children = {name: start_in_group(command, env) for name, command in commands.items()}
    print(f"Dagster UI: http://{args.host}:{args.dagster_port}   report API: http://{args.host}:{args.api_port}/docs")

    # The group, not the child alone: when `dagster dev` itself died, its webserver,
    # daemon and code server are still in its group.
    signal.signal(signal.SIGTERM, lambda *_: (stop_groups(children.values()), sys.exit(0)))
    try:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"storemon run: {name} (pid {child.pid}) {how_it_ended(child.returncode)}; "
                          "stopping the rest", file=sys.stderr)
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_groups(children.values())


def _ingest_through_dagster(dagster_home: Path) -> None:
    """Load the data folder with ingest_job, recorded in the instance the UI reads: the raw assets
    show their materializations, row counts and checks from the first screen, and the warehouse
    knows the latest ping before the API takes its first trigger."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    from dagster import DagsterInstance

    from storemon_pipeline.assets.raw import RAW_KEYS, raw_materialization_metadata
    from storemon_pipeline.definitions import defs
    from storemon_pipeline.jobs import ingest_job

    with DagsterInstance.get() as instance:
        result = defs.resolve_job_def(ingest_job.name).execute_in_process(instance=instance, raise_on_error=False)
    if not result.success:
        raise UserError(f"loading the data folder failed (run {result.run_id} of {ingest_job.name}): see the Dagster UI")
    summary = ", ".join(
        f"{key.to_user_string()}: {raw_materialization_metadata(result, kind)['files_loaded'].value} new file(s)"
        for kind, key in RAW_KEYS.items()
    )
    print(f"data folder loaded through Dagster (run {result.run_id}): {summary}")


def cmd_run_production(args: argparse.Namespace) -> int:
    """The production topology on PostgreSQL (storemon_pipeline/topology.py), until Ctrl-C."""
    from storemon_pipeline.topology import (
        DEFAULT_POSTGRES_URL,
        POSTGRES_URL_ENV,
        Topology,
        celery_workers_from_env,
        supervise,
    )
    from storemon_pipeline.warehouse import WarehouseUnavailable, WarehouseUrlError

    topology = Topology(
        postgres_url=args.postgres_url or os.getenv(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL,
        dagster_home=Path(args.dagster_home).resolve(),
        instance_config=Path(args.instance_config),
        host=args.host, dagster_port=args.dagster_port, api_port=args.api_port, grpc_port=args.grpc_port,
        base_env=dict(os.environ),
    )
    try:
        topology.celery_workers = celery_workers_from_env()
    except ValueError as error:
        raise UserError(str(error)) from None
    if not topology.instance_config.is_file():
        raise UserError(f"instance settings not found: {topology.instance_config} (run from the repository, "
                        "or pass --instance-config deploy/dagster.yaml)")
    try:
        topology.prepare()
    except (WarehouseUrlError, WarehouseUnavailable) as error:
        raise UserError(str(error)) from None
    # This process loads the data folder through Dagster like `storemon run`, in the same instance.
    os.environ.update(topology.env())
    if not args.no_ingest:
        _ingest_through_dagster(topology.dagster_home)
    return supervise(topology)


def cmd_serve(args: argparse.Namespace) -> int:
    """The report API (POST /trigger_report, GET /get_report, GET /healthz) until Ctrl-C."""
    from storemon_pipeline.api import ApiSettings, serve

    settings = ApiSettings(**({"dagster_url": args.dagster_url} if args.dagster_url else {}))
    serve(host=args.host, port=args.port, settings=settings)
    return 0


def _is_pings(path: Path) -> bool:
    try:
        return peek_kind(path) == PINGS
    except (UnknownFileKind, OSError):
        return False


def _shard_count(text: str) -> int:
    from storemon_pipeline.core.shards import MAX_SHARDS

    if not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to {MAX_SHARDS}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storemon", description="Store uptime during business hours.")
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="ingest a folder of CSVs and write the report")
    report.add_argument("--data-dir", required=True, help="folder of input CSVs (kind recognised by header)")
    report.add_argument("--out", required=True, help="where to write the report CSV")
    report.add_argument("--as-of", help="report instant, ISO 8601 (default: latest ping, rounded up to the second)")
    report.add_argument("--database-url", help="SQLAlchemy URL (default: STOREMON_DATABASE_URL or a SQLite file)")
    report.add_argument("--shards", type=_shard_count, default=None,
                        help="store shards of status_segments, each its own step (default STOREMON_SHARDS or 1); "
                             "STOREMON_EXECUTOR says where the steps run")
    report.set_defaults(handler=cmd_report)

    ingest = commands.add_parser("ingest", help="load a folder of CSVs into the warehouse")
    ingest.add_argument("--data-dir", required=True)
    ingest.add_argument("--database-url")
    ingest.set_defaults(handler=cmd_ingest)

    prune = commands.add_parser("prune", help="delete old report partitions (segments, reports, files, partition keys)")
    prune.add_argument("--keep-segments", metavar="DURATION",
                       help="keep status_segments of partitions this recent, from the newest report: 48h, 7d, 2w, 30m "
                            "(default: STOREMON_KEEP_SEGMENTS or 48h)")
    prune.add_argument("--keep-reports", metavar="DURATION",
                       help="keep reports this recent; older ones lose everything (default: STOREMON_KEEP_REPORTS or 90d)")
    prune.add_argument("--database-url", help="SQLAlchemy URL (default: STOREMON_DATABASE_URL or a SQLite file)")
    prune.set_defaults(handler=cmd_prune)

    run = commands.add_parser("run", help="start Dagster (UI, schedule, sensor) and the report API")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--dagster-port", type=int, default=3000)
    run.add_argument("--api-port", type=int, default=8000)
    run.add_argument("--no-ingest", action="store_true",
                     help="start without loading the data folder through Dagster first")
    run.set_defaults(handler=cmd_run)

    from storemon_pipeline.topology import (
        DEFAULT_DAGSTER_HOME,
        DEFAULT_GRPC_PORT,
        DEFAULT_INSTANCE_CONFIG,
        POSTGRES_URL_ENV,
    )

    production = commands.add_parser(
        "run-production",
        help="the production topology on PostgreSQL: code server, webserver, daemon and API, each restarted if it dies",
    )
    production.add_argument("--host", default="127.0.0.1")
    production.add_argument("--dagster-port", type=int, default=3000)
    production.add_argument("--api-port", type=int, default=8000)
    production.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="the code server's port")
    production.add_argument("--postgres-url", help=f"instance storage and warehouse (default: {POSTGRES_URL_ENV} "
                            "or postgresql+psycopg2://postgres@127.0.0.1:5432/storemon)")
    production.add_argument("--dagster-home", default=str(DEFAULT_DAGSTER_HOME))
    production.add_argument("--instance-config", default=str(DEFAULT_INSTANCE_CONFIG),
                            help="Dagster instance settings copied into the Dagster home (default deploy/dagster.yaml)")
    production.add_argument("--no-ingest", action="store_true",
                            help="start without loading the data folder through Dagster first")
    production.set_defaults(handler=cmd_run_production)

    serve = commands.add_parser("serve", help="start the report HTTP API (needs a running Dagster webserver)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--dagster-url", help="Dagster webserver (default: STOREMON_DAGSTER_URL or http://127.0.0.1:3000)")
    serve.set_defaults(handler=cmd_serve)

    simulate = commands.add_parser("simulate", help="write a synthetic fleet with known truth", add_help=False)
    simulate.set_defaults(handler=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["simulate"]:
        from storemon_pipeline import simulate

        return simulate.main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except UserError as exc:
        one_line = " ".join(str(exc).split())
        print(f"storemon: error: {one_line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
