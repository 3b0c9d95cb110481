"""A CLI for people (issue 15, DESIGN §8): `taco info`, `ls` with data offsets, patterns and
entry lists for extract/get, streams (stdin, stdout, a terminal), `pack --files-from / -C /
--entry-member`, pack-splits beside-the-splits files, and messages that name the problem.

Golden files for `info` live in tests/golden/info/; regenerate them with
TACO_UPDATE_GOLDEN=1 (and read the diff)."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import (assert_fails_cleanly, assert_taco_error, central_dir_offset, listing,
                      parse_taco_header, require_tool, zip_members)
from tree_fixtures import random_pyramid

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "examples" / "data"
GOLDEN = Path(__file__).resolve().parent / "golden" / "info"
EPOCH = "1700000000"


# What bsdtar says at the end of a span, which has no central directory after it.
BSDTAR_END_NOISE = {"bsdtar: (null)", "bsdtar: Error exit delayed from previous errors."}


def bsdtar_names(span: bytes) -> list[str]:
    """The member names bsdtar reads from a span (a run of complete local entries)."""
    bsdtar = require_tool("bsdtar")
    cp = subprocess.run([bsdtar, "-tf", "-"], input=span, capture_output=True)
    noise = set(cp.stderr.decode().splitlines()) - BSDTAR_END_NOISE
    assert not noise, f"bsdtar complained: {noise}"
    return cp.stdout.decode().split("\n")[:-1]


# ---------------------------------------------------------------------------
# one archive of each planner, written reproducibly


def splits_tree(root: Path) -> Path:
    """examples' ml_data plus what real datasets carry beside the splits: top-level files
    (kept, outside every split) and hidden ones (left out)."""
    ml = root / "ml_data"
    shutil.copytree(DATA / "ml_data", ml)
    (ml / "labels.csv").write_text("id,label\n0,cat\n")
    (ml / "README.md").write_text("# ml data\n")
    (ml / ".cache").mkdir()
    (ml / ".cache" / "state.bin").write_bytes(b"\0" * 64)
    (ml / "train" / ".DS_Store").write_bytes(b"junk")
    return ml


def make_archives(taco, root: Path) -> dict[str, Path]:
    """name -> archive, one per planner, with SOURCE_DATE_EPOCH fixed by the caller."""
    out = {}
    run = lambda *a: taco(*a, "-q", cwd=root, check=True)  # noqa: E731
    run("pack", "files.taco", "-C", DATA / "pipeline", "stage1",
        "--entry-member", "stage1/raw.csv", "--entry-member", "stage1/README.txt")
    run("pack-parquet", DATA / "parquet" / "observations.parquet", "-o", "parquet.taco")
    run("pack-tiles", DATA / "tiles", "-o", "tiles.taco")
    run("pack-splits", splits_tree(root), "-o", "splits.taco")
    run("pack-netcdf", DATA / "climate", "-o", "netcdf.taco")
    for name in ("files", "parquet", "tiles", "splits", "netcdf"):
        out[name] = root / f"{name}.taco"
    return out


@pytest.fixture(scope="module")
def archives(taco, tmp_path_factory):
    root = tmp_path_factory.mktemp("planners")
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EPOCH
    try:
        return make_archives(taco, root)
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("TACO_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.is_file(), f"no golden file {path}; run with TACO_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"taco info differs from {path}:\n{text}"


# ---------------------------------------------------------------------------
# taco info


PLANNERS = ["files", "parquet", "tiles", "splits", "netcdf"]


@pytest.mark.parametrize("name", PLANNERS)
def test_info_says_what_each_planners_archive_holds(taco, archives, name):
    archive = archives[name]
    cp = taco("info", archive.name, cwd=archive.parent, check=True)
    assert cp.stderr == ""
    golden(f"{name}.txt", cp.stdout)
    # the numbers are the archive's: size, member count, entries as the header has them
    first = cp.stdout.splitlines()[0]
    assert f"{archive.stat().st_size} bytes" in first
    assert f"{len(zipfile.ZipFile(archive).infolist())} members" in first
    header = parse_taco_header(archive.read_bytes()[:157])
    rows = [ln.split() for ln in cp.stdout.splitlines() if ln.startswith("  ")][1:]
    assert [(int(r[2]), int(r[3])) for r in rows] == header


@pytest.mark.parametrize("name", PLANNERS)
def test_info_over_http_reads_three_requests_and_says_so(taco, archives, nginx_server, name):
    url = nginx_server.put(f"info-{name}.taco", archives[name])
    mark = nginx_server.log_mark()
    cp = taco("info", url, check=True)
    requests = nginx_server.requests_since(mark)
    # the head, the tail (which holds these small manifests): two requests
    assert len(requests) == 2, [(r.method, r.range) for r in requests]
    assert all(r.range for r in requests), "every read is a range request"
    text = cp.stdout.replace(url, f"http://HOST/info-{name}.taco")
    received = sum(r.body_bytes for r in requests)
    assert text.splitlines()[-1] == f"read with 2 requests, {received} bytes"
    golden(f"{name}-http.txt", text)
    # the description is the local one plus the cost line
    local = taco("info", archives[name].name, cwd=archives[name].parent, check=True).stdout
    assert text.split("\n", 1)[1].rsplit("read with", 1)[0] == local.split("\n", 1)[1]


def test_info_of_a_bigger_archive_is_three_requests(taco, nginx_server, tmp_path):
    """1365 tiles: the manifest and the v1 index no longer fit in the tail, so the manifest
    (its footer, or all of it when small) is the third request; never the central directory."""
    tiles = tmp_path / "pyramid"
    random_pyramid(tiles, range(6), seed=5, sizes=(20, 60))
    archive = tmp_path / "big.taco"
    taco("pack-tiles", "-q", tiles, "-o", archive, check=True)
    assert archive.stat().st_size > 4 * 65536
    url = nginx_server.put("info-big.taco", archive)
    mark = nginx_server.log_mark()
    cp = taco("info", url, check=True)
    requests = nginx_server.requests_since(mark)
    assert len(requests) == 3, [(r.method, r.range) for r in requests]
    assert cp.stdout.splitlines()[-1].startswith("read with 3 requests, ")
    cd = central_dir_offset(archive.read_bytes())
    third = requests[2].range.removeprefix("bytes=").split("-")
    assert int(third[1]) < cd, "the third request is the manifest, not the central directory"
    assert "zoom 5" in cp.stdout and "1024 tiles" in cp.stdout


def test_info_json_carries_each_entrys_record(taco, archives):
    cp = taco("info", "--json", archives["parquet"], check=True)
    info = json.loads(cp.stdout)
    assert info["taco"] and info["index"] == "v2" and info["lookup"]
    assert info["planner"] == "parquet" and not info["zip64"]
    assert info["requests"] is None, "a local file costs no requests"
    rows = sum(e["rows"] for e in info["entries"])
    import pyarrow.parquet as pq
    assert rows == pq.ParquetFile(DATA / "parquet" / "observations.parquet").metadata.num_rows
    splits = json.loads(taco("info", "--json", archives["splits"], check=True).stdout)
    assert [e["label"] for e in splits["entries"]] == ["train", "val", "test"]
    assert splits["outside"] == ["README.md", "labels.csv"]


def test_info_on_a_plain_zip_says_what_still_works(taco, tmp_path):
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as z:
        for name in ("a.txt", "b.txt", "c.txt"):
            z.writestr(name, name * 10)
    cp = taco("info", plain, check=True)
    assert "not a TACO archive: a plain ZIP with 3 members" in cp.stdout
    assert "taco ls" in cp.stdout and "taco extract" in cp.stdout


def test_info_of_something_else_is_one_error_line(taco, tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a zip at all" * 20)
    assert_fails_cleanly(taco("info", junk), "junk.bin")


# ---------------------------------------------------------------------------
# ls: data offsets, --long, -h, --entry


def test_ls_shows_data_offsets_and_long_adds_local_header_offsets(taco, archives):
    archive = archives["splits"]
    truth = {m.name: m for m in zip_members(archive)}
    rows = [ln.split() for ln in taco("ls", archive, check=True).stdout.splitlines()[1:]]
    assert {r[3]: int(r[0]) for r in rows} == {n: m.data_offset for n, m in truth.items()}
    long = [ln.split() for ln in taco("ls", "-l", archive, check=True).stdout.splitlines()[1:]]
    assert {r[4]: (int(r[0]), int(r[1])) for r in long} == {
        n: (m.info.header_offset, m.data_offset) for n, m in truth.items()}
    listed = json.loads(taco("ls", "--json", archive, check=True).stdout)["members"]
    assert {m["name"]: (m["header_offset"], m["data_offset"]) for m in listed} == {
        n: (m.info.header_offset, m.data_offset) for n, m in truth.items()}


def test_ls_data_offsets_feed_update_header_without_arithmetic(taco, tmp_path):
    """The case that once needed 157+30+len(name) by hand: an entry from `ls` output."""
    src = tmp_path / "a.txt"
    src.write_text("hello, entry\n")
    archive = tmp_path / "a.taco"
    taco("pack", "-q", archive, src, check=True)
    row = [ln.split() for ln in taco("ls", archive, check=True).stdout.splitlines()
           if ln.endswith(" a.txt")][0]
    taco("update-header", archive, "--entry", f"{row[0]}:{row[1]}", check=True)
    assert taco("get", archive, "--entry", "0", binary=True, check=True).stdout == \
        src.read_bytes()


def test_ls_human_sizes_and_entry_members(taco, archives, tmp_path):
    archive = archives["tiles"]
    human = taco("ls", "-h", archive, check=True).stdout
    assert " B  " in human and "KiB" not in human.splitlines()[0]
    manifest = json.loads(taco("ls", "--json", archive, check=True).stdout)["members"]
    big = max(m["size"] for m in manifest)
    assert big >= 1024 and "KiB" in human
    # --entry 2: exactly the tiles of zoom 2, as bsdtar finds them in the fetched span
    span = tmp_path / "zoom2.bin"
    taco("get", archive, "--entry", "2", "-o", span, check=True)
    names = bsdtar_names(span.read_bytes())
    rows = taco("ls", "--entry", "2", archive, check=True).stdout.splitlines()[1:]
    assert [r.split()[3] for r in rows] == names and len(names) == 16
    both = taco("ls", "--entry", "1,2", archive, check=True).stdout.splitlines()[1:]
    assert len(both) == 4 + 16
    assert_fails_cleanly(taco("ls", "--entry", "9", archive), "no entry 9")


def test_ls_and_help_keep_their_flags(taco):
    cp = taco("ls", "--help", check=True)
    assert "-h, --human" in cp.stdout and "--help" in cp.stdout


def test_remote_ls_takes_data_offsets_from_the_manifest(taco, archives, nginx_server):
    archive = archives["tiles"]
    url = nginx_server.put("ls-tiles.taco", archive)
    mark = nginx_server.log_mark()
    remote = taco("ls", url, check=True).stdout
    requests = nginx_server.requests_since(mark)
    assert remote == taco("ls", archive, check=True).stdout
    # tail, manifest, and the local headers of taco's own members — not one per tile
    assert len(requests) <= 6, [(r.method, r.range) for r in requests]


# ---------------------------------------------------------------------------
# extract and get: patterns, entry lists, taco's own members


def test_extract_patterns_select_members(taco, archives, tmp_path):
    archive = archives["splits"]
    out = tmp_path / "out"
    taco("extract", archive, "-C", out, "val/*", "-q", check=True)
    assert listing(out) == {"val", "val/shard-0000.tfrecord", "val/shard-0001.tfrecord"}
    out2 = tmp_path / "out2"
    taco("extract", archive, "-C", out2, "test", "*.csv", "-q", check=True)
    assert listing(out2) == {"test", "test/shard-0000.tfrecord", "test/shard-0001.tfrecord",
                             "train", "train/extra", "train/extra/labels.csv", "labels.csv"}


def test_a_pattern_matching_nothing_fails_and_writes_nothing(taco, archives, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    before = listing(work)
    cp = taco("extract", archives["splits"], "-C", work / "out", "vali*", cwd=work)
    assert_fails_cleanly(cp, 'no member matches "vali*"', workdir=work, before=before)
    cp = taco("get", archives["splits"], "--member", "vali*", "-o", work / "o", cwd=work)
    assert_fails_cleanly(cp, 'no member matches "vali*"', workdir=work, before=before)
    assert_fails_cleanly(taco("extract", archives["splits"], "-C", work / "o", "[ab"),
                         "never closed")


def test_get_member_patterns_write_each_match(taco, archives, tmp_path):
    out = tmp_path / "got"
    taco("get", archives["splits"], "--member", "train/shard-*", "-o", out, check=True)
    with zipfile.ZipFile(archives["splits"]) as z:
        for name in ("train/shard-0000.tfrecord", "train/shard-0001.tfrecord",
                     "train/shard-0002.tfrecord"):
            assert (out / name).read_bytes() == z.read(name)
    assert len([p for p in out.rglob("*") if p.is_file()]) == 3
    # one match goes to standard output like a plain name
    one = taco("get", archives["splits"], "--member", "val/*0001*", binary=True, check=True)
    with zipfile.ZipFile(archives["splits"]) as z:
        assert one.stdout == z.read("val/shard-0001.tfrecord")


def test_extract_takes_an_entry_list_and_leaves_taco_members_out(taco, archives, tmp_path):
    archive = archives["splits"]
    out = tmp_path / "two"
    taco("extract", archive, "--entry", "1,2", "-C", out, "-q", check=True)
    assert {p.split("/")[0] for p in listing(out)} == {"val", "test"}
    everything = tmp_path / "all"
    taco("extract", archive, "-C", everything, "-q", check=True)
    assert not any(p.startswith("TACO_") for p in listing(everything)), listing(everything)
    assert "labels.csv" in listing(everything) and "README.md" in listing(everything)
    with_own = tmp_path / "own"
    taco("extract", archive, "-C", with_own, "--all", "-q", check=True)
    own = {p for p in listing(with_own) if p.startswith("TACO_")}
    assert own == {"TACO_DIRECTORY", "TACO_MANIFEST.parquet", "TACO_INDEX.json"}
    import pyarrow.parquet as pq
    assert pq.read_table(with_own / "TACO_MANIFEST.parquet").num_rows == 10


def test_a_data_entry_that_holds_no_whole_file_says_so(taco, tmp_path):
    archive = tmp_path / "v.taco"
    taco("pack-parquet", "-q", "--layout", "verbatim", DATA / "parquet" / "observations.parquet",
         "-o", archive, check=True)
    work = tmp_path / "w"
    work.mkdir()
    before = listing(work)
    for argv in (["get", archive, "--entry", "2", "--extract-to", work / "x"],
                 ["extract", archive, "--entry", "2", "-C", work / "x"]):
        cp = taco(*argv, cwd=work)
        line = assert_fails_cleanly(cp, "entry 2", "holds no whole member",
                                    "observations.parquet", "taco get --entry 2 -o FILE",
                                    workdir=work, before=before)
        assert "signature" not in line
    # a data entry that is one whole file extracts that file
    split = tmp_path / "s.taco"
    taco("pack-parquet", "-q", DATA / "parquet" / "observations.parquet", "-o", split,
         check=True)
    taco("get", split, "--entry", "2", "--extract-to", tmp_path / "p", "-q", check=True)
    assert listing(tmp_path / "p") == {"observations", "observations/part-2.parquet"}


# ---------------------------------------------------------------------------
# streams


def run_in_pty(argv: list[str], cwd=None) -> tuple[int, bytes, str]:
    """Runs argv with standard output on a pseudo-terminal; returns (exit code, what reached
    the terminal, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd=cwd)
    os.close(slave)
    seen = b""
    for _ in range(2000):  # bounded: the process writes a few KiB at most
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    return proc.wait(timeout=30), seen, stderr


