"""A corpus of hostile archives, built byte by byte with `struct` (never with taco's writer),
run through every reading command, on the local file and through nginx.

Each case is a TACO archive (valid header at byte 0) with one defect of one class:

  (a) the end record's comment holds a second central directory and end record, so Python's
      zipfile lists other members than the first end record describes
  (b) a comment holding a ZIP signature          (c) two plausible end records
  (d) bytes no member accounts for               (e) a local entry the directory does not list,
                                                     inside a span entry
  (f) members overlapping (500 records on one local entry; a member inside another's data)
  (g) a STORED member whose two sizes differ     (h) names with control / bidi characters
  (i) resource claims: a ~1 TiB central directory, a 1 TiB TACO_INDEX.json

The table CASES says, per case, which commands must fail, which must succeed and which may do
either; `validate --json` must name one of the case's KINDs. Every failure is exactly one
`taco: ` line and leaves nothing behind (no output file, no temp file, extraction directory
empty or absent). For (i) every command also runs under /usr/bin/time and must peak below
64 MiB.
"""

from __future__ import annotations

import json
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import (
    HEADER_SIZE,
    PAYLOAD_SIZE,
    assert_taco_error,
    build_taco_payload,
    check_unzip,
    listing,
    parse_taco_header,
    payload,
    read_range,
    require_tool,
    tree_files,
)

# ---------------------------------------------------------------------------
# ZIP records, written by hand

LOCAL = struct.Struct("<4sHHHHHIIIHH")  # sig ver flags method time date crc csize usize nlen xlen
CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")  # + made, comment len, disk, attrs, offset
EOCD = struct.Struct("<4sHHHHIIH")  # disk, cd disk, entries here, entries, cd size, cd offset, clen
ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")
ZIP64_LOCATOR = struct.Struct("<4sIQI")

SIG_LOCAL = b"PK\x03\x04"
SIG_CENTRAL = b"PK\x01\x02"
SIG_EOCD = b"PK\x05\x06"
SIG_ZIP64_EOCD = b"PK\x06\x06"
SIG_ZIP64_LOCATOR = b"PK\x06\x07"
SIGNATURES = {"local": SIG_LOCAL, "central": SIG_CENTRAL, "eocd": SIG_EOCD,
              "zip64-eocd": SIG_ZIP64_EOCD, "zip64-locator": SIG_ZIP64_LOCATOR}

U16 = 0xFFFF
U32 = 0xFFFFFFFF
DOS_DATE = (1 << 5) | 1  # 1980-01-01, time 00:00
FLAG_UTF8 = 0x800
TIB = 1 << 40


def encode_name(name: str | bytes) -> tuple[bytes, int]:
    """Raw name bytes and the flags they need: UTF-8 flag for non-ASCII text."""
    if isinstance(name, bytes):
        return name, 0
    raw = name.encode()
    return raw, FLAG_UTF8 if not name.isascii() else 0


def local_entry(name: str | bytes, data: bytes = b"", *, crc=None, sizes=None,
                extra_sizes=False) -> bytes:
    """A STORED local header + name (+ ZIP64 extra) + data. sizes=(compressed, uncompressed)
    overrides what the header claims; extra_sizes puts them in a ZIP64 extra field."""
    raw, flags = encode_name(name)
    csize, usize = sizes or (len(data), len(data))
    crc = zlib.crc32(data) if crc is None else crc
    extra = b""
    if extra_sizes:
        extra = struct.pack("<HHQQ", 1, 16, usize, csize)
        csize = usize = U32
    head = LOCAL.pack(SIG_LOCAL, 45 if extra else 20, flags, 0, 0, DOS_DATE, crc, csize, usize,
                      len(raw), len(extra))
    return head + raw + extra + data


@dataclass
class Rec:
    """A central record (as the directory will say it)."""

    name: bytes
    flags: int
    offset: int
    crc: int
    csize: int
    usize: int

    def pack(self) -> bytes:
        fields = []
        csize, usize, offset = self.csize, self.usize, self.offset
        if usize >= U32 or csize >= U32:
            fields += [usize, csize]
            csize = usize = U32
        if offset >= U32:
            fields.append(offset)
            offset = U32
        extra = struct.pack(f"<HH{len(fields)}Q", 1, 8 * len(fields), *fields) if fields else b""
        return CENTRAL.pack(SIG_CENTRAL, (3 << 8) | (45 if extra else 20), 45 if extra else 20,
                            self.flags, 0, 0, DOS_DATE, self.crc, csize, usize, len(self.name),
                            len(extra), 0, 0, 0, 0o100644 << 16, offset) + self.name + extra


