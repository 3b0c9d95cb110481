"""`taco pack-parquet`: split and verbatim layouts, checked with pyarrow, tacozip, unzip and zipfile.

split: entry i is the data of member `<stem>/part-<i>.parquet`, a complete Parquet file made of
consecutive row groups whose column chunks are copied byte for byte from the input.
verbatim: the input is stored untouched; entry i is the archive byte range of row group i.
Both write the same index JSON beside the archive (`<OUT>.meta.json`) and as the last member
`TACO_INDEX.json`.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from conftest import (
    check_sidecar,
    HEADER_SIZE,
    MAX_ENTRIES,
    REPO,
    assert_taco_error,
    check_unzip,
    check_zipfile,
    listing,
    parse_taco_header,
    zip_members,
)
from tree_fixtures import check_lookup_directory
from parquet_fixtures import (
    UNDECODABLE,
    chunk_range,
    footer_length,
    naive_split,
    read_metadata_bytes,
    require_module,
    require_shared_parquet,
    row_group_bytes,
    row_group_range,
    rows_for,
    shared_parquet_files,
    write_parquet,
    write_zero_row_groups,
)

pa = require_module("pyarrow")
pq = require_module("pyarrow.parquet")
tacozip = require_module("tacozip")

CODECS = ["snappy", "zstd", "gzip", "none"]
GROUPS = [1, 5, 50]

SHARED = shared_parquet_files()
SHARED_IDS = [p.name for p in SHARED] or ["missing"]
SHARED_PARAMS = SHARED or [None]


# ---------------------------------------------------------------------------
# running pack-parquet and checking what every archive must satisfy


def pack(taco, src, out, *args, cwd=None):
    cp = taco("pack-parquet", src, "-o", out, *args, cwd=cwd, check=True)
    meta = out.with_name(out.name + ".meta.json")
    assert out.is_file(), "OUT not written"
    assert meta.is_file(), f"{meta.name} not written beside the archive"
    return cp, meta


def check_archive(taco, archive, meta_path) -> dict:
    """Checks common to both layouts; returns the parsed index."""
    raw = archive.read_bytes()
    meta_bytes = meta_path.read_bytes()

    # the index member is last; the .meta.json file is the same index plus the archive's identity
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
        assert infos[-1].filename == "TACO_INDEX.json", [i.filename for i in infos]
        contents = {i.filename: z.read(i.filename) for i in infos}
    index = check_sidecar(archive, meta_bytes)
    assert index["format"] == "taco-index"
    assert index["version"] == 1
    assert index["planner"] == "parquet"

    # the header lists the index's entries, read by us and by tacozip
    want = [(e["offset"], e["length"]) for e in index["entries"]]
    assert [e["index"] for e in index["entries"]] == list(range(len(want)))
    assert 1 <= len(want) <= MAX_ENTRIES
    assert parse_taco_header(raw[:HEADER_SIZE]) == want
    assert [tuple(e) for e in tacozip.read_header(str(archive))] == want
    for off, length in want:
        assert HEADER_SIZE <= off and off + length <= len(raw) and length > 0

    # index members agree with zipfile's view (local header offset -> data offset, CRC, size)
    zms = zip_members(archive)
    assert zms[-2].name == "TACO_MANIFEST.parquet"
    check_lookup_directory(archive, [*zms[:-2], zms[-1]])
    by_name = {m.name: m for m in zms}
    stored = [m.name for m in zms
              if m.name not in ("TACO_HEADER", "TACO_DIRECTORY", "TACO_MANIFEST.parquet",
                                "TACO_INDEX.json")]
    assert [m["name"] for m in index["members"]] == stored, "index members != archive members"
    for m in index["members"]:
        zm = by_name[m["name"]]
        assert m["data_offset"] == zm.data_offset, m["name"]
        assert m["length"] == zm.size, m["name"]
        assert m["crc32"] == zm.crc, m["name"]
        assert raw[m["data_offset"]:m["data_offset"] + m["length"]] == contents[m["name"]]

    # independent ZIP readers
    check_zipfile(archive)
    check_unzip(archive)
    taco("validate", "--level", "deep", archive, check=True)
    return index


def check_split(taco, src, archive, meta_path, parts=None, decodable=True) -> dict:
    index = check_archive(taco, archive, meta_path)
    raw = archive.read_bytes()
    src_bytes = src.read_bytes()
    src_md = pq.read_metadata(src)
    k = src_md.num_row_groups
    n = parts if parts is not None else min(MAX_ENTRIES, k)

    entries, members = index["entries"], index["members"]
    assert len(entries) == n, f"expected {n} parts, index has {len(entries)}"
    assert len(members) == n

    covered, total_rows = [], 0
    rg_sizes = [row_group_bytes(src_md, i) for i in range(k)]
    part_sizes = []
    for i, (e, m) in enumerate(zip(entries, members)):
        assert e["label"] == f"part-{i}"
        assert e["kind"] == "data"
        assert m["name"] == f"{src.stem}/part-{i}.parquet"
        assert (e["offset"], e["length"]) == (m["data_offset"], m["length"]), "entry != member data"
        rgs = e["row_groups"]
        assert rgs, f"part {i} has no row group"
        assert m["row_groups"] == rgs
        want_rows = sum(src_md.row_group(r).num_rows for r in rgs)
        assert e["rows"] == m["rows"] == want_rows

        # the fetched range is a complete Parquet file with exactly those row groups
        part = raw[e["offset"]:e["offset"] + e["length"]]
        assert part[:4] == b"PAR1" and part[-4:] == b"PAR1"
        pmd = read_metadata_bytes(part)
        assert pmd.num_row_groups == len(rgs)
        assert pmd.num_rows == want_rows
        assert pmd.schema.equals(src_md.schema), f"part {i}: Parquet schema differs"
        assert pmd.metadata == src_md.metadata, f"part {i}: key/value metadata not carried over"

        # column chunks copied byte for byte, not re-encoded
        for j, r in enumerate(rgs):
            prg, srg = pmd.row_group(j), src_md.row_group(r)
            assert prg.num_rows == srg.num_rows
            assert prg.num_columns == srg.num_columns
            for c in range(srg.num_columns):
                pc, sc = prg.column(c), srg.column(c)
                assert pc.path_in_schema == sc.path_in_schema
                assert (pc.compression, pc.num_values, pc.total_compressed_size) == (
                    sc.compression, sc.num_values, sc.total_compressed_size), (i, r, c)
                ps, pe = chunk_range(pc)
                ss, se = chunk_range(sc)
                assert pe <= len(part) - footer_length(part), f"part {i} rg {r} col {c} overlaps the footer"
                assert part[ps:pe] == src_bytes[ss:se], f"part {i} rg {r} col {c}: chunk bytes differ"

        if decodable:
            got = pq.read_table(io.BytesIO(part), use_threads=False)
            want = pq.ParquetFile(src).read_row_groups(rgs, use_threads=False)
            assert got.schema.equals(want.schema, check_metadata=True), (
                f"part {i} schema:\n{got.schema}\n!=\n{want.schema}")
            assert got.equals(want), f"part {i}: data differs"

        covered += rgs
        total_rows += want_rows
        part_sizes.append(sum(rg_sizes[r] for r in rgs))

    assert covered == list(range(k)), f"row groups not covered in order exactly once: {covered}"
    assert total_rows == src_md.num_rows

    # balanced by compressed bytes: a contiguous split into n parts can always keep every part
    # within total/n + the largest row group
    bound = sum(rg_sizes) / n + max(rg_sizes)
    assert max(part_sizes) <= bound, f"unbalanced parts {part_sizes} (bound {bound:.0f})"

    pqi = index["parquet"]
    assert pqi["layout"] == "split"
    assert pqi["source"] == src.name
    assert pqi["source_size"] == len(src_bytes)
    assert pqi["num_rows"] == src_md.num_rows
    assert pqi["num_row_groups"] == k
    assert [g["index"] for g in pqi["row_groups"]] == list(range(k))
    for g in pqi["row_groups"]:
        s, e_ = row_group_range(src_md, g["index"])
        assert (g["rows"], g["offset"], g["length"]) == (
            src_md.row_group(g["index"]).num_rows, s, e_ - s), f"row group {g['index']}"
    return index


def check_verbatim(taco, src, archive, meta_path, stderr) -> dict:
    index = check_archive(taco, archive, meta_path)
    raw = archive.read_bytes()
    src_bytes = src.read_bytes()
    src_md = pq.read_metadata(src)
    k = src_md.num_row_groups

    (m,) = index["members"]
    assert m["name"] == src.name
    base = m["data_offset"]
    assert raw[base:base + m["length"]] == src_bytes, "stored file is not the original"

    entries = index["entries"]
    assert len(entries) == min(MAX_ENTRIES, k)
    for i, e in enumerate(entries):
        s, end = row_group_range(src_md, i)
        assert (e["offset"], e["length"]) == (base + s, end - s), f"entry {i} is not row group {i}"
        assert e["row_groups"] == [i]
        assert e["rows"] == src_md.row_group(i).num_rows
    if k > MAX_ENTRIES:
        assert "7" in stderr, f"expected a note about keeping 7 of {k} row groups: {stderr!r}"

    pqi = index["parquet"]
    assert pqi["layout"] == "verbatim"
    assert pqi["source"] == src.name
    assert pqi["source_size"] == len(src_bytes)
    assert pqi["num_rows"] == src_md.num_rows
    assert pqi["num_row_groups"] == k
    assert [g["index"] for g in pqi["row_groups"]] == list(range(k)), "index must list every row group"
    for g in pqi["row_groups"]:
        s, end = row_group_range(src_md, g["index"])
        assert (g["rows"], g["offset"], g["length"]) == (
            src_md.row_group(g["index"]).num_rows, base + s, end - s), f"row group {g['index']}"

    flen = footer_length(src_bytes)
    foot = pqi["footer"]
    assert (foot["offset"], foot["length"]) == (base + len(src_bytes) - flen, flen)
    fb = raw[foot["offset"]:foot["offset"] + foot["length"]]
    assert fb.endswith(b"PAR1")
    # the footer range alone is enough to parse the metadata (prefix it with the leading magic)
    assert pq.read_metadata(io.BytesIO(b"PAR1" + fb)).num_row_groups == k
    return index


# ---------------------------------------------------------------------------
# split layout


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("groups", GROUPS)
def test_split_generated(taco, tmp_path, groups, codec):
    src = write_parquet(tmp_path / "dataset.parquet", rows_for(groups), compression=codec, seed=groups)
    out = tmp_path / "dataset.taco"
    _, meta = pack(taco, src, out)
    check_split(taco, src, out, meta)


@pytest.mark.parametrize("src", SHARED_PARAMS, ids=SHARED_IDS)
def test_split_shared_testdata(taco, tmp_path, src):
    if src is None:
        require_shared_parquet()
    out = tmp_path / "out" / "x.taco"
    out.parent.mkdir()
    _, meta = pack(taco, src, out)
    check_split(taco, src, out, meta, decodable=src.name not in UNDECODABLE)


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_split_parts_option(taco, tmp_path, parts):
    src = write_parquet(tmp_path / "many.parquet", rows_for(50), compression="zstd", seed=7)
    out = tmp_path / "many.taco"
    _, meta = pack(taco, src, out, "--parts", parts)
    check_split(taco, src, out, meta, parts=parts)


def test_split_balances_skewed_row_groups(taco, tmp_path):
    """Ten small then ten five-times-larger row groups: splitting by row-group count would put
    three large groups in one part; splitting by bytes must not."""
    rows = [20] * 10 + [100] * 10
    src = write_parquet(tmp_path / "skewed.parquet", rows, compression="none", seed=3, blob_len=(200, 201))
    md = pq.read_metadata(src)
    sizes = [row_group_bytes(md, i) for i in range(md.num_row_groups)]
    bound = sum(sizes) / 7 + max(sizes)
    naive = max(sum(sizes[r] for r in g) for g in naive_split(len(sizes), 7))
    assert naive > bound, "fixture too weak: a count-based split would pass the balance check"

    out = tmp_path / "skewed.taco"
    _, meta = pack(taco, src, out)
    check_split(taco, src, out, meta)


def test_default_output_name_and_meta(taco, tmp_path):
    """Without -o, OUT is <stem>.taco in the current directory, with <OUT>.meta.json beside it."""
    indir, work = tmp_path / "in", tmp_path / "work"
    indir.mkdir()
    work.mkdir()
    src = write_parquet(indir / "obs.data.parquet", rows_for(5), seed=11)
    taco("pack-parquet", src, cwd=work, check=True)
    assert listing(work) == {"obs.data.taco", "obs.data.taco.meta.json"}
    assert listing(indir) == {"obs.data.parquet"}, "nothing may be written beside the input"
    index = check_split(taco, src, work / "obs.data.taco", work / "obs.data.taco.meta.json")
    assert index["members"][0]["name"] == "obs.data/part-0.parquet"


def test_force_overwrites(taco, tmp_path):
    src = write_parquet(tmp_path / "d.parquet", rows_for(5), seed=5)
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "d.taco"
    out.write_bytes(b"precious")
    assert_taco_error(taco("pack-parquet", src, "-o", out), "exists", "--force")
    assert out.read_bytes() == b"precious"
    assert listing(outdir) == {"d.taco"}, "no .meta.json may be written when OUT exists"

    _, meta = pack(taco, src, out, "--force")
    check_split(taco, src, out, meta)
    assert listing(outdir) == {"d.taco", "d.taco.meta.json"}


def test_quiet_prints_nothing_on_stdout(taco, tmp_path):
    src = write_parquet(tmp_path / "q.parquet", rows_for(5), seed=9)
    out = tmp_path / "q.taco"
    cp, meta = pack(taco, src, out, "-q")
    assert cp.stdout == ""
    check_split(taco, src, out, meta)


def test_example_observations(taco, tmp_path):
    """The README demo file: multi-row-group, snappy, nested and dictionary columns."""
    src = REPO / "examples" / "data" / "parquet" / "observations.parquet"
    assert src.stat().st_size < 200_000
    md = pq.read_metadata(src)
    assert (md.num_rows, md.num_row_groups) == (5000, 10)
    out = tmp_path / "observations.taco"
    _, meta = pack(taco, src, out)
    check_split(taco, src, out, meta)
    cp, meta = pack(taco, src, out, "--layout", "verbatim", "--force")
    check_verbatim(taco, src, out, meta, cp.stderr)


# ---------------------------------------------------------------------------
# verbatim layout


@pytest.mark.parametrize("groups", GROUPS)
def test_verbatim_generated(taco, tmp_path, groups):
    src = write_parquet(tmp_path / "dataset.parquet", rows_for(groups), compression="snappy", seed=groups)
    out = tmp_path / "v.taco"
    cp, meta = pack(taco, src, out, "--layout", "verbatim")
    check_verbatim(taco, src, out, meta, cp.stderr)


@pytest.mark.parametrize("src", SHARED_PARAMS, ids=SHARED_IDS)
def test_verbatim_shared_testdata(taco, tmp_path, src):
    if src is None:
        require_shared_parquet()
    out = tmp_path / "v.taco"
    cp, meta = pack(taco, src, out, "--layout", "verbatim")
    check_verbatim(taco, src, out, meta, cp.stderr)


# ---------------------------------------------------------------------------
# errors: one line, exit 1, nothing left behind


def good_bytes(tmp_path) -> bytes:
    return write_parquet(tmp_path / "good.parquet", rows_for(5), seed=2).read_bytes()


def fails_cleanly(taco, work, src, *args, needles=()):
    """Run pack-parquet with OUT defaulting into `work`; expect one error line and no output."""
    before = listing(work)
    cp = taco("pack-parquet", src, *args, cwd=work)
    assert cp.returncode == 1, f"exit {cp.returncode}, stderr {cp.stderr!r}"
    line = assert_taco_error(cp, *needles)
    assert listing(work) == before, f"left behind: {listing(work) - before}"
    return line


def bad_inputs(tmp_path) -> dict[str, tuple[bytes, tuple[str, ...]]]:
    good = good_bytes(tmp_path)
    md = pq.read_metadata(io.BytesIO(good))
    last_end = row_group_range(md, md.num_row_groups - 1)[1]
    cut = good[:4] + good[len(good) // 2:]  # footer intact, chunk offsets now past its start
    assert row_group_range(pq.read_metadata(io.BytesIO(cut)), md.num_row_groups - 1)[1] > len(cut) - footer_length(cut)
    return {
        "text": (b"station,value\nalpha,1.5\n" * 20, ()),
        "empty": (b"", ()),
        "magic-only": (b"PAR1", ()),
        "truncated-tail": (good[:-100], ()),
        "truncated-in-data": (good[:last_end // 2], ()),
        "footer-longer-than-file": (b"PAR1" + b"\0" * 16 + (10**6).to_bytes(4, "little") + b"PAR1", ()),
        "chunks-past-footer": (cut, ()),
        "encrypted-footer": (good[:-4] + b"PARE", ("encrypt",)),
    }


BAD = ["text", "empty", "magic-only", "truncated-tail", "truncated-in-data", "footer-longer-than-file",
       "chunks-past-footer", "encrypted-footer"]


@pytest.mark.parametrize("layout", ["split", "verbatim"])
@pytest.mark.parametrize("case", BAD)
def test_bad_input_fails_cleanly(taco, tmp_path, work, case, layout):
    data, needles = bad_inputs(tmp_path)[case]
    src = tmp_path / f"bad-{case}.parquet"
    src.write_bytes(data)
    fails_cleanly(taco, work, src, "--layout", layout, needles=(src.name, *needles))


def test_not_parquet_names_parquet(taco, tmp_path, work):
    src = tmp_path / "notes.txt"
    src.write_text("this is not a columnar file\n" * 10)
    fails_cleanly(taco, work, src, needles=("notes.txt", "parquet"))


@pytest.mark.parametrize("layout", ["split", "verbatim"])
def test_zero_row_groups(taco, tmp_path, work, layout):
    src = write_zero_row_groups(tmp_path / "empty.parquet")
    fails_cleanly(taco, work, src, "--layout", layout, needles=("empty.parquet", "row group"))


def test_missing_input(taco, tmp_path, work):
    fails_cleanly(taco, work, tmp_path / "nope.parquet", needles=("nope.parquet",))


@pytest.mark.parametrize("parts", ["0", "8"])
def test_parts_out_of_range(taco, tmp_path, work, parts):
    src = write_parquet(tmp_path / "many.parquet", rows_for(50), seed=4)
    cp = taco("pack-parquet", src, "--parts", parts, cwd=work)
    assert cp.returncode in (1, 2), f"exit {cp.returncode}"
    if cp.returncode == 1:
        assert_taco_error(cp)
    else:
        assert cp.stderr.strip(), "a usage error must say something"
    assert listing(work) == set(), f"left behind: {listing(work)}"
