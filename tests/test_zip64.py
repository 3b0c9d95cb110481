"""ZIP64: a 4.5 GiB member (and a member past the 4 GiB offset), and 70 000 members.

Slow and disk-hungry (the archive of the big test is ~4.5 GiB of real blocks); outputs are
removed as soon as each test ends. Marked `zip64` but part of the default run.
"""

import os
import shutil
import struct
import zipfile

import pytest

from parquet_fixtures import require_module
from conftest import (
    HEADER_SIZE,
    check_7z,
    check_unzip,
    find_eocd,
    parse_taco_header,
    read_range,
    require_free_space,
    run_tool,
    packed_names,
    zip_members,
)

pytestmark = pytest.mark.zip64

BIG = int(4.5 * 2**30)
MARKS = {0: b"START-OF-BIG-FILE", BIG // 2: b"MIDDLE", 2**32 - 3: b"ACROSS-4GiB", BIG - 3: b"END"}


def assert_zip64_trailer(path):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - 200))
        tail = f.read()
    eocd = find_eocd(tail)
    assert tail[eocd - 20:eocd - 16] == b"PK\x06\x07", "ZIP64 EOCD locator missing"
    z64 = struct.unpack_from("<Q", tail, eocd - 20 + 8)[0]
    with open(path, "rb") as f:
        f.seek(z64)
        assert f.read(4) == b"PK\x06\x06", "ZIP64 EOCD record missing"


@pytest.fixture
def big_dir(tmp_path):
    require_free_space(tmp_path, BIG + 2 * 2**30)
    d = tmp_path / "big"
    d.mkdir()
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_member_over_4gib(taco, big_dir):
    src = big_dir / "huge.bin"
    with open(src, "wb") as f:
        f.truncate(BIG)
        for off, mark in MARKS.items():
            f.seek(off)
            f.write(mark)
    assert src.stat().st_size == BIG
    after = big_dir / "after.txt"
    after.write_bytes(b"this member starts past 4 GiB\n")
    out = big_dir / "big.taco"

    taco("pack", out, src, after, "--entry-per-file", "-q", check=True, timeout=1200)

    # header: the second entry's offset is past 4 GiB and its length fits u64 fine
    entries = parse_taco_header(read_range(out, 0, HEADER_SIZE))
    assert len(entries) == 2
    (off0, len0), (off1, len1) = entries
    assert len0 == BIG and off1 > 2**32 and len1 == after.stat().st_size
    assert read_range(out, off1, len1) == after.read_bytes()
    for off, mark in MARKS.items():
        assert read_range(out, off0 + off, len(mark)) == mark

    tacozip = require_module("tacozip")
    assert [tuple(e) for e in tacozip.read_header(str(out))] == entries

    assert_zip64_trailer(out)
    ms = zip_members(out)
    assert [m.name for m in ms] == packed_names(["huge.bin", "after.txt"])
    # planned offsets (the lookup directory is written first) hold across the 4 GiB line
    assert (ms[2].data_offset, ms[2].size) == (off0, len0)
    assert (ms[3].data_offset, ms[3].size) == (off1, len1)

    # independent readers, each reading every byte
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        with z.open("huge.bin") as f:
            for off, mark in MARKS.items():
                f.seek(off)
                assert f.read(len(mark)) == mark
        assert z.read("after.txt") == after.read_bytes()
    check_unzip(out)
    check_7z(out)
    taco("validate", out, "--level", "deep", check=True, timeout=1200)


def test_seventy_thousand_members(taco, tmp_path):
    n = 70_000
    d = tmp_path / "many"
    try:
        src = d / "files"
        for i in range(0, n, 1000):
            (src / f"{i // 1000:03d}").mkdir(parents=True)
        for i in range(n):
            (src / f"{i // 1000:03d}" / f"{i:05d}.txt").write_bytes(b"%d\n" % i)
        out = d / "many.taco"
        taco("pack", out, src, "-q", check=True, timeout=900)

        assert_zip64_trailer(out)
        b_tail = read_range(out, os.path.getsize(out) - 22, 22)
        assert b_tail[:4] == b"PK\x05\x06"
        assert struct.unpack_from("<H", b_tail, 10)[0] == 0xFFFF, "classic EOCD count must be 0xFFFF"

        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            assert len(names) == n + 3
            assert names[:2] == ["TACO_HEADER", "TACO_DIRECTORY"]
            assert names[-1] == "TACO_MANIFEST.parquet"
            assert names[2] == "files/000/00000.txt" and names[-2] == f"files/069/{n - 1:05d}.txt"
            assert z.testzip() is None
            assert z.read("files/042/42424.txt") == b"42424\n"

        check_unzip(out)
        check_7z(out)
        cp = run_tool("bsdtar", "-tf", out)
        assert cp.returncode == 0 and len(cp.stdout.splitlines()) == n + 3
        taco("validate", out, "--level", "deep", check=True, timeout=900)
    finally:
        shutil.rmtree(d, ignore_errors=True)
