"""Remote reading from S3 (moto in server mode): request budgets from moto's request log and
from --stats, signed and unsigned (AWS_NO_SIGN_REQUEST) access, S3 errors (missing key,
missing bucket, access denied, malformed s3:// URL), keys that need escaping, and the
reference client flow (boto3 range GETs + tacozip + pyarrow, nothing from taco) on a
`taco pack-parquet` archive.
"""

from __future__ import annotations

import io

import pytest

from conftest import listing, ls_seen_remotely
from parquet_fixtures import require_module
from remote_fixtures import (
    HEAD_RANGE,
    HEADER_RANGE,
    LazyArchives,
    TAIL,
    TAIL_RANGE,
    assert_tile_entry_request,
    build_parquet,
    build_plain,
    build_tiles,
    byte_range,
    ok_stats,
    remote_error,
    summary,
)

BUCKET = "taco-remote-s3"


@pytest.fixture(scope="module")
def archives(taco, tmp_path_factory):
    """plain, tiles, and parquet = (Archive, the input Parquet file), built on first use."""
    return LazyArchives(tmp_path_factory.mktemp("remote-s3"), {
        "plain": lambda d: build_plain(taco, d),
        "tiles": lambda d: build_tiles(taco, d, range(4), seed=21, sizes=(50, 900)),
        "parquet": lambda d: build_parquet(taco, d),
    })


@pytest.fixture(scope="module")
def uploaded(archives, s3_server):
    """name -> (Archive, s3:// URI, key), uploaded on first use."""

    def upload(d, name):
        a = archives[name][0] if name == "parquet" else archives[name]
        key = f"archives/{a.path.name}"
        return a, s3_server.upload(BUCKET, key, a.path), key

    return LazyArchives(None, {k: (lambda d, k=k: upload(d, k))
                               for k in ("plain", "tiles", "parquet")})


def run_logged(taco, srv, *args, count=None, **kw):
    mark = srv.log_mark()
    cp = taco(*args, **kw)
    return cp, srv.requests_since(mark, count=count)


# ---------------------------------------------------------------------------
# budgets, from moto's log and from --stats


def test_header_one_signed_request(taco, s3_env, s3_server, uploaded):
    a, uri, key = uploaded["plain"]
    cp, recs = run_logged(taco, s3_server, "header", uri, "--stats", count=1)
    assert ok_stats(cp) == (1, 157)
    assert summary(recs) == [("GET", HEADER_RANGE, 206, 157)]
    assert recs[0].path == f"/{BUCKET}/{key}", "path-style addressing with a custom endpoint"
    assert recs[0].extra["signed"] is True


@pytest.mark.parametrize("entry", [0, 3, 4])
def test_get_entry_two_requests(taco, s3_env, s3_server, uploaded, tmp_path, entry):
    a, uri, _key = uploaded["plain"]
    off, length = a.entries[entry]
    out = tmp_path / "e.bin"
    cp, recs = run_logged(taco, s3_server, "get", uri, "--entry", entry, "-o", out, "--stats",
                          count=2)
    assert ok_stats(cp) == (2, 157 + length)
    assert summary(recs) == [
        ("GET", HEADER_RANGE, 206, 157),
        ("GET", byte_range(off, length), 206, length),
    ]
    assert recs[1].if_match, "the entry request must be tied to the header's version"
    assert out.read_bytes() == a.raw[off:off + length]


@pytest.mark.parametrize("which", ["plain", "tiles", "parquet"])
def test_ls_one_request(taco, s3_env, s3_server, uploaded, which):
    a, uri, _key = uploaded[which]
    assert a.cd_offset >= a.size - TAIL
    # with a manifest and members before the tail: one more request, for taco's own members
    # at the front (the manifest gives the others' data offsets)
    front = a.index is not None and a.size > TAIL
    cp, recs = run_logged(taco, s3_server, "ls", uri, "--stats", "-q", count=1 + front)
    tail = min(TAIL, a.size)
    assert ok_stats(cp)[0] == 1 + front
    assert summary(recs)[0] == ("GET", TAIL_RANGE, 206, tail)
    if front:
        assert recs[1].range.startswith("bytes=0-"), recs[1].range
    assert cp.stdout == ls_seen_remotely(taco, a.path)