@dataclass
class Local:
    """A local entry as written."""

    name: bytes
    flags: int
    offset: int
    data_offset: int
    size: int
    crc: int

    @property
    def end(self) -> int:
        return self.data_offset + self.size

    def record(self, name: str | None = None, sizes=None) -> Rec:
        raw, flags = encode_name(name) if name is not None else (self.name, self.flags)
        csize, usize = sizes or (self.size, self.size)
        return Rec(raw, flags, self.offset, self.crc, csize, usize)


@dataclass
class Sparse:
    """A crafted file too big to hold in memory: byte runs at offsets, a hole elsewhere."""

    runs: list[tuple[int, bytes]]
    size: int

    def write(self, path: Path) -> None:
        with open(path, "wb") as f:
            for off, data in self.runs:
                f.seek(off)
                f.write(data)
            f.truncate(self.size)


class ZipBuilder:
    """Writes a TACO archive record by record. The TACO header comes first (its entries are set
    once the offsets are known); anything may follow: members, junk, holes, directories."""

    def __init__(self):
        self.runs: list[tuple[int, bytes]] = []
        self.pos = 0
        self.central: list[Rec] = []
        self.header = self.member("TACO_HEADER", bytes(PAYLOAD_SIZE))
        assert self.pos == HEADER_SIZE

    def put(self, data: bytes) -> int:
        at = self.pos
        self.runs.append((at, bytes(data)))
        self.pos += len(data)
        return at

    def hole(self, n: int) -> None:
        self.pos += n

    def member(self, name, data: bytes = b"", *, hole: int = 0, crc=None, listed=True,
               local_sizes=None, central_sizes=None) -> Local:
        """A STORED member: `data`, or a `hole` of that many zero bytes (with the given crc)."""
        raw, flags = encode_name(name)
        size = len(data) + hole
        crc = zlib.crc32(data) if crc is None else crc
        sizes = local_sizes or (size, size)
        entry = local_entry(name, data, crc=crc, sizes=sizes, extra_sizes=max(sizes) >= U32)
        offset = self.put(entry)
        data_offset = offset + len(entry) - len(data)
        self.hole(hole)
        loc = Local(raw, flags, offset, data_offset, size, crc)
        if listed:
            self.central.append(loc.record(sizes=central_sizes))
        return loc

    def set_entries(self, entries) -> None:
        body = build_taco_payload(entries)
        assert self.runs[0][0] == 0
        self.runs[0] = (0, local_entry("TACO_HEADER", body))
        self.central[0].crc = zlib.crc32(body)

    def directory(self, records=None) -> tuple[int, int, int]:
        """Writes central records (default: every listed member); (offset, size, count)."""
        records = self.central if records is None else records
        at = self.pos
        for r in records:
            self.put(r.pack())
        return at, self.pos - at, len(records)

    def end(self, cd, *, comment: bytes = b"", comment_len=None, count=None, size=None) -> int:
        """End records for directory `cd` (ZIP64 ones when a value needs them); returns the
        offset of the classic end record. count/size override what they claim."""
        offset, cd_size, cd_count = cd
        count = cd_count if count is None else count
        cd_size = cd_size if size is None else size
        if count >= U16 or cd_size >= U32 or offset >= U32 or self.pos >= U32:
            z64 = self.put(ZIP64_EOCD.pack(SIG_ZIP64_EOCD, 44, 45, 45, 0, 0, count, count,
                                           cd_size, offset))
            self.put(ZIP64_LOCATOR.pack(SIG_ZIP64_LOCATOR, 0, z64, 1))
            count, cd_size, offset = U16, U32, U32
        clen = len(comment) if comment_len is None else comment_len
        at = self.put(EOCD.pack(SIG_EOCD, 0, 0, count, count, cd_size, offset, clen))
        self.put(comment)
        return at

    def finish(self, **end_args) -> bytes:
        self.end(self.directory(), **end_args)
        return self.bytes()

    def bytes(self) -> bytes:
        out = bytearray(self.pos)
        for off, data in self.runs:
            out[off:off + len(data)] = data
        return bytes(out)

    def sparse(self) -> Sparse:
        return Sparse(list(self.runs), self.pos)


