"""Archives written by `taco pack` open in unzip, Python zipfile, 7-Zip and bsdtar, and taco's own
readers (ls, get, extract, validate) agree with them."""

import json
import os
import struct

import pytest

from conftest import (
    assert_taco_error,
    check_7z,
    check_unzip,
    check_zipfile,
    find_eocd,
    listing,
    packed_names,
    payload,
    read_range,
    run_tool,
    tree_files,
    write_tree,
    zip_members,
)
from tree_fixtures import check_lookup_directory

TREE = {
    "top.txt": b"top level\n",
    "empty.dat": b"",
    "a/b/c/deep.bin": payload(4096, 3),
    "a/b/empty2": b"",
    "a/z.txt": b"zzz",
    "a/B.txt": b"upper case sorts first by bytes",
    "ñandú/ümlaut.txt": "grüße\n".encode(),
    "日本語/ファイル.txt": "こんにちは".encode(),
    "a/space name.txt": b"spaces",
}


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    write_tree(d, TREE)
    return d


def expected_names(prefix: str) -> list[str]:
    """DIR members are sorted by the bytes of their relative path."""
    rels = sorted(TREE, key=lambda s: s.encode())
    return [f"{prefix}{r}" for r in rels]


@pytest.fixture
def packed(taco, tmp_path, data_dir):
    """data/ directory followed by a separate plain file argument."""
    extra = tmp_path / "extra.bin"
    extra.write_bytes(payload(1000, 9))
    out = tmp_path / "out.taco"
    taco("pack", out, data_dir, extra, check=True)
    expected = {f"data/{k}": v for k, v in TREE.items()}
    expected["extra.bin"] = extra.read_bytes()
    return out, expected


def test_member_order_and_names(taco, packed):
    out, _expected = packed
    names = [m.name for m in zip_members(out)]
    assert names == packed_names(expected_names("data/") + ["extra.bin"])
    # the lookup directory, decoded by tests/lookup_decoder.py, lists exactly the files
    check_lookup_directory(out, zip_members(out))


def test_unzip_accepts(packed):
    check_unzip(packed[0])


def test_zipfile_accepts(packed):
    out, expected = packed
    check_zipfile(out, expected)


def test_7z_accepts(packed):
    check_7z(packed[0])


def test_7z_extract_matches(tmp_path, packed):
    out, expected = packed
    dest = tmp_path / "x7"
    run_tool("7zz", "x", "-bd", "-y", f"-o{dest}", out, check=True)
    assert without_index(tree_files(dest)) == expected


def test_bsdtar_extract_matches(tmp_path, packed):
    out, expected = packed
    dest = tmp_path / "xb"
    dest.mkdir()
    run_tool("bsdtar", "-xf", out, "-C", dest, check=True)
    assert without_index(tree_files(dest)) == expected


def without_index(got: dict[str, bytes]) -> dict[str, bytes]:
    """A whole-archive extraction by another tool, less the header, the lookup directory and
    the manifest (checked to be what they claim by their magic bytes)."""
    got.pop("TACO_HEADER", None)
    assert got.pop("TACO_DIRECTORY")[:4] == b"TDIR"
    manifest = got.pop("TACO_MANIFEST.parquet")
    assert manifest[:4] == manifest[-4:] == b"PAR1"
    return got


def test_small_archive_has_no_zip64_records(packed):
    b = packed[0].read_bytes()
    eocd = find_eocd(b)
    assert eocd == len(b) - 22, "no archive comment expected"
    assert b[eocd - 20:eocd - 16] != b"PK\x06\x07", "ZIP64 locator in a small archive"
    assert b"PK\x06\x06" not in b[eocd - 200:eocd]


def test_valid_at_every_level(taco, packed):
    out, _ = packed
    for level in ("quick", "normal", "deep"):
        taco("validate", out, "--level", level, check=True)
    taco("validate", out, check=True)
    doc = json.loads(taco("validate", out, "--level", "deep", "--json", check=True).stdout)
    assert doc["ok"] is True
    assert doc["level"] == "deep"
    assert doc["error"] is None
    # "members" may or may not count TACO_HEADER; it must be one of the two (the files, the
    # lookup directory and the manifest)
    assert doc["members"] in (len(TREE) + 3, len(TREE) + 4)


def test_ls_json_matches_zipfile(taco, packed):
    out, _ = packed
    doc = json.loads(taco("ls", out, "--json", check=True).stdout)
    ours = [(m["name"], m["header_offset"], m["size"], m["crc32"]) for m in doc["members"]]
    theirs = [(m.name, m.header_offset, m.size, m.crc) for m in zip_members(out)]
    assert ours == theirs


