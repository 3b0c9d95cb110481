"""The Python package's own API (taco_archive, installed from the wheel): the planners against
the CLI, archives read through file objects checked with zipfile and pyarrow, remote reads
counted by nginx and moto, threads, fork, Ctrl-C, and one-line errors."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REPO, listing, payload, write_tree
from parquet_fixtures import require_module, row_group_range, write_parquet

ta = require_module("taco_archive")
pa = require_module("pyarrow")
pq = require_module("pyarrow.parquet")

TILES = REPO / "examples/data/tiles"
CLIMATE = REPO / "examples/data/climate"


@pytest.fixture
def epoch(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def member_bytes(archive: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(archive) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


# -- planners ----------------------------------------------------------------------------


@pytest.mark.parametrize("planner,source,cli", [
    ("pack_tiles", TILES, "pack-tiles"),
    ("pack_netcdf", CLIMATE, "pack-netcdf"),
    ("pack_splits", REPO / "examples/data/ml_data", "pack-splits"),
    ("pack_parquet", REPO / "examples/data/parquet/observations.parquet", "pack-parquet"),
])
def test_planners_write_the_same_bytes_as_the_cli(taco, tmp_path, epoch, planner, source, cli):
    ours = tmp_path / "py.taco"
    result = getattr(ta, planner)(source, ours)
    theirs = tmp_path / "cli.taco"
    taco(cli, source, "-o", theirs, "-q", check=True)
    assert ours.read_bytes() == theirs.read_bytes()
    assert result.path == str(ours)
    assert result.size == ours.stat().st_size
    assert [(e.offset, e.length) for e in result.entries] == ta.read_header(ours)
    assert all(e.kind in ("data", "span") and e.label for e in result.entries)
    assert result.members == len(member_bytes(ours)) - 1


def test_pack_with_entries_and_default_output(tmp_path, monkeypatch, epoch):
    src = tmp_path / "src"
    write_tree(src, {"a.bin": payload(500, 1), "d/b.bin": payload(70, 2)})
    out = tmp_path / "files.taco"
    result = ta.pack(out, [src / "a.bin", src / "d"], entry_per_file=True)
    assert [e.label for e in result.entries] == ["a.bin", "d/b.bin"]
    with ta.open(out) as a:
        assert a.read_entry(0) == payload(500, 1)
        assert a.read_member("d/b.bin") == payload(70, 2)
    # the pack-* default output: <stem>.taco in the current directory
    monkeypatch.chdir(tmp_path)
    assert ta.pack_tiles(TILES).path == "tiles.taco"
    assert (tmp_path / "tiles.taco").is_file()
    with pytest.raises(ta.OutputError, match="exists"):
        ta.pack_tiles(TILES)
    assert ta.pack_tiles(TILES, force=True).size > 0


def test_progress_callback_sees_every_byte(tmp_path):
    src = tmp_path / "tiles"
    files = {f"3/{x}/{y}.bin": payload(20_000, x * 8 + y) for x in range(8) for y in range(8)}
    write_tree(src, files)
    seen = []
    ta.pack_tiles(src, tmp_path / "t.taco", progress=lambda done, total: seen.append((done, total)))
    total = sum(map(len, files.values()))
    assert seen and seen[-1] == (total, total)
    assert all(d <= t for d, t in seen)


def test_a_bad_input_is_one_error_and_leaves_nothing(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in/not-a-tile.txt").write_text("x")
    before = listing(tmp_path)
    with pytest.raises(ta.InvalidArgumentError) as e:
        ta.pack_tiles(tmp_path / "in", tmp_path / "out.taco")
    assert "no tiles found" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ta.TransportError, match="missing"):
        ta.pack(tmp_path / "o.taco", [tmp_path / "missing"])
    assert listing(tmp_path) == before


@pytest.fixture(scope="module")
def big_tiles(tmp_path_factory) -> Path:
    """8 192 tiles of 32 KiB (256 MiB): a pack long enough to be interrupted."""
    src = tmp_path_factory.mktemp("big") / "tiles"
    block = os.urandom(32_768)
    for x in range(128):
        d = src / "7" / str(x)
        d.mkdir(parents=True)
        for y in range(64):
            (d / f"{y}.bin").write_bytes(block)
    return src


def test_ctrl_c_stops_a_pack_and_leaves_nothing(tmp_path, big_tiles):
    src = big_tiles
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f"""
        import sys, taco_archive as ta
        def tick(done, total):
            if done:
                print("started", flush=True)
        try:
            ta.pack_tiles({str(src)!r}, {str(out / 't.taco')!r}, progress=tick)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.strip() == "started", first
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=60)
    if "finished" in rest:
        pytest.fail("the pack finished before the interrupt; make the tree bigger")
    assert "interrupted" in rest and proc.returncode == 130
    assert list(out.iterdir()) == [], "an interrupted pack left files behind"


