#!/usr/bin/env python3
"""Differential fuzzer: taco's validator and readers against Python's zipfile.

Builds a few valid archives with the taco binary (`taco pack` of a small tree, with and
without entries, and `taco pack-splits`), then loops until the time is up:

  1. take a base archive (or an earlier accepted mutant) and apply 1-3 mutations: bit flips,
     1-8 byte overwrites, splices from another archive, a duplicated central record or local
     entry, an EOCD comment stuffed with random bytes or with copies of records, bytes
     inserted at a structure boundary, truncation, appending; or "benign" edits that keep the
     archive valid (member data changed with its CRC fixed in both records, DOS timestamps,
     a harmless comment, consistent renames, the UTF-8 flag);
  2. run `taco validate --level deep --json` and `taco ls --json` on it;
  3. when validate accepts (exit 0): Python's zipfile must open it, testzip() must be None,
     `taco ls --json` must list exactly zipfile's namelist() in the same order, and
     `taco extract -C DIR` must write exactly the members' files, byte-identical to what
     zipfile reads, and nothing outside DIR.

A finding is any disagreement, any exit code other than 0/1, a panic, a hang, a failure
whose stderr is not exactly one `taco: ` line, or validate's JSON contradicting its exit
code. Each finding's input is saved under --findings (with a .txt beside it saying what
happened) and printed. The last lines printed are the counts:

  executions: N
  accepted: M
  findings: K

Usage: scripts/fuzz-differential.py [--seconds 60] [--seed S] [--findings DIR] [--taco PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TACO = REPO / "target" / "release" / "taco"

SIG_LOCAL = b"PK\x03\x04"
SIG_CENTRAL = b"PK\x01\x02"
SIG_EOCD = b"PK\x05\x06"
SIG_ZIP64_EOCD = b"PK\x06\x06"
SIG_ZIP64_LOCATOR = b"PK\x06\x07"
SIGNATURES = (SIG_LOCAL, SIG_CENTRAL, SIG_EOCD, SIG_ZIP64_EOCD, SIG_ZIP64_LOCATOR)

LOCAL_LEN, CENTRAL_LEN, EOCD_LEN = 30, 46, 22
UTF8_FLAG = 0x800
RUN_TIMEOUT = 30  # seconds; a taco run longer than this is a hang (a finding)
CORPUS_MAX = 300  # accepted mutants kept as further bases
SAVE_MAX = 500  # findings saved to disk at most (all are counted)
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF)


class Skip(Exception):
    """A structure-aware mutation found no structure to work on."""


# ---------------------------------------------------------------------------
# ZIP structure: just the fields the mutations need (no ZIP64: the bases are small)


@dataclass
class Central:
    offset: int  # of the central record
    length: int  # 46 + name + extra + comment
    name_len: int
    local: int  # offset of the local header it points at


@dataclass
class Layout:
    eocd: int
    comment_len: int
    count: int
    cd_offset: int
    cd_size: int
    records: list[Central]


def find_eocd(b: bytes) -> int | None:
    """The last end record whose comment reaches the end of the data exactly."""
    pos = len(b)
    low = max(0, len(b) - EOCD_LEN - 0xFFFF)
    while True:
        pos = b.rfind(SIG_EOCD, low, pos)
        if pos < 0:
            return None
        if pos + EOCD_LEN <= len(b):
            (clen,) = struct.unpack_from("<H", b, pos + 20)
            if pos + EOCD_LEN + clen == len(b):
                return pos


def parse_layout(b: bytes) -> Layout:
    eocd = find_eocd(b)
    if eocd is None:
        raise Skip("no end record")
    count, cd_size, cd_offset, clen = struct.unpack_from("<HIIH", b, eocd + 10)
    if cd_offset + cd_size > eocd:
        raise Skip("central directory not before the end record")
    records = []
    pos = cd_offset
    while pos < cd_offset + cd_size:
        if b[pos:pos + 4] != SIG_CENTRAL or pos + CENTRAL_LEN > len(b):
            raise Skip("central directory does not parse")
        nlen, xlen, mlen = struct.unpack_from("<HHH", b, pos + 28)
        (local,) = struct.unpack_from("<I", b, pos + 42)
        length = CENTRAL_LEN + nlen + xlen + mlen
        if local + LOCAL_LEN > len(b) or b[local:local + 4] != SIG_LOCAL:
            raise Skip("central record points at no local header")
        records.append(Central(pos, length, nlen, local))
        pos += length
    if not records:
        raise Skip("empty central directory")
    return Layout(eocd, clen, count, cd_offset, cd_size, records)


def local_entry_len(b: bytes, off: int) -> int:
    (csize,) = struct.unpack_from("<I", b, off + 18)
    nlen, xlen = struct.unpack_from("<HH", b, off + 26)
    return LOCAL_LEN + nlen + xlen + csize


def local_data_offset(b: bytes, off: int) -> int:
    nlen, xlen = struct.unpack_from("<HH", b, off + 26)
    return off + LOCAL_LEN + nlen + xlen


def set_eocd(buf: bytearray, lay: Layout, *, count=None, cd_size=None, cd_offset=None,
             comment_len=None) -> None:
    if count is not None:
        struct.pack_into("<HH", buf, lay.eocd + 8, count & 0xFFFF, count & 0xFFFF)
    if cd_size is not None:
        struct.pack_into("<I", buf, lay.eocd + 12, cd_size & 0xFFFFFFFF)
    if cd_offset is not None:
        struct.pack_into("<I", buf, lay.eocd + 16, cd_offset & 0xFFFFFFFF)
    if comment_len is not None:
        struct.pack_into("<H", buf, lay.eocd + 20, comment_len & 0xFFFF)


def data_members(buf: bytes, lay: Layout) -> list[Central]:
    """Central records other than TACO_HEADER and TACO_INDEX.json (their contents mean
    something to taco, so changing them is not benign)."""
    out = []
    for r in lay.records:
        name = bytes(buf[r.offset + CENTRAL_LEN:r.offset + CENTRAL_LEN + r.name_len])
        if not name.startswith(b"TACO_"):
            out.append(r)
    if not out:
        raise Skip("no data member")
    return out


def record_bytes(rng: random.Random, b: bytes) -> bytes:
    """A copy of one record of b (central, local header or end record), for stuffing."""
    lay = parse_layout(b)
    r = rng.choice(lay.records)
    return rng.choice([
        bytes(b[r.offset:r.offset + r.length]),
        bytes(b[r.local:r.local + local_entry_len(b, r.local)]),
        bytes(b[lay.eocd:lay.eocd + EOCD_LEN]),
    ])


# ---------------------------------------------------------------------------
# mutations: each changes buf (a bytearray) in place; `others` are the base archives


def mut_flip_bits(rng, buf, others):
    for _ in range(rng.randint(1, 4)):
        if buf:
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)


def mut_overwrite(rng, buf, others):
    """1-8 random or boundary bytes, at a random place or on a record field."""
    if not buf:
        raise Skip("empty")
    n = rng.randint(1, 8)
    try:
        lay = parse_layout(buf)
        r = rng.choice(lay.records)
        pos = rng.choice([
            rng.randrange(len(buf)),
            r.offset + rng.randrange(CENTRAL_LEN),
            r.local + rng.randrange(LOCAL_LEN),
            lay.eocd + rng.randrange(EOCD_LEN),
        ])
    except Skip:
        pos = rng.randrange(len(buf))
    value = bytes(rng.choice([rng.randrange(256), rng.choice(INTERESTING)]) for _ in range(n))
    buf[pos:pos + n] = value[:len(buf) - pos]


def mut_splice(rng, buf, others):
    """A chunk of another archive written over, or inserted into, this one."""
    src = rng.choice(others)
    n = rng.randint(1, min(512, len(src)))
    start = rng.randrange(len(src) - n + 1)
    chunk = src[start:start + n]
    pos = rng.randrange(len(buf) + 1)
    if rng.random() < 0.5:
        buf[pos:pos + n] = chunk
    else:
        buf[pos:pos] = chunk


def mut_dup_central(rng, buf, others):
    """A central record repeated right after itself; the end record's count and size fixed
    most of the time (so only the duplicate is wrong)."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    rec = bytes(buf[r.offset:r.offset + r.length])
    buf[r.offset + r.length:r.offset + r.length] = rec
    lay.eocd += r.length
    if rng.random() < 0.8:
        set_eocd(buf, lay, count=lay.count + 1, cd_size=lay.cd_size + r.length)


