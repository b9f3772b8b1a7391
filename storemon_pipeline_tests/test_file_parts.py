"""Big pings files are read, parsed and loaded a part at a time, with the results of one whole read.

Parts are made tiny here (a few hundred bytes) so that a small file crosses many part
boundaries: duplicates, bad rows and odd lines fall on both sides of them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from storemon_pipeline.assets.raw import ingest_csv_files
from storemon_pipeline.core import inputs
from storemon_pipeline.core.inputs import FileChangedWhileReading, parse_csv_file, parse_csv_parts, scan_csv_file
from storemon_pipeline.warehouse import Warehouse

NOW_US = 1_700_000_000_000_000  # 2023-11-14
HEADER = "store_id,status,timestamp_utc"


def pings_text(n: int, seed: int = 3, line_end: str = "\n") -> str:
    rng = np.random.default_rng(seed)
    lines = [HEADER]
    for k in range(n):
        store = f"s{rng.integers(0, 7)}"
        status = "active" if rng.random() < 0.6 else "inactive"
        stamp = pd.Timestamp(1_674_000_000 + int(rng.integers(0, 40)) * 3600, unit="s").strftime("%Y-%m-%d %H:%M:%S")
        if k % 17 == 5:
            lines.append(f"{store},maybe,{stamp} UTC")  # kept aside: unknown status
        elif k % 23 == 7:
            lines.append(f" {store} , {status.upper()} ,{stamp}")  # odd but valid: the general reader's
        elif k % 29 == 11:
            lines.append("")  # a blank line counts as a line, not a row
        else:
            lines.append(f"{store},{status},{stamp}.{k:06d} UTC")
    # The same instant again at the end, with the other status: the last line wins.
    lines.append(lines[1].replace("active", "inactive") if ",active," in lines[1] else lines[1].replace("inactive", "active"))
    return line_end.join(lines) + line_end


def write(tmp_path, text: str, name: str = "pings.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def joined(parts: list[inputs.ParsedFile]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The parts' rows (store_id as plain text: each part has its own categories) and rejected rows."""
    rows = pd.concat([p.rows.astype({"store_id": str}) for p in parts], ignore_index=True)
    rejected = pd.concat([p.rejected for p in parts], ignore_index=True)
    return rows, rejected


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("part_bytes", [64, 300, 10_000])
def test_parts_hold_the_rows_and_line_numbers_of_a_whole_read(tmp_path, line_end, part_bytes):
    path = write(tmp_path, pings_text(400, line_end=line_end))
    whole = parse_csv_file(path, NOW_US)
    scan = scan_csv_file(path)
    assert scan.splittable and scan.sha256 == whole.sha256 and scan.size == path.stat().st_size
    parts = list(parse_csv_parts(path, NOW_US, scan, part_bytes=part_bytes))
    assert (len(parts) > 1) == (part_bytes < scan.size)
    rows, rejected = joined(parts)
    pd.testing.assert_frame_equal(rows, whole.rows.astype({"store_id": str}), check_dtype=False)
    pd.testing.assert_frame_equal(rejected, whole.rejected.reset_index(drop=True), check_dtype=False)
    assert sum(p.n_rows for p in parts) == whole.n_rows
    assert {p.sha256 for p in parts} == {whole.sha256}
    assert len(rejected) > 10 and rejected["reason"].str.startswith("unknown status").all()


def test_a_file_with_quotes_or_bare_cr_is_read_whole(tmp_path):
    quoted = write(tmp_path, HEADER + '\n"s1\nstill s1",active,2023-01-22 12:00:00 UTC\n' * 20, "quoted.csv")
    bare_cr = write(tmp_path, HEADER + "\rs1,active,2023-01-22 12:00:00 UTC\r" * 20, "cr.csv")
    for path in (quoted, bare_cr):
        scan = scan_csv_file(path)
        assert not scan.splittable
        parts = list(parse_csv_parts(path, NOW_US, scan, part_bytes=32))
        assert len(parts) == 1
        whole = parse_csv_file(path, NOW_US)
        pd.testing.assert_frame_equal(parts[0].rows, whole.rows)
        assert isinstance(whole.rows["store_id"].dtype, pd.CategoricalDtype)


def test_a_cr_at_the_end_of_a_scan_block_is_judged_with_the_next_block(tmp_path):
    block = 1 << 20  # scan_csv_file reads 1 MiB at a time
    head = HEADER + "\r\n"
    # The first line's "\r" is the block's last byte; its "\n", or another byte, opens the next block.
    first_line = "s1,active," + "x" * (block - 1 - len(head) - len("s1,active,"))
    crlf = write(tmp_path, head + first_line + "\r\n" + "s1,active,2023-01-22 12:00:00 UTC\r\n", "crlf.csv")
    bare = write(tmp_path, head + first_line + "\r" + "s1,active,2023-01-22 12:00:00 UTC\r\n", "bare.csv")
    assert crlf.read_bytes()[block - 1 : block + 1] == b"\r\n"
    assert scan_csv_file(crlf).splittable
    assert not scan_csv_file(bare).splittable
    assert not scan_csv_file(write(tmp_path, HEADER + "\r\ns1,active,2023-01-22 12:00:00 UTC\r", "tail.csv")).splittable