# -- reading local archives -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiles_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiles") / "tiles.taco"
    ta.pack_tiles(TILES, out)
    return out


def test_archive_members_entries_and_bytes_match_zipfile(tiles_archive):
    expected = member_bytes(tiles_archive)
    with ta.open(tiles_archive) as a:
        assert a.entries == ta.read_header(tiles_archive)
        names = [m.name for m in a.members()]
        assert names == list(expected)
        for m in a.members()[1:]:
            assert a.read_member(m.name) == expected[m.name]
            assert m.size == len(expected[m.name])
        for i, (off, length) in enumerate(a.entries):
            data = tiles_archive.read_bytes()[off:off + length]
            assert a.read_entry(i) == data
            with a.open_entry(i) as f:
                assert f.read() == data
        z, x, rest = next(n for n in names if n.startswith("2/")).split("/")
        tile = expected[f"{z}/{x}/{rest}"]
        assert a.read_tile(int(z), int(x), int(rest.split(".")[0])) == tile
    assert a.closed
    with pytest.raises(ValueError, match="closed"):
        a.entries


def test_member_file_objects_seek_and_read_like_files(tiles_archive):
    expected = member_bytes(tiles_archive)
    name = max((n for n in expected if n[0].isdigit()), key=lambda n: len(expected[n]))
    data = expected[name]
    rng = random.Random(5)
    with ta.open(tiles_archive) as a, a.open_member(name) as f:
        assert f.seekable() and f.readable() and not f.writable()
        assert f.seek(0, os.SEEK_END) == len(data)
        for _ in range(200):
            pos, n = rng.randrange(len(data) + 5), rng.randrange(0, 300)
            f.seek(pos)
            assert f.read(n) == data[pos:pos + n]
            assert f.tell() == (max(pos, min(pos + n, len(data))))
        f.seek(-10, os.SEEK_END)
        assert f.read() == data[-10:]
        with pytest.raises(OSError):
            f.write(b"x")