def test_bytes_are_not_written_to_a_terminal_unless_asked(taco, archives):
    tile = ["--tile", "3/5/2"]
    code, seen, stderr = run_in_pty([str(taco.bin), "get", str(archives["tiles"]), *tile])
    assert code == 1 and seen == b"", (code, seen[:80])
    assert stderr.startswith("taco: refusing to write") and "-o -" in stderr, stderr
    code, seen, stderr = run_in_pty([str(taco.bin), "get", str(archives["tiles"]), *tile,
                                     "-o", "-"])
    assert code == 0, stderr
    assert b"PNG" in seen[:16]
    # the same to a pipe needs nothing
    piped = taco("get", archives["tiles"], *tile, binary=True, check=True)
    assert piped.stdout[1:4] == b"PNG"


def test_text_output_to_a_terminal_is_fine(taco, archives):
    code, seen, stderr = run_in_pty([str(taco.bin), "info", str(archives["tiles"])])
    assert code == 0 and b"zoom 3" in seen and stderr == ""


@pytest.mark.parametrize("argv", [
    ["ls", "--json"], ["ls"], ["info"], ["info", "--json"], ["header", "--json"],
    ["manifest"],
])
def test_a_closed_pipe_ends_quietly(taco, archives, argv):
    bash = require_tool("bash")
    cmd = f"'{taco.bin}' {argv[0]} '{archives['tiles']}' {' '.join(argv[1:])} | head -c 1"
    cp = subprocess.run([bash, "-o", "pipefail", "-c", cmd], capture_output=True, text=False)
    assert cp.returncode == 0 and cp.stderr == b"", cp.stderr


