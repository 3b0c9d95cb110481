"""Inputs and independent checks for the `taco pack-tiles` and `taco pack-splits` tests.

Nothing here asks taco how an archive is laid out: the Hilbert curve is implemented from its
textbook definition, ZIP structure is read with Python's zipfile and our own local-header
parsing, spans are split with bsdtar, and the TACO header is read by tacozip and by
conftest.parse_taco_header.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

from conftest import (
    HEADER_SIZE,
    MAX_ENTRIES,
    assert_fails_cleanly,
    check_7z,
    check_sidecar,
    check_unzip,
    check_zipfile,
    find_eocd,
    listing,
    parse_taco_header,
    payload,
    require_tool,
    run_tool,
    skip_or_fail,
    tree_files,
    write_tree,
    zip_members,
)

INDEX_MEMBER = "TACO_INDEX.json"


def meta_path(out: Path) -> Path:
    return out.with_name(out.name + ".meta.json")


# ---------------------------------------------------------------------------
# Hilbert curve (the classic d2xy / xy2d pair on an n x n grid, n a power of two)


def _rot(n: int, x: int, y: int, rx: int, ry: int) -> tuple[int, int]:
    if ry == 0:
        if rx == 1:
            x, y = n - 1 - x, n - 1 - y
        x, y = y, x
    return x, y


def hilbert_xy2d(n: int, x: int, y: int) -> int:
    d = 0
    s = n // 2
    while s > 0:
        rx = 1 if x & s else 0
        ry = 1 if y & s else 0
        d += s * s * ((3 * rx) ^ ry)
        x, y = _rot(n, x, y, rx, ry)
        s //= 2
    return d


def hilbert_d2xy(n: int, d: int) -> tuple[int, int]:
    x = y = 0
    t = d
    s = 1
    while s < n:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        x, y = _rot(s, x, y, rx, ry)
        x += s * rx
        y += s * ry
        t //= 4
        s *= 2
    return x, y


def hilbert_order(tiles) -> list[tuple[int, int, int]]:
    """(z, x, y) tiles in pack-tiles member order: by zoom, then Hilbert index within the zoom."""
    return sorted(tiles, key=lambda t: (t[0], hilbert_xy2d(1 << t[0], t[1], t[2])))


def mean_step(seq) -> float:
    """Mean Manhattan distance between consecutive (x, y) positions."""
    steps = [abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in zip(seq, seq[1:])]
    return sum(steps) / len(steps)


# ---------------------------------------------------------------------------
# tile pyramids


def tile_name(z: int, x: int, y: int, ext: str = "png") -> str:
    return f"{z}/{x}/{y}.{ext}"


def parse_tile_name(name: str) -> tuple[int, int, int]:
    z, x, rest = name.split("/")
    return int(z), int(x), int(rest.split(".", 1)[0])


def random_pyramid(root: Path, zooms, seed: int, *, density: dict[int, float] | None = None,
                   sizes=(0, 2500), ext=lambda z, x, y: "png") -> dict[str, bytes]:
    """Write tiles with random bodies of random sizes; density[z] < 1 keeps a random subset
    of zoom z (at least one tile). Returns {member name: bytes}."""
    rng = random.Random(seed)
    density = density or {}
    files = {}
    for z in zooms:
        n = 1 << z
        coords = [(x, y) for x in range(n) for y in range(n)]
        p = density.get(z, 1.0)
        if p < 1.0:
            coords = [c for c in coords if rng.random() < p] or [rng.choice(coords)]
        for x, y in coords:
            body = payload(rng.randint(*sizes), seed=rng.randrange(1 << 30))
            files[tile_name(z, x, y, ext(z, x, y))] = body
    write_tree(root, files)
    return files


def tiny_full_pyramid(root: Path, max_zoom: int) -> dict[str, bytes]:
    """Every tile of zooms 0..max_zoom with an 8-40 byte body naming the tile. Fast enough for
    tens of thousands of files (one mkdir per column, plain writes)."""
    files = {}
    for z in range(max_zoom + 1):
        n = 1 << z
        for x in range(n):
            col = root / str(z) / str(x)
            col.mkdir(parents=True)
            for y in range(n):
                body = (b"tile %d/%d/%d;" % (z, x, y)) * (1 + (x * 7 + y * 13 + z) % 3)
                body = body[:8 + (x * 31 + y * 17 + z * 5) % 33]
                with open(col / f"{y}.pbf", "wb") as f:
                    f.write(body)
                files[f"{z}/{x}/{y}.pbf"] = body
    return files


def by_zoom(files: dict[str, bytes]) -> dict[int, dict[str, bytes]]:
    out: dict[int, dict[str, bytes]] = {}
    for name, data in files.items():
        out.setdefault(parse_tile_name(name)[0], {})[name] = data
    return dict(sorted(out.items()))


def note_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("taco: note:")]


# ---------------------------------------------------------------------------
# reading a packed archive


def check_index_member(archive: Path) -> tuple[bytes, list]:
    """The archive and OUT.meta.json exist, TACO_HEADER is first at offset 0, TACO_DIRECTORY
    second (check_lookup_directory), TACO_MANIFEST.parquet next to last, TACO_INDEX.json is the
    last member (once) and OUT.meta.json is that index plus the archive's identity
    (conftest.check_sidecar). Returns (sidecar bytes, members without TACO_DIRECTORY and
    TACO_MANIFEST.parquet)."""
    meta = meta_path(archive)
    assert archive.is_file(), f"{archive} not written"
    assert meta.is_file(), f"{meta.name} not written beside the archive"
    meta_bytes = meta.read_bytes()
    zms = zip_members(archive)
    names = [m.name for m in zms]
    assert names[0] == "TACO_HEADER" and zms[0].header_offset == 0
    assert names[-1] == INDEX_MEMBER, f"last member is {names[-1]!r}"
    assert names.count(INDEX_MEMBER) == 1
    check_sidecar(archive, meta_bytes)
    assert names[-2] == "TACO_MANIFEST.parquet", f"next to last member is {names[-2]!r}"
    zms = [*zms[:-2], zms[-1]]
    check_lookup_directory(archive, zms)
    return meta_bytes, [zms[0], *zms[2:]]


def check_lookup_directory(archive: Path, zms: list) -> None:
    """TACO_DIRECTORY is the second member, at offset 157, and decodes (with the independent
    tests/lookup_decoder.py) to exactly the members between it and the last member of `zms`
    (TACO_INDEX.json; TACO_MANIFEST.parquet already left out): each key
    is the member's name key (or tile key for z/x/y.ext names) and each entry its local header
    offset and data length as zipfile sees them."""
    from lookup_decoder import name_key, read_lookup, tile_key

    assert zms[1].name == "TACO_DIRECTORY" and zms[1].header_offset == 157, zms[1]
    kind, entries, _ = read_lookup(archive.read_bytes())
    body = zms[2:-1]

    def key(m) -> int:
        if kind == 0:
            return name_key(m.name)
        z, x, rest = m.name.split("/")
        return tile_key(int(z), int(x), int(rest.split(".")[0]))

    want = sorted((key(m), m.header_offset, m.size) for m in body)
    assert sorted(entries) == want, "the lookup directory does not list the archive's members"


def check_common(taco, archive: Path, planner: str, tacozip) -> tuple[dict, list]:
    """What every pack-tiles / pack-splits archive must satisfy.

    TACO_INDEX.json is the last member and byte-identical to OUT.meta.json; the header (read
    by us and by tacozip) lists the index's entries; the index members are exactly the
    archive's members in archive order, with zipfile's data offsets, lengths and CRCs; every
    entry is a span from a member's local header to a later member's last data byte;
    zipfile, unzip -t, 7zz t and `taco validate --level deep` accept the archive.
    Returns (index, members between TACO_HEADER and TACO_INDEX.json as conftest.Member)."""
    meta_bytes, zms = check_index_member(archive)
    index = json.loads(meta_bytes)
    assert index["format"] == "taco-index"
    assert index["version"] == 1
    assert index["planner"] == planner

    entries = index["entries"]
    want = [(e["offset"], e["length"]) for e in entries]
    assert [e["index"] for e in entries] == list(range(len(want)))
    assert 1 <= len(want) <= MAX_ENTRIES
    with open(archive, "rb") as f:
        head = f.read(HEADER_SIZE)
    assert parse_taco_header(head) == want
    assert [tuple(e) for e in tacozip.read_header(str(archive))] == want

    body = zms[1:-1]
    assert [m["name"] for m in index["members"]] == [m.name for m in body], (
        "index members differ from archive members (or their order)")
    for m, zm in zip(index["members"], body):
        assert (m["data_offset"], m["length"], m["crc32"]) == (zm.data_offset, zm.size, zm.crc), m["name"]

    starts = {m.header_offset for m in body}
    ends = {m.data_end for m in body}
    for e in entries:
        assert e["kind"] == "span", e
        assert e["offset"] in starts, f"entry {e['index']} does not start at a local header"
        assert e["offset"] + e["length"] in ends, f"entry {e['index']} does not end at a member's end"

    check_zipfile(archive)
    check_unzip(archive)
    check_7z(archive)
    taco("validate", "--level", "deep", archive, check=True)
    return index, body


def span_members(body, entry) -> list:
    """Members whose local header and data lie inside the entry's range (in archive order)."""
    lo, hi = entry["offset"], entry["offset"] + entry["length"]
    return [m for m in body if lo <= m.header_offset and m.data_end <= hi]


