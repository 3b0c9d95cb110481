"""The Python package on the sample data: pack with a planner, read a tile, a member and a
Parquet row group through file objects, the manifest as a table, and tacozip's functions.
Run by scripts/demo.sh after `pip install ./python`."""

from pathlib import Path

import taco_archive
import taco_archive as tacozip  # the same module answers tacozip's API

data = Path(__file__).resolve().parent / "data"
out = data.parent / "out" / "python"
out.mkdir(parents=True, exist_ok=True)

tiles = taco_archive.pack_tiles(data / "tiles", out / "tiles.taco", force=True)
print(f"pack_tiles: {tiles.path}: {tiles.members} members, {tiles.size} bytes")
for e in tiles.entries:
    print(f"  entry {e.index}: {e.label} ({e.kind}) {e.length} bytes at {e.offset}")

with taco_archive.open(tiles.path) as archive:
    png = archive.read_tile(3, 5, 2)
    print(f"tile 3/5/2: {len(png)} bytes, starts {png[:4]!r}")
    table = archive.manifest()
    print(f"manifest: {table.num_rows} rows, columns {table.column_names[:7]}")

verbatim = taco_archive.pack_parquet(
    data / "parquet/observations.parquet", out / "observations.taco", layout="verbatim",
    force=True,
)
print(f"read_header (tacozip API): {tacozip.read_header(verbatim.path)[:2]} ...")
with taco_archive.open(verbatim.path) as archive:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        print("pyarrow is not installed: skipping the row-group read")
    else:
        with archive.open_member("observations.parquet") as f:
            part = pq.ParquetFile(f)
            rows = part.read_row_group(3).num_rows
            print(f"pyarrow through open_member: {part.metadata.num_row_groups} row groups; "
                  f"row group 3 has {rows} rows")
    print(f"validate deep: {archive.validate('deep')}")