def test_stdin_is_a_source_for_header_and_extract(taco, archives, tmp_path):
    archive = archives["splits"]
    header = taco("header", "-", input=archive.read_bytes(), check=True)
    assert "3 entries" in header.stdout
    out = tmp_path / "from-stdin"
    taco("extract", "-", "-C", out, "-q", input=archive.read_bytes(), check=True)
    assert listing(out) == listing_of_plain_extract(taco, archive, tmp_path)
    # a span fetched by range, piped in, with a pattern
    span = taco("get", archive, "--entry", "1", binary=True, check=True).stdout
    out2 = tmp_path / "span"
    taco("extract", "--range", "-", "-C", out2, "*0001*", "-q", input=span, check=True)
    assert listing(out2) == {"val", "val/shard-0001.tfrecord"}


def listing_of_plain_extract(taco, archive: Path, tmp_path: Path) -> set[str]:
    out = tmp_path / "plain-extract"
    taco("extract", archive, "-C", out, "-q", check=True)
    return listing(out)


# ---------------------------------------------------------------------------
# pack: --files-from, -C, --entry-member


def test_pack_files_from_a_list_with_names_relative_to_a_directory(taco, tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("alpha\n")
    (root / "sub" / "with space.txt").write_text("odd name\n")
    (root / "sub" / "b.txt").write_text("beta\n")
    nul = subprocess.run(["find", ".", "-type", "f", "-print0"], cwd=root, capture_output=True,
                         check=True).stdout
    out = tmp_path / "nul.taco"
    taco("pack", "-q", out, "-C", root, "--files-from", "-", input=nul, check=True)
    with zipfile.ZipFile(out) as z:
        names = {n for n in z.namelist() if not n.startswith("TACO_")}
        assert names == {"a.txt", "sub/with space.txt", "sub/b.txt"}
        assert z.read("sub/b.txt") == b"beta\n"
    listed = tmp_path / "list.txt"
    listed.write_text("a.txt\nsub/b.txt\n")
    out2 = tmp_path / "lines.taco"
    taco("pack", "-q", out2, "-C", root, "--files-from", listed, check=True)
    with zipfile.ZipFile(out2) as z:
        assert [n for n in z.namelist() if not n.startswith("TACO_")] == ["a.txt", "sub/b.txt"]
    before = listing(tmp_path)
    cp = taco("pack", tmp_path / "up.taco", "-C", root, "../data/a.txt")
    assert_fails_cleanly(cp, "relative to DIR", workdir=tmp_path, before=before)


def test_entry_member_entries_keep_command_line_order(taco, tmp_path):
    for name, text in (("a.txt", "alpha\n"), ("b.txt", "beta beta\n")):
        (tmp_path / name).write_text(text)
    out = tmp_path / "e.taco"
    taco("pack", "-q", out, "a.txt", "b.txt", "--entry-member", "b.txt", "--entry", "0:157",
         "--entry-member", "a.txt", cwd=tmp_path, check=True)
    members = {m.name: m for m in zip_members(out)}
    entries = parse_taco_header(out.read_bytes()[:157])
    b, a = members["b.txt"], members["a.txt"]
    assert entries == [(b.data_offset, b.info.file_size), (0, 157),
                       (a.data_offset, a.info.file_size)]
    import tacozip
    assert tacozip.read_header(str(out)) == entries
    before = listing(tmp_path)
    cp = taco("pack", tmp_path / "bad.taco", "a.txt", "--entry-member", "c.txt", cwd=tmp_path)
    assert_fails_cleanly(cp, '--entry-member "c.txt"', "no member", workdir=tmp_path,
                         before=before)


# ---------------------------------------------------------------------------
# pack-splits beside the splits


def test_pack_splits_keeps_top_level_files_and_skips_hidden_ones(taco, tmp_path):
    ml = splits_tree(tmp_path)
    out = tmp_path / "ml.taco"
    cp = taco("pack-splits", ml, "-o", out, "-q", check=True)
    assert cp.stderr.count("\n") == 1 and "2 hidden" in cp.stderr and ".cache" in cp.stderr
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert z.read("labels.csv") == b"id,label\n0,cat\n" and "README.md" in names
        assert not any(".cache" in n or ".DS_Store" in n for n in names), names
    # no split's span holds the top-level files
    for entry in range(3):
        span = taco("get", out, "--entry", str(entry), binary=True, check=True).stdout
        listed = bsdtar_names(span)
        assert listed and "labels.csv" not in listed and "README.md" not in listed
    assert "outside every entry: README.md, labels.csv (2)" in taco("info", out).stdout
    taco("validate", "--level", "deep", out, check=True)


# ---------------------------------------------------------------------------
# messages and query


def test_query_takes_real_dates_and_utc_offsets_and_says_when_nothing_matches(taco, archives):
    archive = archives["netcdf"]
    z = taco("query", archive, "--time", "2024-02-10T12:00Z", check=True).stdout
    offset = taco("query", archive, "--time", "2024-02-10T14:00+02:00", check=True).stdout
    assert z == offset and "era5_t2m_2024-02.nc" in z
    assert_fails_cleanly(taco("query", archive, "--time", "2023-04-31"), "2023-04-31")
    cp = taco("query", archive, "--time", "2031-01")
    assert_fails_cleanly(cp, "no file overlaps 2031-01")
    js = taco("query", archive, "--time", "2031-01", "--json")
    assert js.returncode == 1 and json.loads(js.stdout) == {"files": []}
    assert_taco_error(js, "no file overlaps")


def test_a_zero_row_parquet_file_packs_and_reads_back(taco, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    src = tmp_path / "zero.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())}), src)
    for layout in ("split", "verbatim"):
        out = tmp_path / f"zero-{layout}.taco"
        taco("pack-parquet", "-q", "--layout", layout, src, "-o", out, check=True)
        part = tmp_path / f"part-{layout}.parquet"
        taco("get", out, "--entry", "0", "-o", part, check=True)
        if layout == "split":
            table = pq.read_table(part)
            assert table.num_rows == 0 and table.column_names == ["a", "b"]
        taco("validate", "--level", "deep", out, check=True)


@pytest.mark.parametrize("command", [["header"], ["info"], ["ls"], ["validate"],
                                     ["get", "--entry", "0"]], ids=lambda c: c[0])
def test_an_empty_file_or_object_says_it_is_empty(taco, tmp_path, nginx_server, s3_env,
                                                  s3_server, command):
    """Locally, over HTTP (nginx answers a range of an empty file with 200 and no body, once
    reported as 'server ignored the Range request') and on S3: one line saying 'empty'."""
    empty = tmp_path / "empty.taco"
    empty.write_bytes(b"")
    sources = [str(empty), nginx_server.put("empty.taco", b""),
               s3_server.upload("taco-empty", "empty.taco", b"")]
    for src in sources:
        cp = taco(command[0], src, *command[1:])
        line = assert_fails_cleanly(cp, src, "empty (0 bytes)")
        assert "Range" not in line and "157" not in line, line


def test_the_progress_bar_draws_on_a_terminal_and_q_silences_it(taco, tmp_path):
    """stderr on a pseudo-terminal: the bar is drawn (and cleared), stdout gets only the
    summary; with -q nothing at all."""
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 64)  # 64 MiB: long enough for a few frames
    for quiet, want_bar in ((False, True), (True, False)):
        out = tmp_path / f"big-{quiet}.taco"
        argv = [str(taco.bin), "pack", str(out), str(big), *(["-q"] if quiet else [])]
        master, slave = pty.openpty()
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave,
                              stdin=subprocess.DEVNULL, timeout=120)
        os.close(slave)
        drawn = b""
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
        os.close(master)
        assert proc.returncode == 0
        assert (b"MiB" in drawn) == want_bar, drawn[-200:]
        assert (proc.stdout != b"") == (not quiet), proc.stdout
        if want_bar:
            assert b"\x1b[" in drawn or b"\r" in drawn, "a bar redraws in place"