def mut_dup_local(rng, buf, others):
    """A local entry (header + data) copied to just before the central directory; the end
    record's offset fixed; half of the time a central record for the copy is added too."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    entry = bytes(buf[r.local:r.local + local_entry_len(buf, r.local)])
    at = lay.cd_offset
    buf[at:at] = entry
    new_cd = lay.cd_offset + len(entry)
    lay.eocd += len(entry)
    count, cd_size = lay.count, lay.cd_size
    if rng.random() < 0.5:
        rec = bytearray(buf[r.offset + len(entry):r.offset + len(entry) + r.length])
        struct.pack_into("<I", rec, 42, at)
        end = new_cd + lay.cd_size
        buf[end:end] = rec
        lay.eocd += len(rec)
        count, cd_size = count + 1, cd_size + len(rec)
    set_eocd(buf, lay, count=count, cd_size=cd_size, cd_offset=new_cd)


def mut_eocd_comment(rng, buf, others):
    """The end record's comment replaced: random bytes, copies of records (a second end
    record makes two plausible ends), or a signature alone; the length field usually right."""
    lay = parse_layout(buf)
    kind = rng.randrange(4)
    if kind == 0:
        comment = rng.randbytes(rng.randint(1, 300))
    elif kind == 1:
        comment = b"".join(record_bytes(rng, rng.choice([bytes(buf), *others]))
                           for _ in range(rng.randint(1, 3)))
    elif kind == 2:
        # a copy of this very end record, its own comment length reaching the end
        comment = bytearray(buf[lay.eocd:lay.eocd + EOCD_LEN])
        struct.pack_into("<H", comment, 20, 0)
        comment = bytes(comment)
    else:
        comment = rng.randbytes(rng.randint(0, 20)) + rng.choice(SIGNATURES) + rng.randbytes(
            rng.randint(0, 20))
    comment = comment[:0xFFFF]
    start = lay.eocd + EOCD_LEN
    del buf[start:]
    buf += comment
    clen = len(comment) if rng.random() < 0.85 else rng.randrange(0x10000)
    set_eocd(buf, lay, comment_len=clen)


def mut_insert_gap(rng, buf, others):
    """Bytes inserted between two members, after the last member or between the central
    directory and the end record; every offset after them fixed, so only the gap is wrong."""
    lay = parse_layout(buf)
    filler = rng.choice([bytes(rng.randint(1, 64)), rng.randbytes(rng.randint(1, 64)),
                         record_bytes(rng, bytes(buf))])
    n = len(filler)
    where = rng.randrange(3)
    if where == 2:  # between the central directory and the end record
        buf[lay.eocd:lay.eocd] = filler
        return
    if where == 0:
        starts = sorted({r.local for r in lay.records if r.local > 0})
        if not starts:
            raise Skip("one member")
        at = rng.choice(starts)
    else:
        at = lay.cd_offset
    for r in lay.records:
        if r.local >= at:
            struct.pack_into("<I", buf, r.offset + 42, r.local + n)
    set_eocd(buf, lay, cd_offset=lay.cd_offset + n)
    buf[at:at] = filler


def mut_truncate(rng, buf, others):
    if len(buf) < 2:
        raise Skip("too short")
    del buf[rng.randrange(1, len(buf)):]


def mut_append(rng, buf, others):
    buf += rng.choice([rng.randbytes(rng.randint(1, 100)), record_bytes(rng, bytes(buf)),
                       bytes(rng.randint(1, 30))])


# --- benign: the archive stays a valid ZIP (taco may still refuse what it may refuse)


def mut_benign_data(rng, buf, others):
    """1-8 bytes of a member's data changed, its CRC fixed in the local and central record."""
    lay = parse_layout(buf)
    r = rng.choice(data_members(buf, lay))
    start = local_data_offset(buf, r.local)
    (size,) = struct.unpack_from("<I", buf, r.offset + 20)
    if size == 0 or start + size > len(buf):
        raise Skip("no data")
    for _ in range(rng.randint(1, 8)):
        buf[start + rng.randrange(size)] = rng.randrange(256)
    crc = zlib.crc32(buf[start:start + size])
    struct.pack_into("<I", buf, r.local + 14, crc)
    struct.pack_into("<I", buf, r.offset + 16, crc)


