"""The store pages on a real report: the sample and simulated fleets through `storemon report`, then the API.

What a person sees must be what the report said: for every store, the timeline's active hours are
its uptime_last_week and the rest its downtime_last_week, on SQLite and on PostgreSQL. The
property runs over simulated fleets (hypothesis draws the fleet and its as-of, DST weeks included).
"""

from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storemon_pipeline.api import ApiSettings, create_app
from storemon_pipeline.cli import main as storemon
from storemon_pipeline.core.clock import EVIDENCE_SPAN_US, US_PER_HOUR, WINDOW_SPANS_US, as_of_from_partition_key
from storemon_pipeline.core.report import REPORT_COLUMNS
from storemon_pipeline.core.segments import ACTIVE, STATUS_CODES
from storemon_pipeline.simulate import simulate_fleet, write_fleet
from storemon_pipeline.store_pages.paths import store_page_path, store_timeline_path
from storemon_pipeline.warehouse import Warehouse, tables
from storemon_pipeline_tests.conftest import SAMPLE_DATA_DIR, _postgres_base_url

SAMPLE_AS_OF = "2023-03-14T12:00:00Z"
# As-ofs whose week holds a clock change somewhere in the simulated zones, and an ordinary one.
AS_OFS = ["2023-03-14T12:00:00Z", "2023-03-27T06:30:00Z", "2023-11-06T18:00:00Z", "2023-01-25T18:13:23Z"]