def check_data_ranges(archive: Path, index: dict, files: dict[str, bytes]) -> None:
    """Every member's index data range returns exactly the input file's bytes."""
    raw = archive.read_bytes()
    assert {m["name"] for m in index["members"]} == set(files)
    for m in index["members"]:
        got = raw[m["data_offset"]:m["data_offset"] + m["length"]]
        assert got == files[m["name"]], f"{m['name']}: data range does not hold the file"


# ---------------------------------------------------------------------------
# splitting spans back into files

# libarchive 3.6 reports a content-free error when a stream of local entries ends without a
# central directory; the files are complete. Anything else on stderr is a real complaint.
BSDTAR_END_NOISE = {"bsdtar: (null)", "bsdtar: Error exit delayed from previous errors."}


def cut(archive: Path, off: int, length: int, dest: Path) -> Path:
    with open(archive, "rb") as f:
        f.seek(off)
        data = f.read(length)
    assert len(data) == length
    dest.write_bytes(data)
    return dest


def bsdtar_extract(span: Path, dest: Path) -> None:
    dest.mkdir()
    cp = run_tool("bsdtar", "-xf", span, "-C", dest)
    if cp.returncode != 0:
        extra = [ln for ln in cp.stderr.splitlines() if ln.strip() not in BSDTAR_END_NOISE]
        assert not extra, f"bsdtar complained: {cp.stderr}"


