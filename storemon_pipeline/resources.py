"""Resources: where the warehouse and the files live, configured from the environment.

Defaults need nothing installed: a SQLite file and folders under the project
home (`STOREMON_HOME`, else the working directory Dagster was started in).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from storemon_pipeline.warehouse import Warehouse


def project_home() -> Path:
    return Path(os.getenv("STOREMON_HOME") or Path.cwd()).resolve()


def default_database_url() -> str:
    return os.getenv("STOREMON_DATABASE_URL") or f"sqlite:///{project_home() / 'var' / 'storemon.db'}"


def default_data_dir() -> str:
    return os.getenv("STOREMON_DATA_DIR") or str(project_home() / "data")


def default_inbox_dir() -> str:
    return os.getenv("STOREMON_INBOX") or str(Path(default_data_dir()) / "inbox")


def default_reports_dir() -> str:
    return os.getenv("STOREMON_REPORTS_DIR") or str(project_home() / "var" / "reports")


def default_api_url() -> str:
    """The report API's base URL as a person's browser reaches it: links in the report's metadata."""
    return (os.getenv("STOREMON_API_URL") or "http://127.0.0.1:8000").rstrip("/")


@lru_cache(maxsize=8)
def _warehouse_for(database_url: str) -> Warehouse:
    # One engine (and its pool) per process and URL, shared by every asset of a run.
    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return Warehouse(database_url)


class WarehouseResource(ConfigurableResource):
    """The SQL warehouse (SQLite file by default, PostgreSQL via postgresql+psycopg2://)."""

    database_url: str = Field(default_factory=default_database_url, description="SQLAlchemy URL")

    def open(self) -> Warehouse:
        return _warehouse_for(self.database_url)


def warehouse_from_env() -> WarehouseResource:
    """The warehouse the code location uses; an EnvVar when set, so Dagster's UI shows the
    variable's name on the resource page, never a password inside the URL."""
    if os.getenv("STOREMON_DATABASE_URL"):
        return WarehouseResource(database_url=EnvVar("STOREMON_DATABASE_URL"))
    return WarehouseResource()


class StoremonFiles(ConfigurableResource):
    """Folders: input CSVs, the inbox the sensor watches, and the report files."""

    data_dir: str = Field(default_factory=default_data_dir)
    inbox_dir: str = Field(default_factory=default_inbox_dir)
    reports_dir: str = Field(default_factory=default_reports_dir)

    def report_path(self, partition_key: str) -> Path:
        return Path(self.reports_dir) / f"report_{partition_key}.csv"

    def report_files(self) -> dict[str, list[Path]]:
        """Every file of a report in the folder (CSV, chart, a write left half-way), by partition key."""
        folder = Path(self.reports_dir)
        found: dict[str, list[Path]] = {}
        if not folder.is_dir():
            return found
        for path in sorted(folder.iterdir()):
            match = _REPORT_FILE_NAME.match(path.name)
            if match and path.is_file():
                found.setdefault(match.group("key"), []).append(path)
        return found


def chart_path_of(report_path: Path) -> Path:
    """The weekly-uptime histogram written beside a report CSV."""
    return report_path.with_name(report_path.stem + CHART_SUFFIX)


CHART_SUFFIX = "_uptime_week.png"
# report_<key>.csv, its chart, and either one's `.partial` (assets.report.write_atomically).
_REPORT_FILE_NAME = re.compile(
    r"^report_(?P<key>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)(\.csv|" + re.escape(CHART_SUFFIX) + r")(\.partial)?$"
)