@contextmanager
def fresh_database(dialect: str, folder: Path):
    """A warehouse of its own: a new SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{folder / f'warehouse-{uuid.uuid4().hex[:8]}.db'}"
        return
    base = _postgres_base_url()
    schema = f"storemon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run_report(data_dir: Path, database_url: str, as_of: str, out: Path) -> pd.DataFrame:
    assert storemon(["report", "--data-dir", str(data_dir), "--out", str(out), "--database-url", database_url,
                     "--as-of", as_of]) == 0
    return pd.read_csv(out, dtype={"store_id": str}, keep_default_na=False)


def parse_us(text: str) -> int:
    assert text.endswith("Z") and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", text), text
    return int(pd.Timestamp(text).value // 1000)


def assert_timeline_is_the_report_row(answer: dict, row: dict, as_of: str) -> None:
    """The JSON timeline of one store against its row of the report CSV."""
    as_of_us = as_of_from_partition_key(as_of)
    assert answer["as_of"] == as_of and answer["store_id"] == row["store_id"]
    assert answer["report"] == {name: row[name] for name in REPORT_COLUMNS}
    segments = [(parse_us(s["start"]), parse_us(s["end"]), s["status"]) for s in answer["segments"]]
    assert all(status in STATUS_CODES for _, _, status in segments)
    # Sorted, disjoint, inside the week.
    for (_, end, _), (start, _, _) in zip(segments, segments[1:]):
        assert end <= start
    assert all(as_of_us - WINDOW_SPANS_US["week"] <= s < e <= as_of_us for s, e, _ in segments)
    active_us = sum(e - s for s, e, status in segments if status == ACTIVE)
    down_us = sum(e - s for s, e, status in segments if status != ACTIVE)
    assert round(active_us / US_PER_HOUR, 2) == pytest.approx(row["uptime_last_week"], abs=1e-9)
    assert round(down_us / US_PER_HOUR, 2) == pytest.approx(row["downtime_last_week"], abs=1e-9)
    # Business intervals are the segments' union: same total, never touching each other.
    business = [(parse_us(b["start"]), parse_us(b["end"])) for b in answer["business_intervals"]]
    assert sum(e - s for s, e in business) == active_us + down_us
    assert all(end < start for (_, end), (start, _) in zip(business, business[1:]))
    pings = [parse_us(p["timestamp"]) for p in answer["pings"]]
    assert pings == sorted(pings) and all(as_of_us - EVIDENCE_SPAN_US <= t <= as_of_us for t in pings)
    assert answer["notes"] == []


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sample(request, tmp_path_factory):
    """The sample data reported as of SAMPLE_AS_OF: (API client, report rows, database URL)."""
    folder = tmp_path_factory.mktemp("sample")
    with pytest.MonkeyPatch.context() as env, fresh_database(request.param, folder) as database_url:
        env.setenv("STOREMON_HOME", str(folder))
        env.delenv("STOREMON_API_TOKEN", raising=False)
        report = run_report(SAMPLE_DATA_DIR, database_url, SAMPLE_AS_OF, folder / "report.csv")
        with TestClient(create_app(ApiSettings(database_url=database_url))) as client:
            yield client, report, database_url


def test_every_sample_store_timeline_adds_up_to_its_report_row(sample):
    client, report, _ = sample
    for row in report.to_dict("records"):
        response = client.get(store_timeline_path(row["store_id"], SAMPLE_AS_OF))
        assert response.status_code == 200, response.text
        assert_timeline_is_the_report_row(response.json(), row, SAMPLE_AS_OF)
    # Without as_of: the latest report, the same answer.
    first = report.iloc[0]
    assert client.get(store_timeline_path(first.store_id)).json()["as_of"] == SAMPLE_AS_OF


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [value for name, value in attrs if name in ("href", "src", "action") and value]


def test_root_lists_the_worst_stores_and_every_link_opens_its_page(sample):
    client, report, _ = sample
    root = client.get("/")
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/html")
    worst = report.sort_values(["downtime_last_week", "store_id"], ascending=[False, True]).head(20)
    links = [url for url in _find_links(root.text) if url.startswith("/stores/")]
    assert links == [store_page_path(store_id, SAMPLE_AS_OF) for store_id in worst["store_id"]]
    page = client.get(links[0])
    assert page.status_code == 200
    html = page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # Nothing from another host: every link, source and form is on this server.
    assert all(url.startswith(("/", "#")) for url in _find_links(html)), _find_links(html)
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<script" not in html
    # The basics a screen reader needs: a labelled select of the report as-ofs, tables with captions.
    assert '<label for="as-of">' in html and f'<option value="{SAMPLE_AS_OF}" selected>' in html
    assert html.count("<caption>") >= 2 and 'role="img"' in html and "<h1>" in html


def _find_links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def test_unknown_stores_and_keys_are_404_with_one_line(sample):
    client, report, _ = sample
    store_id = report.iloc[0].store_id
    for path in (
        store_timeline_path("no-such-store", SAMPLE_AS_OF),
        store_timeline_path(store_id, "2023-03-14T11:00:00Z"),
        store_timeline_path(store_id, "yesterday"),
        store_timeline_path(store_id, "x" * 5000),
        store_timeline_path("a\x00b", SAMPLE_AS_OF),  # no input can hold it; PostgreSQL would refuse it
        store_timeline_path("y" * 300, SAMPLE_AS_OF),
    ):
        response = client.get(path)
        assert response.status_code == 404, (path, response.text)
        assert set(response.json()) == {"error"} and "\n" not in response.json()["error"]
        assert len(response.json()["error"]) < 300
    page = client.get(store_page_path("no-such-store"))
    assert page.status_code == 404 and "is not in the report as of" in page.text


def test_pruned_segments_are_refused_with_a_way_out(sample, tmp_path):
    """Last in the module: it deletes the partition's segments."""
    client, report, database_url = sample
    as_of_us = as_of_from_partition_key(SAMPLE_AS_OF)
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.delete(tables.status_segments).where(tables.status_segments.c.as_of_us == as_of_us))
        conn.execute(sa.delete(tables.report_partitions).where(tables.report_partitions.c.as_of_us == as_of_us))
    engine.dispose()
    response = client.get(store_timeline_path(report.iloc[0].store_id, SAMPLE_AS_OF))
    assert response.status_code == 409
    assert "re-run the report for that as-of" in response.json()["error"]
    assert client.get(store_page_path(report.iloc[0].store_id)).status_code == 409
    # The report itself is still there: the root page lists it.
    assert client.get("/").status_code == 200


