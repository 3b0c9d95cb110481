"""`import taco_archive as tacozip`: the drop-in functions against tacozip 0.13.0 itself.

Every case runs twice, once with each module, in directories of its own, and the outcomes
(return value, or exception type and tacozip code) must be equal — except the deliberate
differences listed in DIFFERENCES (documented in README and taco_archive/_tacozip.py), where
both outcomes are asserted so a change on either side shows."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from conftest import check_unzip, payload
from parquet_fixtures import require_module

tacozip = require_module("tacozip")
ours = require_module("taco_archive")


def outcome(fn):
    """What a call did: ("ok", value) or ("raise", exception type name, code)."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 — the type is the outcome
        return ("raise", type(e).__name__, getattr(e, "code", None))


def make_sources(d: Path) -> None:
    (d / "a.txt").write_bytes(b"hello\n")
    (d / "b.bin").write_bytes(payload(3000, 7))
    with zipfile.ZipFile(d / "plain-small.zip", "w") as z:
        z.writestr("a", "b")
    with zipfile.ZipFile(d / "plain.zip", "w") as z:
        z.writestr("a", "b" * 1000)
    (d / "short.bin").write_bytes(b"PK\x03\x04" + bytes(50))


def created(m, entries, **kw):
    def run():
        m.create("x.zip", ["a.txt", "b.bin"], entries=entries, **kw)
        return m.read_header("x.zip")

    return run


def header_bytes(m, entries, cut=None):
    def run():
        m.create("x.zip", ["a.txt"], entries=entries)
        data = Path("x.zip").read_bytes()
        return m.read_header(data[:cut] if cut else data)

    return run


def updated(m, first, then, path="x.zip"):
    def run():
        m.create("x.zip", ["a.txt", "b.bin"], entries=first)
        m.update_header(path, then)
        return m.read_header("x.zip")

    return run


def corrupt_crc(m):
    def run():
        m.create("x.zip", ["a.txt"], entries=[(1, 2)])
        data = bytearray(Path("x.zip").read_bytes())
        data[50] ^= 1  # inside the payload: the CRC no longer matches
        Path("x.zip").write_bytes(bytes(data))
        return m.read_header("x.zip")

    return run


SEVEN = [(i * 10, i + 1) for i in range(7)]