def test_names_reach_a_terminal_escaped(taco, tmp_path):
    from conftest import craft_taco_zip
    archive = tmp_path / "evil.taco"
    craft_taco_zip(archive, [("evil\x1b[2Jname\u202e.txt", b"x")])
    code, seen, stderr = run_in_pty([str(taco.bin), "ls", str(archive)])
    assert code == 0, stderr
    assert b"\x1b[2J" not in seen and "\u202e".encode() not in seen, seen
    assert b"evil\\u{1b}[2Jname\\u{202e}.txt" in seen


# ---------------------------------------------------------------------------
# what a review of the first version found


def test_odd_text_on_the_command_line_is_an_error_not_a_panic(taco, archives):
    cp = taco("query", archives["netcdf"], "--time", "2024-01-15T12:00+1\u00e91")
    assert_fails_cleanly(cp, "2024-01-15T12:00+1\u00e91")
    raw = subprocess.run([str(taco.bin), os.fsdecode(b"\xff")], capture_output=True)
    assert raw.returncode == 2 and raw.stderr.startswith(b"taco: "), raw.stderr
    # a day of the 360-day calendar is a day to look for, not a malformed time
    cp = taco("query", archives["netcdf"], "--time", "2023-02-30")
    assert_fails_cleanly(cp, "no file overlaps 2023-02-30")