def test_get_tile_small_pyramid_two_requests(taco, s3_env, s3_server, uploaded, tmp_path):
    """Index v2: the head (header and lookup directory root), then the tile's local entry."""
    a, uri, _key = uploaded["tiles"]
    t = a.tile(3, 5, 6)
    out = tmp_path / "t"
    cp, recs = run_logged(taco, s3_server, "get", uri, "--tile", "3/5/6", "-o", out, "--stats",
                          count=2)
    assert ok_stats(cp) == (2, sum(r.body_bytes for r in recs))
    assert summary(recs)[0] == ("GET", HEAD_RANGE, 206, min(65_536, a.size))
    assert_tile_entry_request(recs[1], [t])
    assert out.read_bytes() == a.files["3/5/6.png"]


def test_key_that_needs_escaping(taco, s3_env, s3_server, archives, tmp_path):
    a = archives["plain"]
    key = "odd keys/with space/ü+x=y&z;(1).taco"
    uri = s3_server.upload(BUCKET, key, a.path)
    cp, recs = run_logged(taco, s3_server, "header", uri, "--stats", count=1)
    assert ok_stats(cp) == (1, 157)
    assert cp.stdout == taco("header", a.path, check=True).stdout.replace(str(a.path), uri)
    assert [r.status for r in recs] == [206]
    out = tmp_path / "e"
    taco("get", uri, "--entry", 3, "-o", out, check=True)
    assert out.read_bytes() == a.entry_bytes(3)


# ---------------------------------------------------------------------------
# credentials


def test_no_sign_request_public_object(taco, remote_env, s3_server, archives, monkeypatch):
    a = archives["plain"]
    uri = s3_server.upload("taco-public", "pub/plain.taco", a.path)
    c = s3_server.client()
    c.put_bucket_acl(Bucket="taco-public", ACL="public-read")
    c.put_object_acl(Bucket="taco-public", Key="pub/plain.taco", ACL="public-read")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "true")  # and no credentials at all
    cp, recs = run_logged(taco, s3_server, "get", uri, "--entry", 1, "--stats", binary=True,
                          count=2)
    assert ok_stats(cp) == (2, 157 + a.entries[1][1])
    assert cp.stdout == a.entry_bytes(1)
    assert [r.extra["signed"] for r in recs] == [False, False]


def test_no_sign_request_private_object_denied(taco, remote_env, s3_server, uploaded,
                                               monkeypatch, work):
    _a, uri, _key = uploaded["plain"]
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_REGION", s3_server.region)
    monkeypatch.setenv("AWS_NO_SIGN_REQUEST", "true")
    cp = taco("get", uri, "--entry", 1, "-o", "out.bin", cwd=work)
    line, _ = remote_error(cp)
    assert line == f"taco: {uri}: access denied (HTTP 403)"
    assert listing(work) == set()


# ---------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("cmd", [["header"], ["ls"], ["validate"], ["get", "--entry", "1"],
                                 ["get", "--member", "x"], ["extract", "-C", "out"]],
                         ids=lambda c: "-".join(c[:2]))
def test_missing_bucket(taco, s3_env, s3_server, work, cmd):
    uri = "s3://taco-no-such-bucket/archives/plain.taco"
    mark = s3_server.log_mark()
    cp = taco(cmd[0], uri, *cmd[1:], "--stats", cwd=work)
    line, stats = remote_error(cp)
    assert line == f'taco: {uri}: bucket "taco-no-such-bucket" does not exist'
    assert stats[0] == 1, "a missing bucket is not retried"
    assert [r.status for r in s3_server.requests_since(mark, count=1)] == [404]
    assert listing(work) == set()