CASES = {
    "version-is-text": lambda m: isinstance(m.get_library_version(), str),
    "constants": lambda m: (m.TACOZ_OK, m.TACOZ_ERR_IO, m.TACOZ_ERR_LIBZIP,
                            m.TACOZ_ERR_INVALID_HEADER, m.TACOZ_ERR_PARAM, m.TACOZ_ERR_NOT_FOUND,
                            m.TACOZ_ERR_EXISTS, m.TACOZ_ERR_TOO_LARGE, m.TACO_HEADER_MAX_ENTRIES),
    "error-str": lambda m: str(m.TacozipError(-3)),
    "error-code": lambda m: m.TacozipError(-5).code,
    "create-default-entries": lambda m: created(m, None)(),
    "create-0-entries": lambda m: created(m, [])(),
    "create-1-entry": lambda m: created(m, [(157, 10)])(),
    "create-3-entries": lambda m: created(m, [(1, 2), (3, 4), (5, 6)])(),
    "create-7-entries": lambda m: created(m, SEVEN)(),
    "create-trailing-zero": lambda m: created(m, [(1, 2), (0, 0)])(),
    "create-all-zero": lambda m: created(m, [(0, 0)] * 7)(),
    "create-8-entries": lambda m: created(m, [(1, 1)] * 8)(),
    "create-names": lambda m: (m.create("x.zip", ["a.txt", "b.bin"], arc_files=["d/1", "d/2"]),
                               zipfile.ZipFile("x.zip").namelist())[1],
    "create-names-mismatch": lambda m: m.create("x.zip", ["a.txt"], arc_files=["p", "q"]),
    "create-missing-source": lambda m: m.create("x.zip", ["nope.txt"]),
    "create-missing-leaves-nothing": lambda m: (outcome(lambda: m.create("x.zip", ["nope"])),
                                                os.path.exists("x.zip"))[1],
    "create-no-sources": lambda m: m.create("x.zip", []),
    "create-directory-source": lambda m: m.create("x.zip", ["."]),
    "create-into-missing-dir": lambda m: m.create("nodir/x.zip", ["a.txt"]),
    "create-replaces": lambda m: (m.create("x.zip", ["a.txt"], entries=[(9, 9)]),
                                  m.create("x.zip", ["b.bin"]), m.read_header("x.zip"))[2],
    "create-data-readable": lambda m: (m.create("x.zip", ["a.txt", "b.bin"]),
                                       zipfile.ZipFile("x.zip").read("b.bin")
                                       == Path("b.bin").read_bytes())[1],
    "read-bytes-157": lambda m: header_bytes(m, [(1, 2), (3, 4)], 157)(),
    "read-bytes-whole": lambda m: header_bytes(m, [(1, 2)])(),
    "read-bytes-short": lambda m: m.read_header(b"x" * 100),
    "read-bytes-garbage": lambda m: m.read_header(b"x" * 157),
    "read-missing-file": lambda m: m.read_header("nope.zip"),
    "read-directory": lambda m: m.read_header("."),
    "read-plain-zip": lambda m: m.read_header("plain.zip"),
    "read-plain-zip-small": lambda m: m.read_header("plain-small.zip"),
    "read-short-file": lambda m: m.read_header("short.bin"),
    "read-pathlib": lambda m: (m.create("x.zip", ["a.txt"], entries=[(4, 4)]),
                               m.read_header(Path("x.zip")))[1],
    "update-basic": lambda m: updated(m, [(0, 0)], [(9, 9)])(),
    "update-to-seven": lambda m: updated(m, [(1, 1)], SEVEN)(),
    "update-to-none": lambda m: updated(m, SEVEN, [])(),
    "update-8": lambda m: updated(m, [], [(1, 1)] * 8)(),
    "update-missing": lambda m: m.update_header("nope.zip", [(1, 1)]),
    "update-plain-zip": lambda m: m.update_header("plain.zip", [(1, 1)]),
    "update-short-file": lambda m: m.update_header("short.bin", [(1, 1)]),
    # differences (see DIFFERENCES)
    "zero-in-the-middle": lambda m: created(m, [(1, 2), (0, 0), (5, 6)])(),
    "zero-in-the-middle-bytes": lambda m: header_bytes(m, [(1, 2), (0, 0), (5, 6)], 157)(),
    "read-bytearray": lambda m: header_bytes(m, [(1, 2)])() and m.read_header(
        bytearray(Path("x.zip").read_bytes())),
    "update-pathlib": lambda m: updated(m, [], [(2, 2)], path=Path("x.zip"))(),
    "bad-crc": lambda m: corrupt_crc(m)(),
    "negative-entry": lambda m: created(m, [(-1, 2)])(),
    "huge-entry": lambda m: created(m, [(2**64, 2)])(),
    "absolute-name": lambda m: m.create("x.zip", ["a.txt"], arc_files=["/etc/x"]),
    "dotdot-name": lambda m: m.create("x.zip", ["a.txt"], arc_files=["../x"]),
    "duplicate-names": lambda m: m.create("x.zip", ["a.txt", "b.bin"], arc_files=["x", "x"]),
}

# case: (tacozip's outcome, ours) — each a deliberate difference, documented.
DIFFERENCES = {
    # tacozip's count byte drops the entries after a (0, 0)
    "zero-in-the-middle": (("ok", [(1, 2), (0, 0)]), ("ok", [(1, 2), (0, 0), (5, 6)])),
    "zero-in-the-middle-bytes": (("ok", [(1, 2), (0, 0)]), ("ok", [(1, 2), (0, 0), (5, 6)])),
    # tacozip treats any non-bytes buffer as a path
    "read-bytearray": (("raise", "TacozipError", -1), ("ok", [(1, 2)])),
    "update-pathlib": (("raise", "AttributeError", None), ("ok", [(2, 2)])),
    # tacozip does not check the header's CRC
    "bad-crc": (("ok", [(1099511627777, 2)]), ("raise", "TacozipError", -3)),
    # tacozip wraps out-of-range numbers silently
    "negative-entry": (("ok", [(18446744073709551615, 2)]), ("raise", "TacozipError", -4)),
    "huge-entry": (("ok", [(0, 2)]), ("raise", "TacozipError", -4)),
    # tacozip writes names that extract outside the directory, and collapses duplicates
    "absolute-name": (("ok", None), ("raise", "TacozipError", -4)),
    "dotdot-name": (("ok", None), ("raise", "TacozipError", -4)),
    "duplicate-names": (("ok", None), ("raise", "TacozipError", -6)),
}


