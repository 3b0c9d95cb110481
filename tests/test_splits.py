"""`taco pack-splits`: one span entry per split directory (`train`, `val`, `test` first, then
the others alphabetically, or the `--splits` order); members keep their paths relative to DIR,
sorted by path within a split; files directly in DIR are stored after the splits, outside
every entry.

Checked with bsdtar (splitting each span back into files), tacozip, unzip, zipfile and 7-Zip.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import zipfile

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
    check_common,
    check_data_ranges,
    check_entry_extracts,
    cut,
    fails_cleanly,
    make_world_readable,
    meta_path,
    note_lines,
    pack_dir_fails,
    span_members,
    unprivileged_workspace,
    world_writable_dir,
)

tacozip = require_module("tacozip")

EXAMPLE = REPO / "examples" / "data" / "ml_data"

TREE = {
    "train/shard-0000.tfrecord": payload(700, 1),
    "train/shard-0001.tfrecord": payload(1500, 2),
    "train/shard-0002.tfrecord": payload(3, 3),
    "train/extra/labels.csv": b"id,label\n0,cat\n1,dog\n",
    "train/extra/deeper/notes.txt": b"nested two levels\n",
    "val/shard-0000.tfrecord": payload(900, 4),
    "val/shard-0001.tfrecord": payload(901, 5),
    "val/\u00fc-notes.txt": "gr\u00fc\u00dfe\n".encode(),
    "test/empty.txt": b"",
    "test/shard-0000.tfrecord": payload(2048, 6),
    "holdout/a.bin": payload(10, 7),
    "calib/b.bin": payload(20, 8),
    "calib/x/y/z.bin": payload(30, 9),
}
TOP_LEVEL = {"README.md": b"# dataset\n", "LICENSE": b"CC0\n"}
ORDER = ["train", "val", "test", "calib", "holdout"]


def split_of(name: str) -> str:
    return name.split("/", 1)[0]


def expected_members(files: dict[str, bytes], order) -> list[str]:
    """Split order, then paths sorted within the split (byte order of the UTF-8 path)."""
    return [n for s in order for n in sorted((n for n in files if split_of(n) == s),
                                               key=lambda n: n.encode())]


def of_split(files, s) -> dict[str, bytes]:
    return {n: d for n, d in files.items() if split_of(n) == s}


def pack(taco, src, out, *args, cwd=None):
    cp = taco("pack-splits", src, "-o", out, *args, cwd=cwd, check=True)
    return cp


def check_splits_archive(taco, out, files, order, top=None) -> dict:
    """Common checks plus: members in split order with their relative paths, then the
    top-level files `top` (in no split), entry i = the span of split i, per-split counts and
    bytes in the entries and in index.splits."""
    top = top or {}
    files = {n: d for n, d in files.items() if split_of(n) in order}
    index, body = check_common(taco, out, "splits", tacozip)
    check_data_ranges(out, index, {**files, **top})
    assert [m.name for m in body] == expected_members(files, order) + sorted(
        top, key=str.encode)
    for m in index["members"]:
        assert m.get("split") == (None if m["name"] in top else split_of(m["name"])), m

    entries = index["entries"]
    assert [e["label"] for e in entries] == list(order)
    summary = index["splits"]["splits"]
    assert [s["name"] for s in summary] == list(order)
    for i, (e, s, name) in enumerate(zip(entries, summary, order)):
        want = of_split(files, name)
        nbytes = sum(map(len, want.values()))
        assert (e["split"], e["files"], e["bytes"]) == (name, len(want), nbytes), e
        assert (s["files"], s["bytes"], s["entry"], s["offset"], s["length"]) == (
            len(want), nbytes, i, e["offset"], e["length"]), s
        inside = span_members(body, e)
        assert [m.name for m in inside] == expected_members(want, [name]), f"entry {i} is not split {name}"
        assert e["offset"] == inside[0].header_offset
        assert e["offset"] + e["length"] == inside[-1].data_end
    return index


@pytest.fixture(scope="module")
def packed(taco, tmp_path_factory):
    base = tmp_path_factory.mktemp("splits")
    src = base / "ml"
    write_tree(src, {**TREE, **TOP_LEVEL})
    out = base / "ml.taco"
    cp = pack(taco, src, out)
    return src, out, cp


def test_archive_layout_and_index(taco, packed):
    _src, out, _cp = packed
    check_splits_archive(taco, out, TREE, ORDER, TOP_LEVEL)


def test_top_level_files_are_kept_outside_every_split(taco, packed, tmp_path):
    _src, out, cp = packed
    assert note_lines(cp.stderr) == [], cp.stderr
    with zipfile.ZipFile(out) as z:
        for name, data in TOP_LEVEL.items():
            assert z.read(name) == data
    index = json.loads(meta_path(out).read_bytes())
    body = zip_members(out)
    for e in index["entries"]:
        assert not {m.name for m in span_members(body, e)} & set(TOP_LEVEL), e
    info = taco("info", out, check=True).stdout
    assert "outside every entry: LICENSE, README.md (2)" in info


def test_hidden_files_and_directories_are_left_out_with_one_note(taco, tmp_path):
    src = tmp_path / "ml"
    write_tree(src, {**TREE, ".git/HEAD": b"ref\n", "train/.DS_Store": b"x",
                     "val/.cache/state": b"y", ".env": b"SECRET=1\n"})
    out = tmp_path / "ml.taco"
    cp = pack(taco, src, out)
    notes = note_lines(cp.stderr)
    assert len(notes) == 1 and "4 hidden" in notes[0] and ".env" in notes[0], notes
    names = [m.name for m in zip_members(out)]
    assert not [n for n in names if any(p.startswith(".") for p in n.split("/"))], names
    check_splits_archive(taco, out, TREE, ORDER)


@pytest.mark.parametrize("i", range(len(ORDER)))
def test_entry_span_extracts_to_exactly_its_split(taco, packed, tmp_path, i):
    _src, out, _cp = packed
    index = json.loads(meta_path(out).read_bytes())
    check_entry_extracts(taco, out, index["entries"][i], of_split(TREE, ORDER[i]), tmp_path)


@pytest.mark.parametrize("choice", [["test", "train"], ["holdout"], ["calib", "val", "train", "test"]])
def test_splits_option_picks_and_orders(taco, tmp_path, packed, choice):
    src, _out, _cp = packed
    out = tmp_path / "sub.taco"
    pack(taco, src, out, "--splits", ",".join(choice))
    index = check_splits_archive(taco, out, TREE, choice, TOP_LEVEL)
    for e in index["entries"]:
        check_entry_extracts(taco, out, e, of_split(TREE, e["split"]), tmp_path)


def test_seven_splits(taco, tmp_path):
    names = ["zeta", "alpha", "test", "mid", "train", "beta", "val"]
    files = {f"{s}/part-{k}.bin": payload(50 + 10 * k, k) for k in range(2) for s in names}
    src = tmp_path / "seven"
    write_tree(src, files)
    out = tmp_path / "seven.taco"
    cp = pack(taco, src, out)
    assert not note_lines(cp.stderr), cp.stderr
    order = ["train", "val", "test", "alpha", "beta", "mid", "zeta"]
    index = check_splits_archive(taco, out, files, order)
    assert len(index["entries"]) == MAX_ENTRIES


def test_more_than_seven_splits(taco, tmp_path):
    names = ["train", "val", "test", "fold-a", "fold-b", "fold-c", "fold-d", "fold-e"]
    files = {f"{s}/data.bin": payload(40, i) for i, s in enumerate(names)}
    src = tmp_path / "eight"
    write_tree(src, files)
    work = tmp_path / "work"
    work.mkdir()
    fails_cleanly(taco, work, "pack-splits", src, needles=tuple(names))

    # choosing at most 7 of them works
    out = tmp_path / "three.taco"
    pack(taco, src, out, "--splits", "fold-e,train,fold-a")
    check_splits_archive(taco, out, files, ["fold-e", "train", "fold-a"])


def test_truncated_split_span_counts_complete_files(taco, packed, tmp_path):
    _src, out, _cp = packed
    index = json.loads(meta_path(out).read_bytes())
    e = index["entries"][0]  # train: 5 files
    members = [m for m in index["members"] if m.get("split") == "train"]
    assert len(members) == 5
    big = max(range(5), key=lambda k: members[k]["length"])  # shard-0001, 1500 bytes
    assert big >= 1
    stop = members[big]["data_offset"] + members[big]["length"] // 2
    span = cut(out, e["offset"], stop - e["offset"], tmp_path / "trunc.bin")
    dest = tmp_path / "x"
    dest.mkdir()
    line = assert_taco_error(taco("extract", "--range", span, "-C", dest))
    assert re.search(rf"\b{big} complete file", line), f"should say {big} complete file(s): {line!r}"
    got = tree_files(dest)
    assert members[big]["name"] not in got, "a partial file was left behind"
    for name, data in got.items():
        assert TREE.get(name) == data, f"unexpected or partial file {name}"


def test_get_tile_on_splits_archive_fails(taco, packed):
    _src, out, _cp = packed
    cp = taco("get", out, "--tile", "0/0/0")
    assert cp.returncode == 1
    assert_taco_error(cp)


# ---------------------------------------------------------------------------
# the example tree


def tfrecords(data: bytes) -> list[bytes]:
    """Parse TFRecord framing and check both masked CRC-32C values of every record."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)

    def masked(b):
        c = 0xFFFFFFFF
        for x in b:
            c = table[(c ^ x) & 0xFF] ^ (c >> 8)
        c ^= 0xFFFFFFFF
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    out, pos = [], 0
    while pos < len(data):
        head = data[pos:pos + 8]
        (n,) = struct.unpack("<Q", head)
        assert struct.unpack_from("<I", data, pos + 8)[0] == masked(head)
        rec = data[pos + 12:pos + 12 + n]
        assert len(rec) == n
        assert struct.unpack_from("<I", data, pos + 12 + n)[0] == masked(rec)
        out.append(rec)
        pos += 16 + n
    return out


