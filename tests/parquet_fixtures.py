"""Parquet inputs and independent checks for the `taco pack-parquet` tests.

Everything here reads Parquet with pyarrow (and ZIP with Python's zipfile), never with taco, so the
tests compare taco's output against tools we did not write.
"""

from __future__ import annotations

import importlib
import io
import random
import struct
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from conftest import REPO, skip_or_fail

SHARED_PARQUET = REPO.parent / "shared" / "testdata" / "parquet"

# Files in SHARED_PARQUET whose footer is valid but whose page data pyarrow cannot decode: only
# metadata-level facts can be checked for them.
UNDECODABLE = {"ARROW-GH-41321.parquet"}


def require_module(name: str):
    """Import a Python package; skip when it is missing, fail under CI=true."""
    try:
        return importlib.import_module(name)
    except ImportError:
        skip_or_fail(f"Python package {name!r} is not installed (run scripts/setup.sh)",
                     allow_module_level=True)


def shared_parquet_files() -> list[Path]:
    """The third-party Parquet files in shared/testdata (empty when the directory is missing)."""
    if not SHARED_PARQUET.is_dir():
        return []
    return sorted(SHARED_PARQUET.glob("*.parquet"))


def require_shared_parquet() -> None:
    skip_or_fail(f"shared Parquet test data not found at {SHARED_PARQUET}")


# ---------------------------------------------------------------------------
# building inputs


def _schema(pa):
    return pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("value", pa.float64(), metadata={"unit": "metre"}),
            pa.field("observed_at", pa.timestamp("us", tz="UTC")),
            pa.field("local_time", pa.timestamp("ns")),
            pa.field("day", pa.date32()),
            pa.field("station", pa.dictionary(pa.int32(), pa.string())),
            pa.field("note", pa.string()),
            pa.field("ok", pa.bool_()),
            pa.field("price", pa.decimal128(10, 2)),
            pa.field("tags", pa.list_(pa.int32())),
            pa.field(
                "loc",
                pa.struct(
                    [
                        ("lat", pa.float64()),
                        ("lon", pa.float64()),
                        ("name", pa.string()),
                        ("levels", pa.list_(pa.int16())),
                    ]
                ),
            ),
            pa.field("blob", pa.binary()),
        ],
        metadata={"origin": "taco pack-parquet tests", "seed-note": "deterministic"},
    )


STATIONS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]


def make_table(rows: int, seed: int = 0, first_id: int = 0, blob_len: tuple[int, int] = (0, 24)):
    """A deterministic table with nested, dictionary, temporal, decimal and nullable columns."""
    pa = require_module("pyarrow")
    rng = random.Random(seed)
    base = datetime(2023, 3, 1, tzinfo=timezone.utc)

    def maybe(p, v):
        return None if rng.random() < p else v

    cols = {k: [] for k in _schema(pa).names}
    for i in range(rows):
        cols["id"].append(first_id + i)
        cols["value"].append(maybe(0.1, rng.uniform(-1000, 1000)))
        cols["observed_at"].append(maybe(0.05, base + timedelta(seconds=first_id + i,
                                                                microseconds=rng.randrange(10**6))))
        cols["local_time"].append(maybe(0.05, datetime(2022, 1, 1) + timedelta(minutes=rng.randrange(10**6))))
        cols["day"].append(maybe(0.05, date(2020, 1, 1) + timedelta(days=rng.randrange(2000))))
        cols["station"].append(maybe(0.05, rng.choice(STATIONS)))
        cols["note"].append(maybe(0.3, "n" * rng.randrange(0, 12) + f"-{rng.randrange(1000)}"))
        cols["ok"].append(maybe(0.1, rng.random() < 0.5))
        cols["price"].append(maybe(0.1, Decimal(rng.randrange(-10**6, 10**6)) / 100))
        r = rng.random()
        if r < 0.1:
            tags = None
        elif r < 0.2:
            tags = []
        else:
            tags = [maybe(0.1, rng.randrange(-500, 500)) for _ in range(rng.randrange(1, 5))]
        cols["tags"].append(tags)
        if rng.random() < 0.08:
            loc = None
        else:
            loc = {
                "lat": rng.uniform(-90, 90),
                "lon": maybe(0.1, rng.uniform(-180, 180)),
                "name": maybe(0.2, rng.choice(STATIONS).upper()),
                "levels": maybe(0.2, [rng.randrange(100) for _ in range(rng.randrange(0, 3))]),
            }
        cols["loc"].append(loc)
        cols["blob"].append(maybe(0.1, rng.randbytes(rng.randrange(*blob_len)) if blob_len[1] else b""))

    schema = _schema(pa)
    arrays = {}
    for f in schema:
        if f.name == "station":
            arrays[f.name] = pa.array(cols[f.name], pa.string()).dictionary_encode()
        else:
            arrays[f.name] = pa.array(cols[f.name], f.type)
    return pa.table(arrays, schema=schema)