def test_get_member_and_entry(taco, tmp_path, packed):
    out, expected = packed
    name = "data/a/b/c/deep.bin"
    assert taco("get", out, "--member", name, binary=True, check=True).stdout == expected[name]
    o = tmp_path / "got.bin"
    taco("get", out, "--member", "data/ñandú/ümlaut.txt", "-o", o, check=True)
    assert o.read_bytes() == expected["data/ñandú/ümlaut.txt"]

    # absolute range: the entry's bytes are the archive's bytes, whatever they are
    taco("update-header", out, "--entry", "0:157", "--entry", "200:33", check=True)
    assert taco("get", out, "--entry", "1", binary=True, check=True).stdout == read_range(out, 200, 33)
    assert taco("get", out, "--entry", "0", binary=True, check=True).stdout == read_range(out, 0, 157)


def test_get_missing_member_or_entry_fails(taco, packed):
    out, _ = packed
    assert_taco_error(taco("get", out, "--member", "no/such/file"))
    assert_taco_error(taco("get", out, "--entry", "3"))  # archive has no entries


def test_extract_roundtrip(taco, tmp_path, packed):
    out, expected = packed
    dest = tmp_path / "x"
    dest.mkdir()
    taco("extract", out, "-C", dest, check=True)
    assert tree_files(dest) == expected  # and no TACO_HEADER file

    # existing files are not overwritten without --force
    (dest / "extra.bin").write_bytes(b"local change")
    cp = taco("extract", out, "-C", dest)
    assert_taco_error(cp)
    assert (dest / "extra.bin").read_bytes() == b"local change"
    taco("extract", out, "-C", dest, "--force", check=True)
    assert tree_files(dest) == expected


def test_extract_default_dir_is_cwd(taco, tmp_path, packed):
    out, expected = packed
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    taco("extract", out, cwd=cwd, check=True)
    assert tree_files(cwd) == expected


def test_dot_argument_names_are_relative(taco, tmp_path, data_dir):
    out = tmp_path / "dot.taco"
    taco("pack", out, ".", cwd=data_dir, check=True)
    names = [m.name for m in zip_members(out)]
    assert names == packed_names(expected_names(""))
    check_zipfile(out, dict(TREE))


def test_file_arguments_keep_argument_order(taco, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    files = write_tree(src, {"b.txt": b"b", "a.txt": b"a", "c.txt": b"c"})
    out = tmp_path / "o.taco"
    taco("pack", out, src / "c.txt", src / "a.txt", src / "b.txt", check=True)
    assert [m.name for m in zip_members(out)] == packed_names(["c.txt", "a.txt", "b.txt"])
    check_zipfile(out, files)


def test_entry_per_file_ranges_are_file_bytes(taco, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    files = write_tree(src, {
        "one.bin": payload(12345, 1),
        "empty": b"",
        "sub/two.bin": payload(777, 2),
        "ünï.txt": "non-ascii name".encode(),
    })
    out = tmp_path / "o.taco"
    args = [src / "one.bin", src / "empty", src / "sub", src / "ünï.txt"]
    taco("pack", out, *args, "--entry-per-file", check=True)
    doc = json.loads(taco("header", out, "--json", check=True).stdout)
    order = ["one.bin", "empty", "sub/two.bin", "ünï.txt"]
    assert doc["count"] == len(order)
    for e, name in zip(doc["entries"], order):
        assert read_range(out, e["offset"], e["length"]) == files[name]
        assert e["length"] == len(files[name])
    ms = zip_members(out)[2:-1]
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == [(m.data_offset, m.size) for m in ms]
    check_unzip(out)
    check_7z(out)


def test_entry_per_file_more_than_seven_fails(taco, tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    write_tree(src, {f"f{i}.txt": b"x" for i in range(8)})
    out = tmp_path / "o.taco"
    before = listing(tmp_path)
    assert_taco_error(taco("pack", out, src, "--entry-per-file"))
    assert not out.exists()
    assert listing(tmp_path) == before


def test_quiet_pack_prints_nothing(taco, tmp_path, data_dir):
    out = tmp_path / "q.taco"
    cp = taco("pack", out, data_dir, "-q", check=True)
    assert cp.stdout == "" and cp.stderr == ""


def test_usage_errors_exit_2(taco, tmp_path):
    assert taco().returncode == 2
    assert taco("pack").returncode == 2
    assert taco("no-such-subcommand").returncode == 2


def test_pack_does_not_leave_temp_files(taco, tmp_path, data_dir):
    outdir = tmp_path / "outdir"
    outdir.mkdir()
    taco("pack", outdir / "a.taco", data_dir, check=True)
    assert os.listdir(outdir) == ["a.taco"]


def test_local_headers_match_central(packed):
    """Byte-level: every local header carries CRC and sizes (no data descriptor)."""
    out, _ = packed
    b = out.read_bytes()
    for m in zip_members(out):
        flags, method = struct.unpack_from("<HH", b, m.header_offset + 6)
        crc, csize, usize = struct.unpack_from("<III", b, m.header_offset + 14)
        assert method == 0 and not flags & 0x08, m
        assert (crc, csize, usize) == (m.crc, m.size, m.size), m