def central_names(b: bytes, eocd: int) -> list[str]:
    """Names in the directory that the end record at `eocd` describes (our own reading)."""
    _sig, _d, _cd, _n, count, _size, offset, _clen = EOCD.unpack_from(b, eocd)
    names, at = [], offset
    for _ in range(count):
        assert b[at:at + 4] == SIG_CENTRAL
        f = CENTRAL.unpack_from(b, at)
        nlen, xlen, clen = f[10], f[11], f[12]
        names.append(b[at + 46:at + 46 + nlen].decode())
        at += 46 + nlen + xlen + clen
    return names


# ---------------------------------------------------------------------------
# the corpus: one function per case, each returning the archive's bytes (Sparse for 1 TiB)

A_DATA = b"alpha\n" * 20
B_DATA = payload(3000, 2)
HIDDEN_DATA = b"this file is in no central directory\n"
FAKE_DATA = b"what zipfile reads\n"
JUNK = payload(64, 9)
assert b"PK" not in JUNK


def standard(b: ZipBuilder | None = None) -> tuple[ZipBuilder, Local, Local]:
    """TACO_HEADER, a.txt, b.txt; entry 0 = a.txt's data."""
    b = b or ZipBuilder()
    a = b.member("a.txt", A_DATA)
    bb = b.member("b.txt", B_DATA)
    b.set_entries([(a.data_offset, a.size)])
    return b, a, bb


def control() -> bytes:
    return standard()[0].finish()


def comment_hides_directory() -> bytes:
    """(a) End record 1 describes TACO_HEADER, a.txt, b.txt. Its comment holds a local entry
    fake.txt, a directory listing TACO_HEADER + fake.txt, and end record 2 (comment length 0)
    at the very end, which is what Python's zipfile reads."""
    b, _a, _b = standard()
    eocd1 = b.end(b.directory(), comment_len=0)  # length patched below
    start = b.pos
    fake = b.member("fake.txt", FAKE_DATA, listed=False)
    b.end(b.directory([b.central[0], fake.record()]))
    out = bytearray(b.bytes())
    struct.pack_into("<H", out, eocd1 + 20, len(out) - start)
    return bytes(out)


def comment_with_signature(sig: bytes) -> Callable[[], bytes]:
    def build() -> bytes:
        return standard()[0].finish(comment=b"release notes " + sig + b" end of notes")
    return build


def eocd_copy_in_comment() -> bytes:
    """(c) The comment of the end record is a copy of it (comment length 0): two end records
    that both reach the end of the file."""
    b, _a, _b = standard()
    cd = b.directory()
    b.end(cd, comment_len=22)
    b.end(cd)
    return b.bytes()


def eocd_second_claims_longer_directory() -> bytes:
    """(c) The second end record says the directory runs up to it (through end record 1), so
    its geometry is as consistent as the first one's."""
    b, _a, _b = standard()
    off, size, count = cd = b.directory()
    b.end(cd, comment_len=22)
    b.end((off, size + 22, count))
    return b.bytes()


def gap_between_members() -> bytes:
    b = ZipBuilder()
    a = b.member("a.txt", A_DATA)
    b.put(JUNK)
    b.member("b.txt", B_DATA)
    b.set_entries([(a.data_offset, a.size)])
    return b.finish()


def gap_before_directory() -> bytes:
    b, _a, _b = standard()
    b.put(JUNK)
    return b.finish()


def gap_before_end_records() -> bytes:
    b, _a, _b = standard()
    cd = b.directory()
    b.put(JUNK)
    b.end(cd)
    return b.bytes()


def hidden_entry(at_span_start: bool) -> Callable[[], bytes]:
    """(e) TACO_HEADER, a.txt, hidden.txt (valid, CRC right, not in the directory), b.txt.
    Entry 1 is a span covering hidden.txt: starting at a.txt, or at hidden.txt itself."""
    def build() -> bytes:
        b = ZipBuilder()
        a = b.member("a.txt", A_DATA)
        hidden = b.member("hidden.txt", HIDDEN_DATA, listed=False)
        last = b.member("b.txt", B_DATA)
        start = hidden.offset if at_span_start else a.offset
        b.set_entries([(a.data_offset, a.size), (start, last.end - start)])
        return b.finish()
    return build


