"""Shared fixtures: real SQLite files, the real PostgreSQL server, the real take-home sample."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA_DIR = REPO_ROOT / "data"
# The real take-home exports (store_status.csv, menu_hours.csv, timezones.csv) are not in the
# repository: tests that read them take the folder from STOREMON_REAL_DATA_DIR (CI sets it).
REAL_DATA_DIR_ENV = "STOREMON_REAL_DATA_DIR"
REAL_DATA_DIR = Path(os.getenv(REAL_DATA_DIR_ENV) or "/nonexistent/storemon-real-data")
POSTGRES_URL_ENV = "STOREMON_TEST_POSTGRES_URL"


def _postgres_base_url() -> str:
    url = os.getenv(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set (CI sets it; there these tests run)")
    return url


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _postgres_base_url()
    schema = f"storemon_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """Every warehouse-touching test runs on both dialects."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def isolated_storemon_home(tmp_path, monkeypatch):
    """No test reads or writes the developer's var/ (SQLite file, reports)."""
    for name in ("STOREMON_DATABASE_URL", "STOREMON_DATA_DIR", "STOREMON_INBOX", "STOREMON_REPORTS_DIR",
                 "STOREMON_API_TOKEN", "STOREMON_API_URL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "storemon_home"
    home.mkdir()
    monkeypatch.setenv("STOREMON_HOME", str(home))
    return home
