"""End to end on a real running stack: `dagster dev` (webserver + daemon) and `storemon serve` (uvicorn)
on free loopback ports, a SQLite warehouse loaded with the sample data.

Trigger over HTTP, poll until complete the way existing clients do (`requests` with
its default headers, a text/plain `Running` means wait), and the CSV must be byte for
byte what `storemon report` writes for the same as-of. schemathesis then drives the
live API from its /openapi.json and must never see a 5xx.
"""

from __future__ import annotations

import time

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from storemon_pipeline.cli import main as storemon
from storemon_pipeline_tests.stack import api_server, dagster_stack  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def api_url(dagster_stack):
    with api_server(dagster_stack) as url:
        yield url


@pytest.fixture(scope="module")
def http(api_url):
    with httpx.Client(base_url=api_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def triggered(api_url):
    """One report triggered by a classic client: (answer JSON, when it was triggered, its first poll)."""
    started = time.monotonic()
    response = requests.post(f"{api_url}/trigger_report", timeout=60)
    assert response.status_code == 200, response.text
    answer = response.json()
    # Polled at once (the run takes tens of seconds): later tests may run after it has finished.
    first_poll = requests.get(f"{api_url}/get_report", params={"report_id": answer["report_id"]}, timeout=60)
    return answer, started, first_poll


def classic_poll(api_url: str, report_id: str, timeout_s: float = 420) -> requests.Response:
    """What existing clients do: GET with the library's default headers (Accept: */*) while the
    answer is the text/plain `Running`, then take the body (text/csv when done)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = requests.get(f"{api_url}/get_report", params={"report_id": report_id}, timeout=60)
        if not (response.headers["Content-Type"].startswith("text/plain") and response.text == "Running"):
            return response
        assert time.monotonic() < deadline, f"still Running after {timeout_s} s"
        time.sleep(1)


def test_healthz_on_the_live_stack(http):
    response = http.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"


def test_schemathesis_finds_no_server_errors(api_url, triggered):
    """Valid and invalid requests generated from the live /openapi.json; none may answer 5xx.

    Runs after the trigger, so its POST /trigger_report calls land on the run in flight (one run)."""
    schema = schemathesis.openapi.from_url(f"{api_url}/openapi.json")
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    seen = []

    @given(case=cases)
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def no_server_error(case):
        response = case.call_and_validate(checks=[not_a_server_error])
        seen.append((case.method, case.path, response.status_code))

    no_server_error()
    assert {(method, path) for method, path, _ in seen} >= {("GET", "/get_report"), ("POST", "/trigger_report")}


def test_classic_client_polls_until_csv_equal_to_storemon_report(api_url, triggered, dagster_stack, tmp_path):
    answer, started, first_poll = triggered
    assert requests.utils.default_headers()["Accept"] == "*/*"
    assert (first_poll.status_code, first_poll.headers["Content-Type"], first_poll.text) == (
        200, "text/plain; charset=utf-8", "Running"
    )
    response = classic_poll(api_url, answer["report_id"])
    elapsed_s = time.monotonic() - started
    print(f"\ntrigger to complete over HTTP (polled every 1 s): {elapsed_s:.1f} s")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv"), response.text
    assert response.headers["Content-Disposition"].startswith("attachment;")
    by_path = requests.get(f"{api_url}/get_report/{answer['report_id']}", timeout=60)
    assert (by_path.headers["Content-Type"], by_path.content) == (response.headers["Content-Type"], response.content)

    # The CLI sees data/ only: the comparison holds while the warehouse holds nothing else (a test that
    # drops files into the shared stack's inbox must run after this one, as test_stack_e2e.py does).
    from storemon_pipeline.warehouse import Warehouse

    ingested = set(Warehouse(dagster_stack.database_url).ingested_files()["file_name"])
    assert ingested <= {p.name for p in dagster_stack.data_dir.glob("*.csv")}, f"warehouse has more: {ingested}"
    expected = tmp_path / "cli_report.csv"
    other_warehouse = f"sqlite:///{tmp_path / 'cli_warehouse.db'}"
    assert storemon(["report", "--data-dir", str(dagster_stack.data_dir), "--out", str(expected),
                     "--as-of", answer["as_of"], "--database-url", other_warehouse]) == 0
    assert response.content == expected.read_bytes()
