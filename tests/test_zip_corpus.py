"""Differential listing: `taco ls --json` against Python's zipfile on ZIP files written by
other tools (Info-ZIP zip, 7-Zip, bsdtar) and by zipfile itself with awkward names (CP437 /
CP866 / KOI8-R / CP932 bytes without the UTF-8 flag, an Info-ZIP Unicode Path extra field,
UTF-8 with the flag), ZIP64, empty and commented archives, all generated here.

For each archive zipfile lists, taco either refuses it (exit 1, one `taco: ` line: it reads
STORED TACO archives, not every ZIP) or lists exactly the same members in the same order with
the same name, size, CRC and offset. It never crashes. The STORED TACO archives built with
zipfile must be listed, so the name decoding (UTF-8 flag, else a Unicode Path field whose CRC
matches the raw name, else CP437) is really exercised.

zipfile (3.11) ignores the Unicode Path field (0x7075); `spec_name` applies it on top of
zipfile's reading, as the ZIP spec and taco do.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import (
    assert_taco_error,
    build_taco_payload,
    payload,
    run_tool,
    skip_or_fail,
    stored_info,
    write_tree,
)

FLAG_UTF8 = 0x800
UNICODE_PATH = 0x7075

# ---------------------------------------------------------------------------
# the oracle


def unicode_path(extra: bytes, raw: bytes) -> str | None:
    """The name of an Info-ZIP Unicode Path field (version 1) whose CRC matches `raw`."""
    while len(extra) >= 4:
        tag, size = struct.unpack_from("<HH", extra)
        body, extra = extra[4:4 + size], extra[4 + size:]
        if tag == UNICODE_PATH and len(body) >= 5 and body[0] == 1:
            if struct.unpack_from("<I", body, 1)[0] == zlib.crc32(raw):
                try:
                    return body[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def spec_name(info: zipfile.ZipInfo) -> str:
    """zipfile's name with the Unicode Path rule applied: flag -> UTF-8 (zipfile did it),
    else a matching 0x7075 field, else CP437 (zipfile did it)."""
    if info.flag_bits & FLAG_UTF8:
        return info.filename
    return unicode_path(info.extra, info.filename.encode("cp437")) or info.filename


def zipfile_listing(path: Path) -> list[dict] | None:
    """What taco must list, or None when zipfile cannot list the archive."""
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, NotImplementedError, ValueError):
        return None
    return [{"name": spec_name(i), "size": i.file_size, "crc32": i.CRC,
             "header_offset": i.header_offset} for i in infos]


# ---------------------------------------------------------------------------
# archives written by other tools

TREE = {
    "top.txt": b"top level\n",
    "dir/random.bin": payload(5000, 1),
    "dir/zeros.txt": b"0" * 20000,  # compresses: deflate really deflates
    "dir/sub/empty.txt": b"",
    "ünïcödé/grüße.txt": "grüße\n".encode(),
    "日本語/ファイル.txt": "こんにちは\n".encode(),
    "space name.txt": b"spaces\n",
}
TOP = sorted({k.split("/")[0] for k in TREE})


def tool_zip(*cmd_and_args) -> Callable[[Path], Path]:
    """An archive of TREE made by running `cmd_and_args OUT TOP...` inside the tree."""
    def build(base: Path) -> Path:
        src = base / "src"
        write_tree(src, TREE)
        out = base / "out.zip"
        cmd, *args = cmd_and_args
        run_tool(cmd, *[out if a == "OUT" else a for a in args], *TOP, cwd=src, check=True)
        return out
    return build


# ---------------------------------------------------------------------------
# archives written by zipfile: a TACO header first, then members named by raw bytes


def python_zip(members, *, taco=True, comment=b"", force_zip64=False) -> Callable[[Path], Path]:
    """members: (name, data, extra). A `bytes` name is written as is, without the UTF-8 flag
    (zipfile writes an ASCII placeholder of the same length, which is then patched)."""
    def build(base: Path) -> Path:
        out = base / "out.zip"
        patches = []
        with zipfile.ZipFile(out, "w") as z:
            if taco:
                z.writestr(stored_info("TACO_HEADER"), build_taco_payload([]))
            for i, (name, data, extra) in enumerate(members):
                if isinstance(name, bytes):
                    placeholder = (chr(ord("A") + i) * len(name)).encode()
                    patches.append((placeholder, name))
                    name = placeholder.decode()
                zi = stored_info(name)
                zi.extra = extra
                with z.open(zi, "w", force_zip64=force_zip64) as f:
                    f.write(data)
            z.comment = comment
        b = out.read_bytes()
        for placeholder, raw in patches:
            assert b.count(placeholder) == 2, "placeholder must be exactly the two name fields"
            b = b.replace(placeholder, raw)
        out.write_bytes(b)
        return out
    return build


def flagless(encoding: str, *names: str) -> Callable[[Path], Path]:
    return python_zip([(n.encode(encoding), f"file {i}\n".encode(), b"")
                       for i, n in enumerate(names)])


def upath_field(raw: bytes, name: str, crc_delta: int = 0) -> bytes:
    utf8 = name.encode()
    return struct.pack("<HHBI", UNICODE_PATH, 5 + len(utf8), 1,
                       (zlib.crc32(raw) ^ crc_delta)) + utf8


def with_unicode_path(crc_ok: bool) -> Callable[[Path], Path]:
    """Info-ZIP style: flagless raw names (ASCII, and CP437 bytes) plus a 0x7075 field naming
    the file in UTF-8; with a wrong CRC the field must be ignored."""
    delta = 0 if crc_ok else 1
    pairs = [(b"Gruesse.txt", "Grüße.txt"), ("Ärger.txt".encode("cp437"), "Ärger-ü.txt"),
             (b"dir/plain.txt", "dir/plain.txt")]
    return python_zip([(raw, b"upath\n", upath_field(raw, name, delta))
                       for raw, name in pairs])


def zip64_end_records(base: Path) -> Path:
    """A TACO archive whose end has ZIP64 records (zipfile writes them past 65535 members;
    its limit is lowered for this one archive)."""
    old = zipfile.ZIP_FILECOUNT_LIMIT
    zipfile.ZIP_FILECOUNT_LIMIT = 0
    try:
        return python_zip([("a.txt", b"a\n", b""), ("b.txt", b"b\n", b"")])(base)
    finally:
        zipfile.ZIP_FILECOUNT_LIMIT = old


@dataclass
class Corpus:
    build: Callable[[Path], Path]
    must_list: bool = False  # a STORED TACO archive: taco must list it
    non_utf8: bool = False  # every member's raw name is flagless, non-ASCII, not UTF-8


CORPUS: dict[str, Corpus] = {
    "infozip-stored": Corpus(tool_zip("zip", "-q", "-r", "-0", "OUT")),
    "infozip-deflated": Corpus(tool_zip("zip", "-q", "-r", "-9", "OUT")),
    "7zz-stored": Corpus(tool_zip("7zz", "a", "-tzip", "-mx=0", "-bd", "-bso0", "OUT")),
    "7zz-deflated": Corpus(tool_zip("7zz", "a", "-tzip", "-mx=5", "-bd", "-bso0", "OUT")),
    "bsdtar-default": Corpus(tool_zip("bsdtar", "--format", "zip", "-cf", "OUT")),
    "bsdtar-stored": Corpus(tool_zip("bsdtar", "--format", "zip",
                                     "--options", "zip:compression=store", "-cf", "OUT")),
    "py-cp437": Corpus(flagless("cp437", "Mötley Crüe.txt", "Ärger/Über.txt"),
                       must_list=True, non_utf8=True),
    "py-cp866": Corpus(flagless("cp866", "Привет/мир.txt", "ёж.txt"),
                       must_list=True, non_utf8=True),
    "py-koi8r": Corpus(flagless("koi8_r", "Привет мир.txt", "щука.txt"),
                       must_list=True, non_utf8=True),
    # 表 is 0x95 0x5C in CP932: its CP437 reading holds a backslash
    "py-cp932": Corpus(flagless("cp932", "日本語/表示.txt", "ファイル.txt"),
                       must_list=True, non_utf8=True),
    # UTF-8 bytes without the flag are CP437 too ("café" -> "caf├⌐")
    "py-utf8-bytes-no-flag": Corpus(flagless("utf-8", "café.txt", "naïve/ß.txt"),
                                    must_list=True),
    "py-unicode-path": Corpus(with_unicode_path(crc_ok=True), must_list=True),
    "py-unicode-path-bad-crc": Corpus(with_unicode_path(crc_ok=False), must_list=True),
    "py-utf8-flag": Corpus(python_zip([("ünïcödé.txt", b"u\n", b""),
                                       ("日本語/ファイル.txt", b"j\n", b""),
                                       ("emoji 🎉.txt", b"e\n", b"")]), must_list=True),
    "py-zip64-members": Corpus(python_zip([("a.txt", b"a\n", b""),
                                           ("dir/b.bin", payload(3000, 4), b"")],
                                          force_zip64=True), must_list=True),
    "py-zip64-end-records": Corpus(zip64_end_records),
    "py-empty": Corpus(python_zip([], taco=False)),
    "py-comment": Corpus(python_zip([("a.txt", b"a\n", b"")],
                                    comment=b"made by a test, nothing else in here"),
                         must_list=True),
}


@pytest.fixture(params=sorted(CORPUS))
def corpus_zip(request, tmp_path) -> tuple[str, Path]:
    return request.param, CORPUS[request.param].build(tmp_path)


def test_ls_matches_zipfile(taco, corpus_zip):
    name, path = corpus_zip
    want = zipfile_listing(path)
    cp = taco("ls", path, "--json")
    assert "panicked at" not in cp.stderr, cp.stderr
    assert cp.returncode in (0, 1), f"exit {cp.returncode}: {cp.stderr!r}"
    if CORPUS[name].must_list:
        assert cp.returncode == 0, f"a STORED TACO archive must be listed: {cp.stderr!r}"
    if cp.returncode == 1:
        assert_taco_error(cp)
        return
    got = json.loads(cp.stdout)["members"]
    if want is None:
        return  # nothing to compare with
    assert [m["name"] for m in got] == [m["name"] for m in want]
    fields = ("name", "size", "crc32", "header_offset")
    assert [{k: m[k] for k in fields} for m in got] == want


# ---------------------------------------------------------------------------
# archives written by Windows (XP, 7, WinZip, WinRAR), macOS, 7-Zip, Info-ZIP and Go, with their
# odd corners (trailing junk, a prefix, data descriptors, ZIP64, bad directory sizes): Go's own
# test archives, shipped by Debian's golang-1.19-src package (installed by scripts/setup.sh)

GO_ZIP_TESTDATA = Path("/usr/share/go-1.19/src/archive/zip/testdata")
GO_ZIPS = sorted(p.name for p in GO_ZIP_TESTDATA.glob("*.zip")) or ["(missing)"]


@pytest.mark.parametrize("name", GO_ZIPS)
def test_ls_matches_zipfile_on_archives_from_other_tools(taco, name):
    if not GO_ZIP_TESTDATA.is_dir():
        skip_or_fail(f"{GO_ZIP_TESTDATA} not found "
                     "(Debian package golang-1.19-src; run scripts/setup.sh)")
    path = GO_ZIP_TESTDATA / name
    want = zipfile_listing(path)
    cp = taco("ls", path, "--json")
    assert "panicked at" not in cp.stderr, cp.stderr
    assert cp.returncode in (0, 1), f"exit {cp.returncode}: {cp.stderr!r}"
    if cp.returncode == 1:
        assert_taco_error(cp)
        return
    assert want is not None, "taco lists an archive Python's zipfile refuses"
    got = json.loads(cp.stdout)["members"]
    fields = ("name", "size", "crc32", "header_offset")
    assert [{k: m[k] for k in fields} for m in got] == want


def test_archives_from_other_tools_are_mostly_listed(taco):
    """Refusing is allowed case by case, but most of these ordinary archives must list (else
    the comparison above would prove nothing)."""
    if not GO_ZIP_TESTDATA.is_dir():
        skip_or_fail(f"{GO_ZIP_TESTDATA} not found (Debian package golang-1.19-src)")
    listed = [n for n in GO_ZIPS if taco("ls", GO_ZIP_TESTDATA / n, "--json").returncode == 0]
    assert len(listed) >= len(GO_ZIPS) // 2, f"only {listed} of {GO_ZIPS} listed"


# ---------------------------------------------------------------------------
# the corpus is what it claims to be


def test_corpus_is_listed_by_zipfile(corpus_zip):
    name, path = corpus_zip
    want = zipfile_listing(path)
    assert want is not None, f"{name}: zipfile cannot list it"
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert z.testzip() is None
    if name == "py-empty":
        assert infos == []
    elif name.startswith("py-"):
        assert infos[0].filename == "TACO_HEADER" and infos[0].header_offset == 0
    if CORPUS[name].must_list:
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    if "deflated" in name or name == "bsdtar-default":
        assert any(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
    if name.startswith(("infozip", "7zz", "bsdtar")):
        # the tool stored every path (Info-ZIP 3.0: UTF-8 bytes without the flag, which a
        # reader must take as CP437)
        raw = {i.filename.encode("utf-8" if i.flag_bits & FLAG_UTF8 else "cp437")
               for i in infos}
        assert {k.encode() for k in TREE} <= raw, f"{name}: {sorted(raw)}"


@pytest.mark.parametrize("name", [n for n, c in CORPUS.items() if c.non_utf8])
def test_flagless_names_are_not_utf8(tmp_path, name):
    """These names can only be read right as CP437: no flag, and their bytes are not UTF-8."""
    path = CORPUS[name].build(tmp_path)
    with zipfile.ZipFile(path) as z:
        for i in z.infolist()[1:]:
            assert not i.flag_bits & FLAG_UTF8
            raw = i.filename.encode("cp437")
            assert not raw.isascii()
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")


@pytest.mark.parametrize("crc_ok", [True, False])
def test_unicode_path_changes_names_only_with_matching_crc(tmp_path, crc_ok):
    path = CORPUS["py-unicode-path" if crc_ok else "py-unicode-path-bad-crc"].build(tmp_path)
    with zipfile.ZipFile(path) as z:
        plain = z.namelist()
    spec = [m["name"] for m in zipfile_listing(path)]
    assert plain == ["TACO_HEADER", "Gruesse.txt", "Ärger.txt", "dir/plain.txt"]
    if crc_ok:
        assert spec == ["TACO_HEADER", "Grüße.txt", "Ärger-ü.txt", "dir/plain.txt"]
    else:
        assert spec == plain


def test_zip64_cases_use_zip64(tmp_path):
    for d in ("m", "e"):
        (tmp_path / d).mkdir()
    members = CORPUS["py-zip64-members"].build(tmp_path / "m")
    b = members.read_bytes()
    with zipfile.ZipFile(members) as z:
        at = z.getinfo("a.txt").header_offset
    nlen, xlen = struct.unpack_from("<HH", b, at + 26)
    extra = b[at + 30 + nlen:at + 30 + nlen + xlen]
    assert extra[:2] == b"\x01\x00", "the local header must carry a ZIP64 field"
    end = CORPUS["py-zip64-end-records"].build(tmp_path / "e").read_bytes()
    assert b"PK\x06\x06" in end and b"PK\x06\x07" in end