def tree_listing(files) -> set[str]:
    """What `listing()` of a directory holding exactly these files returns (files + parents)."""
    out = set()
    for name in files:
        parts = name.split("/")
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def assert_tree(dest: Path, want: dict[str, bytes], what: str) -> None:
    got = tree_files(dest)
    missing, extra = set(want) - set(got), set(got) - set(want)
    assert not missing and not extra, f"{what}: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
    for name, data in want.items():
        assert got[name] == data, f"{what}: {name} differs"
    assert listing(dest) == tree_listing(want), f"{what}: stray entries {listing(dest) - tree_listing(want)}"


def check_entry_extracts(taco, archive: Path, entry: dict, want: dict[str, bytes], work: Path) -> None:
    """Entry's range, cut from the file, splits into exactly `want` with bsdtar and with
    `taco extract --range`; `taco get --entry N` returns the same bytes and
    `taco get --entry N --extract-to DIR` extracts the same files."""
    i = entry["index"]
    w = work / f"entry-{i}"
    w.mkdir()
    span = cut(archive, entry["offset"], entry["length"], w / "span.bin")

    bsdtar_extract(span, w / "bsdtar")
    assert_tree(w / "bsdtar", want, f"entry {i} via bsdtar")

    (w / "range").mkdir()
    taco("extract", "--range", span, "-C", w / "range", check=True)
    assert_tree(w / "range", want, f"entry {i} via taco extract --range")

    taco("get", archive, "--entry", i, "-o", w / "got.bin", check=True)
    assert (w / "got.bin").read_bytes() == span.read_bytes(), f"get --entry {i} bytes differ"

    (w / "get").mkdir()
    taco("get", archive, "--entry", i, "--extract-to", w / "get", check=True)
    assert_tree(w / "get", want, f"entry {i} via taco get --extract-to")
    shutil.rmtree(w)