def test_ls_lists_a_zip_with_data_descriptors(taco, tmp_path):
    class Pipe:  # zipfile writes data descriptors when it cannot seek
        def __init__(self):
            self.data = bytearray()

        def write(self, b):
            self.data += b
            return len(b)

        def flush(self):
            pass

    pipe = Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a.txt", "hello")
    dd = tmp_path / "dd.zip"
    dd.write_bytes(bytes(pipe.data))
    cp = taco("ls", dd, check=True)
    rows = [ln.split() for ln in cp.stdout.splitlines()[1:]]
    assert rows == [["-", "5", f"{zipfile.ZipFile(dd).getinfo('a.txt').CRC:08x}", "a.txt"]]
    assert cp.stderr.startswith("taco: note: ") and "data descriptor" in cp.stderr


def test_info_counts_each_member_of_repeated_entries_once(taco, tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(name)
    out = tmp_path / "rep.taco"
    taco("pack", "-q", out, "a.txt", "b.txt", "c.txt", *["--entry-member", "a.txt"] * 3,
         cwd=tmp_path, check=True)
    assert "outside every entry: b.txt, c.txt (2)" in taco("info", out, check=True).stdout


def test_info_of_a_deep_pyramid_does_not_list_its_deeper_zooms(taco, tmp_path):
    tiles = tmp_path / "deep"
    random_pyramid(tiles, range(9), seed=3, sizes=(5, 10), density={7: 0.01, 8: 0.001})
    out = tmp_path / "deep.taco"
    taco("pack-tiles", "-q", tiles, "-o", out, check=True)
    text = taco("info", out, check=True).stdout
    assert "zoom 6" in text and "outside" not in text, text


def test_pack_splits_skips_a_dangling_hidden_link(taco, tmp_path):
    ml = tmp_path / "ml"
    (ml / "train").mkdir(parents=True)
    (ml / "train" / "a.bin").write_bytes(b"a")
    os.symlink("/nonexistent/lock", ml / ".#lock")
    cp = taco("pack-splits", ml, "-o", tmp_path / "ml.taco", "-q", check=True)
    assert "1 hidden" in cp.stderr


def test_a_zero_row_parquet_without_dictionaries_packs(taco, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    src = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), src, use_dictionary=False)
    for layout in ("split", "verbatim"):
        out = tmp_path / f"{layout}.taco"
        taco("pack-parquet", "-q", "--layout", layout, src, "-o", out, check=True)
        taco("validate", "--level", "deep", out, check=True)
    part = tmp_path / "part.parquet"
    taco("get", tmp_path / "split.taco", "--entry", "0", "-o", part, check=True)
    assert pq.read_table(part).num_rows == 0