def mut_benign_time(rng, buf, others):
    """A valid DOS date and time, the same in the local and central record."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    t = (rng.randrange(24) << 11) | (rng.randrange(60) << 5) | rng.randrange(30)
    d = ((rng.randrange(1980, 2108) - 1980) << 9) | (rng.randint(1, 12) << 5) | rng.randint(1, 28)
    struct.pack_into("<HH", buf, r.local + 10, t, d)
    struct.pack_into("<HH", buf, r.offset + 12, t, d)


def mut_benign_comment(rng, buf, others):
    """A printable archive comment without any signature."""
    lay = parse_layout(buf)
    alphabet = b"abcdefghijklmnopqrstuvwxyz ABCDEFGHIJLMNOQRSTUVWXYZ0123456789.,-_"  # no K or P
    comment = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
    del buf[lay.eocd + EOCD_LEN:]
    buf += comment
    set_eocd(buf, lay, comment_len=len(comment))


def _rename(rng, buf, make_name, utf8: bool | None):
    lay = parse_layout(buf)
    r = rng.choice(data_members(buf, lay))
    old = bytes(buf[r.offset + CENTRAL_LEN:r.offset + CENTRAL_LEN + r.name_len])
    (lnlen,) = struct.unpack_from("<H", buf, r.local + 26)
    if lnlen != len(old) or buf[r.local + LOCAL_LEN:r.local + LOCAL_LEN + lnlen] != old:
        raise Skip("local name differs")
    # keep the directories: rename only the last component, to the same length
    head, _, last = old.rpartition(b"/")
    if not last:
        raise Skip("directory entry")
    new = (head + b"/" if head else b"") + make_name(len(last))
    assert len(new) == len(old)
    buf[r.offset + CENTRAL_LEN:r.offset + CENTRAL_LEN + len(new)] = new
    buf[r.local + LOCAL_LEN:r.local + LOCAL_LEN + len(new)] = new
    if utf8 is not None:
        for off in (r.local + 6, r.offset + 8):
            (flags,) = struct.unpack_from("<H", buf, off)
            flags = flags | UTF8_FLAG if utf8 else flags & ~UTF8_FLAG
            struct.pack_into("<H", buf, off, flags)


def mut_benign_rename(rng, buf, others):
    """A member renamed (same length, plain ASCII), consistently in both records."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789_-"
    _rename(rng, buf, lambda n: bytes(rng.choice(alphabet) for _ in range(n)), None)


