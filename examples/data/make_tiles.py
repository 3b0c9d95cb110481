#!/usr/bin/env python3
"""Regenerate the sample tile pyramid next to this script (or into DIR).

    python3 examples/data/make_tiles.py [DIR]   (default: examples/data/tiles)

Zooms 0-3, every tile present (1 + 4 + 16 + 64 = 85 tiles), stored as `{z}/{x}/{y}.png`.
Each tile is an 8x8 RGB PNG written with the standard library only (zlib + struct). Pixel
(i, j) of tile (z, x, y) shows the position it covers in the whole map: red grows with the
global column, green with the global row, and blue encodes the zoom (80 * z). So the pyramid
renders one smooth gradient at every zoom, and no two tiles are equal.

Deterministic: no randomness or clock input (the bytes depend only on the zlib build's
level-9 output, which is stable in practice). This script itself sits at depth 1 of the
pyramid directory, so `taco pack-tiles` reports it as one skipped non-tile file.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

MAX_ZOOM = 3
SIZE = 8  # pixels per tile side


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_rgb(pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """A truecolour 8-bit PNG; pixels[row][col] = (r, g, b)."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)  # filter 0
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def tile_pixel(z: int, x: int, y: int, col: int, row: int) -> tuple[int, int, int]:
    n = 1 << z
    u = (x + (col + 0.5) / SIZE) / n  # global position of the pixel centre, in [0, 1)
    v = (y + (row + 0.5) / SIZE) / n
    return int(u * 256), int(v * 256), 80 * z


def tile_png(z: int, x: int, y: int) -> bytes:
    return png_rgb([[tile_pixel(z, x, y, c, r) for c in range(SIZE)] for r in range(SIZE)])


def tiles() -> dict[str, bytes]:
    out = {}
    for z in range(MAX_ZOOM + 1):
        for x in range(1 << z):
            for y in range(1 << z):
                out[f"{z}/{x}/{y}.png"] = tile_png(z, x, y)
    return out


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "tiles"
    made = tiles()
    assert len(set(made.values())) == len(made), "tiles must all differ"
    for rel, data in made.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    total = sum(map(len, made.values()))
    print(f"wrote {len(made)} tiles ({total} bytes) under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