# ---------------------------------------------------------------------------
# ZIP64 and failure helpers


def assert_zip64_trailer(path: Path, members: int) -> None:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 200))
        tail = f.read()
    eocd = find_eocd(tail)
    assert struct.unpack_from("<H", tail, eocd + 10)[0] == 0xFFFF, "classic EOCD count must be 0xFFFF"
    assert tail[eocd - 20:eocd - 16] == b"PK\x06\x07", "ZIP64 EOCD locator missing"
    z64 = struct.unpack_from("<Q", tail, eocd - 20 + 8)[0]
    with open(path, "rb") as f:
        f.seek(z64)
        rec = f.read(56)
    assert rec[:4] == b"PK\x06\x06", "ZIP64 EOCD record missing"
    assert struct.unpack_from("<Q", rec, 32)[0] == members, "ZIP64 EOCD member count"


def fails_cleanly(taco, work: Path, *args, needles=(), timeout=60, prefix=()) -> str:
    """Run taco ARGS with cwd=work; conftest.assert_fails_cleanly (exit 1, one `taco: ` line,
    empty stdout, nothing new in work)."""
    before = listing(work)
    cp = taco(*args, cwd=work, timeout=timeout, prefix=prefix)
    return assert_fails_cleanly(cp, *needles, workdir=work, before=before)


def pack_dir_fails(taco, work: Path, subcommand: str, src: Path, *args, needles=(), **kw) -> str:
    """fails_cleanly for `taco SUBCOMMAND SRC ARGS`, and SRC (when it exists) is left as it was."""
    before_src = listing(src) if src.exists() else None
    line = fails_cleanly(taco, work, subcommand, src, *args, needles=needles, **kw)
    if before_src is not None:
        assert listing(src) == before_src, "nothing may be written into the input"
    return line


@contextmanager
def scratch_dir(fallback: Path, need_bytes: int):
    """A scratch dir for metadata-heavy work (tens of thousands of small files): on the
    /dev/shm tmpfs when it exists and has room (creating 87k files there takes seconds, on a
    VM's journaled disk it can take a minute), else a fresh dir under `fallback`. Always
    removed afterwards."""
    shm = Path("/dev/shm")
    base = fallback
    try:
        st = os.statvfs(shm)
        if os.access(shm, os.W_OK) and st.f_bavail * st.f_frsize >= need_bytes:
            base = shm
    except OSError:
        pass
    d = Path(tempfile.mkdtemp(prefix="taco-e2e-", dir=base))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@contextmanager
def unprivileged_workspace(taco_bin: Path):
    """A world-writable dir under /tmp and a command prefix that runs taco as `nobody` when we
    are root (chmod 000 does not stop root). Yields (dir, prefix)."""
    work = Path(tempfile.mkdtemp(prefix="taco-e2e-unreadable-", dir="/tmp"))
    try:
        work.chmod(0o777)
        prefix = ()
        if os.geteuid() == 0:
            prefix = (require_tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups")
            probe = subprocess.run([*prefix, str(taco_bin), "--help"], capture_output=True)
            if probe.returncode != 0:
                skip_or_fail(f"user nobody cannot run {taco_bin}: {probe.stderr[:200]!r}")
        yield work, prefix
    finally:
        for root, dirs, _files in os.walk(work):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(work, ignore_errors=True)


def world_writable_dir(path: Path) -> Path:
    """mkdir PATH with mode 0777 (an OUT dir that `nobody` can write into); returns PATH."""
    path.mkdir()
    path.chmod(0o777)
    return path


def make_world_readable(root: Path) -> None:
    for dirpath, dirs, files in os.walk(root):
        os.chmod(dirpath, 0o777)
        for f in files:
            os.chmod(os.path.join(dirpath, f), 0o644)