@pytest.mark.parametrize("cmd", [["header"], ["ls"], ["get", "--entry", "1", "-o", "out.bin"]],
                         ids=lambda c: c[0])
def test_missing_key(taco, s3_env, s3_server, uploaded, work, cmd):
    uri = f"s3://{BUCKET}/archives/no-such.taco"
    cp = taco(cmd[0], uri, *cmd[1:], "--stats", cwd=work)
    line, stats = remote_error(cp)
    assert line == f"taco: {uri}: not found (HTTP 404)"
    assert stats[0] == 1, "a 404 is not retried"
    assert listing(work) == set()


@pytest.mark.parametrize("uri", ["s3://bucket-only", "s3://bucket-only/", "s3:///key.taco"])
def test_malformed_s3_url(taco, s3_env, s3_server, work, uri):
    mark = s3_server.log_mark()
    line, _ = remote_error(taco("header", uri, cwd=work))
    assert line == f"taco: {uri}: expected s3://BUCKET/KEY"
    assert s3_server.requests_since(mark, settle=0.2) == []


# ---------------------------------------------------------------------------
# the reference client flow, unchanged, against our pack-parquet archive


def test_reference_client_reads_parquet_parts(taco, s3_env, s3_server, archives, uploaded):
    """What a client with only boto3 + tacozip + pyarrow does: one GET of bytes 0-164, the
    TACO header parsed by tacozip from those bytes, one GET per entry, each entry read as a
    Parquet file. Each part equals the original file's row groups listed in the index."""
    tacozip = require_module("tacozip")
    pq = require_module("pyarrow.parquet")
    a, _uri, key = uploaded["parquet"]
    src = archives["parquet"][1]
    s3 = s3_server.client()
    mark = s3_server.log_mark()

    head = s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-164")["Body"].read()
    assert len(head) == 165
    entries = tacozip.read_header(head)
    assert [tuple(e) for e in entries] == a.entries
    assert 2 <= len(entries) <= 7

    index_entries = a.index["entries"]
    assert len(index_entries) == len(entries)
    original = pq.ParquetFile(src)
    rows = 0
    for (off, length), e in zip(entries, index_entries):
        data = s3.get_object(Bucket=BUCKET, Key=key,
                             Range=f"bytes={off}-{off + length - 1}")["Body"].read()
        assert len(data) == length
        assert data == a.raw[off:off + length]
        # pyarrow's threaded reader is not used (see test_parquet.py)
        got = pq.read_table(io.BytesIO(data), use_threads=False)
        want = original.read_row_groups(e["row_groups"], use_threads=False)
        assert got.schema.equals(want.schema, check_metadata=True)
        assert got.equals(want), f"entry {e['index']}: rows differ"
        rows += got.num_rows
    assert rows == original.metadata.num_rows

    recs = s3_server.requests_since(mark, count=1 + len(entries))
    assert [(r.range, r.status) for r in recs] == [("bytes=0-164", 206)] + [
        (byte_range(off, length), 206) for off, length in entries]


def test_taco_get_matches_reference_client(taco, s3_env, s3_server, uploaded, tmp_path):
    """taco's own `get --entry 0,1,...` of the Parquet parts returns the same bytes."""
    a, uri, _key = uploaded["parquet"]
    n = len(a.entries)
    out = tmp_path / "parts"
    cp = taco("get", uri, "--entry", ",".join(map(str, range(n))), "-o", out, "--stats")
    requests, nbytes = ok_stats(cp)
    assert requests >= 2
    assert nbytes >= 157 + sum(length for _o, length in a.entries)
    for i in range(n):
        assert (out / f"entry-{i}").read_bytes() == a.entry_bytes(i)
    hj = taco("header", uri, "--json", check=True).stdout
    assert hj == taco("header", a.path, "--json", check=True).stdout
