#!/usr/bin/env python3
"""Before/after benchmark: two taco binaries on the same data in one run.

Packs two datasets (big: 100 files x 10 MiB; small: 20 000 files x 4 KiB in 100 directories)
with `taco pack -q --force` and checks the result with `taco validate --level deep`, for the
BASE binary (e.g. a build of the previous commit) and the NEW one, alternating which goes first
each round, with `cat` of the same files as the floor. The page cache is warm; `sync` runs
outside the timings so nobody pays for another's dirty pages. Prints per-step medians, the
ratio NEW/BASE (the regression check: within 1.05 is "no regression") and NEW/cat, and a
markdown table for BENCHMARKS.md.

    python3 scripts/bench-regress.py --base /tmp/base-target/release/taco \\
        --new target/release/taco [--rounds 5] [--dir /tmp/taco-regress]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path


def make_datasets(root: Path) -> dict[str, Path]:
    sets = {"big": (100, 10 << 20, 1), "small": (20_000, 4 << 10, 100)}
    out = {}
    for name, (count, size, dirs) in sets.items():
        d = root / name
        out[name] = d
        if (d / ".done").exists():
            continue
        shutil.rmtree(d, ignore_errors=True)
        for i in range(count):
            sub = d / f"d{i % dirs:03d}"
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"f{i:05d}.bin").write_bytes(os.urandom(size))
        (d / ".done").write_text("")
    return out


def files_of(d: Path) -> list[str]:
    return sorted(str(p) for p in d.rglob("*.bin"))


def timed(cmd: list[str], stdout=subprocess.DEVNULL) -> float:
    subprocess.run(["sync"], check=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=stdout)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, type=Path)
    ap.add_argument("--new", required=True, type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/taco-regress"))
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    data = make_datasets(args.dir)
    binaries = {"base": str(args.base.resolve()), "new": str(args.new.resolve())}
    times: dict[tuple[str, str, str], list[float]] = {}

    for r in range(args.rounds):
        order = ["base", "new"] if r % 2 == 0 else ["new", "base"]
        for name, d in data.items():
            files = files_of(d)
            cat_out = args.dir / f"{name}.cat"
            with open(cat_out, "wb") as sink:
                times.setdefault((name, "pack", "cat"), []).append(
                    timed(["cat", *files], stdout=sink))
            cat_out.unlink()
            for who in order:
                archive = args.dir / f"{name}.{who}.taco"
                times.setdefault((name, "pack", who), []).append(
                    timed([binaries[who], "pack", "-q", "--force", str(archive), str(d)]))
                times.setdefault((name, "validate-deep", who), []).append(
                    timed([binaries[who], "validate", "--level", "deep", str(archive)]))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    rows = []
    for name in data:
        for step in ("pack", "validate-deep"):
            base = statistics.median(times[(name, step, "base")])
            new = statistics.median(times[(name, step, "new")])
            cat = statistics.median(times[(name, "pack", "cat")])
            rows.append((name, step, base, new, new / base, new / cat if step == "pack" else None))
    print("\n| dataset | step | base (s) | new (s) | new/base | new/cat |")
    print("|---|---|---|---|---|---|")
    for name, step, base, new, ratio, vs_cat in rows:
        cat_text = f"{vs_cat:.2f}" if vs_cat is not None else "-"
        print(f"| {name} | {step} | {base:.3f} | {new:.3f} | {ratio:.3f} | {cat_text} |")
    worst = max(r[4] for r in rows)
    print(f"\nworst new/base: {worst:.3f} ({'within' if worst <= 1.05 else 'OVER'} 1.05)")
    for f in args.dir.glob("*.taco"):
        f.unlink()


if __name__ == "__main__":
    main()
