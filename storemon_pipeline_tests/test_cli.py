"""The `storemon` command end to end: real files, real warehouses, real Dagster runs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dagster import AssetKey, DagsterInstance

from storemon_pipeline.cli import main
from storemon_pipeline.core.report import REPORT_COLUMNS
from storemon_pipeline.instance import has_partition_run_limit
from storemon_pipeline_tests.conftest import REAL_DATA_DIR, REAL_DATA_DIR_ENV, REPO_ROOT, SAMPLE_DATA_DIR

WINDOW_BUSINESS_LIMITS = {"hour": 60.0, "day": 24.0, "week": 168.0}


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "storemon_pipeline.cli", *args], capture_output=True, text=True, timeout=600
    )


def assert_report_invariants(report: pd.DataFrame) -> None:
    assert list(report.columns) == REPORT_COLUMNS
    assert report["store_id"].is_unique
    assert list(report["store_id"]) == sorted(report["store_id"])
    for window, limit in WINDOW_BUSINESS_LIMITS.items():
        up, down = report[f"uptime_last_{window}"], report[f"downtime_last_{window}"]
        assert (up >= 0).all() and (down >= 0).all()
        # Each figure is rounded to 2 decimals on its own: the sum may be off by 0.01.
        assert ((up + down) <= limit + 0.011).all()


def test_sample_report_identical_on_sqlite_and_postgresql(tmp_path, sqlite_url, pg_url):
    sqlite_out, pg_out = tmp_path / "sqlite.csv", tmp_path / "pg.csv"
    for url, out in ((sqlite_url, sqlite_out), (pg_url, pg_out)):
        done = run_cli("report", "--data-dir", str(SAMPLE_DATA_DIR), "--out", str(out), "--database-url", url)
        assert done.returncode == 0, done.stderr
    assert sqlite_out.read_bytes() == pg_out.read_bytes()
    report = pd.read_csv(sqlite_out, dtype={"store_id": str})
    assert_report_invariants(report)
    assert len(report) > 200


def test_report_accuracy_against_simulated_truth(tmp_path, sqlite_url):
    from storemon_pipeline.simulate import simulate_fleet, write_fleet

    fleet = simulate_fleet(500, days=8, as_of="2023-03-14T12:00:00Z", seed=7)
    write_fleet(fleet, tmp_path / "in")
    truth_path = tmp_path / "in" / "truth.csv"
    truth = pd.read_csv(truth_path, dtype={"store_id": str}).set_index("store_id")
    truth_path.unlink()  # not an input
    out = tmp_path / "report.csv"
    assert main(["report", "--data-dir", str(tmp_path / "in"), "--out", str(out), "--database-url", sqlite_url,
                 "--as-of", "2023-03-14T12:00:00Z"]) == 0
    report = pd.read_csv(out, dtype={"store_id": str}).set_index("store_id")
    common = truth.index.intersection(report.index)
    assert len(common) == len(truth)
    error_h = np.abs(report.loc[common, "uptime_last_week"] - truth.loc[common, "uptime_last_week"])
    print(f"\nMAE uptime_last_week vs simulated truth, {len(common)} stores: {error_h.mean():.2f} h "
          f"(median {error_h.median():.2f} h, p90 {error_h.quantile(0.9):.2f} h)")
    assert error_h.mean() < 3.0
    # Business time itself is not estimated: uptime + downtime must match the truth's.
    business = report["uptime_last_week"] + report["downtime_last_week"]
    true_business = truth["uptime_last_week"] + truth["downtime_last_week"]
    assert np.abs(business.loc[common] - true_business.loc[common]).max() <= 0.02


@pytest.mark.skipif(not REAL_DATA_DIR.is_dir(), reason=f"{REAL_DATA_DIR_ENV} names no folder of the real exports")
def test_real_take_home_sample(tmp_path, sqlite_url):
    out = tmp_path / "real.csv"
    assert main(["report", "--data-dir", str(REAL_DATA_DIR), "--out", str(out), "--database-url", sqlite_url]) == 0
    report = pd.read_csv(out, dtype={"store_id": str}).set_index("store_id", drop=False)
    assert_report_invariants(report.reset_index(drop=True))
    # 13,559 zones, 11,116 with hours, 3,966 with pings: the union is every store.
    stores = set()
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        stores |= set(pd.read_csv(REAL_DATA_DIR / name, dtype={"store_id": str})["store_id"])
    assert set(report.index) == stores

    for store_id, expected in HAND_CHECKED_REAL_STORES.items():
        got = report.loc[store_id, list(expected)].to_dict()
        assert got == pytest.approx(expected, abs=0.005), store_id


def _figures(up_hour, up_day, up_week, down_hour, down_day, down_week):
    return dict(zip(REPORT_COLUMNS[1:], (up_hour, up_day, up_week, down_hour, down_day, down_week)))


# Worked by hand from the real exports (STOREMON_REAL_DATA_DIR). T = 2023-01-25T18:11:40Z (last ping 18:11:39.x rounded up);
# hour = [17:11:40, 18:11:40], day from 01-24 18:11:40, week from 01-18 18:11:40 (UTC). January: EST = UTC-5,
# PST = UTC-8. Every ping of the sample is `active`.
HAND_CHECKED_REAL_STORES: dict[str, dict[str, float]] = {
    # New_York, every day 11:00-21:30 (10.5 h). Ping 01-21 17:16 UTC = 12:16 EST: open, so evidence, so up in all
    # business time. Hour = 12:11-13:11 EST, all open: 60 min. Day: 01-24 13:11:40-21:30 (8.3056 h) + 01-25
    # 11:00-13:11:40 (2.1944 h) = 10.5 h. Week: 8.3056 + 6 x 10.5 + 2.1944 = 73.5 h.
    "3089584280460739676": _figures(60.0, 10.5, 73.5, 0.0, 0.0, 0.0),
    # Los_Angeles, 11:00-19:00 (8 h). Its one ping, 01-24 14:06 UTC = 06:06 PST, is while closed: no evidence,
    # down. T = 10:11:40 PST: the last hour (09:11-10:11) is closed: 0 and 0. Day: 01-24 11-19 = 8 h.
    # Week: 01-18 .. 01-24, 7 x 8 = 56 h (01-25 has not opened yet).
    "3151957513212926962": _figures(0.0, 0.0, 0.0, 0.0, 8.0, 56.0),
    # New_York, 11:00-23:45 (12.75 h). Ping 01-19 00:50 UTC = 01-18 19:50 EST: open: up. Hour: 60 min open.
    # Day: 01-24 13:11:40-23:45 + 01-25 11:00-13:11:40 = 12.75 h. Week: 7 x 12.75 = 89.25 h.
    "5113265575633949252": _figures(60.0, 12.75, 89.25, 0.0, 0.0, 0.0),
    # New_York, every day 00:00-23:59:59 = the whole day. Ping 01-19 05:00 UTC is in business time: up 24x7.
    "4417461230508881690": _figures(60.0, 24.0, 168.0, 0.0, 0.0, 0.0),
    # Pings but no hours rows: open 24x7, and the ping is evidence: up all week.
    "8729844805888730809": _figures(60.0, 24.0, 168.0, 0.0, 0.0, 0.0),
    # Only a zone row: open 24x7 with no evidence: down all week.
    "6903259815394056408": _figures(0.0, 0.0, 0.0, 60.0, 24.0, 168.0),
}


@pytest.mark.parametrize(
    "args, message",
    [
        (["report", "--data-dir", "/nonexistent/folder", "--out", "x.csv"], "data folder not found"),
        (["report", "--data-dir", "{empty}", "--out", "x.csv"], "no pings file"),
        (["report", "--data-dir", str(SAMPLE_DATA_DIR), "--out", "x.csv", "--as-of", "yesterday-ish"], "--as-of"),
        (
            ["report", "--data-dir", str(SAMPLE_DATA_DIR), "--out", "x.csv",
             "--database-url", "postgresql+psycopg2://nobody@127.0.0.1:1/none"],
            "unavailable",
        ),
    ],
)
def test_cli_errors_are_one_clear_line(tmp_path, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)) for a in args]
    done = run_cli(*args, *([] if "--database-url" in args else ["--database-url", f"sqlite:///{tmp_path}/w.db"]))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("storemon: error:") and message in lines[0], lines[0]
    assert "nobody@" not in lines[0] or "***" in lines[0] or ":1/" in lines[0]


# Warehouse URLs storemon cannot use, and what the one line must say (warehouse.engine.validate_database_url).
UNUSABLE_WAREHOUSE_URLS = [
    # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which is not installed.
    ("postgresql://postgres:s3cret@127.0.0.1/test", "write postgresql+psycopg2://"),
    ("mysql://x/y", "storemon supports SQLite and PostgreSQL"),
    ("not a url", "the warehouse URL is malformed"),
]


@pytest.mark.parametrize("command", ["ingest", "report"])
@pytest.mark.parametrize("url, message", UNUSABLE_WAREHOUSE_URLS, ids=["no-driver", "mysql", "malformed"])
def test_a_warehouse_url_storemon_cannot_use_is_one_line(tmp_path, command, url, message):
    out = ["--out", str(tmp_path / "r.csv")] if command == "report" else []
    done = run_cli(command, "--data-dir", str(SAMPLE_DATA_DIR), "--database-url", url, *out)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("storemon: error:") and message in done.stderr, done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_ingest_prints_rows_per_file(tmp_path, sqlite_url):
    done = run_cli("ingest", "--data-dir", str(SAMPLE_DATA_DIR), "--database-url", sqlite_url)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if "rows loaded" in line]
    assert len(lines) == 3
    again = run_cli("ingest", "--data-dir", str(SAMPLE_DATA_DIR), "--database-url", sqlite_url)
    assert again.returncode == 0
    # The same files twice change nothing, and the second run says so.
    assert again.stdout.splitlines() == [f"{p.name}: already ingested" for p in sorted(SAMPLE_DATA_DIR.glob("*.csv"))]


def test_ingest_says_what_became_of_each_file(tmp_path, database_url, capsys):
    """Loaded (rows, rejected), already ingested, a copy of another file, or not loaded; a folder named
    x.csv is no input: skipped with a warning, by ingest and by report."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("store_status.csv", "menu_hours.csv", "timezones.csv"):
        shutil.copy(SAMPLE_DATA_DIR / name, folder / name)
    shutil.copy(SAMPLE_DATA_DIR / "store_status.csv", folder / "store_status_copy.csv")
    (folder / "notes.csv").write_text("a;b\n1;2\n")
    (folder / "x.csv").mkdir()

    def ingest(data_dir) -> tuple[list[str], str]:
        assert main(["ingest", "--data-dir", str(data_dir), "--database-url", database_url]) == 0
        out, err = capsys.readouterr()
        return out.splitlines(), err

    lines, err = ingest(folder)
    assert err == f"storemon: warning: {folder / 'x.csv'}: skipped: not a regular file\n"
    assert [line.split(":")[0] for line in lines] == [
        "menu_hours.csv", "notes.csv", "store_status.csv", "store_status_copy.csv", "timezones.csv"
    ]
    loaded = dict(line.split(": ", 1) for line in lines)
    for name, kind in (("menu_hours.csv", "business_hours"), ("store_status.csv", "pings"), ("timezones.csv", "timezones")):
        rows = re.fullmatch(rf"{kind}: (\d+) rows loaded, (\d+) rejected", loaded[name])
        assert rows and int(rows[1]) + int(rows[2]) == len((folder / name).read_text().splitlines()) - 1, loaded[name]
    assert loaded["notes.csv"].startswith("not loaded: header 'a;b' matches no input kind")
    assert loaded["store_status_copy.csv"] == "skipped: a copy of store_status.csv"

    again, _ = ingest(folder)
    assert again == [
        "menu_hours.csv: already ingested",
        f"notes.csv: {loaded['notes.csv']}",
        "store_status.csv: already ingested",
        "store_status_copy.csv: skipped: a copy of store_status.csv",
        "timezones.csv: already ingested",
    ]

    elsewhere = tmp_path / "later"
    elsewhere.mkdir()
    shutil.copy(SAMPLE_DATA_DIR / "store_status.csv", elsewhere / "pings_again.csv")
    assert ingest(elsewhere)[0] == ["pings_again.csv: skipped: a copy of store_status.csv"]

    out = tmp_path / "report.csv"
    assert main(["report", "--data-dir", str(folder), "--out", str(out), "--database-url", database_url]) == 0
    assert "x.csv: skipped: not a regular file" in capsys.readouterr().err
    assert out.read_bytes().startswith(b"store_id,")