def example_files() -> dict[str, bytes]:
    return tree_files(EXAMPLE)


def test_example_tree_is_what_its_generator_writes(tmp_path):
    files = example_files()
    assert sum(map(len, files.values())) < 50_000
    assert {split_of(n) for n in files} == {"train", "val", "test"}
    assert "train/extra/labels.csv" in files
    for name, data in files.items():
        if name.endswith(".tfrecord"):
            recs = tfrecords(data)
            assert recs and all(r.startswith(split_of(name).encode() + b"/") for r in recs), name
    regen = tmp_path / "regen"
    cp = subprocess.run([sys.executable, EXAMPLE.parent / "make_ml_data.py", regen], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert tree_files(regen) == files, "checked-in files differ from the generator's output"


def test_example_default_output(taco, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    cp = taco("pack-splits", EXAMPLE, cwd=work, check=True)
    assert listing(work) == {"ml_data.taco", "ml_data.taco.meta.json"}
    out = work / "ml_data.taco"
    files = example_files()
    index = check_splits_archive(taco, out, files, ["train", "val", "test"])
    assert note_lines(cp.stderr) == [], "the example holds nothing but its data"
    assert index["members"][0]["name"] == "train/extra/labels.csv"
    for e in index["entries"]:
        check_entry_extracts(taco, out, e, of_split(files, e["split"]), tmp_path)


def test_force_and_quiet(taco, tmp_path, packed):
    src, _out, _cp = packed
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "s.taco"
    out.write_bytes(b"precious")
    assert_taco_error(taco("pack-splits", src, "-o", out), "exists")
    assert out.read_bytes() == b"precious"
    assert listing(outdir) == {"s.taco"}, "no .meta.json may be written when OUT exists"
    cp = taco("pack-splits", src, "-o", out, "--force", "-q", check=True)
    assert cp.stdout == ""
    assert listing(outdir) == {"s.taco", "s.taco.meta.json"}
    check_splits_archive(taco, out, TREE, ORDER, TOP_LEVEL)


# ---------------------------------------------------------------------------
# bad input: one line, exit 1, nothing written


def splits_fail(taco, work, src, *args, **kw):
    return pack_dir_fails(taco, work, "pack-splits", src, *args, **kw)


SMALL = {"train/a.bin": b"a", "val/b.bin": b"b", "test/c.bin": b"c"}


@pytest.mark.parametrize("how", ["no-entries", "only-empty-subdirs"])
def test_empty_split(taco, tmp_path, work, how):
    src = tmp_path / "ml"
    write_tree(src, SMALL)
    (src / "extra").mkdir()
    if how == "only-empty-subdirs":
        (src / "extra" / "a" / "b").mkdir(parents=True)
    splits_fail(taco, work, src, needles=("extra",))


def test_unknown_split_in_option(taco, tmp_path, work):
    src = tmp_path / "ml"
    write_tree(src, SMALL)
    splits_fail(taco, work, src, "--splits", "train,nope", needles=("nope",))


@pytest.mark.parametrize("how", ["empty-dir", "only-top-level-files"])
def test_no_split_dirs(taco, tmp_path, work, how):
    """Nothing to pack is an error (as `pack-tiles` says "no tiles"), not a 0-entry archive."""
    src = tmp_path / "ml"
    src.mkdir()
    if how == "only-top-level-files":
        write_tree(src, {"a.bin": b"a", "b.bin": b"b"})
    splits_fail(taco, work, src, needles=("split",))


def test_missing_dir(taco, tmp_path, work):
    splits_fail(taco, work, tmp_path / "nope-data", needles=("nope-data",))


def test_symlink_loop(taco, tmp_path, work):
    src = tmp_path / "ml"
    write_tree(src, SMALL)
    os.symlink(src, src / "train" / "loop")
    splits_fail(taco, work, src, needles=("loop",), timeout=30)


def test_explicit_out_not_left_on_error(taco, tmp_path, work):
    src = tmp_path / "ml"
    write_tree(src, SMALL)
    out = work / "x.taco"
    splits_fail(taco, work, src, "-o", out, "--splits", "val,missing", needles=("missing",))
    assert not out.exists() and not meta_path(out).exists()


def test_unreadable_file(taco, taco_bin):
    with unprivileged_workspace(taco_bin) as (base, prefix):
        src = base / "ml"
        write_tree(src, {**SMALL, "val/secret.bin": b"secret"})
        make_world_readable(src)
        (src / "val" / "secret.bin").chmod(0)
        outdir = world_writable_dir(base / "out")
        splits_fail(taco, outdir, src, needles=("secret.bin",), prefix=prefix)
