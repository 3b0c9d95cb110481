"""An independent reader of the lookup directory (docs/FORMAT.md §4), written from the spec and
not from the Rust code: decodes every entry of an archive's TACO_DIRECTORY so tests can compare
it with what zipfile and the planners say."""

from __future__ import annotations

import struct
import zlib

LOOKUP_MEMBER = "TACO_DIRECTORY"
HEADER_LEN = 157
HEAD_LEN = 64 * 1024
MASK = (1 << 64) - 1


def name_key(name: str) -> int:
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & MASK
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & MASK
    return h ^ (h >> 31)


def hilbert(z: int, x: int, y: int) -> int:
    n, d, s = 1 << z, 0, (1 << z) // 2
    while s > 0:
        rx, ry = int(x & s > 0), int(y & s > 0)
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = n - 1 - x, n - 1 - y
            x, y = y, x
        s //= 2
    return d


def tile_key(z: int, x: int, y: int) -> int:
    return ((4 ** z) - 1) // 3 + hilbert(z, x, y)


def _varint(b: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = b[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        assert shift < 70, "varint too long"


def _entries(kind: int, b: bytes) -> list[tuple[int, int, int]]:
    """(key, header_offset, data_len) of an entry list."""
    count, at = _varint(b, 0)
    out, key, end = [], 0, 0
    for _ in range(count):
        delta, at = _varint(b, at)
        key += delta
        if kind == 0:
            offset, at = _varint(b, at)
            length, at = _varint(b, at)
        else:
            length, at = _varint(b, at)
            zz, at = _varint(b, at)
            gap = (zz >> 1) ^ -(zz & 1)
            offset = end + gap
        end = offset + length
        out.append((key, offset, length))
    return out


def read_lookup(raw: bytes) -> tuple[int, list[tuple[int, int, int]], dict]:
    """Decodes the whole directory of archive bytes `raw`: (kind, entries, facts) where facts
    holds the root length, leaf lengths and the directory's first data byte."""
    assert raw[HEADER_LEN:HEADER_LEN + 4] == b"PK\x03\x04", "no local header after TACO_HEADER"
    name_len, extra_len = struct.unpack_from("<HH", raw, HEADER_LEN + 26)
    name = raw[HEADER_LEN + 30:HEADER_LEN + 30 + name_len].decode()
    assert name == LOOKUP_MEMBER, f"second member is {name!r}"
    base = HEADER_LEN + 30 + name_len + extra_len
    root = raw[base:]
    assert root[:4] == b"TDIR" and root[4] == 1, "magic / version"
    kind = root[5]
    members, leaf_count, root_len, crc = struct.unpack_from("<QIII", root, 8)
    assert base + root_len <= HEAD_LEN, "the root must lie in the first 64 KiB"
    check = bytearray(root[:root_len])
    check[24:28] = b"\0\0\0\0"
    assert zlib.crc32(bytes(check)) == crc, "root CRC"
    if leaf_count == 0:
        entries = _entries(kind, root[32:root_len])
        leaves = []
    else:
        at, leaves, firsts, first = 32, [], [], 0
        for _ in range(leaf_count):
            if kind == 1:
                delta, at = _varint(root, at)
                first += delta
                firsts.append(first)
            (length,) = struct.unpack_from("<H", root, at)
            at += 2
            leaves.append(length)
        assert at == root_len, "leaf table must end at the root's end"
        entries, offset = [], root_len
        for i, length in enumerate(leaves):
            leaf = root[offset:offset + length]
            assert zlib.crc32(leaf[4:]) == struct.unpack_from("<I", leaf, 0)[0], f"leaf {i} CRC"
            got = _entries(kind, leaf[4:])
            for key, _, _ in got:
                if kind == 0:
                    assert (key * leaf_count) >> 64 == i, "name key in the wrong bucket"
                else:
                    assert key >= firsts[i], "tile key before its leaf's first"
            entries += got
            offset += length
    assert len(entries) == members, "member count"
    return kind, entries, {"root_len": root_len, "leaves": leaves, "base": base}