HIDDEN_OFFSET = HEADER_SIZE + 30 + len("a.txt") + len(A_DATA)
BOMB_DATA = payload(1 << 20, 5)


def overlap_500_records() -> bytes:
    """(f) 500 central records m000..m499, all at the one 1 MiB local entry m000."""
    b = ZipBuilder()
    m = b.member("m000", BOMB_DATA, listed=False)
    for i in range(500):
        b.central.append(m.record(name=f"m{i:03d}"))
    b.set_entries([(m.data_offset, m.size)])
    return b.finish()


def overlap_nested() -> bytes:
    """(f) b.txt's whole local entry lies inside a.txt's data; both records are correct."""
    b = ZipBuilder()
    pre, post = payload(100, 6), payload(100, 7)
    inner = local_entry("b.txt", B_DATA)
    a = b.member("a.txt", pre + inner + post)
    inner_at = a.data_offset + len(pre)
    b.central.append(Rec(b"b.txt", 0, inner_at, zlib.crc32(B_DATA), len(B_DATA), len(B_DATA)))
    b.set_entries([(a.data_offset, a.size)])
    return b.finish()


def stored_size_mismatch(where: str) -> Callable[[], bytes]:
    """(g) b.txt (STORED) claims 4096 more uncompressed bytes than it stores: in both records
    ("central": they agree with each other) or only in its local header ("local")."""
    def build() -> bytes:
        b = ZipBuilder()
        a = b.member("a.txt", A_DATA)
        bad = (len(B_DATA), len(B_DATA) + 4096)
        b.member("b.txt", B_DATA, local_sizes=bad,
                 central_sizes=bad if where == "central" else None)
        b.set_entries([(a.data_offset, a.size)])
        return b.finish()
    return build


BAD_NAMES = {
    "newline": ("evil\nname.txt", "evil\\nname.txt"),
    "escape": ("\x1b[31mred\x1b[0m.txt", "\\u{1b}[31mred\\u{1b}[0m.txt"),
    "rlo": ("invoice\u202etxt.exe", "invoice\\u{202e}txt.exe"),
    "tab-cr-backslash": ("a\\b\tc\r.txt", "a\\\\b\\tc\\r.txt"),
}
BAD_NAME_DATA = b"bad name\n"


def bad_name(which: str) -> Callable[[], bytes]:
    """(h) a.txt, then a member with a hostile name. It comes last: an extractor that checked
    names only as it went would already have written a.txt."""
    def build() -> bytes:
        b = ZipBuilder()
        a = b.member("a.txt", A_DATA)
        b.member(BAD_NAMES[which][0], BAD_NAME_DATA)
        b.set_entries([(a.data_offset, a.size)])
        return b.finish()
    return build