def test_a_file_rewritten_while_read_is_refused_after_its_last_part(tmp_path):
    path = write(tmp_path, pings_text(200))
    scan = scan_csv_file(path)
    parts = parse_csv_parts(path, NOW_US, scan, part_bytes=256)
    next(parts)
    path.write_bytes(path.read_bytes().replace(b"active", b"ACTIVE"))
    with pytest.raises(FileChangedWhileReading):
        list(parts)


def test_loading_in_parts_gives_the_warehouse_of_a_whole_load(tmp_path, database_url, monkeypatch):
    path = write(tmp_path, pings_text(600))
    whole_url = f"sqlite:///{tmp_path / 'whole.db'}"
    whole = Warehouse(whole_url)
    whole.ingest(parse_csv_file(path, NOW_US), NOW_US)

    monkeypatch.setattr(inputs, "PART_BYTES", 200)
    in_parts = Warehouse(database_url)
    outcome = ingest_csv_files(in_parts, [path])
    (result,) = outcome.results
    assert not result.already_ingested
    assert result.rows_loaded + result.rows_rejected == parse_csv_file(path, NOW_US).n_rows
    everything = (0, 2**62)
    pd.testing.assert_frame_equal(in_parts.read_pings(*everything), whole.read_pings(*everything))
    pd.testing.assert_frame_equal(in_parts.read_rejected(), whole.read_rejected())
    files = in_parts.ingested_files()
    assert files[["rows_loaded", "rows_rejected"]].values.tolist() == [[result.rows_loaded, result.rows_rejected]]
    # The same bytes again: found by their hash, never parsed.
    monkeypatch.setattr(inputs, "parse_csv_bytes", None)
    assert ingest_csv_files(in_parts, [path]).results[0].already_ingested
    whole.dispose()
    in_parts.dispose()


def test_a_part_that_fails_leaves_the_warehouse_as_it_was(tmp_path, database_url):
    warehouse = Warehouse(database_url)
    first = write(tmp_path, pings_text(50, seed=1), "first.csv")
    ingest_csv_files(warehouse, [first])
    before = (warehouse.read_pings(0, 2**62), warehouse.ingested_files(), warehouse.read_rejected())

    path = write(tmp_path, pings_text(300, seed=2), "second.csv")
    scan = scan_csv_file(path)
    good = list(parse_csv_parts(path, NOW_US, scan, part_bytes=200))

    def parts_then_failure():
        yield from good[:3]
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        warehouse.ingest_parts(path.name, scan.sha256, "pings", parts_then_failure(), NOW_US)
    after = (warehouse.read_pings(0, 2**62), warehouse.ingested_files(), warehouse.read_rejected())
    for old, new in zip(before, after):
        pd.testing.assert_frame_equal(old, new)
    # And the file loads in full afterwards: nothing of the failed attempt was recorded.
    assert not warehouse.ingest_parts(path.name, scan.sha256, "pings", iter(good), NOW_US).already_ingested
    warehouse.dispose()


def test_only_a_pings_file_may_come_in_parts(tmp_path, sqlite_url):
    hours = write(tmp_path, "store_id,dayOfWeek,start_time_local,end_time_local\ns1,0,09:00,17:00\n", "h.csv")
    parsed = parse_csv_file(hours, NOW_US)
    warehouse = Warehouse(sqlite_url)
    with pytest.raises(ValueError, match="only a pings file"):
        warehouse.ingest_parts("h.csv", parsed.sha256, "business_hours", [parsed, parsed], NOW_US)
    assert warehouse.read_business_hours().empty and warehouse.ingested_files().empty
    warehouse.dispose()


def test_a_file_rewritten_during_its_load_leaves_nothing_of_it(tmp_path, database_url):
    warehouse = Warehouse(database_url)
    path = write(tmp_path, pings_text(300))
    scan = scan_csv_file(path)

    def rewritten_after_the_first_part(parts):
        for index, part in enumerate(parts):
            yield part
            if index == 0:  # the exporter overwrites the file in place, same length, other bytes
                path.write_bytes(path.read_bytes().replace(b"active", b"ACTIVE"))

    parts = rewritten_after_the_first_part(parse_csv_parts(path, NOW_US, scan, part_bytes=256))
    with pytest.raises(FileChangedWhileReading, match="changed while it was being read"):
        warehouse.ingest_parts(path.name, scan.sha256, "pings", parts, NOW_US)
    assert warehouse.read_pings(0, 2**62).empty
    assert warehouse.ingested_files().empty and warehouse.read_rejected().empty
    warehouse.dispose()
