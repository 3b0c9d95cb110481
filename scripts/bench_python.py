#!/usr/bin/env python3
"""Issue 13's performance checks for the Python package, each a ratio against a baseline run
in the same invocation (median of --rounds, after a warm-up):

1. reading a 64 MiB member through `Archive.open_member` in 1 MiB reads vs `taco get` of the
   same member to /dev/null (target <= 1.2);
2. `taco_archive.pack_tiles` vs `taco pack-tiles` on the same tree (target <= 1.05);
3. `read_header` calls a second, on a path and on bytes, vs tacozip 0.13.0 (target >= 1).

Usage: python3 scripts/bench_python.py [--rounds N] [--dir DIR] [--taco PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def median_time(fn, rounds: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def calls_per_second(fn, seconds: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/taco-bench-python"))
    ap.add_argument("--taco", default=str(REPO / "target/release/taco"))
    args = ap.parse_args()
    import taco_archive as ta
    import tacozip

    d = args.dir
    d.mkdir(parents=True, exist_ok=True)
    print(f"taco_archive {ta.__version__}, tacozip {tacozip.__version__}, rounds {args.rounds}")

    # 1. a 64 MiB member read through the file object vs taco get
    big = d / "big.bin"
    if not big.exists() or big.stat().st_size != 64 << 20:
        big.write_bytes(os.urandom(64 << 20))
    archive = d / "big.taco"
    ta.pack(archive, [big], force=True)

    def py_read() -> None:
        with ta.open(archive) as a, a.open_member("big.bin") as f:
            while f.read(1 << 20):
                pass

    def cli_get() -> None:
        subprocess.run([args.taco, "get", str(archive), "--member", "big.bin", "-o", "/dev/null",
                        "--force"], check=True, stdout=subprocess.DEVNULL)

    t_py, t_cli = median_time(py_read, args.rounds), median_time(cli_get, args.rounds)
    print(f"64 MiB member: file object (1 MiB reads) {t_py * 1000:.1f} ms, taco get "
          f"{t_cli * 1000:.1f} ms, ratio {t_py / t_cli:.2f} (target <= 1.2)")

    # 2. pack_tiles vs the CLI (zooms 0-7 complete, 21 845 tiles of 1 KiB)
    tiles = d / "tiles"
    if not tiles.exists():
        block = os.urandom(1024)
        for z in range(8):
            for x in range(1 << z):
                (tiles / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
                for y in range(1 << z):
                    (tiles / str(z) / str(x) / f"{y}.png").write_bytes(block)
    t_pack_py = median_time(lambda: ta.pack_tiles(tiles, d / "py.taco", force=True), args.rounds)
    t_pack_cli = median_time(lambda: subprocess.run(
        [args.taco, "pack-tiles", str(tiles), "-o", str(d / "cli.taco"), "--force", "-q"],
        check=True), args.rounds)
    print(f"pack_tiles 21845 tiles: Python {t_pack_py * 1000:.1f} ms, CLI {t_pack_cli * 1000:.1f}"
          f" ms, ratio {t_pack_py / t_pack_cli:.3f} (target <= 1.05)")

    # 3. read_header calls a second
    small = d / "small.zip"
    (d / "a.txt").write_bytes(b"hello")
    tacozip.create(str(small), [str(d / "a.txt")], entries=[(157, 5)])
    head = small.read_bytes()[:157]
    for what, arg in (("path", str(small)), ("bytes", head)):
        ours = calls_per_second(lambda: ta.read_header(arg))
        theirs = calls_per_second(lambda: tacozip.read_header(arg))
        print(f"read_header({what}): taco_archive {ours:,.0f}/s, tacozip {theirs:,.0f}/s, "
              f"ratio {ours / theirs:.2f} (target >= 1)")


if __name__ == "__main__":
    main()
