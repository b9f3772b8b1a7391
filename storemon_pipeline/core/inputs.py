"""Reading an input CSV file: which reader takes it, and the file as a whole or in parts.

This is the entry every caller uses (the ingest assets, the CLI, the sensor). The
rules of docs/report-semantics.md#input-files live below it: the file's kind and
shape in core/formats.py, the values in core/values.py, the rows in the two
readers. `parse_csv_bytes` is the one place that chooses between those readers:

- core/csv_plain_pings.py, numpy on the bytes, for the rows of plain shape of a
  plain pings file (nearly every row of a big export);
- core/csv_general.py, pandas and the csv module, for everything else, the other
  rows of a plain pings file included.

The readers import neither this module nor each other.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storemon_pipeline.core.csv_general import parse_general_csv
from storemon_pipeline.core.csv_plain_pings import read_plain_pings
from storemon_pipeline.core.formats import (
    BUSINESS_HOURS,
    PINGS,
    TIMEZONES,
    ParsedFile,
    UnknownFileKind,
    decode_text,
    detect_kind,
    lines_are_rows,
    plain_pings_columns,
    read_header,
)

__all__ = [
    "BUSINESS_HOURS",
    "PINGS",
    "TIMEZONES",
    "FileChangedWhileReading",
    "FileScan",
    "ParsedFile",
    "UnknownFileKind",
    "detect_kind",
    "file_sha256",
    "parse_csv_bytes",
    "parse_csv_file",
    "parse_csv_parts",
    "peek_kind",
    "scan_csv_file",
]

# A pings file bigger than this is read, parsed and loaded one part of whole lines at a
# time, so memory is bounded by the part and not by the file (a 1.4 GB history parsed
# whole peaked at 3 GB).
PART_BYTES = 64 << 20


class FileChangedWhileReading(OSError):
    """The bytes parsed are not the bytes hashed: the file was rewritten while being read."""


@dataclass(frozen=True)
class FileScan:
    """One streaming pass over a file's bytes: what is known before it is parsed."""

    sha256: str
    size: int
    # formats.lines_are_rows: the file can be cut at any "\n".
    splittable: bool


def parse_csv_bytes(data: bytes, file_name: str, ingested_at_us: int, sha256: str | None = None) -> ParsedFile:
    """The file's valid rows and rows kept aside; `sha256`, when the caller knows it (a part of
    a file carries the whole file's), saves hashing `data`."""
    sha256 = sha256 or hashlib.sha256(data).hexdigest()
    columns = plain_pings_columns(data)
    plain = None if columns is None else read_plain_pings(data, columns, ingested_at_us)
    if plain is None:
        return parse_general_csv(data, file_name, sha256, ingested_at_us)
    return plain.completed_by(parse_general_csv(plain.other_lines_file, file_name, sha256, ingested_at_us))


def parse_csv_file(path: str | os.PathLike, ingested_at_us: int) -> ParsedFile:
    path = Path(path)
    data = path.read_bytes()
    return parse_csv_bytes(data, path.name, ingested_at_us)


def parse_csv_parts(
    path: str | os.PathLike, ingested_at_us: int, scan: FileScan, part_bytes: int | None = None
) -> Iterator[ParsedFile]:
    """The file's rows in consecutive parts of whole lines, each a ParsedFile with the file's line numbers.

    One part, unless the file is a splittable pings file over `part_bytes`: the one kind that
    grows to gigabytes, and whose rows each stand alone (a later duplicate wins, as a later line
    does). Raises FileChangedWhileReading, after the last part, if the bytes read are not those
    `scan` hashed: the caller's transaction must then be rolled back.
    """
    path = Path(path)
    part_bytes = PART_BYTES if part_bytes is None else part_bytes
    if scan.size <= part_bytes or not scan.splittable or peek_kind(path) != PINGS:
        parsed = parse_csv_bytes(path.read_bytes(), path.name, ingested_at_us)
        if parsed.sha256 != scan.sha256:
            raise FileChangedWhileReading(f"{path.name} changed while it was being read")
        yield parsed
        return
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        header = handle.readline()
        digest.update(header)
        first_line, carry, at_end = 2, b"", False
        while not at_end:
            block = handle.read(part_bytes)
            digest.update(block)
            at_end = not block
            data = carry + block
            del block
            cut = len(data) if at_end else data.rfind(b"\n") + 1
            carry = data[cut:]
            part_bytes_read = b"".join((header, memoryview(data)[:cut]))  # one copy, not two
            del data
            if len(part_bytes_read) == len(header):
                continue
            n_lines = part_bytes_read.count(b"\n") - header.count(b"\n")
            part = parse_csv_bytes(part_bytes_read, path.name, ingested_at_us, sha256=scan.sha256)
            # Dropped before the caller loads the part: at most one part's bytes are held.
            del part_bytes_read
            # The part's own numbering starts at 2 (its header is line 1).
            part.rows["line"] += first_line - 2
            part.rejected["line"] += first_line - 2
            first_line += n_lines
            yield part
            del part
    if digest.hexdigest() != scan.sha256:
        raise FileChangedWhileReading(f"{path.name} changed while it was being read")


def peek_kind(path: str | os.PathLike) -> str:
    """The kind of a file from its header line alone (no full parse)."""
    with open(path, "rb") as handle:
        head = handle.read(64 * 1024)
    text, _ = decode_text(head)
    return read_header(text, Path(path).name)[1]


def scan_csv_file(path: str | os.PathLike) -> FileScan:
    digest = hashlib.sha256()
    size, splittable, held_cr = 0, True, b""
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
            # A "\r" ending the block is judged with the next block's first byte.
            text = held_cr + block
            held_cr = b"\r" if text.endswith(b"\r") else b""
            splittable = splittable and lines_are_rows(text[: len(text) - len(held_cr)])
    return FileScan(digest.hexdigest(), size, splittable and not held_cr)


def file_sha256(path: str | os.PathLike) -> str:
    return scan_csv_file(path).sha256
