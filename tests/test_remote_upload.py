"""Packing straight to object storage (issue 14): `-o s3://…` and `-o az://…` for `pack` and
every `pack-*`, streamed with a multipart upload — byte for byte what a local pack writes,
read back by tacozip and `taco validate --level deep`; an existing key kept unless --force
(also when another writer takes it during the upload); failures, SIGTERM and Ctrl-C abort the
upload (no object, no open multipart upload); an injected 503 on a part is retried. And `-o -`:
the same bytes on standard output.

Servers: moto (S3, with injected faults) and Azurite, started by the tests on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import assert_fails_cleanly, assert_taco_error

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "examples" / "data"
BUCKET = "taco-upload"
EPOCH = "1700000000"
PART = ["--part-size", "5"]  # the smallest S3 allows: several parts from small sources


def rand_bytes(n: int, seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """A Parquet file of ~14 MiB in 7 row groups and a tile pyramid of ~8.5 MiB: both bigger
    than one 5 MiB part, both stored uncompressed so they do not shrink."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("upload-sources")
    rows = 900_000
    rng = np.random.default_rng(7)
    table = pa.table({"id": np.arange(rows, dtype=np.int64),
                      "value": rng.random(rows)})
    parquet = root / "big.parquet"
    pq.write_table(table, parquet, row_group_size=rows // 7 + 1, compression="none")
    tiles = root / "pyramid"
    seed = 0
    for z in range(4):
        for x in range(2 ** z):
            for y in range(2 ** z):
                tile = tiles / str(z) / str(x) / f"{y}.png"
                tile.parent.mkdir(parents=True, exist_ok=True)
                seed += 1
                tile.write_bytes(rand_bytes(100_000 + seed, seed))
    return {"parquet": parquet, "tiles": tiles}


@pytest.fixture
def upload_env(s3_env, s3_server, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    s3_server.create_bucket(BUCKET)
    s3_server.clear_faults()
    yield s3_server
    s3_server.clear_faults()


def key_for(request) -> str:
    return f"{request.node.name}.taco"


def object_bytes(s3_server, key: str) -> bytes | None:
    client = s3_server.client()
    try:
        return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        return None


def open_uploads(s3_server) -> list[dict]:
    return s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def assert_left_nothing(s3_server, key: str) -> None:
    assert object_bytes(s3_server, key) is None, f"an object {key} was left"
    assert open_uploads(s3_server) == [], "an open multipart upload was left"


PACKS = [
    ("pack-parquet", lambda s: ["pack-parquet", s["parquet"]]),
    ("pack-tiles", lambda s: ["pack-tiles", s["tiles"]]),
    ("pack-splits", lambda s: ["pack-splits", DATA / "ml_data"]),
    ("pack-netcdf", lambda s: ["pack-netcdf", DATA / "climate"]),
]


@pytest.mark.parametrize("name,argv", PACKS, ids=[p[0] for p in PACKS])
def test_a_pack_streamed_to_s3_equals_the_local_pack(taco, upload_env, sources, tmp_path,
                                                      request, name, argv):
    import tacozip

    key = key_for(request)
    local = tmp_path / "local.taco"
    taco(*argv(sources), "-q", "-o", local, check=True)
    mark = upload_env.log_mark()
    run = tmp_path / "run"
    run.mkdir()
    cp = taco(*argv(sources), "-o", f"s3://{BUCKET}/{key}", *PART, "--stats", cwd=run,
              check=True)
    requests = upload_env.requests_since(mark)
    want = local.read_bytes()
    got = object_bytes(upload_env, key)
    assert got is not None and len(got) == len(want)
    assert got == want, "the uploaded archive differs from the local pack"
    assert f"s3://{BUCKET}/{key}: {len(want)} bytes" in cp.stdout
    # No local copy, and no sidecar: nothing is written where the command ran.
    assert list(run.iterdir()) == []

    parts = [r for r in requests if r.method == "PUT" and "partNumber=" in r.extra["query"]]
    assert len(parts) == max(1, -(-len(want) // (5 << 20))), "one request per 5 MiB part"
    assert all(r.status == 200 for r in parts)
    # The object appears only with the completion, which asks for a free key.
    complete = [r for r in requests if r.method == "POST" and "uploadId=" in r.extra["query"]]
    assert len(complete) == 1 and complete[0].extra["if_none_match"] == "*"
    sent = sum(r.extra["sent_bytes"] for r in requests)
    assert f"requests={len(requests)} " in cp.stderr
    assert f"bytes_sent={sent}" in cp.stderr and sent >= len(want)

    # Each part went with its SHA-256, which the store checked and keeps (composite).
    head = upload_env.client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256"), f"no SHA-256 checksum on the object: {head}"

    # Readers we did not write: tacozip on the first 165 bytes, and a deep validation.
    head = tmp_path / "head.bin"
    head.write_bytes(got[:165])
    entries = [tuple(e) for e in tacozip.read_header(str(head))]
    assert entries and entries == [tuple(e) for e in tacozip.read_header(str(local))]
    taco("validate", "--level", "deep", f"s3://{BUCKET}/{key}", check=True)


def test_plain_pack_streams_too_and_an_existing_key_needs_force(taco, upload_env, tmp_path,
                                                                request):
    key = key_for(request)
    url = f"s3://{BUCKET}/{key}"
    (tmp_path / "a.txt").write_bytes(b"alpha")
    (tmp_path / "b.bin").write_bytes(rand_bytes(6 << 20, 3))
    taco("pack", "-q", tmp_path / "local.taco", "a.txt", "b.bin", "--entry-per-file",
         cwd=tmp_path, check=True)
    taco("pack", "-q", url, "a.txt", "b.bin", "--entry-per-file", *PART, cwd=tmp_path,
         check=True)
    assert object_bytes(upload_env, key) == (tmp_path / "local.taco").read_bytes()

    # The key exists now: refused before a byte is sent, the object untouched.
    mark = upload_env.log_mark()
    cp = taco("pack", "-q", url, "a.txt", cwd=tmp_path)
    assert_fails_cleanly(cp, url, "already exists", "--force")
    sent = upload_env.requests_since(mark)
    assert [r.method for r in sent] == ["HEAD"], "only the existence check was sent"
    assert object_bytes(upload_env, key) == (tmp_path / "local.taco").read_bytes()

    taco("pack", "-q", url, "a.txt", "--force", cwd=tmp_path, check=True)
    replaced = object_bytes(upload_env, key)
    assert replaced is not None and b"alpha" in replaced and len(replaced) < 4096
    assert open_uploads(upload_env) == []


def start_upload(taco, argv: list, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen([str(taco.bin), *map(str, argv)], cwd=tmp_path,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def wait_for_parts(s3_server, mark: int, proc: subprocess.Popen, parts: int = 2) -> None:
    """Waits (bounded) until the upload has sent `parts` parts and is still running."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sent = [r for r in s3_server.requests_since(mark, timeout=0, settle=0)
                if r.method == "PUT" and "partNumber=" in r.extra["query"]]
        if len(sent) >= parts:
            assert proc.poll() is None, "the upload ended before it could be interrupted"
            return
        assert proc.poll() is None, f"taco ended early: {proc.communicate()[1]!r}"
        time.sleep(0.02)
    proc.kill()
    pytest.fail("the upload sent no parts within 60 s")


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory) -> Path:
    """A 120 MiB file: 24 parts of 5 MiB, one at a time, take moto several seconds."""
    path = tmp_path_factory.mktemp("slow") / "big.bin"
    block = rand_bytes(1 << 20, 11)
    with open(path, "wb") as f:
        for i in range(120):
            f.write(block[i:] + block[:i])
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_upload_aborts_it(taco, upload_env, slow_source, tmp_path, request, sig):
    key = key_for(request)
    mark = upload_env.log_mark()
    proc = start_upload(taco, ["pack", "-q", f"s3://{BUCKET}/{key}", slow_source, *PART,
                               "--parts-in-flight", "1"], tmp_path)
    wait_for_parts(upload_env, mark, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("taco: ") and "interrupted" in lines[0]
    assert_left_nothing(upload_env, key)
    aborts = [r for r in upload_env.requests_since(mark)
              if r.method == "DELETE" and "uploadId=" in r.extra["query"]]
    assert len(aborts) == 1 and aborts[0].status == 204


def test_kill_9_mid_upload_leaves_no_object(taco, upload_env, slow_source, tmp_path, request):
    key = key_for(request)
    mark = upload_env.log_mark()
    proc = start_upload(taco, ["pack", "-q", f"s3://{BUCKET}/{key}", slow_source, *PART,
                               "--parts-in-flight", "1"], tmp_path)
    wait_for_parts(upload_env, mark, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert object_bytes(upload_env, key) is None
    # Nothing can abort for a killed process: the open upload is the server's to expire (a
    # lifecycle rule, as README says). Cleaned here so later tests start empty.
    client = upload_env.client()
    for upload in open_uploads(upload_env):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"],
                                      UploadId=upload["UploadId"])


def test_an_injected_503_on_a_part_is_retried(taco, upload_env, sources, tmp_path, request):
    key = key_for(request)
    local = tmp_path / "local.taco"
    taco("pack-parquet", "-q", sources["parquet"], "-o", local, check=True)
    upload_env.fail_requests("PUT", "partNumber=2", times=1, status=503, code="SlowDown")
    mark = upload_env.log_mark()
    taco("pack-parquet", "-q", sources["parquet"], "-o", f"s3://{BUCKET}/{key}", *PART,
         check=True)
    assert object_bytes(upload_env, key) == local.read_bytes()
    second = [r for r in upload_env.requests_since(mark)
              if r.method == "PUT" and "partNumber=2" in r.extra["query"].split("&")]
    assert [r.status for r in second] == [503, 200], "part 2: the fault, then the retry"
    assert second[0].extra["faulted"]


@pytest.mark.parametrize("in_flight", ["4", "1"])
def test_a_part_refused_for_good_aborts_the_upload(taco, upload_env, sources, tmp_path,
                                                   request, in_flight):
    # With 4 in flight the failure is met when completing; with 1, while writing the next part.
    key = key_for(request)
    upload_env.fail_requests("PUT", "partNumber=1", times=100, status=403, code="AccessDenied")
    before = set(os.listdir(tmp_path))
    cp = taco("pack-parquet", "-q", sources["parquet"], "-o", f"s3://{BUCKET}/{key}", *PART,
              "--parts-in-flight", in_flight, cwd=tmp_path)
    line = assert_fails_cleanly(cp, f"s3://{BUCKET}/{key}", "access denied", "AccessDenied",
                                workdir=tmp_path, before=before)
    assert line.startswith(f"taco: s3://{BUCKET}/{key}: access denied")
    upload_env.clear_faults()
    assert_left_nothing(upload_env, key)


def test_a_key_taken_during_the_upload_is_not_overwritten(taco, upload_env, slow_source,
                                                          tmp_path, request):
    key = key_for(request)
    mark = upload_env.log_mark()
    proc = start_upload(taco, ["pack", "-q", f"s3://{BUCKET}/{key}", slow_source, *PART,
                               "--parts-in-flight", "1"], tmp_path)
    wait_for_parts(upload_env, mark, proc)
    # Another writer gets there first, after taco checked the key was free.
    upload_env.client().put_object(Bucket=BUCKET, Key=key, Body=b"theirs")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert_taco_error(subprocess.CompletedProcess([], 1, out, err.decode()), "already exists")
    assert object_bytes(upload_env, key) == b"theirs"
    assert open_uploads(upload_env) == []


def test_urls_that_take_no_upload_are_one_clear_line(taco, upload_env, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a")
    before = set(os.listdir(tmp_path))
    cp = taco("pack", "-q", "https://example.invalid/x.taco", "a.txt", cwd=tmp_path)
    assert_fails_cleanly(cp, "no multipart upload", workdir=tmp_path, before=before)
    cp = taco("pack", "-q", "gs://bucket/x.taco", "a.txt", cwd=tmp_path)
    assert_fails_cleanly(cp, "gs:// URLs take no upload", workdir=tmp_path, before=before)
    cp = taco("pack", "-q", f"s3://{BUCKET}/k.taco", "a.txt", "--part-size", "4", cwd=tmp_path)
    assert cp.returncode == 2 and "--part-size" in cp.stderr
    cp = taco("pack", "-q", "s3://no-such-bucket-here/k.taco", "a.txt", cwd=tmp_path)
    assert_fails_cleanly(cp, "no-such-bucket-here", workdir=tmp_path, before=before)


def test_an_archive_on_standard_output_equals_the_file(taco, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    for argv in (["pack", "-", "a.txt"], ["pack-tiles", DATA / "tiles", "-o", "-"]):
        (tmp_path / "a.txt").write_bytes(b"alpha")
        local = tmp_path / "local.taco"
        file_argv = [str(local) if a == "-" else a for a in argv]
        taco(*file_argv, "-q", "-f", cwd=tmp_path, check=True)
        cp = taco(*argv, cwd=tmp_path, binary=True, check=True)
        assert cp.stdout == local.read_bytes()
        assert "bytes" in cp.stderr, "the summary goes to stderr, not into the archive"
        local.unlink()


def test_azure_takes_the_same_upload(taco, remote_env, monkeypatch, azurite_server, sources,
                                     tmp_path):
    for k, v in azurite_server.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    azurite_server.upload("uploads", "seed.bin", b"x")  # creates the container
    local = tmp_path / "local.taco"
    taco("pack-tiles", "-q", sources["tiles"], "-o", local, check=True)
    url = "az://uploads/pyramid.taco"
    taco("pack-tiles", "-q", sources["tiles"], "-o", url, *PART, check=True)
    want = local.read_bytes()
    assert len(want) > (5 << 20), "more than one block"
    assert azurite_server.download("uploads", "pyramid.taco") == want
    taco("validate", "--level", "deep", url, check=True)
    cp = taco("pack-tiles", "-q", sources["tiles"], "-o", url)
    assert_fails_cleanly(cp, url, "already exists", "--force")
    taco("pack-tiles", "-q", DATA / "tiles", "-o", url, "--force", check=True)
    assert azurite_server.download("uploads", "pyramid.taco") != want


def test_python_packs_stream_to_s3_and_abort_on_failure(taco, upload_env, sources, tmp_path,
                                                        request):
    import taco_archive

    key = key_for(request)
    local = taco_archive.pack_tiles(sources["tiles"], tmp_path / "local.taco")
    result = taco_archive.pack_tiles(sources["tiles"], f"s3://{BUCKET}/{key}")
    assert result.path == f"s3://{BUCKET}/{key}"
    assert result.size == local.size and result.entries == local.entries
    assert object_bytes(upload_env, key) == (tmp_path / "local.taco").read_bytes()
    with pytest.raises(taco_archive.errors.TacoError, match="already exists"):
        taco_archive.pack_tiles(sources["tiles"], f"s3://{BUCKET}/{key}")
    other = f"{key}.refused"
    upload_env.fail_requests("PUT", "partNumber=1", times=100, status=403, code="AccessDenied")
    with pytest.raises(taco_archive.errors.TacoError, match="access denied"):
        taco_archive.pack_tiles(sources["tiles"], f"s3://{BUCKET}/{other}")
    upload_env.clear_faults()
    assert_left_nothing(upload_env, other)