def mut_rename_unicode(rng, buf, others):
    """A member renamed to UTF-8 text of the same byte length, with the UTF-8 flag set in
    both records: zipfile decodes it as UTF-8, so must taco."""
    pieces = ["a", "z", "7", "é", "ß", "Ω", "ж", "€", "中", "ñ"]

    def make(n):
        out = ""
        while len(out.encode()) < n:
            room = n - len(out.encode())
            fits = [p for p in pieces if len(p.encode()) <= room]
            out += rng.choice(fits)
        return out.encode()

    _rename(rng, buf, make, True)


def mut_rename_cp437(rng, buf, others):
    """A member renamed with bytes >= 0x80 and no UTF-8 flag: by the ZIP spec (and zipfile) the
    name is CP437; taco must either refuse it or list the same name."""
    alphabet = bytes(range(0x80, 0x100)) + b"abc"
    _rename(rng, buf, lambda n: bytes(rng.choice(alphabet) for _ in range(n)), False)


def mut_utf8_flag(rng, buf, others):
    """The UTF-8 flag toggled in both records of one member."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    for off in (r.local + 6, r.offset + 8):
        (flags,) = struct.unpack_from("<H", buf, off)
        struct.pack_into("<H", buf, off, flags ^ UTF8_FLAG)


def mut_attrs(rng, buf, others):
    """Central-only fields zipfile ignores when reading: version made by, internal and
    external attributes (a symlink or directory mode among them)."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    mode = rng.choice([0o100644, 0o100755, 0o120777, 0o040755, rng.randrange(1 << 16)])
    struct.pack_into("<H", buf, r.offset + 4, rng.choice([0x031E, 0x0014, rng.randrange(1 << 16)]))
    struct.pack_into("<H", buf, r.offset + 36, rng.randrange(4))
    struct.pack_into("<I", buf, r.offset + 38, (mode << 16) | rng.randrange(256))