def write_parquet(path: Path, rows_per_group: list[int], compression: str = "snappy", seed: int = 0,
                  blob_len: tuple[int, int] = (0, 24)) -> Path:
    """Write one row group per element of rows_per_group (ParquetWriter, one write per group)."""
    pq = require_module("pyarrow.parquet")
    first = 0
    with pq.ParquetWriter(path, _schema(require_module("pyarrow")), compression=compression) as w:
        for k, n in enumerate(rows_per_group):
            t = make_table(n, seed=seed * 1000 + k, first_id=first, blob_len=blob_len)
            w.write_table(t, row_group_size=n)
            first += n
    md = pq.read_metadata(path)
    assert md.num_row_groups == len(rows_per_group), "fixture: unexpected row-group count"
    assert md.num_rows == sum(rows_per_group)
    return path


def rows_for(n_groups: int) -> list[int]:
    """Row counts per group, deliberately uneven so byte balancing matters."""
    if n_groups == 1:
        return [300]
    if n_groups == 5:
        return [30, 200, 50, 120, 10]
    return [20 + (k * 37) % 60 for k in range(n_groups)]


def write_zero_row_groups(path: Path) -> Path:
    """A valid Parquet file with a schema and no row group at all.

    (pq.write_table of an empty table writes one empty row group, so close a writer unused.)
    """
    pa = require_module("pyarrow")
    pq = require_module("pyarrow.parquet")
    pq.ParquetWriter(path, _schema(pa)).close()
    assert pq.read_metadata(path).num_row_groups == 0, "fixture: expected zero row groups"
    return path


# ---------------------------------------------------------------------------
# reading Parquet metadata


def chunk_range(col) -> tuple[int, int]:
    """(start, end) of one column chunk: dictionary page if any, else first data page."""
    start = col.dictionary_page_offset if col.has_dictionary_page else col.data_page_offset
    return start, start + col.total_compressed_size


def row_group_range(md, i: int) -> tuple[int, int]:
    """(start, end) in the file of row group i's column chunks."""
    rg = md.row_group(i)
    ranges = [chunk_range(rg.column(c)) for c in range(rg.num_columns)]
    return min(s for s, _ in ranges), max(e for _, e in ranges)


def row_group_bytes(md, i: int) -> int:
    """Compressed bytes of row group i (sum over its column chunks)."""
    rg = md.row_group(i)
    return sum(rg.column(c).total_compressed_size for c in range(rg.num_columns))


def footer_length(data: bytes) -> int:
    """Metadata length + 4-byte length + 'PAR1'."""
    assert data[-4:] == b"PAR1"
    return struct.unpack("<I", data[-8:-4])[0] + 8


def read_metadata_bytes(data: bytes):
    pq = require_module("pyarrow.parquet")
    return pq.read_metadata(io.BytesIO(data))


def naive_split(n_items: int, n_parts: int) -> list[list[int]]:
    """Consecutive groups of (nearly) equal *count*: what a non-byte-aware splitter would do."""
    q, r = divmod(n_items, n_parts)
    out, k = [], 0
    for p in range(n_parts):
        size = q + (1 if p < r else 0)
        out.append(list(range(k, k + size)))
        k += size
    return out
