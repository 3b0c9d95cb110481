#!/usr/bin/env python3
"""Issue 14's read check: `taco get URL --entry N` of a presigned S3 URL vs `curl -r` of the
same byte range, both against one moto server on 127.0.0.1, in the same invocation (median of
--rounds after a warm-up, the two alternating). Target: ratio <= 1.2.

`taco get` makes two requests (the 157-byte header, then the entry); curl one (it is told the
range). Each writes to /dev/null. Also timed: curl fetching the header's 157 bytes, so the
ratio against curl making the same two requests is shown too.

Usage: python3 scripts/bench_remote.py [--rounds N] [--mib M] [--dir DIR] [--taco PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


def timed(argv: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mib", type=int, default=64, help="size of the entry fetched")
    ap.add_argument("--dir", type=Path, default=Path("/tmp/taco-bench-remote"))
    ap.add_argument("--taco", default=str(REPO / "target/release/taco"))
    args = ap.parse_args()
    curl = shutil.which("curl") or sys.exit("curl is needed")
    import boto3
    from botocore.config import Config
    from remote_servers import MotoServer

    d = args.dir
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    big = d / "big.bin"
    big.write_bytes(os.urandom(args.mib << 20))
    archive = d / "big.taco"
    subprocess.run([args.taco, "pack", "-q", "--entry-per-file", archive, big], check=True)
    server = MotoServer(d / "moto")
    server.start()
    try:
        server.upload("bench", "big.taco", archive)
        client = boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing",
                              config=Config(signature_version="s3v4"))
        url = client.generate_presigned_url("get_object",
                                            Params={"Bucket": "bench", "Key": "big.taco"},
                                            ExpiresIn=3600)
        header = subprocess.run([args.taco, "header", "--json", url], check=True,
                                capture_output=True, text=True).stdout
        import json
        entry = json.loads(header)["entries"][0]
        first, last = entry["offset"], entry["offset"] + entry["length"] - 1
        taco_argv = [args.taco, "get", url, "--entry", "0", "-o", "/dev/null", "-q"]
        curl_argv = [curl, "-s", "-f", "-r", f"{first}-{last}", "-o", "/dev/null", url]
        # What taco has to do, done by curl: the header's 157 bytes, then the range.
        curl_head_argv = [curl, "-s", "-f", "-r", "0-156", "-o", "/dev/null", url]
        version = subprocess.run([curl, "--version"], capture_output=True, text=True).stdout
        print(f"taco {args.taco}; {version.splitlines()[0]}; moto {server.endpoint}")
        print(f"entry 0: {entry['length']} bytes; rounds {args.rounds} (after a warm-up)")
        timed(taco_argv)
        timed(curl_argv)
        taco_times, curl_times, head_times = [], [], []
        for _ in range(args.rounds):
            taco_times.append(timed(taco_argv))
            curl_times.append(timed(curl_argv))
            head_times.append(timed(curl_head_argv))
        t, c = statistics.median(taco_times), statistics.median(curl_times)
        h = statistics.median(head_times)
        print(f"taco get --entry (presigned URL): median {t:.3f} s  "
              f"[{', '.join(f'{x:.3f}' for x in taco_times)}]")
        print(f"curl -r (same range):            median {c:.3f} s  "
              f"[{', '.join(f'{x:.3f}' for x in curl_times)}]")
        print(f"curl -r 0-156 (the header):      median {h:.3f} s  "
              f"[{', '.join(f'{x:.3f}' for x in head_times)}]")
        ratio = t / c
        print(f"ratio taco / curl: {ratio:.2f} (target <= 1.2): {'met' if ratio <= 1.2 else 'MISSED'}")
        print(f"ratio taco / (curl header + curl range), the same two requests: "
              f"{t / (c + h):.2f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