def test_a_corrupt_member_fails_its_crc_when_read_through(tmp_path, tiles_archive):
    broken = tmp_path / "broken.taco"
    data = bytearray(tiles_archive.read_bytes())
    with zipfile.ZipFile(tiles_archive) as z:
        info = next(i for i in z.infolist() if i.filename.startswith("2/"))
    start = info.header_offset + 30 + len(info.filename)
    data[start + info.file_size // 2] ^= 0xFF
    broken.write_bytes(bytes(data))
    with ta.open(broken) as a:
        with pytest.raises(ta.ArchiveError, match="CRC"):
            a.read_member(info.filename)
        with pytest.raises(ta.ArchiveError, match="CRC"), a.open_member(info.filename) as f:
            f.read()
        with pytest.raises(ta.ArchiveError):
            a.validate("deep")
        assert a.validate("normal")["members"] == len(member_bytes(tiles_archive)) - 1


def test_manifest_table_lists_every_member_at_its_bytes(tiles_archive):
    raw = tiles_archive.read_bytes()
    expected = member_bytes(tiles_archive)
    with ta.open(tiles_archive) as a:
        table = a.manifest()
    rows = table.to_pylist()
    assert [r["name"] for r in rows] == [n for n in expected if not n.startswith("TACO_")]
    for r in rows:
        assert raw[r["data_offset"]:r["data_offset"] + r["length"]] == expected[r["name"]]
        z, x, y = r["name"].split(".")[0].split("/")
        assert (r["z"], r["x"], r["y"]) == (int(z), int(x), int(y))


def test_query_and_extract(tmp_path):
    out = tmp_path / "climate.taco"
    ta.pack_netcdf(CLIMATE, out)
    with ta.open(out) as a:
        hits = a.query("2024-03")
        assert [h["name"] for h in hits] == ["era5_t2m_2024-03.nc"]
        assert a.read_member(hits[0]["name"]) == (CLIMATE / "era5_t2m_2024-03.nc").read_bytes()
        assert a.query(start="2024-02-15", end="2024-04-02")[0]["name"].endswith("02.nc")
        with pytest.raises(ta.InvalidArgumentError):
            a.query("2024-13")
        written = a.extract(tmp_path / "x")
    # (taco's own index members too, for now: issue 15 leaves them out by default)
    assert sorted(Path(p).name for p in written if not Path(p).name.startswith("TACO_")) == \
        sorted(p.name for p in CLIMATE.glob("*.nc"))


def test_errors_are_one_line_and_typed(tmp_path, tiles_archive):
    with pytest.raises(ta.ArchiveNotFoundError) as e:
        ta.open(tmp_path / "missing.taco")
    assert "missing.taco" in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, ta.TransportError)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("a.txt", "x" * 400)
    with pytest.raises(ta.ArchiveError):
        ta.open(plain)
    with ta.open(tiles_archive) as a:
        with pytest.raises(ta.NotFoundError) as e:
            a.read_member("no/such.png")
        assert isinstance(e.value, LookupError)
        with pytest.raises(ta.NotFoundError):
            a.open_tile(9, 0, 0)
        with pytest.raises(ta.NotFoundError):
            a.open_entry(7)
        with pytest.raises(ta.InvalidArgumentError):
            a.validate("thorough")
    with pytest.raises(ta.InvalidArgumentError, match="unknown storage option"):
        ta.open(tiles_archive, anon=True)


def test_threads_read_members_concurrently(tiles_archive):
    expected = member_bytes(tiles_archive)
    names = [n for n in expected if n[0].isdigit()]
    with ta.open(tiles_archive) as a:
        def work(seed):
            rng = random.Random(seed)
            for name in rng.sample(names, 40):
                with a.open_member(name) as f:
                    assert f.read() == expected[name]
                assert a.read_member(name) == expected[name]
            return True

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(work, range(8)))


# -- remote --------------------------------------------------------------------------------


def test_pyarrow_reads_one_row_group_of_a_remote_member_in_4_requests(
        tmp_path, nginx_server, remote_env):
    src = tmp_path / "big.parquet"
    write_parquet(src, [4000] * 6, compression="none", seed=3)
    out = tmp_path / "verbatim.taco"
    ta.pack_parquet(src, out, layout="verbatim")
    url = nginx_server.put("py-verbatim.taco", out)
    expected = pq.ParquetFile(src).read_row_group(4)
    mark = nginx_server.log_mark()
    with ta.open(url) as a, a.open_member("big.parquet") as f:
        pf = pq.ParquetFile(f)
        assert pf.read_row_group(4).equals(expected)
        stats = a.stats
    recs = nginx_server.requests_since(mark, stats["requests"])
    assert len(recs) == stats["requests"] <= 4, [(r.range, r.body_bytes) for r in recs]
    md = pq.ParquetFile(src).metadata
    rg_len = row_group_range(md, 4)[1] - row_group_range(md, 4)[0]
    # the head (64 KiB), the member's local header, the footer, the row group — not the file
    assert sum(r.body_bytes for r in recs) < 3 * 65536 + rg_len + 4096 < src.stat().st_size


FORK_SCRIPT = """
import os, sys, time, taco_archive as ta
url, names = sys.argv[1], sys.argv[2:]
a = ta.open(url)
first = a.read_member(names[0])
unused = ta.open(url)  # never used in the child: dropped there at exit
pid = os.fork()
if pid == 0:
    ok = all(len(a.read_member(n)) > 0 for n in names)
    a.close()  # and the parent's client is not torn down here
    print("child", "ok" if ok else "bad", flush=True)
    sys.exit(0 if ok else 2)  # a normal exit: interpreter teardown included
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child hung", flush=True)
    sys.exit(3)
print("parent", a.read_member(names[1]) is not None, os.waitstatus_to_exitcode(status), flush=True)
"""


