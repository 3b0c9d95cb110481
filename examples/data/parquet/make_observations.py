#!/usr/bin/env python3
"""Regenerate observations.parquet, the small multi-row-group file used by the README demo.

    python3 examples/data/parquet/make_observations.py

Deterministic for a given pyarrow version (fixed seed, no wall-clock input): 5000 weather
observations from 12 stations, written in 10 row groups of 500 rows with snappy compression.
Columns: id (int64), lat/lon (float64), observed_at (timestamp[ms, UTC]), station
(dictionary-encoded string), reading (struct of temperature/humidity, some nulls) and
tags (list<string>).
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROWS = 5000
ROW_GROUP_SIZE = 500
SEED = 20240611

STATIONS = [
    # name, lat, lon
    ("valencia", 39.47, -0.38),
    ("madrid", 40.42, -3.70),
    ("zaragoza", 41.65, -0.88),
    ("sevilla", 37.39, -5.98),
    ("bilbao", 43.26, -2.93),
    ("granada", 37.18, -3.60),
    ("palma", 39.57, 2.65),
    ("leon", 42.60, -5.57),
    ("murcia", 37.99, -1.13),
    ("coruna", 43.36, -8.41),
    ("teruel", 40.34, -1.11),
    ("almeria", 36.84, -2.46),
]
TAGS = ["qc-ok", "gap-filled", "sensor-swap", "calibrated", "manual"]


def build_table() -> pa.Table:
    rng = random.Random(SEED)
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ids, lats, lons, times, stations, readings, tags = [], [], [], [], [], [], []
    for i in range(ROWS):
        name, lat, lon = STATIONS[rng.randrange(len(STATIONS))]
        ids.append(i)
        lats.append(round(lat + rng.uniform(-0.05, 0.05), 3))
        lons.append(round(lon + rng.uniform(-0.05, 0.05), 3))
        times.append(start + timedelta(minutes=10 * i, seconds=rng.randrange(60)))
        stations.append(name)
        if rng.random() < 0.03:
            readings.append(None)
        else:
            readings.append({
                "temperature_c": round(rng.gauss(16.0, 7.0), 1),
                "humidity_pct": None if rng.random() < 0.05 else rng.randrange(10, 101),
            })
        tags.append(rng.sample(TAGS, rng.randrange(0, 3)))

    schema = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("lat", pa.float64()),
            pa.field("lon", pa.float64()),
            pa.field("observed_at", pa.timestamp("ms", tz="UTC")),
            pa.field("station", pa.dictionary(pa.int32(), pa.string())),
            pa.field("reading", pa.struct([("temperature_c", pa.float32()),
                                           ("humidity_pct", pa.uint8())])),
            pa.field("tags", pa.list_(pa.string())),
        ],
        metadata={"source": "taco example data (synthetic)"},
    )
    return pa.table(
        {
            "id": ids,
            "lat": lats,
            "lon": lons,
            "observed_at": times,
            "station": pa.array(stations).dictionary_encode(),
            "reading": readings,
            "tags": tags,
        },
        schema=schema,
    )


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("observations.parquet")
    table = build_table()
    pq.write_table(table, out, row_group_size=ROW_GROUP_SIZE, compression="snappy")
    md = pq.read_metadata(out)
    assert md.num_row_groups == ROWS // ROW_GROUP_SIZE and md.num_rows == ROWS
    print(f"{out}: {out.stat().st_size} bytes, {md.num_rows} rows, {md.num_row_groups} row groups")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
