"""The manifest (index v2): `TACO_MANIFEST.parquet` of every planned archive, cut out of the
archive by the offsets zipfile reports, is read by pyarrow and by DuckDB's read_parquet, and
its rows are exactly the archive's members (name, data offset, length, CRC-32, each range
holding that member's bytes) with the planner's typed columns; its key-value metadata holds the
header's entries. `taco manifest` writes the same bytes, locally and over HTTP."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

import pytest

from conftest import REPO, central_dir_offset, parse_taco_header, zip_members
from parquet_fixtures import require_module
from tree_fixtures import meta_path

pq = require_module("pyarrow.parquet")
duckdb = require_module("duckdb")

DATA = REPO / "examples/data"
PLANNERS = {
    "tiles": ("pack-tiles", DATA / "tiles"),
    "splits": ("pack-splits", DATA / "ml_data"),
    "parquet": ("pack-parquet", DATA / "parquet/observations.parquet"),
    "netcdf": ("pack-netcdf", DATA / "climate"),
    "pack": ("pack", DATA / "pipeline"),
}
FORMAT_MEMBERS = {"TACO_HEADER", "TACO_DIRECTORY", "TACO_MANIFEST.parquet", "TACO_INDEX.json"}


@pytest.fixture(scope="module")
def packed(taco, tmp_path_factory):
    base = tmp_path_factory.mktemp("manifest")
    out = {}
    for planner, (command, src) in PLANNERS.items():
        archive = base / f"{planner}.taco"
        if command == "pack":
            taco(command, archive, src, "-q", check=True)
        else:
            taco(command, src, "-o", archive, "-q", check=True)
        out[planner] = archive
    return out


def cut_manifest(archive):
    raw = archive.read_bytes()
    member = next(m for m in zip_members(archive) if m.name == "TACO_MANIFEST.parquet")
    return raw[member.data_offset:member.data_offset + member.size]


@pytest.mark.parametrize("planner", list(PLANNERS))
def test_rows_are_the_members_with_their_ranges(packed, planner, tmp_path):
    archive = packed[planner]
    raw = archive.read_bytes()
    data = cut_manifest(archive)
    table = pq.read_table(io.BytesIO(data))
    rows = table.to_pylist()
    members = [m for m in zip_members(archive) if m.name not in FORMAT_MEMBERS]
    assert [r["name"] for r in rows] == [m.name for m in members], "rows in archive order"
    with zipfile.ZipFile(archive) as z:
        for r, m in zip(rows, members):
            assert (r["data_offset"], r["length"], r["crc32"]) == (m.data_offset, m.size, m.crc)
            assert raw[r["data_offset"]:r["data_offset"] + r["length"]] == z.read(m.name)

    # DuckDB reads the same rows from the same bytes.
    path = tmp_path / "m.parquet"
    path.write_bytes(data)
    con = duckdb.connect()
    got = con.execute(
        "SELECT name, data_offset, length, crc32 FROM read_parquet(?) ORDER BY data_offset",
        [str(path)]).fetchall()
    assert got == [(r["name"], r["data_offset"], r["length"], r["crc32"]) for r in rows]

    # The entries in the metadata are the header's.
    meta = pq.read_metadata(io.BytesIO(data)).metadata
    assert meta[b"taco.planner"] == planner.encode()
    entries = json.loads(meta[b"taco.entries"])
    header = parse_taco_header(raw[:157])
    assert [(e["offset"], e["length"]) for e in entries] == header
    assert [e["index"] for e in entries] == list(range(len(header)))


def test_typed_columns_match_what_the_planners_say(packed):
    rows = pq.read_table(io.BytesIO(cut_manifest(packed["tiles"]))).to_pylist()
    for r in rows:
        z, x, rest = r["name"].split("/")
        assert (r["z"], r["x"], r["y"]) == (int(z), int(x), int(rest.split(".")[0]))
        assert r["split"] is None and r["time_start"] is None

    rows = pq.read_table(io.BytesIO(cut_manifest(packed["splits"]))).to_pylist()
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(r["name"].startswith(r["split"] + "/") for r in rows)

    index = json.loads(meta_path(packed["netcdf"]).read_bytes())
    by_name = {m["name"]: m for m in index["members"]}
    rows = pq.read_table(io.BytesIO(cut_manifest(packed["netcdf"]))).to_pylist()
    for r in rows:
        m = by_name[r["name"]]
        assert (r["time_start_text"], r["time_end_text"]) == (m["start"], m["end"])
        assert r["time_start"].isoformat().startswith(m["start"].split("T")[0])
        assert (r["calendar"], r["units"]) == (m["calendar"], m["units"])

    index = json.loads(meta_path(packed["parquet"]).read_bytes())
    rows = pq.read_table(io.BytesIO(cut_manifest(packed["parquet"]))).to_pylist()
    for r, m in zip(rows, index["members"]):
        assert r["rows"] == m["rows"]
        assert (r["first_row_group"], r["last_row_group"]) == (m["row_groups"][0],
                                                                m["row_groups"][-1])


def test_duckdb_filters_on_the_planner_key(packed, tmp_path):
    path = tmp_path / "tiles.parquet"
    path.write_bytes(cut_manifest(packed["tiles"]))
    got = duckdb.connect().execute(
        "SELECT count(*) FROM read_parquet(?) WHERE z = 3", [str(path)]).fetchone()[0]
    assert got == sum(1 for n in zipfile.ZipFile(packed["tiles"]).namelist() if n.startswith("3/"))


def test_taco_manifest_writes_the_same_bytes_locally_and_over_http(
        taco, packed, nginx_server, remote_env, tmp_path):
    archive = packed["netcdf"]
    want = cut_manifest(archive)
    out = tmp_path / "local.parquet"
    taco("manifest", archive, "-o", out, check=True)
    assert out.read_bytes() == want
    assert taco("manifest", archive, binary=True, check=True).stdout == want
    url = nginx_server.put("manifest.taco", archive)
    out = tmp_path / "remote.parquet"
    taco("manifest", url, "-o", out, check=True)
    assert out.read_bytes() == want
    doc = json.loads(taco("manifest", archive, "--json", check=True).stdout)
    member = next(m for m in zip_members(archive) if m.name == "TACO_MANIFEST.parquet")
    assert (doc["offset"], doc["length"], doc["crc32"]) == (member.data_offset, member.size,
                                                           member.crc)


def test_an_archive_without_a_manifest_is_one_clear_error(taco, tmp_path):
    plain = tmp_path / "plain.taco"
    (tmp_path / "a.txt").write_bytes(b"a")
    taco("pack", plain, tmp_path / "a.txt", "--no-index", check=True)
    cp = taco("manifest", plain, "-o", tmp_path / "m.parquet")
    assert cp.returncode == 1
    assert "TACO_MANIFEST.parquet" in cp.stderr and cp.stderr.count("\n") == 1, cp.stderr
    assert not (tmp_path / "m.parquet").exists()


def central_record_of(raw: bytes, name: str) -> int:
    """Offset of `name`'s central directory record."""
    at = central_dir_offset(raw)
    while raw[at:at + 4] == b"PK\x01\x02":
        nlen, xlen, clen = struct.unpack_from("<HHH", raw, at + 28)
        if raw[at + 46:at + 46 + nlen].decode() == name:
            return at
        at += 46 + nlen + xlen + clen
    raise AssertionError(f"{name} not in the central directory")