def run_case(module, name: str, d: Path):
    d.mkdir()
    make_sources(d)
    cwd = os.getcwd()
    os.chdir(d)
    try:
        return outcome(lambda: CASES[name](module))
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_outcome_as_tacozip(tmp_path, name):
    theirs = run_case(tacozip, name, tmp_path / "tacozip")
    mine = run_case(ours, name, tmp_path / "taco_archive")
    if name in DIFFERENCES:
        assert (theirs, mine) == DIFFERENCES[name], name
    else:
        assert mine == theirs, f"{name}: tacozip {theirs}, taco_archive {mine}"


def test_failed_create_leaves_nothing_and_keeps_the_old_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_sources(tmp_path)
    ours.create("x.zip", ["a.txt"], entries=[(7, 7)])
    before = Path("x.zip").read_bytes()
    with pytest.raises(ours.TacozipError) as e:
        ours.create("x.zip", ["a.txt", "missing.bin"])
    assert e.value.code == ours.TACOZ_ERR_IO
    assert "missing.bin" in e.value.detail
    assert Path("x.zip").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["a.txt", "b.bin", "plain-small.zip", "plain.zip", "short.bin", "x.zip"])


def test_archives_each_makes_are_read_by_the_other_and_by_unzip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_sources(tmp_path)
    entries = [(157, 5), (0, 0), (200, 30)]
    ours.create("ours.zip", ["a.txt", "b.bin"], entries=entries)
    tacozip.create("theirs.zip", ["a.txt", "b.bin"], entries=entries[:1])
    assert ours.read_header("theirs.zip") == tacozip.read_header("theirs.zip") == [(157, 5)]
    # our count byte says 3, so tacozip's reader returns all three too
    assert tacozip.read_header("ours.zip") == ours.read_header("ours.zip") == entries
    check_unzip(tmp_path / "ours.zip")
    with zipfile.ZipFile("ours.zip") as z:
        assert z.namelist() == ["TACO_HEADER", "a.txt", "b.bin"]
        assert z.read("b.bin") == Path("b.bin").read_bytes()


def test_tacozip_code_reads_as_written_for_tacozip(tmp_path, monkeypatch):
    """The seed's first steps as a tacozip user writes them: create with a placeholder,
    compute offsets from zipfile, update the header, read the ranges back."""
    tz = ours
    monkeypatch.chdir(tmp_path)
    parts = []
    for i in range(3):
        p = tmp_path / f"part-{i}.bin"
        p.write_bytes(payload(1000 + i * 100, i))
        parts.append(str(p))
    tz.create("bundle.zip", parts, arc_files=[f"data/part-{i}.bin" for i in range(3)],
              entries=[(0, 0)])
    with zipfile.ZipFile("bundle.zip") as z:
        ranges = []
        for info in z.infolist()[1:]:
            with open("bundle.zip", "rb") as f:
                f.seek(info.header_offset + 26)
                n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
            ranges.append((info.header_offset + 30 + n + m, info.file_size))
    tz.update_header("bundle.zip", ranges)
    with open("bundle.zip", "rb") as f:
        header = tz.read_header(f.read(200))
    assert header == ranges
    for (off, length), src in zip(header, parts):
        with open("bundle.zip", "rb") as f:
            f.seek(off)
            assert f.read(length) == Path(src).read_bytes()
    assert tacozip.read_header("bundle.zip") == ranges