def test_patterns_that_select_nothing_fail_in_every_path(taco, archives, tmp_path):
    archive = archives["splits"]
    span = tmp_path / "val.bin"
    taco("get", archive, "--entry", "1", "-o", span, check=True)
    cp = taco("extract", "--range", span, "-C", tmp_path / "a", "train/*")
    assert_taco_error(cp, 'no member matches "train/*"')
    cp = taco("extract", archive, "-C", tmp_path / "b", "TACO_*")
    assert_taco_error(cp, 'no member matches "TACO_*"')
    taco("extract", archive, "-C", tmp_path / "c", "TACO_*", "--all", "-q", check=True)
    cp = taco("extract", archive, "--entry", "1", "-C", tmp_path / "d", "train/*")
    assert_taco_error(cp, 'no member matches "train/*" in the entries given')
    # a name with [ that is no pattern is a name
    cp = taco("get", archive, "--member", "x[1")
    assert_fails_cleanly(cp, 'no member named "x[1"')


def test_the_same_entry_or_member_twice_is_written_once(taco, archives, tmp_path):
    archive = archives["splits"]
    taco("extract", archive, "--entry", "0,0", "-C", tmp_path / "e", "-q", check=True)
    taco("get", archive, "--entry", "1,1", "--extract-to", tmp_path / "x", "-q", check=True)
    taco("get", archive, "--entry", "1,1,2", "-o", tmp_path / "raw", check=True)
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["entry-1", "entry-2"]
    out = tmp_path / "m"
    taco("get", archive, "--member", "train/*", "--member", "train/shard-0000.tfrecord",
         "-o", out, "--jobs", "8", check=True)
    assert len([p for p in out.rglob("*") if p.is_file()]) == 4
