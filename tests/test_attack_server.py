"""Remote reading from a hostile server (remote_servers.FaultServer's hostile answers): a body
that never ends, headers and then silence, one byte every half second, a Content-Range other
than the one asked for, fewer or more bytes than promised, an ETag that changes on every
request.

With `--timeout 3 --retries 1` every command (`header`, `ls`, `get --entry 0 -o FILE`,
`validate --level deep`) must end within ~10 s with exactly one `taco: ` line, leave no output
or temporary file behind and stay under 64 MiB of peak RSS (`/usr/bin/time -f %M`), whether
the first request or a later one is attacked. Without `--timeout`, a stalled server must still
end the command in well under a minute. The first tests check that the server really sends
what these tests assume, with a raw socket client.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass

import pytest

from conftest import assert_taco_error, listing, ls_seen_remotely, require_tool
from remote_fixtures import (
    HEADER_RANGE,
    arm_after_begun,
    arm_after_logged,
    build_plain,
    byte_range,
)
from remote_servers import LOCALHOST, STOP_TIMEOUT

pytestmark = pytest.mark.usefixtures("remote_env")

MIB = 1024 * 1024
TIMEOUT = 3  # --timeout given to every command here
LIMIT = 10.0  # seconds a command may take with --timeout 3 --retries 1
DEFAULT_LIMIT = 50.0  # seconds a command may take against a stall without --timeout
MAX_RSS_KIB = 64 * 1024
DELAY = 0.2  # with arm_after_begun: time for the arming thread to act while a request pauses


# ---------------------------------------------------------------------------
# the served archive


@pytest.fixture(scope="module")
def plain(taco, tmp_path_factory):
    """Five members (one of 300 KiB), entry i = data of member i (entry 0: 3000 bytes)."""
    return build_plain(taco, tmp_path_factory.mktemp("attack"))


@pytest.fixture
def srv(fault_server, plain):
    """(FaultServer, URL, Archive) with the plain archive served."""
    return fault_server, fault_server.put("plain.taco", plain.path), plain


# ---------------------------------------------------------------------------
# the server sends what the tests below assume (raw socket client, bounded reads)


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes  # raw bytes after the header block (chunk framing included)
    closed: bool  # the server closed the connection
    seconds: float  # from sending the request to the end of reading


def raw_get(server, path: str, rng: str | None = None, *, method: str = "GET",
            headers: dict | None = None, read_for: float = 1.0,
            limit: int = 4 * MIB) -> RawAnswer:
    """Send one request and read for at most `read_for` seconds (less once a Content-Length
    body is complete, the server closed, or `limit` bytes arrived)."""
    lines = [f"{method} /{path} HTTP/1.1", f"Host: {LOCALHOST}:{server.port}"]
    if rng is not None:
        lines.append(f"Range: {rng}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    t0 = time.monotonic()
    data, closed = b"", False
    with socket.create_connection((LOCALHOST, server.port), timeout=5) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        s.settimeout(0.05)
        deadline = t0 + read_for
        while time.monotonic() < deadline and len(data) < limit:
            try:
                chunk = s.recv(256 * 1024)
            except socket.timeout:
                continue
            if not chunk:
                closed = True
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and method == "HEAD":
                break
            if sep and b"content-length:" in head.lower():
                length = next(int(ln.split(b":", 1)[1]) for ln in head.split(b"\r\n")
                              if ln.lower().startswith(b"content-length:"))
                if len(body) >= length:
                    break
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for ln in header_lines:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return RawAnswer(int(status_line.split()[1]), hdrs, body, closed, time.monotonic() - t0)


def test_server_endless_body_chunked(srv):
    fs, _url, a = srv
    fs.endless_body(chunked=True)
    r = raw_get(fs, "plain.taco", HEADER_RANGE, limit=2 * MIB)
    assert r.status == 206
    assert r.headers["content-range"] == f"bytes 0-156/{a.size}"
    assert r.headers["transfer-encoding"] == "chunked" and "content-length" not in r.headers
    assert r.body.startswith(b"9d\r\n" + a.raw[:157] + b"\r\n")
    assert len(r.body) >= 2 * MIB - 64 * 1024 and not r.closed, "the body must go on"
    rec = fs.requests_since(0, count=1)[0]
    assert (rec.status, rec.extra["fault"]) == (206, "endless_chunked")
    assert rec.body_bytes >= 157


def test_server_endless_body_close(srv):
    fs, _url, a = srv
    fs.endless_body(chunked=False)
    r = raw_get(fs, "plain.taco", HEADER_RANGE, limit=2 * MIB)
    assert (r.status, r.headers["connection"]) == (206, "close")
    assert "content-length" not in r.headers and "transfer-encoding" not in r.headers
    assert r.body.startswith(a.raw[:157]) and len(r.body) >= 2 * MIB - 64 * 1024
    assert not r.closed


def test_server_stall_until_client_leaves(srv):
    fs, _url, _a = srv
    fs.stall()
    r = raw_get(fs, "plain.taco", HEADER_RANGE, read_for=1.5)
    assert (r.status, r.headers["content-length"], r.body, r.closed) == (206, "157", b"", False)
    # the client has gone: the server notices within a moment and records the request
    recs = fs.requests_since(0, count=1, timeout=5)
    assert [(q.status, q.body_bytes, q.extra["fault"]) for q in recs] == [(206, 0, "stall")]


def test_server_stop_ends_a_stall(fault_server, plain):
    """A stalled answer must not keep the fixture's teardown waiting."""
    fault_server.put("plain.taco", plain.path)
    fault_server.stall()
    with socket.create_connection((LOCALHOST, fault_server.port), timeout=5) as s:
        s.sendall(f"GET /plain.taco HTTP/1.1\r\nHost: x\r\nRange: {HEADER_RANGE}\r\n\r\n".encode())
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 206")
        t0 = time.monotonic()
        fault_server.stop()
        assert time.monotonic() - t0 < STOP_TIMEOUT / 2


