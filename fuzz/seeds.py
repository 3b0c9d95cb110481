#!/usr/bin/env python3
"""Writes a small seed corpus of valid TACO/ZIP records for the fuzz targets.

Usage: python3 fuzz/seeds.py fuzz/corpus/parse_records
Seeds: a TACO header, a small TACO archive, a ZIP64 archive tail, an archive with a comment.
Built by hand with struct so the bytes are exactly what DESIGN.md section 2 describes.
"""
import os
import struct
import sys
import zlib

LOCAL, CENTRAL, EOCD, Z64EOCD, Z64LOC = 0x04034B50, 0x02014B50, 0x06054B50, 0x06064B50, 0x07064B50
M32 = 0xFFFFFFFF


def flags(name):
    """Bit 11 (UTF-8) for non-ASCII names."""
    return 0x800 if any(b >= 0x80 for b in name) else 0


def local(name, crc, size, zip64=False):
    extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
    s32 = M32 if zip64 else size
    return struct.pack("<IHHHHHIIIHH", LOCAL, 45 if zip64 else 20, flags(name), 0, 0, 0x21, crc,
                       s32, s32,
                       len(name), len(extra)) + name + extra


def central(name, crc, size, offset):
    extra = b""
    if size >= M32:
        extra += struct.pack("<QQ", size, size)
    if offset >= M32:
        extra += struct.pack("<Q", offset)
    if extra:
        extra = struct.pack("<HH", 1, len(extra)) + extra
    version = 45 if extra else 20
    return struct.pack("<IHHHHHHIIIHHHHHII", CENTRAL, 0x300 | version, version, flags(name), 0, 0,
                       0x21, crc,
                       min(size, M32), min(size, M32), len(name), len(extra), 0, 0, 0,
                       0o100644 << 16, min(offset, M32)) + name + extra


def eocd(count, cd_size, cd_offset, comment=b""):
    return struct.pack("<IHHHHIIH", EOCD, 0, 0, min(count, 0xFFFF), min(count, 0xFFFF),
                       min(cd_size, M32), min(cd_offset, M32), len(comment)) + comment


def zip64_end(count, cd_size, cd_offset, at):
    record = struct.pack("<IQHHIIQQQQ", Z64EOCD, 44, 0x32D, 45, 0, 0, count, count, cd_size,
                         cd_offset)
    return record + struct.pack("<IIQI", Z64LOC, 0, at, 1)


def header(entries):
    payload = bytes([len(entries), 0, 0, 0])
    for off, length in entries:
        payload += struct.pack("<QQ", off, length)
    payload += bytes(116 - len(payload))
    return local(b"TACO_HEADER", zlib.crc32(payload), 116) + payload, payload


def archive(members, comment=b"", force_zip64=False):
    """members: list of (name, data). Entry i = data of member i."""
    body, records, spans = b"", [], []
    offset = 157
    for name, data in members:
        crc = zlib.crc32(data)
        loc = local(name, crc, len(data))
        records.append((name, crc, len(data), offset))
        spans.append((offset + len(loc), len(data)))
        body += loc + data
        offset += len(loc) + len(data)
    head, payload = header(spans[:7])
    cd = central(b"TACO_HEADER", zlib.crc32(payload), 116, 0)
    cd += b"".join(central(*r) for r in records)
    cd_offset = 157 + len(body)
    count = len(records) + 1
    tail = b""
    if force_zip64:
        tail = zip64_end(count, len(cd), cd_offset, cd_offset + len(cd))
        return head + body + cd + tail + eocd(0xFFFF, M32, M32, comment)
    return head + body + cd + eocd(count, len(cd), cd_offset, comment)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus/parse_records"
    os.makedirs(out, exist_ok=True)
    members = [(b"train/a.bin", b"hello"), (b"val/b.bin", b"world!"), ("ünï/c".encode(), b"")]
    big_cd = central(b"big.bin", 0x1234, 5 << 30, 6 << 30) + central(b"small", 1, 3, 157)
    seeds = {
        "header": header([(157, 10), (0, 0), (400, 5)])[0],
        "archive": archive(members),
        "archive_comment": archive(members[:1], comment=b"a comment"),
        "archive_zip64_end": archive(members, force_zip64=True),
        "zip64_tail": big_cd + zip64_end(2, len(big_cd), 0, len(big_cd))
        + eocd(2, len(big_cd), M32),
        "zip64_local": local(b"big.bin", 0x1234, 5 << 30, zip64=True),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
