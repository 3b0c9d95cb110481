"""`taco update-header` rewrites only the header payload and its two CRCs, in place."""

import json
import os
import struct
import zlib

import pytest

from parquet_fixtures import require_module
from conftest import (
    HEADER_SIZE,
    assert_taco_error,
    check_7z,
    check_unzip,
    check_zipfile,
    central_dir_offset,
    entry_args,
    parse_taco_header,
    payload,
    write_tree,
)

tacozip = require_module("tacozip")  # fails under CI=true when missing, never skips there


@pytest.fixture
def archive(taco, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = write_tree(src, {"a.bin": payload(2000, 1), "b/c.txt": b"c" * 99, "d": b""})
    out = tmp_path / "u.taco"
    taco("pack", out, src, "--entry", "157:100", "--entry", "300:7", check=True)
    return out, {f"src/{k}": v for k, v in files.items()}


def allowed_changes(b: bytes) -> set[int]:
    cd = central_dir_offset(b)
    assert b[cd:cd + 4] == b"PK\x01\x02"
    name_len = struct.unpack_from("<H", b, cd + 28)[0]
    assert b[cd + 46:cd + 46 + name_len] == b"TACO_HEADER", "TACO_HEADER must be first in the CD"
    return set(range(14, 18)) | set(range(41, HEADER_SIZE)) | set(range(cd + 16, cd + 20))


@pytest.mark.parametrize(
    "new",
    [
        [(157, 1)],
        [(0, 0), (160, 10), (0, 0)],
        [(i * 100 + 157, i) for i in range(7)],
    ],
    ids=["one", "zeros-around", "seven"],
)
def test_update_changes_only_payload_and_crcs(taco, archive, new):
    out, files = archive
    before = out.read_bytes()
    ino = os.stat(out).st_ino
    taco("update-header", out, *entry_args(new), check=True)
    after = out.read_bytes()

    assert len(after) == len(before)
    assert os.stat(out).st_ino == ino, "update must be in place (same inode)"
    allowed = allowed_changes(before)
    changed = {i for i in range(len(before)) if before[i] != after[i]}
    assert changed <= allowed, f"bytes changed outside the header/CRCs: {sorted(changed - allowed)[:20]}"
    assert changed & set(range(41, HEADER_SIZE)), "payload did not change"

    assert parse_taco_header(after[:HEADER_SIZE]) == new
    crc = zlib.crc32(after[41:HEADER_SIZE])
    cd = central_dir_offset(after)
    assert struct.unpack_from("<I", after, 14)[0] == crc
    assert struct.unpack_from("<I", after, cd + 16)[0] == crc

    assert [tuple(e) for e in tacozip.read_header(str(out))] == new
    check_unzip(out)
    check_7z(out)
    check_zipfile(out, files)
    taco("validate", out, "--level", "deep", check=True)


def test_clear(taco, archive):
    out, files = archive
    taco("update-header", out, "--clear", check=True)
    assert tacozip.read_header(str(out)) == []
    assert out.read_bytes()[41] == 0
    doc = json.loads(taco("header", out, "--json", check=True).stdout)
    assert (doc["count"], doc["entries"]) == (0, [])
    check_zipfile(out, files)


def test_update_with_too_many_entries_leaves_file_alone(taco, archive):
    out, _ = archive
    before = out.read_bytes()
    assert_taco_error(taco("update-header", out, *entry_args([(157, 1)] * 8)))
    assert out.read_bytes() == before


def test_update_outside_archive_is_refused(taco, archive):
    out, _ = archive
    before = out.read_bytes()
    size = len(before)
    assert_taco_error(taco("update-header", out, "--entry", f"{size - 5}:10"))
    assert out.read_bytes() == before


def test_update_on_plain_zip_is_refused(taco, tmp_path):
    import zipfile

    p = tmp_path / "plain.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("x.txt", b"x" * 200)
    before = p.read_bytes()
    assert_taco_error(taco("update-header", p, "--entry", "0:1"))
    assert p.read_bytes() == before
