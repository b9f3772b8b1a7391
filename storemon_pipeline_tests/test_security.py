"""Security: loopback by default, a bearer token on the API, parameterised SQL, no secrets in output.

Hostile store ids (SQL text, quotes, commas) round-trip verbatim on both dialects in
test_bad_input.py; report ids that try path traversal or SQL are refused in test_api.py.
"""

from __future__ import annotations

import ast
import inspect
import re
import socket
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import storemon_pipeline
from storemon_pipeline import cli
from storemon_pipeline.warehouse import Warehouse, WarehouseUnavailable

PACKAGE_DIR = Path(storemon_pipeline.__file__).parent
SECRET = "s3cr3t-Pa55word"


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_url_with_password(port: int) -> str:
    return f"postgresql+psycopg2://storemon:{SECRET}@127.0.0.1:{port}/storemon"


# -- loopback by default -----------------------------------------------------------------


def test_the_api_and_dagster_bind_to_loopback_by_default(monkeypatch, tmp_path):
    parser = cli.build_parser()
    assert parser.parse_args(["run"]).host == "127.0.0.1"
    assert parser.parse_args(["serve"]).host == "127.0.0.1"
    from storemon_pipeline.api import serve

    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"

    # What `storemon run` starts: both children get the loopback address, nothing binds 0.0.0.0.
    started: list[list[str]] = []

    class FinishedChild:
        def __init__(self, argv, **_kwargs):
            started.append(list(argv))
            # Above Linux's largest pid (2**22): no process group has it, so stopping it finds nothing.
            self.pid = 2**22 + 1
            self.returncode = 0

        def poll(self):
            return 0

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FinishedChild)
    monkeypatch.setattr("signal.signal", lambda *_args: None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("STOREMON_DAGSTER_URL", raising=False)
    # The fake children are over at once: `storemon run` says so and exits 1 (test_cli.py runs it for real).
    assert cli.main(["run", "--no-ingest"]) == 1
    dagster, api = started
    assert dagster[dagster.index("-h") + 1] == "127.0.0.1"
    assert api[api.index("--host") + 1] == "127.0.0.1"
    assert not any("0.0.0.0" in arg for argv in started for arg in argv)


# -- the bearer token ----------------------------------------------------------------------


@pytest.fixture
def api_client(monkeypatch, tmp_path):
    """The API with STOREMON_API_TOKEN set; an empty SQLite warehouse and no Dagster behind it."""
    from storemon_pipeline.api import ApiSettings, create_app

    monkeypatch.setenv("STOREMON_API_TOKEN", "the-right-token")
    settings = ApiSettings(
        dagster_url=f"http://127.0.0.1:{closed_port()}",
        database_url=f"sqlite:///{tmp_path / 'warehouse.db'}",
        reports_dir=str(tmp_path / "reports"),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


WRONG_AUTHORIZATION = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer the-wrong-token",
    "Bearer the-right-token-and-more",
    "Bearer the-right-toke",
    "Basic dGhlLXJpZ2h0LXRva2Vu",
    "the-right-token",
    "Bearer THE-RIGHT-TOKEN",
]


@pytest.mark.parametrize("authorization", WRONG_AUTHORIZATION)
def test_a_missing_or_wrong_token_is_401(api_client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (("post", "/trigger_report"), ("get", "/get_report?report_id=x")):
        answer = getattr(api_client, method)(path, headers=headers)
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.json() == {"error": answer.json()["error"]} and "token" in answer.json()["error"]
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_right_token_reaches_the_endpoints(api_client):
    auth = {"Authorization": "Bearer the-right-token"}
    # Past the token check: the empty warehouse has nothing to report, the id is malformed.
    assert api_client.post("/trigger_report", headers=auth).status_code == 409
    assert api_client.get("/get_report", params={"report_id": "x"}, headers=auth).status_code == 404
    assert api_client.get("/get_report", params={"report_id": "x"}, headers={"authorization": "bearer the-right-token"}).status_code == 404


def test_healthz_and_docs_stay_open(api_client):
    # Liveness probes and the schema carry no report data; both answer without a token.
    assert api_client.get("/healthz").status_code in (200, 503)
    assert api_client.get("/openapi.json").status_code == 200


def test_the_token_is_compared_in_constant_time():
    from storemon_pipeline.api import app

    assert "hmac.compare_digest" in inspect.getsource(app.token_check)


def test_without_a_token_the_api_is_open(monkeypatch, tmp_path):
    from storemon_pipeline.api import ApiSettings, create_app

    monkeypatch.delenv("STOREMON_API_TOKEN", raising=False)
    settings = ApiSettings(
        dagster_url=f"http://127.0.0.1:{closed_port()}",
        database_url=f"sqlite:///{tmp_path / 'warehouse.db'}",
        reports_dir=str(tmp_path / "reports"),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.post("/trigger_report").status_code == 409


# -- no secrets in messages ---------------------------------------------------------------------


def test_the_database_password_is_masked():
    warehouse = Warehouse(pg_url_with_password(closed_port()))
    assert SECRET not in warehouse.url_masked and "***" in warehouse.url_masked
    with pytest.raises(WarehouseUnavailable) as raised:
        warehouse.latest_ping_us()
    message = str(raised.value)
    assert SECRET not in message and warehouse.url_masked in message
    assert "unavailable" in message
    warehouse.dispose()


def test_the_cli_never_prints_the_password(tmp_path, capfd, monkeypatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "pings.csv").write_text("store_id,status,timestamp_utc\ns1,active,2023-01-25 12:00:00 UTC\n")
    url = pg_url_with_password(closed_port())
    assert cli.main(["ingest", "--data-dir", str(data_dir), "--database-url", url]) == 1
    monkeypatch.setenv("STOREMON_DATABASE_URL", url)
    assert cli.main(["report", "--data-dir", str(data_dir), "--out", str(tmp_path / "r.csv")]) == 1
    out, err = capfd.readouterr()
    assert SECRET not in out + err
    assert err.count("storemon: error: warehouse postgresql+psycopg2://storemon:***@127.0.0.1") == 2


# -- every SQL statement is parameterised -----------------------------------------------------------

# SQL text that is built from pieces (f-strings, %, +, .format) may only interpolate these
# reviewed expressions: module constants, identifiers quoted by the dialect, and the
# int-only literal rendering of bulk.py's COPY reads (it refuses any non-int parameter).
SAFE_INTERPOLATIONS = [
    re.compile(r"^[A-Z][A-Z0-9_]*$"),  # a module constant
    re.compile(r"^_pg_quoted\(conn, [\w.]+\)$"),  # identifier quoted by the dialect
    re.compile(r"^conn\.dialect\.identifier_preparer\.quote\([\w.]+\)$"),
    re.compile(r"^(literal_sql|copy_options)$"),  # bulk._literal_copy_sql: int literals only
]
SQL_WORDS = re.compile(r"^\s*\(?\s*(SELECT|INSERT|UPDATE|DELETE|COPY|WHERE|DROP|CREATE|ANALYZE|PRAGMA|VALUES|BEGIN)\b(?!\s+\w+:)")


def _sql_strings_built_from_pieces(tree: ast.AST, source: str):
    """(line, literal text, interpolated expressions) of every string built with f/%/+/format that reads like SQL."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            literal = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            parts = [ast.get_source_segment(source, v.value) for v in node.values if isinstance(v, ast.FormattedValue)]
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            literal = node.left.value
            parts = [ast.get_source_segment(source, node.right)]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
            and isinstance(node.func.value.value, str)
        ):
            literal = node.func.value.value
            parts = [ast.get_source_segment(source, a) for a in [*node.args, *(k.value for k in node.keywords)]]
        else:
            continue
        if SQL_WORDS.match(literal) and parts:
            yield node.lineno, literal, parts


def _is_textual_sql_call(func: ast.expr) -> bool:
    """sqlalchemy.text (as sa.text, sqlalchemy.text or a bare imported text) or exec_driver_sql; not,
    say, Pillow's ImageDraw.text."""
    if isinstance(func, ast.Attribute):
        if func.attr == "exec_driver_sql":
            return True
        return func.attr == "text" and isinstance(func.value, ast.Name) and func.value.id in ("sa", "sqlalchemy")
    return isinstance(func, ast.Name) and func.id == "text"


def test_no_sql_is_built_from_values():
    offenders = []
    sql_sites = 0
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for line, literal, parts in _sql_strings_built_from_pieces(tree, source):
            sql_sites += 1
            for part in parts:
                if not any(pattern.match(part or "") for pattern in SAFE_INTERPOLATIONS):
                    offenders.append(f"{path.relative_to(PACKAGE_DIR)}:{line}: {part!r} in {literal!r}")
        # Textual SQL through sa.text()/exec_driver_sql() must be a plain literal.
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and _is_textual_sql_call(node.func)
                and node.args
                and not isinstance(node.args[0], ast.Constant)
            ):
                offenders.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}: non-literal SQL text")
    assert sql_sites > 0, "the scan found no SQL at all: it is looking in the wrong place"
    assert offenders == []


def test_sql_lives_only_in_the_warehouse():
    """ARCHITECTURE: nothing above warehouse/ writes SQL strings."""
    outside = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "warehouse" in path.relative_to(PACKAGE_DIR).parts:
            continue
        source = path.read_text(encoding="utf-8")
        if re.search(r"\b(sa\.text|sqlalchemy\.text|exec_driver_sql|\.cursor\(\))", source):
            outside.append(str(path.relative_to(PACKAGE_DIR)))
    assert outside == []