def directory_claims_1tib() -> Sparse:
    """(i) A 1 TiB sparse file: the real directory, then a hole, then ZIP64 end records that
    say the directory runs from its real start to them (~1 TiB, ~24 G records)."""
    b, _a, _b = standard()
    off, _size, _count = b.directory()
    b.hole(TIB - b.pos)
    size = b.pos - off
    b.end((off, size, size // 46))
    return b.sparse()


def index_claims_1tib(in_bounds: bool) -> Callable[[], Sparse | bytes]:
    """(i) The last member TACO_INDEX.json claims 1 TiB (ZIP64 sizes). in_bounds: a 1 TiB hole
    really follows its header (a sparse file), so only reading it into memory is wrong;
    otherwise the directory follows at once and the claim runs past it."""
    def build():
        b = ZipBuilder()
        a = b.member("a.txt", A_DATA)
        if in_bounds:
            b.member("TACO_INDEX.json", hole=TIB, crc=0x1234ABCD)
        else:
            b.member("TACO_INDEX.json", b"", crc=0x1234ABCD, local_sizes=(TIB, TIB),
                     central_sizes=(TIB, TIB))
        b.set_entries([(a.data_offset, a.size)])
        b.end(b.directory())
        return b.sparse() if in_bounds else b.bytes()
    return build


# ---------------------------------------------------------------------------
# the table

OPENING = frozenset({"ls", "validate-normal", "validate-deep", "extract", "get-member"})
VALIDATE = frozenset({"validate-normal", "validate-deep"})
COMMANDS = ["header", "ls", "validate-normal", "validate-deep", "extract", "get-member",
            "get-entry"]
AMBIGUOUS = frozenset({"AmbiguousEnd", "SignatureInComment"})


@dataclass
class Case:
    build: Callable[[], bytes | Sparse]
    kinds: frozenset  # what `validate --json` may name; None = validation passes
    fail: frozenset = frozenset()  # commands that must fail
    ok: frozenset = frozenset({"header", "get-entry"})  # commands that must succeed
    extra: tuple = ()  # commands beyond COMMANDS
    skip: frozenset = frozenset()  # commands that legitimately read 1 TiB
    member: tuple[str, bytes] = ("b.txt", B_DATA)  # for get --member
    span: int = 1  # for extract --entry / get --entry --extract-to
    rss: bool = False  # measure peak RSS
    needles: dict = field(default_factory=dict)  # command -> words one of which the line holds

    def expect(self, command: str) -> str:
        assert not (self.fail & self.ok), "a command cannot both fail and succeed"
        return "fail" if command in self.fail else "ok" if command in self.ok else "any"

    def commands(self) -> list[str]:
        return [c for c in [*COMMANDS, *self.extra] if c not in self.skip]


def _hidden_case(at_start: bool) -> Case:
    span_cmds = frozenset({"extract-entry", "get-extract-to"})
    return Case(hidden_entry(at_start), frozenset({"UnaccountedBytes", "NotInDirectory"}),
                fail=VALIDATE | span_cmds, extra=tuple(sorted(span_cmds)),
                needles={c: ("hidden.txt", str(HIDDEN_OFFSET)) for c in span_cmds})


CASES: dict[str, Case] = {
    "control": Case(control, frozenset({None}),
                    ok=frozenset(COMMANDS) | {"extract-entry"}, extra=("extract-entry",),
                    span=0),
    # (a) + (c): two directories; either kind names the problem (the second end record is
    # necessarily inside the first one's comment)
    "comment-hides-directory": Case(comment_hides_directory, AMBIGUOUS, fail=OPENING),
    "eocd-copy-in-comment": Case(eocd_copy_in_comment, AMBIGUOUS, fail=OPENING),
    "eocd-second-longer-directory": Case(eocd_second_claims_longer_directory, AMBIGUOUS,
                                         fail=OPENING),
    # (b)
    **{f"comment-signature-{k}": Case(comment_with_signature(sig),
                                      frozenset({"SignatureInComment"}), fail=OPENING)
       for k, sig in SIGNATURES.items()},
    # (d) found by validate; other commands may read around the junk, or refuse
    "gap-between-members": Case(gap_between_members, frozenset({"UnaccountedBytes"}),
                                fail=VALIDATE),
    "gap-before-directory": Case(gap_before_directory, frozenset({"UnaccountedBytes"}),
                                 fail=VALIDATE),
    "gap-before-end-records": Case(gap_before_end_records, frozenset({"UnaccountedBytes"}),
                                   fail=VALIDATE),
    # (e)
    "hidden-entry-inside-span": _hidden_case(at_start=False),
    "hidden-entry-starts-span": _hidden_case(at_start=True),
    # (f) refused by Archive::open: every command that opens the directory
    "overlap-500-records": Case(overlap_500_records, frozenset({"OverlappingMembers"}),
                                fail=OPENING, member=("m123", BOMB_DATA)),
    "overlap-nested": Case(overlap_nested, frozenset({"OverlappingMembers"}), fail=OPENING),
    # (g) ls reads only the directory, so it cannot see a local-only mismatch
    "stored-size-central": Case(stored_size_mismatch("central"),
                                frozenset({"StoredSizeMismatch"}), fail=OPENING),
    "stored-size-local": Case(stored_size_mismatch("local"),
                              frozenset({"StoredSizeMismatch", "LocalHeaderMismatch"}),
                              fail=VALIDATE | {"extract", "get-member"}),
    # (h) ls prints them (escaped, see test_ls_escapes_names); validate and extract refuse
    **{f"name-{k}": Case(bad_name(k), frozenset({"BadName"}),
                         fail=VALIDATE | {"extract"}, ok=frozenset({"header", "ls", "get-entry"}),
                         member=(BAD_NAMES[k][0], BAD_NAME_DATA))
       for k in BAD_NAMES},
    # (i) the directory is streamed: its first record past the real ones is zeros
    "directory-claims-1tib": Case(directory_claims_1tib,
                                  frozenset({"BadSignature", "EntryCountMismatch", "TooLarge"}),
                                  fail=OPENING, rss=True),
    "index-claims-1tib": Case(index_claims_1tib(in_bounds=False),
                              frozenset({"MemberOutOfBounds", "TooLarge"}),
                              fail=OPENING | {"get-tile"}, extra=("get-tile",),
                              member=("a.txt", A_DATA), rss=True),
    # a 1 TiB member really there: deep validation and extraction would read it all
    "index-claims-1tib-sparse": Case(index_claims_1tib(in_bounds=True),
                                     frozenset({None, "TooLarge"}), fail=frozenset({"get-tile"}),
                                     ok=frozenset({"header", "ls", "get-member", "get-entry"}),
                                     extra=("get-tile",), skip=frozenset({"validate-deep",
                                                                          "extract"}),
                                     member=("a.txt", A_DATA), rss=True),
}

MATRIX = [
    pytest.param(case, cmd, where, id=f"{case}-{cmd}-{where}")
    for case, spec in CASES.items()
    for cmd in spec.commands()
    for where in ("local", "remote")
]

RSS_LIMIT_KIB = 64 * 1024
# a row of `taco ls`: offset, size, crc32, name
# data offset (- where remotely unknown), size, CRC-32, name
LS_ROW = re.compile(r"^\s*(\d+|-)\s+\d+\s+[0-9a-f]{8}  (.*)$")
TIMEOUT = 60


# ---------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("attack")
    out = {}
    for name, case in CASES.items():
        path = base / f"{name}.taco"
        img = case.build()
        if isinstance(img, Sparse):
            img.write(path)
        else:
            path.write_bytes(img)
        out[name] = path
    return out


@pytest.fixture(scope="module")
def served(corpus, nginx_server) -> dict[str, str]:
    """The corpus on nginx, hard-linked (a 1 TiB sparse file must not be copied)."""
    urls = {}
    for name, path in corpus.items():
        dest = nginx_server.www / f"attack-{path.name}"
        if not dest.exists():
            os.link(path, dest)
        urls[name] = nginx_server.url(dest.name)
    return urls


def source(request, corpus, case: str, where: str) -> str:
    if where == "local":
        return str(corpus[case])
    request.getfixturevalue("remote_env")
    return request.getfixturevalue("served")[case]


# ---------------------------------------------------------------------------
# running and checking


def command_args(command: str, src: str, case: Case, work: Path) -> list:
    dest, out = work / "dest", work / "out.bin"
    return {
        "header": ["header", src],
        "ls": ["ls", src],
        "validate-normal": ["validate", src, "--level", "normal", "--json"],
        "validate-deep": ["validate", src, "--level", "deep", "--json"],
        "extract": ["extract", src, "-C", dest],
        "get-member": ["get", src, "--member", case.member[0], "-o", out, "-q"],
        "get-entry": ["get", src, "--entry", "0", "-o", out, "-q"],
        "extract-entry": ["extract", src, "--entry", str(case.span), "-C", dest],
        "get-extract-to": ["get", src, "--entry", str(case.span), "--extract-to", dest, "-q"],
        "get-tile": ["get", src, "--tile", "0/0/0", "-o", out, "-q"],
    }[command]


def measured(rss_file: Path) -> tuple:
    """Prefix that records peak RSS (KiB) in rss_file. The address-space limit and the kill
    timer only bound the damage a broken build can do (a 1 TiB allocation, a 1 TiB read)."""
    return (require_tool("/usr/bin/time"), "-f", "%M", "-o", rss_file,
            require_tool("timeout"), "-s", "KILL", str(TIMEOUT),
            require_tool("prlimit"), f"--as={8 << 30}", "--")


def peak_rss_kib(rss_file: Path) -> int:
    # GNU time writes "Command exited with non-zero status N" first when the exit is non-zero
    return int(rss_file.read_text().split()[-1])


def assert_no_crash(cp) -> None:
    assert "panicked at" not in cp.stderr, cp.stderr
    assert cp.returncode in (0, 1), f"exit {cp.returncode} (crash or kill): {cp.stderr!r}"


def assert_validate(cp, kinds: frozenset) -> None:
    doc = json.loads(cp.stdout)
    if doc["ok"]:
        assert None in kinds, f"validation passed, expected one of {sorted(map(str, kinds))}"
        assert cp.returncode == 0
        return
    assert cp.returncode == 1
    assert doc["error"]["kind"] in kinds, (
        f"kind {doc['error']['kind']!r} ({doc['error']['message']!r}), "
        f"expected one of {sorted(map(str, kinds))}")
    lines = cp.stderr.splitlines()
    assert len(lines) <= 1 and all(ln.startswith("taco: ") for ln in lines), cp.stderr


def assert_nothing_left(work: Path) -> None:
    """After a failure: no output file, no temp file; an extraction directory at most exists,
    empty."""
    left = listing(work)
    assert left <= {"dest"}, f"left behind after a failure: {sorted(left)}"


def check_success(command: str, case_name: str, case: Case, archive: Path, work: Path, cp):
    """What a successful command must have produced."""
    out = work / "out.bin"
    if command == "get-entry":
        (off, length), *_ = parse_taco_header(read_range(archive, 0, HEADER_SIZE))
        assert out.read_bytes() == read_range(archive, off, length)
    elif command == "get-member":
        assert out.read_bytes() == case.member[1]
    elif case_name == "control" and command in ("extract", "extract-entry"):
        want = {"a.txt": A_DATA} if command == "extract-entry" else {"a.txt": A_DATA,
                                                                     "b.txt": B_DATA}
        assert tree_files(work / "dest") == want
    elif command == "ls":
        rows = cp.stdout.splitlines()
        assert rows and all(LS_ROW.match(r) for r in rows[1:]), f"not one member a line: {rows}"
        if case_name == "control":
            assert [LS_ROW.match(r).group(2) for r in rows[1:]] == ["TACO_HEADER", "a.txt",
                                                                     "b.txt"]


@pytest.mark.parametrize("case_name,command,where", MATRIX)
def test_attack(taco, request, corpus, tmp_path, case_name, command, where):
    case = CASES[case_name]
    src = source(request, corpus, case_name, where)
    work = tmp_path / "work"
    work.mkdir()
    rss_file = tmp_path / "rss.txt"
    prefix = measured(rss_file) if case.rss else ()

    cp = taco(*command_args(command, src, case, work), cwd=work, timeout=TIMEOUT + 30,
              prefix=prefix)

    assert_no_crash(cp)
    expect = case.expect(command)
    if command.startswith("validate"):
        assert_validate(cp, case.kinds)
    elif expect == "fail" or (expect == "any" and cp.returncode != 0):
        line = assert_taco_error(cp)
        words = case.needles.get(command)
        if words:
            assert any(w in line for w in words), f"none of {words} in {line!r}"
    else:
        assert cp.returncode == 0, f"expected success: {cp.stderr!r}"
    if cp.returncode != 0:
        assert_nothing_left(work)
    else:
        check_success(command, case_name, case, corpus[case_name], work, cp)
    if case.rss:
        rss = peak_rss_kib(rss_file)
        assert rss < RSS_LIMIT_KIB, f"peak RSS {rss} KiB >= {RSS_LIMIT_KIB} KiB"


# ---------------------------------------------------------------------------
# the cases are what they claim to be


def test_control_is_a_valid_zip(corpus):
    path = corpus["control"]
    check_unzip(path)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert z.namelist() == ["TACO_HEADER", "a.txt", "b.txt"]


def test_comment_directory_fools_zipfile(corpus):
    """(a) Python zipfile follows the second end record: it lists and reads fake.txt, while the
    first end record describes TACO_HEADER, a.txt, b.txt."""
    b = corpus["comment-hides-directory"].read_bytes()
    first = b.find(SIG_EOCD, b.find(SIG_CENTRAL))
    clen = struct.unpack_from("<H", b, first + 20)[0]
    assert first + 22 + clen == len(b), "end record 1's comment must reach the end of the file"
    real = central_names(b, first)
    assert real == ["TACO_HEADER", "a.txt", "b.txt"]
    with zipfile.ZipFile(corpus["comment-hides-directory"]) as z:
        assert z.namelist() != real
        assert z.namelist() == ["TACO_HEADER", "fake.txt"]
        assert z.read("fake.txt") == FAKE_DATA
    assert central_names(b, len(b) - 22) == ["TACO_HEADER", "fake.txt"]


@pytest.mark.parametrize("name", ["eocd-copy-in-comment", "eocd-second-longer-directory"])
def test_two_end_records_reach_the_end(corpus, name):
    b = corpus[name].read_bytes()
    ends = [m.start() for m in re.finditer(re.escape(SIG_EOCD), b)]
    assert len(ends) == 2
    for at in ends:
        assert at + 22 + struct.unpack_from("<H", b, at + 20)[0] == len(b)


def test_hidden_entry_is_valid_and_unlisted(corpus):
    """(e) hidden.txt is a complete local entry with a right CRC inside span entry 1, which a
    streaming reader of the span would extract, but no directory record points at it."""
    for name in ("hidden-entry-inside-span", "hidden-entry-starts-span"):
        path = corpus[name]
        b = path.read_bytes()
        assert b[HIDDEN_OFFSET:HIDDEN_OFFSET + 4] == SIG_LOCAL
        f = LOCAL.unpack_from(b, HIDDEN_OFFSET)
        data_at = HIDDEN_OFFSET + 30 + f[9]
        assert b[HIDDEN_OFFSET + 30:data_at] == b"hidden.txt"
        assert f[6] == zlib.crc32(b[data_at:data_at + f[7]]) and f[7] == len(HIDDEN_DATA)
        span = parse_taco_header(b[:HEADER_SIZE])[1]
        assert span[0] <= HIDDEN_OFFSET and data_at + f[7] <= span[0] + span[1]
        with zipfile.ZipFile(path) as z:
            assert z.namelist() == ["TACO_HEADER", "a.txt", "b.txt"]
            assert HIDDEN_OFFSET not in {i.header_offset for i in z.infolist()}


def test_overlap_cases_overlap(corpus):
    with zipfile.ZipFile(corpus["overlap-500-records"]) as z:
        infos = z.infolist()[1:]
        assert len(infos) == 500 and len({i.header_offset for i in infos}) == 1
        assert all(i.file_size == len(BOMB_DATA) for i in infos)
    with zipfile.ZipFile(corpus["overlap-nested"]) as z:
        a, b = z.getinfo("a.txt"), z.getinfo("b.txt")
        assert a.header_offset < b.header_offset < a.header_offset + 30 + 5 + a.file_size
        assert z.read("b.txt") == B_DATA  # a reader that looks at b.txt alone sees a fine file


@pytest.mark.parametrize("where", ["central", "local"])
def test_stored_size_cases_differ(corpus, where):
    path = corpus[f"stored-size-{where}"]
    with zipfile.ZipFile(path) as z:
        i = z.getinfo("b.txt")
        assert i.compress_type == zipfile.ZIP_STORED
        central_differs = i.compress_size != i.file_size
    assert central_differs == (where == "central")
    b = path.read_bytes()
    f = LOCAL.unpack_from(b, i.header_offset)
    assert f[7] != f[8], "the local header claims two sizes too"


def test_sparse_cases_are_sparse(corpus):
    for name in ("directory-claims-1tib", "index-claims-1tib-sparse"):
        st = corpus[name].stat()
        assert st.st_size >= TIB
        assert st.st_blocks * 512 < 16 << 20, f"{name} is not sparse"


@pytest.mark.parametrize("which", sorted(BAD_NAMES))
@pytest.mark.parametrize("where", ["local", "remote"])
def test_ls_escapes_names(taco, request, corpus, which, where):
    """(h) `ls` lists a hostile name on one line, escaped; `--json` gives it exactly."""
    name, escaped = BAD_NAMES[which]
    src = source(request, corpus, f"name-{which}", where)
    cp = taco("ls", src)
    assert cp.returncode == 0, cp.stderr
    rows = cp.stdout.splitlines()
    assert len(rows) == 1 + 3, f"one line per member (and the heading): {cp.stdout!r}"
    names = [LS_ROW.match(r).group(2) for r in rows[1:]]
    assert names == ["TACO_HEADER", "a.txt", escaped]
    doc = json.loads(taco("ls", src, "--json", check=True).stdout)
    assert [m["name"] for m in doc["members"]] == ["TACO_HEADER", "a.txt", name]