def test_s3_archive_opened_before_fork_works_in_the_child(tmp_path, s3_env, s3_server,
                                                          tiles_archive):
    s3_server.create_bucket("pyarchive")
    s3_server.upload("pyarchive", "tiles.taco", tiles_archive.read_bytes())
    names = [n for n in member_bytes(tiles_archive) if n[0].isdigit()][:5]
    script = tmp_path / "fork.py"
    script.write_text(FORK_SCRIPT)
    cp = subprocess.run([sys.executable, str(script), "s3://pyarchive/tiles.taco", *names],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert cp.stdout.split("\n")[:2] == ["child ok", "parent True 0"], cp.stdout + cp.stderr


def test_a_header_entry_past_the_end_is_refused_before_anything_is_allocated(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"hello")
    lying = tmp_path / "lying.taco"
    ta.create(str(lying), [str(tmp_path / "a.txt")], entries=[(0, 2**40)])
    with ta.open(lying) as a:
        with pytest.raises(ta.ArchiveError, match="past the end"):
            a.open_entry(0)
        with pytest.raises(ta.ArchiveError):
            a.read_entry(0)


def test_extract_never_replaces_the_archive_itself(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "self.taco").write_bytes(b"not the archive")
    archive = tmp_path / "self.taco"
    ta.pack(archive, [src / "self.taco"])
    before = archive.read_bytes()
    with ta.open(archive) as a, pytest.raises(ta.OutputError):
        a.extract(tmp_path, overwrite=True)
    assert archive.read_bytes() == before


def test_a_raising_progress_callback_stops_the_pack_and_leaves_nothing(tmp_path, big_tiles):
    out = tmp_path / "out"
    out.mkdir()
    calls = []

    def boom(done, total):
        calls.append(done)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ta.pack_tiles(big_tiles, out / "t.taco", progress=boom)
    assert len(calls) == 1
    assert list(out.iterdir()) == [], "a pack stopped by its callback left files behind"


def test_archives_pickle_as_what_to_open(tiles_archive):
    import pickle

    with ta.open(tiles_archive, retries=2) as a:
        b = pickle.loads(pickle.dumps(a))
    assert b.entries == ta.read_header(tiles_archive) and b.label == str(tiles_archive)


def test_remote_member_files_seek_read_readinto_and_close(tmp_path, nginx_server, remote_env):
    src = tmp_path / "m.bin"
    data = os.urandom(3 * 2**20 + 123)
    src.write_bytes(data)
    out = tmp_path / "m.taco"
    ta.pack(out, [src])
    url = nginx_server.put("py-member-file.taco", out)
    rng = random.Random(9)
    with ta.open(url) as a:
        with a.open_member("m.bin") as f:
            for _ in range(50):
                pos, n = rng.randrange(len(data) + 10), rng.randrange(0, 100_000)
                f.seek(pos)
                buf = bytearray(n)
                got = f.readinto(buf)
                assert bytes(buf[:got]) == data[pos:pos + n]
            f.seek(0)
            assert f.read() == data  # read through in order: CRC checked
        with pytest.raises(ValueError, match="closed"):
            f.read(1)
        # a sequential scan: the window doubles, so few requests
        before = a.stats["requests"]
        with a.open_member("m.bin") as f:
            while f.read(65_536):
                pass
        assert a.stats["requests"] - before <= 6


def test_a_crc_failure_stays_failed(tmp_path, tiles_archive):
    broken = tmp_path / "broken.taco"
    data = bytearray(tiles_archive.read_bytes())
    with zipfile.ZipFile(tiles_archive) as z:
        info = next(i for i in z.infolist() if i.filename.startswith("3/"))
    data[info.header_offset + 30 + len(info.filename) + 3] ^= 0x55
    broken.write_bytes(bytes(data))
    with ta.open(broken) as a, a.open_member(info.filename) as f:
        with pytest.raises(ta.ArchiveError, match="CRC"):
            f.read()
        f.seek(0)
        with pytest.raises(ta.ArchiveError, match="CRC"):
            f.read()