def test_a_fractional_as_of_reports_at_the_next_whole_second(tmp_path, sqlite_url):
    # Report instants are whole seconds, rounded up as the latest report's is (docs/report-semantics.md#the-clock-and-the-as-of):
    # --as-of 2023-03-14T11:59:59.250Z is the partition 2023-03-14T12:00:00Z, the same one the
    # request_report_job job picks for that instant.
    out = tmp_path / "r.csv"
    assert main(["report", "--data-dir", str(SAMPLE_DATA_DIR), "--out", str(out), "--database-url", sqlite_url,
                 "--as-of", "2023-03-14T11:59:59.250Z"]) == 0
    reports = Path(os.environ["STOREMON_HOME"]) / "var" / "reports"
    assert (reports / "report_2023-03-14T12:00:00Z.csv").read_bytes() == out.read_bytes()



# -- storemon run: Dagster and the API as children -------------------------------------------------


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (a process's parent is the 4th field of /proc/PID/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (parent := _parent_pid(int(entry.name))) is not None:
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()  # after "pid (command name)": state, ppid, ...


def _parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def running(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.parametrize(
    "victim, argv_word",
    [("the report API", "serve"), ("Dagster (dagster dev)", "dev"), (None, None)],
    ids=["api-killed", "dagster-killed", "sigterm"],
)
def test_run_stops_everything_and_names_a_child_that_died(tmp_path, victim, argv_word):
    """A real `storemon run` on free ports: kill -9 one child and the command exits 1 naming it, with
    nothing left running; SIGTERM to the command itself still stops everything and exits 0."""
    from storemon_pipeline_tests.stack import free_port, stop_process_group

    dagster_port, api_port = free_port(), free_port()
    dagster_home = tmp_path / "dagster_home"  # storemon run creates it, with its instance settings
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "STOREMON_DATABASE_URL": f"sqlite:///{tmp_path}/w.db",
           "STOREMON_DATA_DIR": str(SAMPLE_DATA_DIR)}
    stderr_path = tmp_path / "run.stderr"
    with stderr_path.open("wb") as stderr:
        run = subprocess.Popen(
            [str(Path(sys.executable).parent / "storemon"), "run", "--dagster-port", str(dagster_port),
             "--api-port", str(api_port)],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
            start_new_session=True,
        )
    tree: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        for url in (f"http://127.0.0.1:{api_port}/openapi.json", f"http://127.0.0.1:{dagster_port}/server_info"):
            while not _answers(url):
                assert run.poll() is None and time.monotonic() < deadline, stderr_path.read_text()[-3000:]
                time.sleep(0.5)
        tree = descendants(run.pid)
        if victim is None:
            run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=90) == 0
            assert "storemon run:" not in stderr_path.read_text()
            # The data folder was loaded through Dagster, into the instance the UI reads, and the
            # instance limits runs to one per report partition.
            assert has_partition_run_limit(yaml.safe_load((dagster_home / "dagster.yaml").read_text()))
            with DagsterInstance.from_config(str(dagster_home)) as instance:
                ingest = instance.get_runs()[-1]  # the first run, before Dagster's own sensors ran any
                assert ingest.job_name == "ingest_job" and ingest.is_success
                assert instance.get_latest_materialization_event(AssetKey("raw_pings")).run_id == ingest.run_id
        else:
            [child] = [pid for pid in tree if _parent_pid(pid) == run.pid and f" {argv_word} " in _cmdline(pid)]
            os.kill(child, signal.SIGKILL)
            assert run.wait(timeout=90) == 1
            said = [line for line in stderr_path.read_text().splitlines() if line.startswith("storemon run:")]
            assert said == [f"storemon run: {victim} (pid {child}) was killed by SIGKILL; stopping the rest"]
        left = {pid: _cmdline(pid) for pid in tree if running(pid)}
        assert left == {}, left
    finally:
        if run.poll() is None:
            stop_process_group(run)
        for pid in tree:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_dev_workspace_loads_the_installed_package_as_the_repository_does(tmp_path):
    """`storemon run` works from any folder after a plain `pip install`: its workspace names the module
    (no working directory), and the same location as the repository's workspace.yaml."""
    from storemon_pipeline.instance import CODE_LOCATION, DEFINITIONS_MODULE, write_dev_workspace

    [written] = yaml.safe_load(write_dev_workspace(tmp_path).read_text())["load_from"]
    [repo] = yaml.safe_load((REPO_ROOT / "workspace.yaml").read_text())["load_from"]
    assert written == {"python_module": {"module_name": DEFINITIONS_MODULE, "location_name": CODE_LOCATION}}
    assert (repo["python_module"]["module_name"], repo["python_module"]["location_name"]) == (
        DEFINITIONS_MODULE, CODE_LOCATION
    )
