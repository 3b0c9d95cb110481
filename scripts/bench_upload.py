#!/usr/bin/env python3
"""Issue 14's write check: `taco pack-parquet SRC -o s3://…` (streamed, multipart) vs the
two-step way it replaces — `taco pack-parquet SRC -o local.taco` then boto3 `upload_file` of
the result — against one moto server on 127.0.0.1, in the same invocation, for each size
given. Reports the wall-time ratio (target <= 1.2) and taco's peak RSS when streaming
(target <= 256 MiB whatever the size).

moto keeps objects in memory: each size needs about 3x its bytes of RAM, and the local
archive needs its size in free disk.

Usage: python3 scripts/bench_upload.py [--gib 1 4] [--rounds N] [--dir DIR] [--taco PATH]
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


def write_parquet(path: Path, gib: float) -> None:
    """An uncompressed Parquet file of about `gib` GiB in 64 MiB row groups of random data,
    written in slices so memory stays small."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows_per_group = (64 << 20) // 16
    groups = max(1, int(gib * (1 << 30)) // (64 << 20))
    rng = np.random.default_rng(1)
    schema = pa.schema([("id", pa.int64()), ("value", pa.float64())])
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False,
                          write_statistics=False) as writer:
        for g in range(groups):
            ids = np.arange(g * rows_per_group, (g + 1) * rows_per_group, dtype=np.int64)
            table = pa.table({"id": ids, "value": rng.random(rows_per_group)}, schema=schema)
            writer.write_table(table, row_group_size=rows_per_group)


def run_child(argv: list[str], env: dict[str, str], rss_file: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one child process. The RSS is GNU time's: a
    child forked straight from this (large) Python process would report the parent's pages
    it held before exec."""
    t0 = time.perf_counter()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv], env=env,
                   stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    return wall, int(rss_file.read_text().split()[-1]) * 1024


class PlainMoto:
    """`python -m moto.server` as a user starts it, on a free port of 127.0.0.1."""

    def __init__(self, base: Path):
        self.base = base
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> None:
        import socket

        from remote_servers import clean_env

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base.mkdir(parents=True, exist_ok=True)
        log = open(self.base / "moto.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                      "-p", str(self.port)], stdout=log, stderr=log,
                                     env=clean_env())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.client().list_buckets()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.2)
        self.stop()
        sys.exit("moto_server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}))

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def reset(self) -> None:
        import urllib.request

        req = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(req, timeout=30).read()


UPLOAD = """
import sys, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
c = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing",
                 config=Config(s3={"addressing_style": "path"}))
c.upload_file(sys.argv[2], "bench", sys.argv[3],
              Config=TransferConfig(multipart_chunksize=16 << 20, max_concurrency=4))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gib", type=float, nargs="+", default=[1.0, 4.0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/taco-bench-upload"))
    ap.add_argument("--taco", default=str(REPO / "target/release/taco"))
    ap.add_argument("--logged-moto", action="store_true",
                    help="use the tests' moto server (it logs every request) instead of "
                         "moto_server as a user runs it")
    args = ap.parse_args()
    from remote_servers import MotoServer, clean_env

    d = args.dir
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    server = PlainMoto(d / "moto") if not args.logged_moto else MotoServer(d / "moto")
    server.start()
    env = clean_env({**server.env, "SOURCE_DATE_EPOCH": "1700000000"})
    kind = "the tests' moto (request log)" if args.logged_moto else "moto_server"
    print(f"server: {kind}")
    print(f"{'size':>8} {'streamed s':>11} {'pack+upload s':>14} {'ratio':>6} "
          f"{'taco RSS MiB':>13} {'same size':>9}")
    try:
        for gib in args.gib:
            src = d / f"src-{gib}.parquet"
            # in a child, so this process stays small
            subprocess.run([sys.executable, "-c",
                            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r});"
                            f"import bench_upload; from pathlib import Path;"
                            f"bench_upload.write_parquet(Path({str(src)!r}), {gib})"],
                           check=True)
            local = d / "local.taco"
            streamed, two_step, rss = [], [], []
            equal = True
            rss_file = d / "rss"

            def fresh_bucket() -> None:
                # moto slows down as it holds more: every run starts from an empty server
                server.reset()
                server.create_bucket("bench")

            def two_step_run() -> None:
                fresh_bucket()
                local.unlink(missing_ok=True)
                t_pack, _ = run_child([args.taco, "pack-parquet", "-q", "-f", str(src), "-o",
                                       str(local)], env, rss_file)
                t_up, _ = run_child([sys.executable, "-c", UPLOAD, server.endpoint,
                                     str(local), "two-step.taco"], env, rss_file)
                two_step.append(t_pack + t_up)

            def streamed_run() -> None:
                fresh_bucket()
                t_stream, peak = run_child([args.taco, "pack-parquet", "-q", str(src), "-o",
                                            "s3://bench/streamed.taco"], env, rss_file)
                streamed.append(t_stream)
                rss.append(peak)

            for r in range(args.rounds):
                # alternating which goes first, so neither always meets a warmer server
                for run in (two_step_run, streamed_run) if r % 2 == 0 else (streamed_run,
                                                                           two_step_run):
                    run()
                if r == 0:
                    head = server.client().head_object(Bucket="bench", Key="streamed.taco")
                    equal = equal and head["ContentLength"] == local.stat().st_size
            s, t = statistics.median(streamed), statistics.median(two_step)
            print(f"{gib:>6.1f}Gi {s:>11.2f} {t:>14.2f} {s / t:>6.2f} "
                  f"{max(rss) / (1 << 20):>13.0f} {str(equal):>9}", flush=True)
            src.unlink()
            local.unlink(missing_ok=True)
    finally:
        server.stop()
    print(f"(median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