def test_server_slow_drip(srv):
    fs, _url, a = srv
    fs.slow_drip()
    r = raw_get(fs, "plain.taco", HEADER_RANGE, read_for=1.7)
    assert (r.status, r.headers["content-length"]) == (206, "157")
    assert 2 <= len(r.body) <= 5, f"{len(r.body)} bytes in 1.7 s at one byte per 0.5 s"
    assert r.body == a.raw[:len(r.body)]


def test_server_wrong_content_range(srv):
    fs, _url, a = srv
    fs.wrong_content_range()
    r = raw_get(fs, "plain.taco", "bytes=100-199")
    assert r.headers["content-range"] == f"bytes 101-200/{a.size}"
    assert (r.status, r.headers["content-length"], r.body) == (206, "100", a.raw[101:201])
    # a suffix range reaching the end cannot shift right: it shifts left instead
    r = raw_get(fs, "plain.taco", "bytes=-10")
    assert r.headers["content-range"] == f"bytes {a.size - 11}-{a.size - 2}/{a.size}"
    assert r.body == a.raw[-11:-1]


def test_server_short_answer(srv):
    fs, _url, a = srv
    fs.short_answer()
    r = raw_get(fs, "plain.taco", HEADER_RANGE)
    assert r.headers["content-range"] == f"bytes 0-156/{a.size}"
    assert (r.status, r.headers["content-length"], r.body) == (206, "78", a.raw[:78])
    assert r.headers["connection"] == "close"


def test_server_long_answer(srv):
    fs, _url, a = srv
    fs.long_answer(extra=1000)
    r = raw_get(fs, "plain.taco", HEADER_RANGE)
    assert r.headers["content-range"] == f"bytes 0-156/{a.size}"
    assert (r.status, r.headers["content-length"]) == (206, str(157 + 1000))
    assert len(r.body) == 1157 and r.body[:157] == a.raw[:157]
    assert fs.requests_since(0, count=1)[0].body_bytes == 1157


