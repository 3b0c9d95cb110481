"""The library's front door end to end: examples/front_door.rs reads an entry, a tile and a
member of a pack-tiles archive served by nginx using only `TacoArchive`, and what it prints is
checked against the local file read with Python's zipfile and the raw header bytes."""

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, parse_taco_header, read_range, run_tool, skip_or_fail

EXAMPLE = Path(os.environ.get("TACO_FRONT_DOOR", REPO / "target/release/examples/front_door"))


@pytest.fixture(scope="module")
def front_door() -> Path:
    if not EXAMPLE.is_file():
        skip_or_fail(f"{EXAMPLE} missing: "
                     "cargo build --release -p taco-examples --example front_door")
    return EXAMPLE


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_entry_tile_and_member_over_http(taco, front_door, nginx_server, tmp_path):
    archive = tmp_path / "tiles.taco"
    cp = taco("pack-tiles", REPO / "examples/data/tiles", "-o", archive, "-q")
    assert cp.returncode == 0, cp.stderr
    url = nginx_server.put("front-door.taco", archive)

    with zipfile.ZipFile(archive) as z:
        names = [i.filename for i in z.infolist()]
        tile_name = next(n for n in names if n.startswith("1/"))
        z_, x, rest = tile_name.split("/")
        y = rest.split(".")[0]
        tile_bytes = z.read(tile_name)
        first_member = names[1]
        member_bytes = z.read(first_member)
    offset, length = parse_taco_header(archive.read_bytes()[:157])[0]
    entry_bytes = read_range(archive, offset, length)

    cp = run_tool(front_door, url, f"{z_}/{x}/{y}")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0] == f"entry 0: {len(entry_bytes)} bytes sha256 {sha(entry_bytes)}"
    assert lines[1] == (f"tile {z_}/{x}/{y}: {tile_name} {len(tile_bytes)} bytes "
                        f"sha256 {sha(tile_bytes)}")
    assert lines[2] == f"member {first_member}: {len(member_bytes)} bytes sha256 {sha(member_bytes)}"
    # header, entry, tail + index, tile, central directory (small: in the tail already) + member
    requests = int(lines[3].removeprefix("requests: "))
    assert requests <= 6, cp.stdout


def test_a_tile_the_index_lacks_is_one_clear_error(taco, front_door, tmp_path):
    archive = tmp_path / "tiles.taco"
    assert taco("pack-tiles", REPO / "examples/data/tiles", "-o", archive, "-q").returncode == 0
    cp = run_tool(front_door, archive, "29/0/0")
    assert cp.returncode != 0
    assert "no tile 29/0/0 in the index" in cp.stderr, cp.stderr
