"""tacozip 0.13.0 (the reference implementation) reads our headers, and we read its archives."""

import json

import pytest

from parquet_fixtures import require_module
from conftest import (
    HEADER_SIZE,
    check_unzip,
    check_zipfile,
    entry_args,
    parse_taco_header,
    payload,
    read_range,
    write_tree,
    zip_members,
)

tacozip = require_module("tacozip")  # fails under CI=true when missing, never skips there

ENTRY_SETS = {
    "zero": [],
    "one": [(157, 10)],
    "three-with-zero-middle": [(157, 10), (0, 0), (200, 5)],
    "seven": [(157, 1), (170, 20), (0, 0), (300, 0), (190, 40), (157, 300), (400, 2)],
}


@pytest.fixture
def sources(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = write_tree(src, {"a.bin": payload(300, 1), "b.bin": payload(50, 2), "c.txt": b"hello\n"})
    return [src / n for n in files]


@pytest.mark.parametrize("entries", list(ENTRY_SETS.values()), ids=list(ENTRY_SETS))
def test_tacozip_reads_our_header(taco, tmp_path, sources, entries):
    out = tmp_path / "out.taco"
    taco("pack", out, *sources, *entry_args(entries), "--allow-outside", check=True)
    raw = out.read_bytes()

    # count byte is the number of entries given, not the number of non-empty ones
    assert raw[41] == len(entries)
    assert parse_taco_header(raw[:HEADER_SIZE]) == entries

    assert [tuple(e) for e in tacozip.read_header(str(out))] == entries
    assert [tuple(e) for e in tacozip.read_header(raw[:165])] == entries
    assert [tuple(e) for e in tacozip.read_header(raw[:HEADER_SIZE])] == entries

    cp = taco("header", out, "--json", check=True)
    doc = json.loads(cp.stdout)
    assert doc["count"] == len(entries)
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == entries
    assert [e["index"] for e in doc["entries"]] == list(range(len(entries)))


def test_tacozip_reads_entry_per_file(taco, tmp_path, sources):
    out = tmp_path / "out.taco"
    taco("pack", out, *sources, "--entry-per-file", check=True)
    entries = [tuple(e) for e in tacozip.read_header(str(out))]
    assert len(entries) == len(sources)
    for (off, length), src in zip(entries, sources):
        assert read_range(out, off, length) == src.read_bytes()
    # and those are exactly the members' data ranges seen by an independent reader
    ms = zip_members(out)[2:-1]  # the files, between the lookup directory and the manifest
    assert entries == [(m.data_offset, m.size) for m in ms]


@pytest.mark.parametrize(
    "entries",
    [[], [(157, 10)], [(157, 10), (200, 5), (1, 1)], [(i * 10 + 1, i + 1) for i in range(7)]],
    ids=["zero", "one", "three", "seven"],
)
def test_we_read_tacozip_archives(taco, tmp_path, sources, entries):
    arc = tmp_path / "ref.zip"
    tacozip.create(str(arc), [str(s) for s in sources], entries=entries)
    assert [tuple(e) for e in tacozip.read_header(str(arc))] == entries  # sanity of the oracle

    doc = json.loads(taco("header", arc, "--json", check=True).stdout)
    assert doc["count"] == len(entries)
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == entries

    # our reader lists and validates what the reference wrote
    ls = json.loads(taco("ls", arc, "--json", check=True).stdout)
    names = [m["name"] for m in ls["members"]]
    assert names == ["TACO_HEADER"] + [s.name for s in sources]
    taco("validate", arc, "--level", "deep", check=True)


def test_get_member_from_tacozip_archive(taco, tmp_path, sources):
    arc = tmp_path / "ref.zip"
    tacozip.create(str(arc), [str(s) for s in sources], arc_files=["x/a.bin", "y/b.bin", "c.txt"],
                   entries=[(157, 20)])
    got = taco("get", arc, "--member", "y/b.bin", binary=True, check=True).stdout
    assert got == sources[1].read_bytes()
    got = taco("get", arc, "--entry", "0", binary=True, check=True).stdout
    assert got == read_range(arc, 157, 20)


def test_tacozip_update_header_on_our_archive(taco, tmp_path, sources):
    out = tmp_path / "out.taco"
    taco("pack", out, *sources, "--entry", "157:5", check=True)
    tacozip.update_header(str(out), [(160, 3), (170, 4)])
    doc = json.loads(taco("header", out, "--json", check=True).stdout)
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == [(160, 3), (170, 4)]
    taco("validate", out, "--level", "deep", check=True)
    check_unzip(out)
    check_zipfile(out, {s.name: s.read_bytes() for s in sources})