def test_validate_refuses_a_manifest_that_lies_about_a_member(taco, tmp_path, monkeypatch):
    """Two packs of trees that differ in one file's bytes (same size): their manifests differ
    only in that member's CRC-32. Splicing the second's manifest into the first (its own CRCs
    fixed so the ZIP is consistent) must fail `validate` with one line naming the row."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    archives = []
    for variant in (b"first", b"other"):
        src = tmp_path / f"src-{variant.decode()}"
        (src / "d").mkdir(parents=True)
        (src / "d" / "a.txt").write_bytes(b"alpha\n")
        (src / "d" / "b.txt").write_bytes(variant)
        out = tmp_path / f"{variant.decode()}.taco"
        taco("pack", out, src / "d", "-q", check=True)
        archives.append(out)
    good, other = (bytearray(a.read_bytes()) for a in archives)
    mine, theirs = (next(m for m in zip_members(a) if m.name == "TACO_MANIFEST.parquet")
                    for a in archives)
    assert (mine.data_offset, mine.size) == (theirs.data_offset, theirs.size), \
        "fixture: same-length manifests at the same place"
    lie = bytes(other[theirs.data_offset:theirs.data_end])
    assert lie != good[mine.data_offset:mine.data_end]
    good[mine.data_offset:mine.data_end] = lie
    crc = zlib.crc32(lie)
    struct.pack_into("<I", good, mine.header_offset + 14, crc)
    struct.pack_into("<I", good, central_record_of(bytes(good), "TACO_MANIFEST.parquet") + 16, crc)
    spliced = tmp_path / "spliced.taco"
    spliced.write_bytes(bytes(good))

    taco("validate", archives[0], check=True)
    cp = taco("validate", spliced)
    assert cp.returncode == 1
    line = cp.stderr.strip()
    assert cp.stderr.count("\n") == 1 and "manifest TACO_MANIFEST.parquet: row 1 lists" in line, line
    assert '"d/b.txt"' in line, line
    doc = json.loads(taco("validate", spliced, "--json").stdout)
    assert doc["ok"] is False and "BadManifest" in json.dumps(doc["error"]), doc


def test_a_hostile_manifest_is_one_error_line_never_a_crash(taco, packed, tmp_path):
    """Each byte of the NetCDF archive's manifest flipped in turn (its CRC-32 fixed in both
    records, so only the Parquet bytes lie): `query` (every byte) and `validate` (every fourth)
    exit 0 or 1 with at most one line on stderr, never a panic or a crash. Some flips make the
    Parquet decoder itself panic; taco catches that and says the manifest is malformed."""
    archive = packed["netcdf"]
    raw = archive.read_bytes()
    m = next(m for m in zip_members(archive) if m.name == "TACO_MANIFEST.parquet")
    central = central_record_of(raw, "TACO_MANIFEST.parquet")
    hostile = tmp_path / "hostile.taco"
    outcomes = []
    for back in range(1, m.size + 1):
        buf = bytearray(raw)
        buf[m.data_end - back] ^= 0x01
        crc = zlib.crc32(bytes(buf[m.data_offset:m.data_end]))
        struct.pack_into("<I", buf, m.header_offset + 14, crc)
        struct.pack_into("<I", buf, central + 16, crc)
        hostile.write_bytes(bytes(buf))
        runs = [("query", hostile, "--time", "2024-03")]
        if back % 4 == 0:
            runs.append(("validate", hostile))
        for args in runs:
            cp = taco(*args)
            assert cp.returncode in (0, 1), (back, args[0], cp.returncode, cp.stderr)
            assert "panicked" not in cp.stderr, (back, args[0], cp.stderr)
            assert cp.stderr.count("\n") <= 1, (back, args[0], cp.stderr)
            outcomes.append(cp.stderr)
    assert any("malformed (the decoder failed on it)" in e for e in outcomes), \
        "no flip reached the decoder's own failure: the test no longer covers it"
