"""A short soak (benchmarks/soak.py): hourly drops through ingest_job and report_from_warehouse_job, the
retention schedule every 6 simulated hours, keep 3h of segments and 6h of reports. After the first
retention window everything but the pings stops growing: the partition count, the runs, the report
files, the warehouse, DAGSTER_HOME. (`make soak` runs 30 days at 1,000 stores; benchmarks/results.md.)
"""

from __future__ import annotations

import sys

from storemon_pipeline_tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import soak  # noqa: E402


def test_sizes_level_off_after_the_first_retention_window(tmp_path):
    samples = soak.soak(
        stores=30, days=1.5, hours_per_retention=6, keep_segments="3h", keep_reports="6h", dialect="sqlite",
        work=tmp_path / "soak", log=lambda _line: None,
    )
    assert [s.hour for s in samples] == [0, 6, 12, 18, 24, 30, 36]
    steady = samples[2:]  # from hour 12: the first 6 h of reports have been pruned once
    # Reports as of [newest - 6h, newest]: seven partitions, each a CSV and a chart.
    assert samples[1].partitions == 6 and {s.partitions for s in steady} == {7}
    assert len({s.runs for s in steady[1:]}) == 1, [s.runs for s in steady]
    assert max(s.reports_bytes for s in steady) <= 1.05 * min(s.reports_bytes for s in steady)
    # The warehouse still gains each hour's pings (30 stores: a few kB); segments and reports stay level.
    assert steady[-1].warehouse_bytes <= 1.1 * steady[0].warehouse_bytes
    assert steady[-1].dagster_home_bytes <= 1.15 * steady[1].dagster_home_bytes, [s.dagster_home_bytes for s in samples]
    assert "1 reports" in steady[-1].pruned or "6 reports" in steady[-1].pruned