def test_server_counts_and_etag_flip(srv):
    fs, _url, a = srv
    fs.stall(1)  # only the next GET; HEAD is never attacked
    assert raw_get(fs, "plain.taco", method="HEAD").status == 200
    assert raw_get(fs, "plain.taco", HEADER_RANGE, read_for=0.3).body == b""
    assert raw_get(fs, "plain.taco", HEADER_RANGE).body == a.raw[:157]
    fs.flip_etag()
    tags = [raw_get(fs, "plain.taco", HEADER_RANGE).headers["etag"] for _ in range(2)]
    tags.append(raw_get(fs, "plain.taco", method="HEAD").headers["etag"])
    assert len(set(tags)) == 3, tags
    assert raw_get(fs, "plain.taco", HEADER_RANGE, headers={"If-Match": tags[-1]}).status == 412


# ---------------------------------------------------------------------------
# taco against each attack


ATTACKS = {  # name -> how to switch it on (for every GET from then on)
    "endless-chunked": lambda fs: fs.endless_body(chunked=True),
    "endless-close": lambda fs: fs.endless_body(chunked=False),
    "stall": lambda fs: fs.stall(),
    "slow-drip": lambda fs: fs.slow_drip(),
    "wrong-content-range": lambda fs: fs.wrong_content_range(),
    "short-answer": lambda fs: fs.short_answer(),
    "long-answer": lambda fs: fs.long_answer(),  # 128 MiB more than asked
    "etag-flip": lambda fs: fs.flip_etag(),
}
COMMANDS = {
    "header": ["header"],
    "ls": ["ls"],
    "get": ["get", "--entry", "0", "-o", "out.bin"],
    "validate": ["validate", "--level", "deep"],
}
# "first": every request is attacked; "later": every request after the first (the entry
# body of `get`, the tail and the whole-archive read of `validate`). header and ls make one
# request, so only "first" applies to them; an ETag flip is the same either way.
CASES = [(f, c, "first") for f in ATTACKS for c in COMMANDS] + [
    (f, c, "later") for f in ATTACKS if f != "etag-flip" for c in ("get", "validate")]


@dataclass
class Measured:
    cp: subprocess.CompletedProcess
    seconds: float
    rss_kib: int


def run_measured(taco, work, args, hard_limit: float) -> Measured:
    """Run taco in `work` under /usr/bin/time (peak RSS) and timeout(1), which kills it (and
    /usr/bin/time) after `hard_limit` seconds so that a hanging command fails the test."""
    time_bin = require_tool("time")
    timeout_bin = require_tool("timeout")
    rss_file = work.parent / "rss.txt"  # beside `work`: the listing of `work` is compared
    t0 = time.monotonic()
    cp = taco(*args, cwd=work, timeout=hard_limit + 30,
              prefix=(timeout_bin, "-k", "5", f"{hard_limit:g}", time_bin, "-o", rss_file,
                      "-f", "%M"))
    seconds = time.monotonic() - t0
    # 124: timeout(1) ended it with SIGTERM; 128 + 9: with SIGKILL 5 s later
    assert cp.returncode not in (124, 137), (
        f"taco {' '.join(map(str, args))} killed after {hard_limit} s")
    # GNU time writes "Command exited with non-zero status N" before the value
    rss = int(rss_file.read_text().split()[-1])
    return Measured(cp, seconds, rss)


@pytest.mark.parametrize("fault,command,when", CASES,
                         ids=[f"{f}-{c}-{w}" for f, c, w in CASES])
