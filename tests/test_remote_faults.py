"""Remote reading through transient and permanent faults (remote_servers.FaultServer): 5xx and
429 retried, a body cut mid-way resumed from where it stopped (tied to the same ETag),
retries exhausted, the object replaced between requests, Range ignored, and --jobs bounding
the requests in flight. A failed `get -o` leaves nothing behind: no file under the output
name and no temporary file beside it.
"""

from __future__ import annotations

import re
import socket

import pytest

from conftest import listing, tree_files
from remote_fixtures import (
    HEAD_RANGE,
    HEADER_RANGE,
    TAIL_RANGE,
    arm_after_begun,
    arm_after_logged,
    build_spaced,
    byte_range,
    ok_stats,
    remote_error,
    summary,
)

pytestmark = pytest.mark.usefixtures("remote_env")

MIB = 1024 * 1024
NORANGE_MSG = ("server ignored the Range request (answered 200 with the whole object); "
               "refusing to download it")


def giving_up(n: int) -> str:
    """The contract's `giving up after N retries: ` ("1 retry" accepted for N = 1)."""
    word = "retr(?:y|ies)" if n == 1 else "retries"
    return rf"giving up after {n} {word}: \S"


DELAY = 0.2  # with arm_after_*: time for the arming thread to act while a request pauses


@pytest.fixture(scope="module")
def spaced(taco, tmp_path_factory):
    """Seven 1 MiB entries, 128 KiB apart (never coalesced): ~7.8 MB."""
    return build_spaced(taco, tmp_path_factory.mktemp("remote-faults"), n=7, entry_size=MIB)


@pytest.fixture
def srv(fault_server, spaced):
    """(FaultServer, URL, Archive) with the spaced archive served."""
    return fault_server, fault_server.put("spaced.taco", spaced.path), spaced


def fails_cleanly(taco, work, *args, **kw):
    """Run in `work`; exit 1, one error line (+ the stats line), nothing left in `work`."""
    before = listing(work)
    cp = taco(*args, cwd=work, **kw)
    line, stats = remote_error(cp)
    assert listing(work) == before, f"left behind: {sorted(listing(work) - before)}"
    return line, stats


# ---------------------------------------------------------------------------
# transient statuses are retried


@pytest.mark.parametrize("status", [503, 500, 502, 504, 429])
def test_status_twice_then_success(taco, srv, tmp_path, status):
    fs, url, a = srv
    off, length = a.entries[1]
    fs.fail_times(2, status)
    out = tmp_path / "e1"
    cp = taco("get", url, "--entry", 1, "-o", out, "--stats")
    requests, nbytes = ok_stats(cp)
    assert out.read_bytes() == a.entry_bytes(1)
    recs = fs.requests_since(0, count=4)
    assert [(r.range, r.status, r.extra["fault"]) for r in recs] == [
        (HEADER_RANGE, status, f"fail_{status}"),
        (HEADER_RANGE, status, f"fail_{status}"),
        (HEADER_RANGE, 206, None),
        (byte_range(off, length), 206, None),
    ]
    assert recs[3].if_match == recs[2].extra["etag"]
    assert requests == 4, "retries count as requests"
    # the error bodies may or may not be read; the good bodies always are
    assert 157 + length <= nbytes <= sum(r.body_bytes for r in recs)


def test_503_on_the_entry_request_is_retried_with_if_match(taco, srv, tmp_path):
    fs, url, a = srv
    off, length = a.entries[4]
    fs.set_delay(DELAY)
    arm_after_begun(fs, 1, lambda: fs.fail_times(2, 503))
    out = tmp_path / "e4"
    cp = taco("get", url, "--entry", 4, "-o", out, "--stats")
    assert ok_stats(cp)[0] == 4
    assert out.read_bytes() == a.entry_bytes(4)
    recs = fs.requests_since(0, count=4)
    etag = recs[0].extra["etag"]
    assert [(r.range, r.status, r.if_match) for r in recs] == [
        (HEADER_RANGE, 206, None),
        (byte_range(off, length), 503, etag),
        (byte_range(off, length), 503, etag),
        (byte_range(off, length), 206, etag),
    ]


def test_503_retries_exhausted(taco, srv, work):
    fs, url, _a = srv
    fs.fail_times(100, 503)
    line, stats = fails_cleanly(taco, work, "get", url, "--entry", 1, "-o", "out.bin",
                                "--retries", 2, "--stats")
    assert re.match(re.escape(f"taco: {url}: ") + giving_up(2), line), line
    assert "503" in line
    assert stats[0] == 3
    assert [r.status for r in fs.requests_since(0, count=3)] == [503, 503, 503]


