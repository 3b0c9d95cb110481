"""`taco pack-tiles`: a `{z}/{x}/{y}.{ext}` tree becomes one member per tile, ordered by zoom and
then along a Hilbert curve; entry k is the span of the k-th lowest zoom (up to 7 zooms); the
index (OUT.meta.json == last member TACO_INDEX.json) gives every tile's data range.

Checked with a Hilbert curve implemented here, bsdtar (splitting a span back into files),
tacozip, unzip, Python's zipfile and 7-Zip.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    MAX_ENTRIES,
    REPO,
    assert_taco_error,
    listing,
    payload,
    tree_files,
    write_tree,
    zip_members,
)
from parquet_fixtures import require_module
from tree_fixtures import (
    assert_zip64_trailer,
    check_index_member,
    by_zoom,
    check_common,
    check_data_ranges,
    check_entry_extracts,
    hilbert_d2xy,
    hilbert_order,
    hilbert_xy2d,
    make_world_readable,
    mean_step,
    meta_path,
    note_lines,
    pack_dir_fails,
    parse_tile_name,
    random_pyramid,
    scratch_dir,
    span_members,
    tile_name,
    tiny_full_pyramid,
    unprivileged_workspace,
    world_writable_dir,
)

tacozip = require_module("tacozip")

EXAMPLE = REPO / "examples" / "data" / "tiles"

# files at depths other than z/x/y: not tiles, left out with one note
NON_TILES = {
    "metadata.json": b'{"name": "demo", "minzoom": 0, "maxzoom": 4}\n',
    "3/README": b"zoom 3 notes\n",
    "4/attribution.txt": b"(c) nobody\n",
    "2/1/extra/0.png": b"depth four is not a tile\n",
}


def mixed_ext(z, x, y):
    if z == 3:
        return "jpg"
    if z == 4 and (x + y) % 5 == 0:
        return "pbf"
    return "png"


def names_to_tiles(names):
    return [parse_tile_name(n) for n in names]


def hilbert_mismatch_hint(got):
    """Say which known variant the observed order matches, to make a failure readable."""
    transposed = sorted(got, key=lambda t: (t[0], hilbert_xy2d(1 << t[0], t[2], t[1])))
    if got == transposed:
        return "order is the Hilbert curve with x and y swapped"
    if got == sorted(got):
        return "order is plain (z, x, y) sort"
    return "order is neither the standard Hilbert curve nor its transpose"


@dataclass
class Packed:
    src: Path
    files: dict[str, bytes]
    out: Path
    index: dict
    body: list
    stderr: str


def pack(taco, src: Path, out: Path, *args, cwd=None) -> Packed:
    cp = taco("pack-tiles", src, "-o", out, *args, cwd=cwd, check=True)
    index = json.loads(meta_path(out).read_bytes())
    _, members = check_index_member(out)
    body = members[1:-1]
    return Packed(src, {}, out, index, body, cp.stderr)


@pytest.fixture(scope="module")
def pyramid(taco, tmp_path_factory) -> Packed:
    """Zooms 0-4 (zoom 4 sparse), random bodies 0-2500 bytes, mixed extensions, one empty tile,
    and four files at non-tile depths."""
    base = tmp_path_factory.mktemp("pyramid")
    src = base / "tiles"
    files = random_pyramid(src, range(5), seed=1, density={4: 0.7}, ext=mixed_ext)
    files["3/2/5.jpg"] = b""
    (src / "3/2/5.jpg").write_bytes(b"")
    write_tree(src, NON_TILES)
    p = pack(taco, src, base / "pyr.taco")
    p.files = files
    return p


# ---------------------------------------------------------------------------
# the test's own Hilbert curve


def test_hilbert_helpers_are_the_textbook_curve():
    assert [hilbert_d2xy(2, d) for d in range(4)] == [(0, 0), (0, 1), (1, 1), (1, 0)]
    assert [hilbert_d2xy(4, d) for d in range(16)][:6] == [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (0, 3)]
    for z in range(7):
        n = 1 << z
        seq = [hilbert_d2xy(n, d) for d in range(n * n)]
        assert sorted(seq) == [(x, y) for x in range(n) for y in range(n)]
        assert all(hilbert_xy2d(n, x, y) == d for d, (x, y) in enumerate(seq))
        if n > 1:
            assert mean_step(seq) == 1.0, "consecutive cells of a Hilbert curve are neighbours"
            assert seq[0] == (0, 0) and seq[-1] == (n - 1, 0)


# ---------------------------------------------------------------------------
# layout of a packed pyramid


def test_archive_valid_and_index(taco, pyramid):
    index, body = check_common(taco, pyramid.out, "tiles", tacozip)
    check_data_ranges(pyramid.out, index, pyramid.files)
    zooms = by_zoom(pyramid.files)
    assert list(zooms) == [0, 1, 2, 3, 4]

    entries = index["entries"]
    assert len(entries) == 5
    for k, (e, (z, tiles)) in enumerate(zip(entries, zooms.items())):
        assert (e["label"], e["zoom"], e["tiles"]) == (f"zoom {z}", z, len(tiles)), e
        inside = span_members(body, e)
        assert {m.name for m in inside} == set(tiles), f"entry {k} is not exactly zoom {z}"
        assert e["offset"] == inside[0].header_offset
        assert e["offset"] + e["length"] == inside[-1].data_end

    for m in index["members"]:
        assert (m["z"], m["x"], m["y"]) == parse_tile_name(m["name"]), m

    t = index["tiles"]
    assert t["zooms"] == [{"zoom": z, "tiles": len(f), "entry": z} for z, f in zooms.items()]
    assert t["skipped"] == len(NON_TILES)


def test_non_tiles_left_out_with_one_note(pyramid):
    names = {m.name for m in pyramid.body}
    assert not names & set(NON_TILES), "non-tile files must not be packed"
    notes = note_lines(pyramid.stderr)
    assert len(notes) == 1, f"expected one note line, stderr: {pyramid.stderr!r}"
    assert str(len(NON_TILES)) in notes[0], f"note must give the count: {notes[0]!r}"
    assert any(n in notes[0] for n in NON_TILES), f"note must name an example: {notes[0]!r}"
    others = [ln for ln in pyramid.stderr.splitlines() if ln not in notes]
    assert not any("note" in ln for ln in others), pyramid.stderr


def test_member_order_is_zoom_then_hilbert(pyramid):
    got = names_to_tiles(m.name for m in pyramid.body)
    want = hilbert_order(got)
    assert got == want, hilbert_mismatch_hint(got)
    assert [m["name"] for m in pyramid.index["members"]] == [m.name for m in pyramid.body]


@pytest.mark.parametrize("k", range(5))
def test_entry_span_extracts_to_exactly_its_zoom(taco, pyramid, tmp_path, k):
    entry = pyramid.index["entries"][k]
    check_entry_extracts(taco, pyramid.out, entry, by_zoom(pyramid.files)[k], tmp_path)


def test_get_tile(taco, pyramid, tmp_path):
    rng = random.Random(5)
    names = sorted(pyramid.files)
    sample = [n for n in names if parse_tile_name(n)[0] <= 2] + rng.sample(names, 25) + ["3/2/5.jpg"]
    for name in sample:
        z, x, y = parse_tile_name(name)
        cp = taco("get", pyramid.out, "--tile", f"{z}/{x}/{y}", binary=True, check=True)
        assert cp.stdout == pyramid.files[name], f"get --tile {z}/{x}/{y} (stdout)"
    z, x, y = parse_tile_name(sample[-2])
    dest = tmp_path / "tile.bin"
    taco("get", pyramid.out, "--tile", f"{z}/{x}/{y}", "-o", dest, check=True)
    assert dest.read_bytes() == pyramid.files[sample[-2]]


def test_get_unknown_tile_fails(taco, pyramid, tmp_path):
    present = {parse_tile_name(n) for n in pyramid.files}
    absent4 = next((4, x, y) for x in range(16) for y in range(16) if (4, x, y) not in present)
    for (z, x, y), named in [(absent4, True), ((5, 0, 0), True), ((0, 0, 1), False)]:
        tile = f"{z}/{x}/{y}"
        out = tmp_path / "t.bin"
        cp = taco("get", pyramid.out, "--tile", tile, "-o", out)
        assert cp.returncode == 1, (tile, cp.returncode, cp.stderr)
        assert_taco_error(cp, *([tile] if named else []))
        assert not out.exists()


def test_get_tile_needs_a_tiles_index(taco, tmp_path):
    src = tmp_path / "plain"
    write_tree(src, {"0/0/0.png": b"x"})
    out = tmp_path / "plain.taco"
    taco("pack", out, src, check=True)
    cp = taco("get", out, "--tile", "0/0/0")
    assert cp.returncode == 1
    assert_taco_error(cp)


# ---------------------------------------------------------------------------
# ordering and locality on a full zoom


def test_full_zoom6_hilbert_locality(taco, tmp_path):
    src = tmp_path / "z6"
    files = random_pyramid(src, [6], seed=6, sizes=(1, 24))
    assert len(files) == 4096
    p = pack(taco, src, tmp_path / "z6.taco")
    got = names_to_tiles(m.name for m in p.body)
    n = 64
    assert got == [(6, *hilbert_d2xy(n, d)) for d in range(n * n)], hilbert_mismatch_hint(got)

    xy = [(x, y) for _z, x, y in got]
    hilbert = mean_step(xy)
    row_major = mean_step([(x, y) for y in range(n) for x in range(n)])
    assert hilbert < 1.5 and hilbert == 1.0, f"mean step along the packed order: {hilbert}"
    assert row_major > 1.9, row_major  # 8064 / 4095 = 1.969...

    # a run of 64 consecutive tiles (one 8 KiB-ish range request) covers an 8x8 block
    def spread(seq):
        runs = [seq[i:i + 64] for i in range(0, len(seq), 64)]
        return max(max(x for x, _ in r) - min(x for x, _ in r) + max(y for _, y in r) - min(y for _, y in r)
                   for r in runs)
    assert spread(xy) == 14
    assert spread([(x, y) for y in range(n) for x in range(n)]) == 63

    (e,) = p.index["entries"]
    assert (e["label"], e["zoom"], e["tiles"]) == ("zoom 6", 6, 4096)
    assert p.index["tiles"]["zooms"] == [{"zoom": 6, "tiles": 4096, "entry": 0}]
    assert p.index["tiles"]["skipped"] == 0
    assert not note_lines(p.stderr), p.stderr


# ---------------------------------------------------------------------------
# more zooms than entries; sparse, gapped and very deep zooms


def test_more_than_seven_zooms(taco, tmp_path):
    """Zooms 1,3,4,6,9,11,12 get entries 0-6; 17 and 30 are only in the index."""
    rng = random.Random(30)
    zooms = [1, 3, 4, 6, 9, 11, 12, 17, 30]
    files = {}
    for z in zooms:
        n = 1 << z
        coords = {(rng.randrange(n), rng.randrange(n)) for _ in range(3)}
        if z == 30:
            coords |= {(n - 1, 0), (0, n - 1), (n - 1, n - 1)}
        for x, y in coords:
            files[tile_name(z, x, y)] = payload(rng.randint(1, 300), seed=z * 1000 + x % 997)
    src = tmp_path / "deep"
    write_tree(src, files)
    out = tmp_path / "deep.taco"
    taco("pack-tiles", src, "-o", out, check=True)
    index, body = check_common(taco, out, "tiles", tacozip)
    check_data_ranges(out, index, files)

    got = names_to_tiles(m.name for m in body)
    assert got == hilbert_order(got), hilbert_mismatch_hint(got)

    zoomed = by_zoom(files)
    entries = index["entries"]
    assert len(entries) == MAX_ENTRIES
    assert [e["zoom"] for e in entries] == zooms[:MAX_ENTRIES]
    for e in entries:
        assert e["label"] == f"zoom {e['zoom']}"
        assert e["tiles"] == len(zoomed[e["zoom"]])
        assert {m.name for m in span_members(body, e)} == set(zoomed[e["zoom"]])
    assert index["tiles"]["zooms"] == [
        {"zoom": z, "tiles": len(zoomed[z]), "entry": i if i < MAX_ENTRIES else None}
        for i, z in enumerate(zooms)]

    # deepest tiles are reachable through the index and `get --tile`
    for name in zoomed[30]:
        z, x, y = parse_tile_name(name)
        cp = taco("get", out, "--tile", f"{z}/{x}/{y}", binary=True, check=True)
        assert cp.stdout == files[name]
    for e in entries:
        check_entry_extracts(taco, out, e, zoomed[e["zoom"]], tmp_path)


# ---------------------------------------------------------------------------
# the example pyramid


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Minimal PNG reader for the example tiles: checks signature and every chunk CRC, returns
    (width, height, rows of RGB bytes). Only 8-bit RGB with filter type 0 (what we write)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    w, h, depth, colour, _c, _f, _i = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * w
    assert len(raw) == stride * h
    rows = [raw[r * stride:(r + 1) * stride] for r in range(h)]
    assert all(row[0] == 0 for row in rows)
    return w, h, [row[1:] for row in rows]


def example_tiles() -> dict[str, bytes]:
    return tree_files(EXAMPLE)


def test_example_tiles_are_real_pngs_and_regenerate(tmp_path):
    files = example_tiles()
    assert sorted(files) == sorted(tile_name(z, x, y) for z in range(4)
                                   for x in range(1 << z) for y in range(1 << z))
    assert sum(map(len, files.values())) < 100_000
    assert len(set(files.values())) == 85, "every tile must differ"
    for name, data in files.items():
        z, x, y = parse_tile_name(name)
        w, h, rows = png_pixels(data)
        assert (w, h) == (8, 8)
        assert rows[0][2] == 80 * z, f"{name}: blue encodes the zoom"

    regen = tmp_path / "regen"
    cp = subprocess.run([sys.executable, EXAMPLE.parent / "make_tiles.py", regen], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    again = tree_files(regen)
    assert sorted(again) == sorted(files)
    for name in files:  # same pixels (compressed bytes may differ between zlib builds)
        assert png_pixels(again[name]) == png_pixels(files[name]), name


def test_example_pyramid_default_output(taco, tmp_path):
    """`taco pack-tiles examples/data/tiles` in an empty dir writes tiles.taco + its .meta.json;
    nothing is skipped."""
    work = tmp_path / "work"
    work.mkdir()
    cp = taco("pack-tiles", EXAMPLE, cwd=work, check=True)
    assert listing(work) == {"tiles.taco", "tiles.taco.meta.json"}
    out = work / "tiles.taco"
    files = example_tiles()
    index, body = check_common(taco, out, "tiles", tacozip)
    check_data_ranges(out, index, files)
    got = names_to_tiles(m.name for m in body)
    assert got == hilbert_order(got), hilbert_mismatch_hint(got)

    assert [(e["zoom"], e["tiles"]) for e in index["entries"]] == [(0, 1), (1, 4), (2, 16), (3, 64)]
    assert index["tiles"]["skipped"] == 0
    assert note_lines(cp.stderr) == [], "the example holds nothing but its data"
    zoomed = by_zoom(files)
    for e in index["entries"]:
        check_entry_extracts(taco, out, e, zoomed[e["zoom"]], tmp_path)
    cp = taco("get", out, "--tile", "3/5/2", binary=True, check=True)
    assert cp.stdout == files["3/5/2.png"]


def test_force_and_quiet(taco, tmp_path):
    src = tmp_path / "t"
    files = random_pyramid(src, range(3), seed=3, sizes=(1, 50))
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "t.taco"
    out.write_bytes(b"precious")
    assert_taco_error(taco("pack-tiles", src, "-o", out), "exists")
    assert out.read_bytes() == b"precious"
    assert listing(outdir) == {"t.taco"}, "no .meta.json may be written when OUT exists"

    cp = taco("pack-tiles", src, "-o", out, "--force", "-q", check=True)
    assert cp.stdout == ""
    assert listing(outdir) == {"t.taco", "t.taco.meta.json"}
    index, _ = check_common(taco, out, "tiles", tacozip)
    check_data_ranges(out, index, files)


# ---------------------------------------------------------------------------
# ZIP64: zooms 0-8, 87 381 tiles


@pytest.mark.zip64
def test_zooms_0_to_8_zip64(taco, tmp_path):
    # ~87k inodes of one page each on tmpfs, plus the archive: ask for 1 GiB of room
    with scratch_dir(tmp_path, 1 << 30) as d:
        src = d / "tiles"
        files = tiny_full_pyramid(src, 8)
        assert len(files) == 87_381
        out = d / "z8.taco"
        taco("pack-tiles", src, "-o", out, "-q", check=True, timeout=600)

        # the tiles, TACO_HEADER, TACO_DIRECTORY, TACO_MANIFEST.parquet and TACO_INDEX.json
        assert_zip64_trailer(out, 87_385)
        index, body = check_common(taco, out, "tiles", tacozip)  # zipfile testzip, unzip, 7zz, deep
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
        assert len(names) == 87_385
        assert names[0] == "TACO_HEADER" and names[-1] == "TACO_INDEX.json"
        check_data_ranges(out, index, files)

        got = names_to_tiles(m.name for m in body)
        want = [(z, *hilbert_d2xy(1 << z, dd)) for z in range(9) for dd in range(1 << (2 * z))]
        assert got == want, hilbert_mismatch_hint(got)

        assert [(e["zoom"], e["tiles"]) for e in index["entries"]] == [(z, 4 ** z) for z in range(7)]
        assert index["tiles"]["zooms"] == [
            {"zoom": z, "tiles": 4 ** z, "entry": z if z < 7 else None} for z in range(9)]
        for m in index["members"][-3:]:
            z, x, y = m["z"], m["x"], m["y"]
            assert z == 8
            cp = taco("get", out, "--tile", f"{z}/{x}/{y}", binary=True, check=True)
            assert cp.stdout == files[m["name"]]
        zoomed = by_zoom(files)
        check_entry_extracts(taco, out, index["entries"][6], zoomed[6], d)


# ---------------------------------------------------------------------------
# bad input: one line, exit 1, nothing written


GOOD = {"0/0/0.png": b"zero", "1/0/1.png": b"one", "1/1/1.png": b"one-one"}

BAD_TREES = {
    "non-numeric-z": ({"a/0/0.png": b"x"}, "a/0/0.png"),
    "non-numeric-x": ({"1/b/0.png": b"x"}, "1/b/0.png"),
    "non-numeric-y": ({"1/0/c.png": b"x"}, "1/0/c.png"),
    "hex-y": ({"2/0/0x1.png": b"x"}, "2/0/0x1.png"),
    "x-out-of-range": ({"2/4/0.png": b"x"}, "2/4/0.png"),
    "y-out-of-range": ({"2/0/4.png": b"x"}, "2/0/4.png"),
    "zoom0-out-of-range": ({"0/0/1.png": b"x"}, "0/0/1.png"),
    "zoom-too-deep": ({"31/0/0.png": b"x"}, "31/0/0.png"),
}


def tiles_fail(taco, work, src, *args, **kw):
    return pack_dir_fails(taco, work, "pack-tiles", src, *args, **kw)


@pytest.mark.parametrize("case", BAD_TREES)
def test_bad_tile_path(taco, tmp_path, work, case):
    extra, needle = BAD_TREES[case]
    src = tmp_path / "tiles"
    write_tree(src, {**GOOD, **extra})
    tiles_fail(taco, work, src, needles=(needle,))


def test_empty_dir(taco, tmp_path, work):
    src = tmp_path / "tiles"
    src.mkdir()
    (src / "3" / "1").mkdir(parents=True)
    tiles_fail(taco, work, src, needles=("no tiles",))


def test_only_non_tiles(taco, tmp_path, work):
    src = tmp_path / "tiles"
    write_tree(src, NON_TILES)
    tiles_fail(taco, work, src, needles=("no tiles",))


def test_missing_dir(taco, tmp_path, work):
    tiles_fail(taco, work, tmp_path / "nope-tiles", needles=("nope-tiles",))


def test_dir_is_a_file(taco, tmp_path, work):
    f = tmp_path / "tiles.png"
    f.write_bytes(b"x")
    tiles_fail(taco, work, f, needles=("tiles.png",))


def test_symlink_loop(taco, tmp_path, work):
    src = tmp_path / "tiles"
    write_tree(src, GOOD)
    os.symlink(src, src / "1" / "loop")
    tiles_fail(taco, work, src, needles=("loop",), timeout=30)


def test_explicit_out_not_left_on_error(taco, tmp_path, work):
    src = tmp_path / "tiles"
    write_tree(src, {**GOOD, "1/2/0.png": b"x"})
    out = work / "x.taco"
    tiles_fail(taco, work, src, "-o", out, needles=("1/2/0.png",))
    assert not out.exists() and not meta_path(out).exists()


@pytest.mark.parametrize("what", ["file", "dir"])
def test_unreadable_input(taco, taco_bin, what):
    with unprivileged_workspace(taco_bin) as (base, prefix):
        src = base / "tiles"
        write_tree(src, {**GOOD, "2/1/1.png": b"secret", "2/3/0.png": b"more"})
        make_world_readable(src)
        outdir = world_writable_dir(base / "out")
        if what == "file":
            (src / "2/1/1.png").chmod(0)
            needle = "2/1/1.png"
        else:
            (src / "2").chmod(0)
            needle = "tiles/2"
        tiles_fail(taco, outdir, src, needles=(needle,), prefix=prefix)