def test_the_pages_need_the_token_when_one_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("STOREMON_API_TOKEN", "s3cret")
    with TestClient(create_app(ApiSettings(database_url=f"sqlite:///{tmp_path / 'w.db'}"))) as client:
        assert client.get("/").status_code == 401
        assert client.get(store_timeline_path("x")).status_code == 401
        authorised = client.get(store_timeline_path("x"), headers={"Authorization": "Bearer s3cret"})
        assert authorised.status_code == 404 and "no report has been computed yet" in authorised.json()["error"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_timelines_add_up_to_the_report_on_simulated_fleets(dialect, tmp_path_factory):
    @given(
        n_stores=st.integers(3, 14),
        as_of=st.sampled_from(AS_OFS),
        shift_s=st.integers(0, 7 * 86_400),
        seed=st.integers(0, 2**31),
    )
    @settings(max_examples=4, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def timelines_add_up(n_stores, as_of, shift_s, seed):
        folder = tmp_path_factory.mktemp("fleet")
        as_of_us = as_of_from_partition_key(as_of) - shift_s * 1_000_000
        fleet = simulate_fleet(n_stores, days=9, as_of=as_of_us, seed=seed)
        write_fleet(fleet, folder / "data", truth_path=folder / "truth.csv")
        key = fleet.as_of
        with pytest.MonkeyPatch.context() as env, fresh_database(dialect, folder) as database_url:
            env.setenv("STOREMON_HOME", str(folder))
            report = run_report(folder / "data", database_url, key, folder / "report.csv")
            assert len(report) >= n_stores
            with TestClient(create_app(ApiSettings(database_url=database_url))) as client:
                for row in report.to_dict("records"):
                    response = client.get(store_timeline_path(row["store_id"], key))
                    assert response.status_code == 200, response.text
                    assert_timeline_is_the_report_row(response.json(), row, key)
            Warehouse(database_url).dispose()

    timelines_add_up()


# Three stores of the real exports with split shifts (several rows per store-day in menu_hours.csv).
REAL_AS_OF = "2023-01-25T18:11:40Z"


def test_real_split_shift_stores(tmp_path):
    from storemon_pipeline_tests.conftest import REAL_DATA_DIR, REAL_DATA_DIR_ENV

    if not (REAL_DATA_DIR / "menu_hours.csv").exists():
        pytest.skip(f"{REAL_DATA_DIR_ENV} is not set to the real exports (CI sets it)")
    database_url = f"sqlite:///{tmp_path / 'real.db'}"
    report = run_report(REAL_DATA_DIR, database_url, REAL_AS_OF, tmp_path / "real.csv").set_index("store_id")
    with TestClient(create_app(ApiSettings(database_url=database_url))) as client:

        def timeline(store_id: str) -> dict:
            answer = client.get(store_timeline_path(store_id)).json()
            assert_timeline_is_the_report_row(answer, {"store_id": store_id, **report.loc[store_id]}, REAL_AS_OF)
            assert client.get(store_page_path(store_id)).status_code == 200
            return answer

        # Los Angeles, 00:00-04:30 (05:30 at weekends) and 10:00-23:59:59 every day: four active pings, one
        # of them taken 13 s before the week began (evidence all the same), one at 07:01 while closed.
        late = timeline("168365839720755693")
        assert [p["evidence"] for p in late["pings"]] == [True, True, False, True]
        assert late["pings"][0]["timestamp"] < "2023-01-18T18:11:40Z"
        assert {s["status"] for s in late["segments"]} == {"active"}
        # 10:00 to 04:30 the next morning is one stretch of business time: the two rows touch at midnight.
        assert {"start": "2023-01-19T18:00:00Z", "end": "2023-01-20T12:30:00Z"} in late["business_intervals"]

        # New York, lunch 11:00-15:00 and dinner 17:00-23:30 Tuesday to Friday, closed on Monday: its only
        # ping came at 10:06, before opening, so the whole week is unknown (down).
        lunch = timeline("1005454408747305679")
        assert [(p["status"], p["evidence"]) for p in lunch["pings"]] == [("active", False)]
        assert {s["status"] for s in lunch["segments"]} == {"unknown"}
        assert report.loc["1005454408747305679", "downtime_last_week"] == 65.0

        # New York, three rows a day (00:00-01:00, 11:00-23:55, 23:55-23:59:59): one stretch from 11:00 to
        # 01:00; the only ping (Friday 08:05) is outside it.
        three = timeline("778281888660867776")
        assert {"start": "2023-01-19T16:00:00Z", "end": "2023-01-20T06:00:00Z"} in three["business_intervals"]
        assert [p["evidence"] for p in three["pings"]] == [False]


def test_the_reports_worst_stores_link_to_their_pages(monkeypatch):
    from storemon_pipeline.assets.report import worst_stores_markdown

    monkeypatch.setenv("STOREMON_API_URL", "http://reports.example:8080/")
    report = pd.DataFrame({"store_id": ["a|b", "c"], **{name: [1.0, 2.0] for name in REPORT_COLUMNS[1:]}})
    lines = worst_stores_markdown(report, SAMPLE_AS_OF).splitlines()
    assert lines[2].startswith("| [c](http://reports.example:8080/stores/c?as_of=2023-03-14T12:00:00Z) | 2.00 |")
    assert lines[3].startswith(r"| [a\|b](http://reports.example:8080/stores/a%7Cb?as_of=2023-03-14T12:00:00Z) |")


def test_an_unreachable_or_unusable_warehouse_is_503():
    for database_url in ("postgresql+psycopg2://storemon:secret@127.0.0.1:9/storemon", "mysql://x@y/z"):
        with TestClient(create_app(ApiSettings(database_url=database_url))) as client:
            response = client.get(store_timeline_path("x"))
            assert response.status_code == 503, response.text
            assert "secret" not in response.text
            assert client.get(store_page_path("x")).status_code == 503