def test_connection_refused_retries_exhausted(taco, work):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.taco"
    line, stats = fails_cleanly(taco, work, "get", url, "--entry", 0, "-o", "out.bin",
                                "--retries", 1, "--stats")
    assert re.match(re.escape(f"taco: {url}: ") + giving_up(1), line), line
    assert stats == (2, 0)


# ---------------------------------------------------------------------------
# a body cut mid-way


def test_drop_mid_entry_body_resumes(taco, srv, tmp_path):
    """The entry's body stops after 300000 bytes once: the rest is asked for with a range
    that starts exactly there, tied to the same ETag; the output is byte-identical."""
    fs, url, a = srv
    off, length = a.entries[2]
    cut = 300_000
    fs.set_delay(DELAY)
    arm_after_logged(fs, 1, lambda: fs.drop_mid_body(1, cut))
    out = tmp_path / "e2"
    cp = taco("get", url, "--entry", 2, "-o", out, "--stats")
    assert ok_stats(cp) == (3, 157 + length)
    assert out.read_bytes() == a.entry_bytes(2)
    recs = fs.requests_since(0, count=3)
    etag = recs[0].extra["etag"]
    assert [(r.range, r.status, r.body_bytes, r.extra["fault"]) for r in recs] == [
        (HEADER_RANGE, 206, 157, None),
        (byte_range(off, length), 206, cut, "drop"),
        (byte_range(off + cut, length - cut), 206, length - cut, None),
    ]
    assert recs[1].if_match == recs[2].if_match == etag


def test_drop_mid_header_resumes(taco, srv):
    fs, url, a = srv
    fs.drop_mid_body(1, 100)
    cp = taco("header", url, "--json", "--stats")
    assert ok_stats(cp) == (2, 157)
    assert cp.stdout == taco("header", a.path, "--json", check=True).stdout
    recs = fs.requests_since(0, count=2)
    assert summary(recs) == [("GET", HEADER_RANGE, 206, 100), ("GET", "bytes=100-156", 206, 57)]


def test_persistent_drop_gives_up_and_leaves_nothing(taco, srv, work):
    """Every body attempt is cut after 300000 bytes; --retries 1 allows one resume. Nothing
    may be left under the output name nor beside it."""
    fs, url, a = srv
    off, length = a.entries[1]
    cut = 300_000
    fs.set_delay(DELAY)
    arm_after_logged(fs, 1, lambda: fs.drop_mid_body(100, cut))
    before = listing(work)
    cp = taco("get", url, "--entry", 1, "-o", "out.bin", "--retries", 1, "--stats", cwd=work)
    assert cp.returncode == 1, cp.stderr
    assert listing(work) == before, f"left behind: {sorted(listing(work) - before)}"
    recs = fs.requests_since(0, count=3)
    assert [(r.range, r.body_bytes, r.extra["fault"]) for r in recs] == [
        (HEADER_RANGE, 157, None),
        (byte_range(off, length), cut, "drop"),
        (byte_range(off + cut, length - cut), cut, "drop"),
    ]
    line, stats = remote_error(cp)
    assert stats == (3, 157 + 2 * cut)
    assert line.startswith("taco: ") and url in line
    assert re.search(giving_up(1), line), f"retries exhausted must say so: {line!r}"


def test_persistent_drop_to_stdout_fails(taco, srv):
    fs, url, _a = srv
    fs.set_delay(DELAY)
    arm_after_logged(fs, 1, lambda: fs.drop_mid_body(100, 300_000))
    cp = taco("get", url, "--entry", 1, "--retries", 1, binary=True)
    assert cp.returncode == 1
    assert len(cp.stderr.splitlines()) == 1 and cp.stderr.startswith("taco: ")


# ---------------------------------------------------------------------------
# the object replaced under the client


def test_etag_change_between_header_and_entry(taco, srv, work):
    fs, url, _a = srv
    first = fs.etag("spaced.taco")
    fs.change_etag_after(1)
    line, stats = fails_cleanly(taco, work, "get", url, "--entry", 1, "-o", "out.bin",
                                "--stats")
    assert f"{url}: object changed between requests (ETag {first} then" in line, line
    recs = fs.requests_since(0, count=2)
    assert [(r.range, r.status, r.if_match) for r in recs] == [
        (HEADER_RANGE, 206, None),
        (byte_range(*_a.entries[1]), 412, first),
    ]
    assert stats[0] == 2, "a changed object is not retried"