def mut_flags_method(rng, buf, others):
    """General-purpose flag bits (encryption, data descriptor, ...) or a compression method
    set in both records of one member, the data left as it is."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    if rng.random() < 0.6:
        bit = 1 << rng.choice([0, 1, 2, 3, 4, 5, 6, 13])
        for off in (r.local + 6, r.offset + 8):
            (flags,) = struct.unpack_from("<H", buf, off)
            struct.pack_into("<H", buf, off, flags | bit)
    else:
        method = rng.choice([1, 8, 9, 12, 14, 93, 99, rng.randrange(1 << 16)])
        struct.pack_into("<H", buf, r.local + 8, method)
        struct.pack_into("<H", buf, r.offset + 10, method)


def extra_field(rng) -> bytes:
    """A well-formed extra field (extended timestamp 0x5455 or an unknown id), or now and then
    a malformed one (length running past the end)."""
    kind = rng.randrange(3)
    if kind == 0:
        return struct.pack("<HHBI", 0x5455, 5, 1, rng.randrange(1 << 31))
    if kind == 1:
        body = rng.randbytes(rng.randint(0, 12))
        return struct.pack("<HH", rng.choice([0xCAFE, 0x000A, 0x7855]), len(body)) + body
    return struct.pack("<HH", 0x5455, rng.randint(5, 40)) + rng.randbytes(rng.randint(0, 4))


def mut_extra(rng, buf, others):
    """An extra field added to one member's central record, its local header, or both; every
    offset and size after it fixed."""
    lay = parse_layout(buf)
    r = rng.choice(lay.records)
    where = rng.choice(["central", "local", "both"])
    field = extra_field(rng)
    n = len(field)
    if where in ("central", "both"):
        nlen, xlen = struct.unpack_from("<HH", buf, r.offset + 28)
        struct.pack_into("<H", buf, r.offset + 30, xlen + n)
        at = r.offset + CENTRAL_LEN + nlen + xlen
        set_eocd(buf, lay, cd_size=lay.cd_size + n)  # before the end record moves
        buf[at:at] = field
        lay.eocd += n
    if where in ("local", "both"):
        nlen, xlen = struct.unpack_from("<HH", buf, r.local + 26)
        struct.pack_into("<H", buf, r.local + 28, xlen + n)
        at = r.local + LOCAL_LEN + nlen + xlen
        # offsets after the insertion point move (read from the records as they are now)
        pos = lay.cd_offset
        while pos < lay.eocd and buf[pos:pos + 4] == SIG_CENTRAL:
            (local,) = struct.unpack_from("<I", buf, pos + 42)
            if local > r.local:
                struct.pack_into("<I", buf, pos + 42, local + n)
            nl, xl, ml = struct.unpack_from("<HHH", buf, pos + 28)
            pos += CENTRAL_LEN + nl + xl + ml
        set_eocd(buf, lay, cd_offset=lay.cd_offset + n)
        buf[at:at] = field


HOSTILE = [
    (mut_flip_bits, 3), (mut_overwrite, 4), (mut_splice, 2), (mut_dup_central, 2),
    (mut_dup_local, 2), (mut_eocd_comment, 2), (mut_insert_gap, 2), (mut_truncate, 1),
    (mut_append, 1), (mut_attrs, 1), (mut_rename_cp437, 1), (mut_flags_method, 1),
    (mut_extra, 2),
]
BENIGN = [
    (mut_benign_data, 3), (mut_benign_time, 2), (mut_benign_comment, 1),
    (mut_benign_rename, 2), (mut_rename_unicode, 2), (mut_utf8_flag, 1),
]


def pick(rng, table):
    funcs, weights = zip(*table)
    return rng.choices(funcs, weights)[0]


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> tuple[bytes, list[str]]:
    """1-3 mutations; about a third of the mutants get benign ones only."""
    buf = bytearray(data)
    benign_only = rng.random() < 0.35
    applied = []
    for _ in range(rng.randint(1, 3)):
        f = pick(rng, BENIGN if benign_only or rng.random() < 0.25 else HOSTILE)
        snapshot = bytes(buf)
        try:
            f(rng, buf, others)
            applied.append(f.__name__[4:])
        except (Skip, struct.error, IndexError, ValueError):
            # no structure to work on, or an earlier mutation left offsets that lead outside
            buf[:] = snapshot
    if not applied or bytes(buf) == data:
        mut_flip_bits(rng, buf, others)
        applied.append("flip_bits")
    return bytes(buf), applied


# ---------------------------------------------------------------------------
# running taco and zipfile


@dataclass
class Run:
    rc: int | None  # None: killed after RUN_TIMEOUT
    stdout: str
    stderr: str


def run_taco(taco: Path, *args) -> Run:
    for attempt in range(20):
        try:
            cp = subprocess.run([str(taco), *map(str, args)], capture_output=True,
                                stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT)
            break
        except subprocess.TimeoutExpired as e:
            return Run(None, (e.stdout or b"").decode("utf-8", "replace"),
                       (e.stderr or b"").decode("utf-8", "replace"))
        except OSError as e:  # ETXTBSY: the binary is being replaced by a build; wait a bit
            if e.errno != 26 or attempt == 19:
                raise
            time.sleep(0.5)
    return Run(cp.returncode, cp.stdout.decode("utf-8", "replace"),
               cp.stderr.decode("utf-8", "replace"))


def process_problem(what: str, r: Run) -> str | None:
    """A hang, a panic, an exit code other than 0/1, or a failure without exactly one
    `taco: ` line on stderr."""
    if r.rc is None:
        return f"{what}: no exit after {RUN_TIMEOUT} s"
    if "panicked" in r.stderr or r.rc == 101:
        return f"{what}: panic (exit {r.rc}): {r.stderr.strip()[:500]}"
    if r.rc not in (0, 1):
        return f"{what}: exit code {r.rc}: {r.stderr.strip()[:500]}"
    if r.rc == 1:
        lines = r.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("taco: "):
            return f"{what}: failure without exactly one `taco: ` line: {r.stderr[:500]!r}"
    return None


def files_under(d: Path) -> dict[str, bytes | None]:
    """'/'-joined relative path -> contents (None for a directory) of everything under d."""
    out = {}
    for root, dirs, files in os.walk(d):
        for n in dirs:
            out[(Path(root) / n).relative_to(d).as_posix()] = None
        for n in files:
            p = Path(root) / n
            out[p.relative_to(d).as_posix()] = None if p.is_symlink() else p.read_bytes()
    return out


def check(taco: Path, path: Path, scratch: Path) -> tuple[bool, str | None]:
    """(accepted by validate, finding or None) for one input."""
    v = run_taco(taco, "validate", path, "--level", "deep", "--json")
    problem = process_problem("validate", v)
    if problem:
        return False, problem
    try:
        report = json.loads(v.stdout)
        ok = report["ok"]
    except (ValueError, KeyError, TypeError):
        return False, f"validate --json printed no JSON report (exit {v.rc}): {v.stdout[:300]!r}"
    if ok != (v.rc == 0):
        return False, f"validate --json says ok={ok} but exits {v.rc}"
    if v.rc == 1 and not (isinstance(report.get("error"), dict) and report["error"].get("kind")):
        return False, f"validate --json failure without error.kind: {v.stdout[:300]!r}"

    ls = run_taco(taco, "ls", path, "--json")
    problem = process_problem("ls", ls)
    if problem:
        return False, problem
    if v.rc != 0:
        return False, None
    accepted = True

    if ls.rc != 0:
        return accepted, f"validate accepts, ls refuses: {ls.stderr.strip()}"
    try:
        taco_names = [m["name"] for m in json.loads(ls.stdout)["members"]]
    except (ValueError, KeyError, TypeError):
        return accepted, f"ls --json printed no member list: {ls.stdout[:300]!r}"

    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
            if bad is not None:
                return accepted, f"validate accepts, zipfile testzip() fails on {bad!r}"
            infos = z.infolist()
            names = [i.filename for i in infos]
            datas = [None if i.is_dir() else z.read(i) for i in infos]
    except Exception as e:  # noqa: BLE001 - anything zipfile raises is the disagreement
        return accepted, f"validate accepts, zipfile fails: {type(e).__name__}: {e}"
    if taco_names != names:
        return accepted, f"names differ: taco ls {taco_names!r} vs zipfile {names!r}"

    # extraction: into scratch/out; scratch must hold nothing else afterwards
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    out = scratch / "out"
    # --all: taco's own members too, so every member but the header is compared
    x = run_taco(taco, "extract", path, "-C", out, "--all")
    problem = process_problem("extract", x)
    if problem:
        return accepted, problem
    outside = sorted(set(os.listdir(scratch)) - {"out"})
    if outside:
        return accepted, f"extract wrote outside -C DIR: {outside}"
    if x.rc != 0:
        return accepted, f"validate accepts, extract refuses: {x.stderr.strip()}"
    got = files_under(out)
    want: dict[str, bytes | None] = {}
    for name, data in zip(names, datas):
        # the header, which is never a file (its bytes are the archive's first 157)
        if name == "TACO_HEADER":
            continue
        parts = name.rstrip("/").split("/")
        for i in range(1, len(parts)):
            want.setdefault("/".join(parts[:i]), None)
        key = name.rstrip("/")
        if key in want and want[key] != data:
            return accepted, f"name {name!r} appears twice with different data, both accepted"
        want[key] = data
    if got.keys() != want.keys():
        return accepted, (f"extract wrote {sorted(got)}, zipfile lists {sorted(want)}")
    for k, data in want.items():
        if got[k] != data:
            return accepted, f"{k!r}: extracted bytes differ from zipfile's"
    return accepted, None


# ---------------------------------------------------------------------------
# base archives


def build_bases(taco: Path, work: Path) -> list[bytes]:
    rng = random.Random(1234)
    src = work / "src"
    tree = {
        "tree/a.txt": b"hello, taco\n" * 3,
        "tree/dir/b.bin": rng.randbytes(2000),
        "tree/dir/empty": b"",
        "tree/dir/sub/c.txt": b"the quick brown fox\n" * 20,
        "tree/z.bin": rng.randbytes(300),
    }
    splits = {
        "ds/train/s0.rec": rng.randbytes(700),
        "ds/train/s1.rec": rng.randbytes(500),
        "ds/val/s0.rec": rng.randbytes(400),
        "ds/test/s0.rec": b"t" * 100,
    }
    for rel, data in {**tree, **splits}.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    builds = [
        ("pack", ["pack", "-q", work / "pack.taco", src / "tree"]),
        ("pack-entries", ["pack", "-q", work / "pack-entries.taco", src / "tree",
                          "--entry-per-file"]),
        ("pack-splits", ["pack-splits", "-q", src / "ds", "-o", work / "pack-splits.taco"]),
    ]
    bases = []
    for name, args in builds:
        r = run_taco(taco, *args)
        if r.rc != 0:
            sys.exit(f"fuzz-differential: building the {name} base failed: {r.stderr.strip()}")
        bases.append((work / f"{name}.taco").read_bytes())
    # every base must pass the check itself, or nothing below means anything
    for i, b in enumerate(bases):
        p = work / f"base{i}.zip"
        p.write_bytes(b)
        accepted, finding = check(taco, p, work / "scratch")
        if not accepted or finding:
            sys.exit(f"fuzz-differential: base {builds[i][0]} does not pass the check: "
                     f"accepted={accepted} {finding or ''}")
    return bases


# ---------------------------------------------------------------------------
# main loop


def save_finding(findings: Path, data: bytes, finding: str, trail: list[str], seed, n) -> Path:
    findings.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(data).hexdigest()[:16]
    p = findings / f"finding-{digest}.zip"
    p.write_bytes(data)
    p.with_suffix(".txt").write_text(
        f"{finding}\nmutations: {' '.join(trail)}\nseed: {seed}, execution {n}\n")
    return p


def printable(text: str) -> str:
    """Control characters escaped: findings quote hostile names and error lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def finding_kind(finding: str) -> str:
    """The finding without its details (names, offsets, paths), to count findings by kind."""
    kind = ":".join(finding.split(":")[:2])
    kind = re.sub(r"'[^']*'|\"[^\"]*\"|/\S+|\d+", "_", kind)
    return kind[:80]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="time budget (default 60)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    ap.add_argument("--findings", type=Path, default=Path("fuzz-findings"),
                    help="directory for inputs that produced a finding (default ./fuzz-findings)")
    ap.add_argument("--taco", type=Path, default=Path(os.environ.get("TACO_BIN", DEFAULT_TACO)),
                    help="taco binary (default $TACO_BIN or target/release/taco)")
    args = ap.parse_args()
    if not (args.taco.is_file() and os.access(args.taco, os.X_OK)):
        sys.exit(f"fuzz-differential: no taco binary at {args.taco}")
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    print(f"fuzz-differential: seed {seed}, {args.seconds:g} s, taco {args.taco}", flush=True)

    executions = accepted = 0
    findings: list[str] = []
    kinds: Counter = Counter()
    accepted_by: Counter = Counter()
    seen: set[bytes] = set()
    with tempfile.TemporaryDirectory(prefix="taco-fuzz-") as tmp:
        work = Path(tmp)
        bases = build_bases(args.taco, work)
        corpus = list(bases)
        target = work / "input.zip"
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            parent = rng.choice(corpus if rng.random() < 0.5 else bases)
            data, trail = mutate(rng, parent, bases)
            digest = hashlib.sha1(data).digest()
            if digest in seen:
                continue
            seen.add(digest)
            target.write_bytes(data)
            executions += 1
            ok, finding = check(args.taco, target, work / "scratch")
            if ok:
                accepted += 1
                accepted_by.update(set(trail))
                if not finding and len(corpus) < CORPUS_MAX:
                    corpus.append(data)
            if finding:
                findings.append(finding)
                kinds[finding_kind(finding)] += 1
                where = "(not saved)"
                if len(findings) <= SAVE_MAX:
                    where = save_finding(args.findings, data, finding, trail, seed, executions)
                print(f"FINDING [{' '.join(trail)}] {printable(finding)}\n  input: {where}",
                      flush=True)

    print(f"mutations in accepted inputs: {dict(sorted(accepted_by.items()))}")
    for kind, n in kinds.most_common():
        print(f"finding kind x{n}: {printable(kind)}")
    print(f"executions: {executions}")
    print(f"accepted: {accepted}")
    print(f"findings: {len(findings)}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
