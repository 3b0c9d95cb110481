"""Self-tests of the remote-test servers (remote_servers.py), checked with curl and boto3.

These do not run taco: they prove that each server behaves as the remote tests assume
(statuses, bytes, ETags, faults, and what its request log records).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import payload, require_tool, run_tool

DATA = payload(5000, 7)

# curl's exit codes we rely on
CURL_PARTIAL_FILE = 18


@dataclass
class CurlResult:
    code: int  # curl's exit status
    responses: list[tuple[int, dict[str, str]]]  # (status, lower-cased headers) per response
    body: bytes

    @property
    def status(self) -> int:
        return self.responses[-1][0]

    @property
    def headers(self) -> dict[str, str]:
        return self.responses[-1][1]


def curl(tmp_path: Path, url: str, *args: str) -> CurlResult:
    require_tool("curl")
    hdr, out = tmp_path / "curl.headers", tmp_path / "curl.body"
    for p in (hdr, out):
        p.unlink(missing_ok=True)
    cp = run_tool("curl", "-sS", "--noproxy", "*", "--max-time", "10",
                  "-D", hdr, "-o", out, *args, url, timeout=30)
    responses = []
    for block in hdr.read_bytes().decode("latin-1").split("\r\n\r\n") if hdr.exists() else []:
        lines = [ln for ln in block.split("\r\n") if ln]
        if not lines:
            continue
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        responses.append((status, headers))
    return CurlResult(cp.returncode, responses, out.read_bytes() if out.exists() else b"")


# ---------------------------------------------------------------------------
# nginx


@pytest.fixture
def ngx(nginx_server, request):
    """nginx with DATA at a name unique to this test."""
    name = f"{request.node.name}.bin"
    nginx_server.put(name, DATA)
    return nginx_server, name


def test_nginx_range_is_206_and_logged(ngx, tmp_path):
    srv, name = ngx
    mark = srv.log_mark()
    r = curl(tmp_path, srv.url(name), "-r", "100-199")
    assert (r.code, r.status) == (0, 206)
    assert r.body == DATA[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    assert r.headers["etag"] == srv.etag(name)

    r = curl(tmp_path, srv.url(name), "-H", "Range: bytes=-65536")  # suffix larger than file
    assert (r.status, r.body) == (206, DATA)

    recs = srv.requests_since(mark, count=2)
    assert [(q.method, q.path, q.range, q.status, q.body_bytes) for q in recs] == [
        ("GET", f"/{name}", "bytes=100-199", 206, 100),
        ("GET", f"/{name}", "bytes=-65536", 206, len(DATA)),
    ]
    assert recs[0].extra["content_range"] == f"bytes 100-199/{len(DATA)}"
    assert recs[0].if_match is None


def test_nginx_norange_forbidden_missing(ngx, tmp_path):
    srv, name = ngx
    mark = srv.log_mark()
    r = curl(tmp_path, srv.norange_url(name), "-r", "0-99")
    assert (r.status, r.body) == (200, DATA)
    assert "content-range" not in r.headers
    assert curl(tmp_path, srv.forbidden_url(name)).status == 403
    assert curl(tmp_path, srv.url("no-such-file.bin")).status == 404
    recs = srv.requests_since(mark, count=3)
    assert [(q.path, q.range, q.status, q.body_bytes) for q in recs[:1]] == [
        (f"/norange/{name}", "bytes=0-99", 200, len(DATA)),
    ]
    assert [q.status for q in recs] == [200, 403, 404]


def test_nginx_if_match(ngx, tmp_path):
    srv, name = ngx
    good = srv.etag(name)
    mark = srv.log_mark()
    r = curl(tmp_path, srv.url(name), "-r", "0-9", "-H", f"If-Match: {good}")
    assert (r.status, r.body) == (206, DATA[:10])
    r = curl(tmp_path, srv.url(name), "-r", "0-9", "-H", 'If-Match: "0-0"')
    assert r.status == 412
    recs = srv.requests_since(mark, count=2)
    # the quotes of the ETag survive the log (escape=json)
    assert [(q.if_match, q.status) for q in recs] == [(good, 206), ('"0-0"', 412)]


def test_nginx_put_same_size_changes_etag(ngx, tmp_path):
    srv, name = ngx
    before = curl(tmp_path, srv.url(name), "-r", "0-0").headers["etag"]
    srv.put(name, bytes(reversed(DATA)))  # same size, most likely the same second
    r = curl(tmp_path, srv.url(name), "-r", "0-0")
    assert r.headers["etag"] == srv.etag(name) != before
    assert r.body == DATA[-1:]


# ---------------------------------------------------------------------------
# moto (S3)


def test_s3_range_get_and_log(s3_server, tmp_path):
    src = tmp_path / "a.taco"
    src.write_bytes(DATA)
    assert s3_server.upload("selftest", "dir/a.taco", src) == "s3://selftest/dir/a.taco"
    c = s3_server.client()
    mark = s3_server.log_mark()
    got = c.get_object(Bucket="selftest", Key="dir/a.taco", Range="bytes=0-164")
    body = got["Body"].read()
    assert len(body) == 165 and body == DATA[:165]
    assert got["ContentRange"] == f"bytes 0-164/{len(DATA)}"
    recs = s3_server.requests_since(mark, count=1)
    assert [(q.method, q.path, q.range, q.status, q.body_bytes, q.extra["signed"])
            for q in recs] == [("GET", "/selftest/dir/a.taco", "bytes=0-164", 206, 165, True)]


def test_s3_env_is_enough_for_an_sdk(s3_env, s3_server):
    """A client configured only from the environment (as taco will be) reaches moto."""
    import boto3

    assert s3_env == {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server.endpoint,
    }
    assert s3_server.full_env()["AWS_ENDPOINT_URL"] == s3_server.endpoint
    s3_server.upload("envtest", "k", b"hello")
    c = boto3.client("s3")  # everything from os.environ
    assert c.get_object(Bucket="envtest", Key="k")["Body"].read() == b"hello"
    with pytest.raises(c.exceptions.NoSuchBucket):
        c.get_object(Bucket="no-such-bucket", Key="k")
    assert not any(k.lower().endswith("_proxy") and k.lower() != "no_proxy" for k in os.environ)


# ---------------------------------------------------------------------------
# fault server


@pytest.fixture
def flt(fault_server):
    fault_server.put("a.bin", DATA)
    return fault_server


def test_fault_server_normal_behaviour(flt, tmp_path):
    etag = flt.etag("a.bin")
    r = curl(tmp_path, flt.url("a.bin"), "-r", "100-199")
    assert (r.status, r.body) == (206, DATA[100:200])
    assert r.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    assert r.headers["content-length"] == "100"
    assert r.headers["etag"] == etag and not etag.startswith("W/")
    assert curl(tmp_path, flt.url("a.bin"), "-r", "4990-").body == DATA[4990:]
    assert curl(tmp_path, flt.url("a.bin"), "-H", "Range: bytes=-7").body == DATA[-7:]
    r = curl(tmp_path, flt.url("a.bin"), "-r", "9000-9999")
    assert (r.status, r.headers["content-range"]) == (416, f"bytes */{len(DATA)}")
    r = curl(tmp_path, flt.url("a.bin"), "-I")
    assert (r.status, r.headers["content-length"]) == (200, str(len(DATA)))  # -I: no body
    assert curl(tmp_path, flt.url("a.bin"), "-r", "0-9", "-H", f"If-Match: {etag}").status == 206
    assert curl(tmp_path, flt.url("a.bin"), "-r", "0-9", "-H", 'If-Match: "nope"').status == 412
    r = curl(tmp_path, flt.url("a.bin"), "-r", "0-9", "-H", 'If-Range: "old"')
    assert (r.status, r.body) == (200, DATA)  # If-Range mismatch: whole object
    assert curl(tmp_path, flt.url("missing.bin")).status == 404
    assert [(q.method, q.status, q.body_bytes) for q in flt.requests] == [
        ("GET", 206, 100), ("GET", 206, 10), ("GET", 206, 7), ("GET", 416, 0),
        ("HEAD", 200, 0), ("GET", 206, 10), ("GET", 412, len(b"precondition failed\n")),
        ("GET", 200, len(DATA)), ("GET", 404, len(b"not found\n")),
    ]
    assert flt.requests[0].range == "bytes=100-199"


def test_fault_503_then_success(flt, tmp_path):
    flt.fail_503_times(2)
    # one curl per attempt: curl's own --retry waits at least a second between attempts
    statuses = [curl(tmp_path, flt.url("a.bin"), "-r", "0-99") for _ in range(3)]
    assert [r.status for r in statuses] == [503, 503, 206]
    assert statuses[-1].body == DATA[:100]
    recs = flt.requests_since(0, count=3)
    assert [(q.status, q.range, q.extra["fault"]) for q in recs] == [
        (503, "bytes=0-99", "fail_503"), (503, "bytes=0-99", "fail_503"),
        (206, "bytes=0-99", None),
    ]
    # HEAD is never faulted, and the fault does not come back
    flt.fail_times(1, status=429)
    assert curl(tmp_path, flt.url("a.bin"), "-I").status == 200
    assert curl(tmp_path, flt.url("a.bin"), "-r", "0-9").status == 429
    assert curl(tmp_path, flt.url("a.bin"), "-r", "0-9").status == 206


def test_fault_drop_mid_body(flt, tmp_path):
    flt.drop_mid_body(1, after_bytes=1000)
    r = curl(tmp_path, flt.url("a.bin"))
    assert r.code == CURL_PARTIAL_FILE
    assert r.headers["content-length"] == str(len(DATA))  # full length promised
    assert r.body == DATA[:1000]
    # only one drop: the resume (as a client would do it) is served normally
    etag = r.headers["etag"]
    r = curl(tmp_path, flt.url("a.bin"), "-r", "1000-", "-H", f"If-Match: {etag}")
    assert (r.code, r.status, r.body) == (0, 206, DATA[1000:])
    recs = flt.requests_since(0, count=2)
    assert [(q.status, q.body_bytes, q.extra["fault"]) for q in recs] == [
        (200, 1000, "drop"), (206, len(DATA) - 1000, None),
    ]


def test_fault_ignore_range(flt, tmp_path):
    flt.ignore_range()
    r = curl(tmp_path, flt.url("a.bin"), "-r", "0-99")
    assert (r.status, r.body) == (200, DATA)
    assert "content-range" not in r.headers and "accept-ranges" not in r.headers
    rec = flt.requests_since(0, count=1)[0]
    assert (rec.range, rec.status, rec.body_bytes, rec.extra["fault"]) == (
        "bytes=0-99", 200, len(DATA), "ignore_range")


def test_fault_change_etag_after(flt, tmp_path):
    flt.change_etag_after(1)
    first = curl(tmp_path, flt.url("a.bin"), "-r", "0-9").headers["etag"]
    second = curl(tmp_path, flt.url("a.bin"), "-r", "10-19")
    assert second.headers["etag"] != first
    assert second.body == DATA[10:20]
    r = curl(tmp_path, flt.url("a.bin"), "-r", "20-29", "-H", f"If-Match: {first}")
    assert r.status == 412
    assert [q.status for q in flt.requests_since(0, count=3)] == [206, 206, 412]


def test_fault_concurrency_is_measured(flt, tmp_path):
    flt.set_delay(0.3)
    require_tool("curl")
    cp = run_tool("curl", "-sS", "--noproxy", "*", "--max-time", "10", "-Z",
                  "--parallel-immediate", "--parallel-max", "3", "-r", "0-9", "-o", "/dev/null", flt.url("a.bin"),
                  "-r", "0-9", "-o", "/dev/null", flt.url("a.bin"),
                  "-r", "0-9", "-o", "/dev/null", flt.url("a.bin"), timeout=30)
    assert cp.returncode == 0, cp.stderr
    assert [q.status for q in flt.requests_since(0, count=3)] == [206] * 3
    assert flt.max_in_flight == 3