def test_etag_change_before_resume(taco, srv, work):
    """The entry body is cut, and the object is replaced before the resume: the resume must
    not be stitched to the first part."""
    fs, url, a = srv
    off, length = a.entries[3]
    first = fs.etag("spaced.taco")
    fs.set_delay(DELAY)

    def fault():  # request 2 (the entry) has started and pauses before its body
        fs.drop_mid_body(1, 300_000)  # taken by request 2's body
        fs.change_etag_after(0)  # every request from the next one (the resume) on

    arm_after_begun(fs, 2, fault)
    line, _stats = fails_cleanly(taco, work, "get", url, "--entry", 3, "-o", "out.bin",
                                 "--stats")
    assert f"{url}: object changed between requests (ETag {first} then" in line, line
    recs = fs.requests_since(0, count=3)
    assert [(r.range, r.status, r.if_match) for r in recs] == [
        (HEADER_RANGE, 206, None),
        (byte_range(off, length), 206, first),
        (byte_range(off + 300_000, length - 300_000), 412, first),
    ]


def test_etag_change_during_header_resume(taco, srv, work):
    """The 157-byte header is cut after 100 bytes and the object changes before the resume:
    the header must not be stitched from two versions, and the error says what happened."""
    fs, url, _a = srv
    first = fs.etag("spaced.taco")
    fs.drop_mid_body(1, 100)
    fs.change_etag_after(1)
    before = listing(work)
    cp = taco("header", url, "--stats", cwd=work)
    assert cp.returncode == 1, cp.stdout
    assert cp.stdout == ""
    assert listing(work) == before
    recs = fs.requests_since(0, count=2)
    assert [(r.range, r.extra["etag"] == first) for r in recs] == [
        (HEADER_RANGE, True), ("bytes=100-156", False)]
    line, _ = remote_error(cp)
    assert f"{url}: object changed between requests (ETag {first} then" in line, line


# ---------------------------------------------------------------------------
# Range ignored


@pytest.mark.parametrize("cmd", [
    ["header"], ["ls"], ["validate"], ["get", "--entry", "1", "-o", "out.bin"],
    ["get", "--member", "e0.bin", "-o", "out.bin"], ["extract", "-C", "out"],
], ids=lambda c: "-".join(c[:2]))
def test_range_ignored_first_request(taco, srv, work, cmd):
    fs, url, a = srv
    fs.ignore_range()
    line, stats = fails_cleanly(taco, work, cmd[0], url, *cmd[1:], "--stats")
    assert line == f"taco: {url}: {NORANGE_MSG}"
    assert stats == (1, 0), "nothing of the whole-object body may be taken"
    recs = fs.requests_since(0, count=1)
    assert len(recs) == 1
    assert (recs[0].status, recs[0].extra["fault"]) == (200, "ignore_range")
    # the header, the tail, or (index v2, `get --member`) the head with the lookup directory
    assert recs[0].range in (HEADER_RANGE, TAIL_RANGE, HEAD_RANGE)
    # the client hung up: far less than the 7.8 MB object went out
    assert recs[0].body_bytes < a.size


def test_range_ignored_on_the_entry_request(taco, srv, work):
    fs, url, a = srv
    fs.set_delay(DELAY)
    arm_after_begun(fs, 1, lambda: fs.ignore_range(1))
    line, stats = fails_cleanly(taco, work, "get", url, "--entry", 5, "-o", "out.bin",
                                "--stats")
    assert line.endswith(f"{url}: {NORANGE_MSG}"), line
    assert stats == (2, 157)
    recs = fs.requests_since(0, count=2)
    assert [(r.range, r.status) for r in recs] == [
        (HEADER_RANGE, 206), (byte_range(*a.entries[5]), 200)]


# ---------------------------------------------------------------------------
# --jobs bounds the requests in flight


@pytest.mark.parametrize("jobs", [1, 2, None, 7], ids=["1", "2", "default", "7"])
def test_jobs_bound_requests_in_flight(taco, srv, tmp_path, jobs):
    fs, url, a = srv
    fs.set_delay(0.25)
    out = tmp_path / "all"
    args = ["--jobs", jobs] if jobs is not None else []
    cp = taco("get", url, "--entry", "0,1,2,3,4,5,6", "-o", out, *args, "--stats")
    requests, nbytes = ok_stats(cp)
    assert (requests, nbytes) == (8, 157 + 7 * MIB)
    recs = fs.requests_since(0, count=8)
    assert recs[0].range == HEADER_RANGE
    assert sorted(r.range for r in recs[1:]) == sorted(byte_range(o, n) for o, n in a.entries)
    assert tree_files(out) == {f"entry-{i}": a.entry_bytes(i) for i in range(7)}
    want = min(jobs or 4, 7)
    assert fs.max_in_flight == want, f"--jobs {jobs}: {fs.max_in_flight} requests in flight"
