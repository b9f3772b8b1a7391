"""The report API against a real running Dagster (webserver + daemon), through FastAPI's TestClient.

One `dagster dev` serves the whole module (see stack.py) and the module makes two
real runs: the triggered report and a run forced to fail. "Dagster down" is a
closed loopback port and "warehouse down" a PostgreSQL URL nobody listens on;
nothing of ours is mocked.
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from storemon_pipeline.api import ApiSettings, DagsterClient, create_app, wants_json
from storemon_pipeline.jobs import ingest_and_report_job
from storemon_pipeline.runs import PARTITION_TAG
from storemon_pipeline.partitions import latest_report_partition_key
from storemon_pipeline.core.clock import US_PER_HOUR, as_of_from_partition_key, partition_key
from storemon_pipeline.warehouse import Warehouse
from storemon_pipeline_tests.stack import closed_port, dagster_stack, wait_for_report  # noqa: F401 (fixture)

BAD_REPORT_IDS = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "/etc/passwd",
    "",
    " ",
    "x" * 10_240,
    "1 OR 1=1",
    "'; DROP TABLE runs; --",
    "' UNION SELECT run_body FROM runs --",
    "not-a-uuid",
    "{12345678-1234-1234-1234-123456789abc}",  # uuid.UUID() would accept these three forms
    "urn:uuid:12345678-1234-1234-1234-123456789abc",
    "12345678123412341234123456789abc",
    "12345678-1234-1234-1234-123456789abc\n",
    str(uuid.uuid4()),  # well formed, no such run
]


def report_runs(dagster: DagsterClient, key: str) -> set[str]:
    """Every ingest_and_report_job run of partition `key`, any status."""
    answer = dagster.graphql(
        """query($filter: RunsFilter!) { runsOrError(filter: $filter) { ... on Runs { results { runId } } } }""",
        {"filter": {"pipelineName": ingest_and_report_job.name, "tags": [{"key": PARTITION_TAG, "value": key}]}},
    )
    return {run["runId"] for run in answer["runsOrError"]["results"]}


@pytest.fixture(scope="module")
def client(dagster_stack):
    with TestClient(create_app(dagster_stack.api_settings()), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def dagster(dagster_stack):
    dagster_client = DagsterClient(dagster_stack.dagster_url)
    yield dagster_client
    dagster_client.close()


@pytest.fixture(scope="module")
def latest_key(dagster_stack) -> str:
    return latest_report_partition_key(Warehouse(dagster_stack.database_url))


@pytest.fixture(scope="module")
def triggered(client, dagster, latest_key):
    """Four triggers at once, then one more: (responses, runs of the key before, trigger start time)."""
    runs_before = report_runs(dagster, latest_key)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda _: client.post("/trigger_report"), range(4)))
    responses.append(client.post("/trigger_report"))
    return responses, runs_before, started


JSON = {"Accept": "application/json"}


def get_report(client, report_id, headers=None):
    return client.get("/get_report", params={"report_id": report_id}, headers=headers)


def get_report_by_path(client, report_id, headers=None):
    return client.get(f"/get_report/{quote(report_id, safe='')}", headers=headers)


def both_forms(client, report_id, headers=None):
    """GET /get_report?report_id= and GET /get_report/{report_id}: the two must answer the same."""
    by_query, by_path = get_report(client, report_id, headers), get_report_by_path(client, report_id, headers)
    assert (by_path.status_code, by_path.headers["content-type"], by_path.content) == (
        by_query.status_code, by_query.headers["content-type"], by_query.content
    )
    return by_query


@pytest.mark.parametrize(
    "accept, json_expected",
    [
        (None, False),
        ("*/*", False),  # requests', httpx's and curl's default
        ("application/*", False),
        ("text/plain", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),  # a browser
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/json, text/plain, */*", True),  # axios: names JSON first, equal preference
        ("text/plain, application/json;q=0.5", False),
        ("application/json;q=0.9, text/plain", False),
        ("application/json;q=0.9, text/*;q=0.5", True),
        ("application/json;q=0", False),
        ("application/json;q=nonsense", False),
    ],
)
def test_status_is_json_only_when_accept_asks_for_it(accept, json_expected):
    assert wants_json(accept) is json_expected


def test_triggers_while_running_launch_one_run(triggered, dagster, latest_key):
    responses, runs_before, _ = triggered
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    report_ids = {r.json()["report_id"] for r in responses}
    assert len(report_ids) == 1
    assert {r.json()["as_of"] for r in responses} == {latest_key}
    assert report_runs(dagster, latest_key) - runs_before == report_ids


def test_report_is_running_right_after_trigger(client, triggered):
    report_id = triggered[0][0].json()["report_id"]
    # The run takes tens of seconds; it cannot be over yet. A classic client's default Accept: plain text.
    for headers in (None, {"Accept": "*/*"}):
        response = both_forms(client, report_id, headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.text == "Running"
        assert response.headers["vary"] == "Accept"
    response = both_forms(client, report_id, JSON)
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"status": "Running"}


@pytest.mark.parametrize("form", [get_report, get_report_by_path], ids=["query", "path"])
@pytest.mark.parametrize("report_id", BAD_REPORT_IDS, ids=lambda value: repr(value[:40]))
def test_bad_report_ids_are_404_with_a_json_error(client, report_id, form):
    response = form(client, report_id)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) == {"error"}
    assert "Traceback" not in response.text and "root:" not in response.text


def test_missing_report_id_is_404(client):
    response = client.get("/get_report")
    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize("report_id", ["../../etc/passwd", "x" * 10_240, "'; DROP TABLE runs; --"], ids=str.__len__)
def test_bad_report_ids_are_rejected_before_dagster_is_asked(dagster_stack, report_id):
    """Validation comes first: with Dagster unreachable a bad id is still 404, not 503."""
    settings = dagster_stack.api_settings(dagster_url=f"http://127.0.0.1:{closed_port()}")
    with TestClient(create_app(settings)) as offline:
        assert get_report(offline, report_id).status_code == 404


def test_dagster_down(dagster_stack):
    dagster_url = f"http://127.0.0.1:{closed_port()}"
    with TestClient(create_app(dagster_stack.api_settings(dagster_url=dagster_url))) as offline:
        health = offline.get("/healthz")
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "unavailable"
        assert body["warehouse"]["ok"] is True
        assert body["dagster"]["ok"] is False and dagster_url in body["dagster"]["error"]

        trigger = offline.post("/trigger_report")
        assert trigger.status_code == 503
        assert "Dagster webserver unreachable" in trigger.json()["error"]
        assert dagster_url in trigger.json()["error"]

        status = get_report(offline, str(uuid.uuid4()))
        assert status.status_code == 503 and "unreachable" in status.json()["error"]


def test_warehouse_down(dagster_stack):
    unreachable = f"postgresql+psycopg2://storemon:secret@127.0.0.1:{closed_port()}/storemon"
    with TestClient(create_app(dagster_stack.api_settings(database_url=unreachable))) as api:
        health = api.get("/healthz")
        assert health.status_code == 503
        assert health.json()["warehouse"]["ok"] is False
        assert health.json()["dagster"]["ok"] is True
        assert "secret" not in health.text

        trigger = api.post("/trigger_report")
        assert trigger.status_code == 503
        assert "unavailable" in trigger.json()["error"] and "secret" not in trigger.text


@pytest.mark.parametrize(
    "database_url, reason",
    [
        ("postgresql://storemon:secret@127.0.0.1/storemon", "write postgresql+psycopg2://"),
        ("mysql://x/y", "storemon supports SQLite and PostgreSQL"),
        ("not a url", "the warehouse URL is malformed"),
    ],
    ids=["no-driver", "mysql", "malformed"],
)
def test_a_warehouse_url_storemon_cannot_use_is_503_with_the_reason(dagster_stack, database_url, reason):
    settings = dagster_stack.api_settings(database_url=database_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as api:
        health = api.get("/healthz")
        assert health.status_code == 503, health.text
        assert health.json()["warehouse"]["ok"] is False and reason in health.json()["warehouse"]["error"]
        assert health.json()["dagster"]["ok"] is True

        trigger = api.post("/trigger_report")
        assert trigger.status_code == 503, trigger.text
        assert reason in trigger.json()["error"]
        assert "secret" not in health.text + trigger.text


def test_no_pings_is_409(dagster_stack, tmp_path):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    with TestClient(create_app(dagster_stack.api_settings(database_url=empty))) as api:
        response = api.post("/trigger_report")
    assert response.status_code == 409
    assert "no pings" in response.json()["error"]


def test_healthz_ok(client, latest_key):
    response = client.get("/healthz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["warehouse"]["latest_report_as_of"] == latest_key
    assert body["dagster"]["code_location"] == "storemon"


def test_run_forced_to_fail_is_failed_with_its_reason(client, dagster, dagster_stack, latest_key):
    """A real failing run: its reports folder is a file, so writing the CSV fails."""
    not_a_folder = dagster_stack.root / "reports_is_a_file"
    not_a_folder.write_text("this is a file, not a folder\n")
    # Another as-of than the triggered report, so the two runs never share a partition.
    key = partition_key(as_of_from_partition_key(latest_key) - US_PER_HOUR)
    dagster.add_report_partition(key)
    run_id = dagster.launch_report_run(
        key,
        run_config={"resources": {"files": {"config": {"reports_dir": str(not_a_folder)}}}},
        tags={"storemon/test": "forced-failure"},
        asset_selection=[["status_segments"], ["store_report"]],  # the partition's steps only: a short run
    )
    response = wait_for_report(lambda rid: get_report(client, rid), run_id)
    assert response.status_code == 200
    # Plain text by default: `Failed`, then the reason on a second line.
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    status, reason = response.text.split("\n")
    assert status == "Failed", response.text
    assert "store_report" in reason and "reports_is_a_file" in reason, reason
    assert "Traceback" not in reason
    assert both_forms(client, run_id).text == response.text
    # The same, as JSON, for a client that asks for it.
    assert both_forms(client, run_id, JSON).json() == {"status": "Failed", "error": reason}


def test_a_report_refused_by_its_step_is_failed_with_that_one_line(client, dagster, latest_key):
    """store_report alone, for a partition whose segments were never built: refused, and said so."""
    key = partition_key(as_of_from_partition_key(latest_key) - 2 * US_PER_HOUR)
    dagster.add_report_partition(key)
    run_id = dagster.launch_report_run(key, asset_selection=[["store_report"]])
    response = wait_for_report(
        lambda rid: client.get("/get_report", params={"report_id": rid}, headers={"Accept": "application/json"}),
        run_id,
    )
    body = response.json()
    assert body["status"] == "Failed", body
    assert body["error"].startswith(f"step store_report failed: status_segments[{key}] was never built"), body


def test_completed_report_is_the_csv_file(client, triggered, dagster_stack, latest_key):
    responses, _, started = triggered
    report_id = responses[0].json()["report_id"]
    response = wait_for_report(lambda rid: get_report(client, rid), report_id)
    print(f"\ntrigger to complete (TestClient, polled every 1 s): {time.monotonic() - started:.1f} s")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv"), response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    report_file = dagster_stack.reports_dir / f"report_{latest_key}.csv"
    assert response.content == report_file.read_bytes()
    assert response.content.startswith(b"store_id,uptime_last_hour,")
    # The CSV whatever the Accept, and by path as by query.
    for headers in (None, JSON):
        assert both_forms(client, report_id, headers).content == response.content

    # A completed run whose file has gone is a failure with a reason, not a 500.
    moved = report_file.with_name("moved.csv")
    shutil.move(report_file, moved)
    try:
        missing = get_report(client, report_id, JSON)
        assert missing.status_code == 200
        assert missing.json()["status"] == "Failed" and "no longer" in missing.json()["error"]
        assert get_report(client, report_id).text.startswith("Failed\nthe run succeeded but report_")
    finally:
        shutil.move(moved, report_file)


def test_openapi_schema_lists_the_endpoints(client):
    schema = client.get("/openapi.json").json()
    assert {"/trigger_report", "/get_report", "/get_report/{report_id}", "/healthz"} <= set(schema["paths"])
    for path in ("/get_report", "/get_report/{report_id}"):
        answers = schema["paths"][path]["get"]["responses"]["200"]["content"]
        assert set(answers) == {"text/plain", "application/json", "text/csv"}
        assert answers["application/json"]["schema"] == {"$ref": "#/components/schemas/ReportStatus"}


def test_docs_load_every_file_from_this_server(tmp_path):
    """Offline, a page that loads its scripts from a CDN is blank: every file must come from the API itself."""
    settings = ApiSettings(dagster_url=f"http://127.0.0.1:{closed_port()}",
                           database_url=f"sqlite:///{tmp_path / 'warehouse.db'}", reports_dir=str(tmp_path))
    with TestClient(create_app(settings)) as api:
        response = api.get("/docs")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert re.findall(r"https?://\S+", response.text) == []
        assets = re.findall(r'(?:src|href)="([^"]*)"', response.text)
        assert len(assets) == 3, assets  # Swagger UI's script, its style, the icon
        for asset in assets:
            assert asset.startswith("/docs-assets/"), asset
            answer = api.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 4000, (asset, len(answer.content))
        assert "url: '/openapi.json'" in response.text
        # ReDoc's page would fetch its maker's logo from the internet: it is off.
        assert api.get("/redoc").status_code == 404