def test_hostile_server(taco, srv, work, fault, command, when):
    fs, url, a = srv
    arm = ATTACKS[fault]
    if when == "first":
        arm(fs)
    else:
        fs.set_delay(DELAY)  # the first request pauses, the fault is set before the second
        arm_after_begun(fs, 1, lambda: arm(fs))
    args = [COMMANDS[command][0], url, *COMMANDS[command][1:], "--timeout", TIMEOUT,
            "--retries", 1]
    before = listing(work)
    m = run_measured(taco, work, args, hard_limit=40)
    cp = m.cp
    recs = fs.requests_since(0, timeout=5)

    if fault == "etag-flip" and len(recs) == 1:
        # one request cannot see the object change: the answer is simply the object's
        assert cp.returncode == 0, cp.stderr
        assert command in ("header", "ls")
        local = (ls_seen_remotely(taco, a.path) if command == "ls"
                 else taco(command, a.path, check=True).stdout)
        assert cp.stdout == local.replace(str(a.path), url)
    else:
        needles = [url]
        if fault == "long-answer":
            # (an endless body has no Content-Length; refusing it at once is fine too)
            needles.append("longer than requested")
        if fault == "etag-flip":
            needles.append("changed")
        assert_taco_error(cp, *needles)
        assert cp.returncode == 1
        if when == "later":
            assert len(recs) >= 2 and recs[0].extra["fault"] is None, \
                "the first request must be served normally"
            assert any(r.extra["fault"] for r in recs[1:]), "a later request must be attacked"
        else:
            assert recs[0].extra["fault"] is not None or fault == "etag-flip"
    assert m.seconds < LIMIT, f"took {m.seconds:.1f} s with --timeout {TIMEOUT} --retries 1"
    assert listing(work) == before, f"left behind: {sorted(listing(work) - before)}"
    assert m.rss_kib < MAX_RSS_KIB, f"peak RSS {m.rss_kib} KiB"


def test_stall_without_timeout_ends_by_default(taco, srv, work):
    """No --timeout, default --retries: a transfer with no byte for 15 s fails, retries are
    bounded to 30 s in all, so a stalled server ends the command in well under a minute."""
    fs, url, _a = srv
    fs.stall()
    before = listing(work)
    m = run_measured(taco, work, ["get", url, "--entry", 0, "-o", "out.bin"],
                     hard_limit=DEFAULT_LIMIT + 5)
    assert_taco_error(m.cp, url)
    assert m.seconds < DEFAULT_LIMIT, f"took {m.seconds:.1f} s"
    assert listing(work) == before, f"left behind: {sorted(listing(work) - before)}"
    assert all(r.extra["fault"] == "stall" for r in fs.requests_since(0, timeout=5))


# ---------------------------------------------------------------------------
# a resumed request is tied to the first answer's ETag


def test_resume_after_drop_carries_if_match(taco, srv, tmp_path):
    """The entry body is cut after 1000 bytes once: the resume asks for the rest with If-Match
    holding the ETag of the first answer (so it cannot be stitched to another version)."""
    fs, url, a = srv
    off, length = a.entries[0]
    fs.set_delay(DELAY)
    # a drop is taken when a body starts: arm it once the header's body has gone out
    arm_after_logged(fs, 1, lambda: fs.drop_mid_body(1, 1000))
    out = tmp_path / "e0"
    taco("get", url, "--entry", 0, "-o", out, check=True)
    assert out.read_bytes() == a.entry_bytes(0)
    recs = fs.requests_since(0, count=3)
    etag = recs[0].extra["etag"]
    assert [(r.range, r.body_bytes, r.extra["fault"]) for r in recs] == [
        (HEADER_RANGE, 157, None),
        (byte_range(off, length), 1000, "drop"),
        (byte_range(off + 1000, length - 1000), length - 1000, None),
    ]
    assert recs[2].if_match == etag, f"resume without If-Match {etag}: {recs[2]}"
    assert recs[1].if_match == etag


def test_resume_of_the_first_request_asks_only_the_rest(taco, srv):
    """The very first answer (the header) is cut: the resume asks for exactly the missing
    bytes. It is not sent with If-Match (object_store resumes with the first request's options,
    made before any ETag was known); the resumed answer's ETag is compared with the first's
    instead (test_remote_faults.py::test_etag_change_during_header_resume)."""
    fs, url, a = srv
    fs.drop_mid_body(1, 100)
    cp = taco("header", url, "--json", check=True)
    assert cp.stdout == taco("header", a.path, "--json", check=True).stdout
    recs = fs.requests_since(0, count=2)
    assert [(r.range, r.body_bytes) for r in recs] == [(HEADER_RANGE, 100), ("bytes=100-156", 57)]
