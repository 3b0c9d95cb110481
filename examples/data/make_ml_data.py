#!/usr/bin/env python3
"""Regenerate the sample ML split tree next to this script (or into DIR).

    python3 examples/data/make_ml_data.py [DIR]   (default: examples/data/ml_data)

Layout (one directory per split, as `taco pack-splits` expects):

    train/shard-0000.tfrecord .. shard-0002.tfrecord
    train/extra/labels.csv       (a nested directory inside a split)
    val/shard-0000.tfrecord .. shard-0001.tfrecord
    test/shard-0000.tfrecord .. shard-0001.tfrecord

Each shard is real TFRecord framing (u64 length, masked CRC-32C of the length, data, masked
CRC-32C of the data) around small records "split/shard/record: values". No randomness, so the
output is byte-identical on every run. This script sits directly in the tree's top directory,
so `taco pack-splits` reports it as one file outside any split.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

SHARDS = {"train": 3, "val": 2, "test": 2}
RECORDS_PER_SHARD = 6


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data: bytes) -> int:
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(records: list[bytes]) -> bytes:
    out = bytearray()
    for r in records:
        length = struct.pack("<Q", len(r))
        out += length + struct.pack("<I", masked_crc(length)) + r + struct.pack("<I", masked_crc(r))
    return bytes(out)


def shard(split: str, k: int) -> bytes:
    recs = []
    for i in range(RECORDS_PER_SHARD):
        vals = ",".join(str((k * 31 + i * 17 + j * 7 + len(split)) % 101) for j in range(2 + i % 3))
        recs.append(f"{split}/{k}/{i}: {vals}".encode())
    return tfrecord(recs)


def files() -> dict[str, bytes]:
    out = {}
    for split, n in SHARDS.items():
        for k in range(n):
            out[f"{split}/shard-{k:04d}.tfrecord"] = shard(split, k)
    rows = ["id,label"] + [f"{i},{['cat', 'dog', 'bird'][i % 3]}" for i in range(12)]
    out["train/extra/labels.csv"] = ("\n".join(rows) + "\n").encode()
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "ml_data"
    made = files()
    for rel, data in made.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    print(f"wrote {len(made)} files ({sum(map(len, made.values()))} bytes) under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
