"""Bad inputs: every failure is one `taco: ` line on stderr, a non-zero exit, and nothing
half-written (no OUT, no stray temp files)."""

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
import zipfile

import pytest

from conftest import (
    HEADER_SIZE,
    assert_fails_cleanly,
    assert_taco_error,
    central_dir_offset,
    check_unzip,
    craft_taco_zip,
    entry_args,
    listing,
    payload,
    run_tool,
    write_tree,
    zip_members,
)
from tree_fixtures import unprivileged_workspace, world_writable_dir


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    write_tree(d, {"a.txt": b"alpha\n", "b.bin": payload(5000, 1), "sub/c.txt": b"gamma\n"})
    return d


@pytest.fixture
def outdir(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d


def pack_fails(taco, outdir, *args, needles=(), timeout=120, prefix=()):
    """Run `taco pack OUTDIR/x.taco ARGS...`, expect a clean failure, return the error line."""
    out = outdir / "x.taco"
    before = listing(outdir)
    cp = taco("pack", out, *args, timeout=timeout, prefix=prefix)
    line = assert_fails_cleanly(cp, *needles, workdir=outdir, before=before)
    assert not out.exists(), "OUT must not be created on failure"
    return line


# ---------------------------------------------------------------------------
# pack


def test_missing_source(taco, src, outdir):
    pack_fails(taco, outdir, src / "a.txt", src / "does-not-exist.bin", needles=["does-not-exist.bin"])


def test_unreadable_source_as_unprivileged_user(taco, taco_bin):
    """chmod 000 does not stop root, so when running as root, run taco as user `nobody`
    (pytest's tmp dirs are private to root, so this test works in its own dir under /tmp)."""
    with unprivileged_workspace(taco_bin) as (base, prefix):
        write_tree(base, {"a.txt": b"readable", "secret.bin": b"top secret"})
        (base / "a.txt").chmod(0o644)
        (base / "secret.bin").chmod(0)
        outdir = world_writable_dir(base / "out")
        pack_fails(taco, outdir, base / "a.txt", base / "secret.bin", needles=["secret.bin"],
                   prefix=prefix)


def test_fifo_source_is_refused_not_hung(taco, src, outdir):
    """A FIFO is not a regular file: refuse it instead of blocking on open/read (fails as root too)."""
    fifo = src / "pipe"
    os.mkfifo(fifo)
    pack_fails(taco, outdir, src / "a.txt", fifo, needles=["pipe"], timeout=20)


def test_dangling_symlink_in_tree(taco, src, outdir):
    os.symlink(src / "nowhere", src / "sub" / "dangling")
    pack_fails(taco, outdir, src, needles=["dangling"])


def test_duplicate_names_from_different_dirs(taco, tmp_path, outdir):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    write_tree(d1, {"x.txt": b"one"})
    write_tree(d2, {"x.txt": b"two"})
    pack_fails(taco, outdir, d1 / "x.txt", d2 / "x.txt", needles=["x.txt"])


def test_duplicate_dir_argument(taco, src, outdir):
    pack_fails(taco, outdir, src, src)


def test_source_growing_while_packed(taco, tmp_path, outdir):
    big = tmp_path / "growing.bin"
    with open(big, "wb") as f:
        f.truncate(1 << 30)
    stop = threading.Event()

    def writer():
        with open(big, "ab") as f:
            while not stop.is_set():
                f.write(b"x" * 4096)
                f.flush()
                time.sleep(0.0005)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        time.sleep(0.05)
        pack_fails(taco, outdir, big, needles=["growing.bin"], timeout=300)
    finally:
        stop.set()
        t.join()
        big.unlink()


def test_source_shrinking_while_packed(taco, tmp_path, outdir):
    """A sparse 4 GiB source cut to 1 MiB shortly after packing starts: the copy comes up short
    (or the CRC pass hits the new end) and the pack fails naming the file."""
    big = tmp_path / "shrinking.bin"
    with open(big, "wb") as f:
        f.truncate(4 << 30)
    timer = threading.Timer(0.15, lambda: os.truncate(big, 1 << 20))
    timer.start()
    try:
        line = pack_fails(taco, outdir, big, needles=["shrinking.bin"], timeout=300)
        assert "shrank" in line or "changed" in line, line
    finally:
        timer.cancel()
        big.unlink()


def test_more_than_seven_entries(taco, src, outdir):
    pack_fails(taco, outdir, src, *entry_args([(157, 1)] * 8))


def test_entry_outside_archive(taco, src, outdir):
    pack_fails(taco, outdir, src, "--entry", "157:1", "--entry", "100000000:10")
    # the same request is accepted with --allow-outside and recorded verbatim
    out = outdir / "ok.taco"
    taco("pack", out, src, "--entry", "157:1", "--entry", "100000000:10", "--allow-outside", check=True)
    doc = json.loads(taco("header", out, "--json", check=True).stdout)
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == [(157, 1), (100000000, 10)]


@pytest.mark.parametrize("bad", ["abc", "5", "1:2:3", "-1:5", "1:", "18446744073709551616:1"])
def test_malformed_entry(taco, src, outdir, bad):
    out = outdir / "x.taco"
    cp = taco("pack", out, src, "--entry", bad)
    assert cp.returncode != 0
    assert cp.stderr.strip(), "an error message is expected"
    assert not out.exists()
    assert os.listdir(outdir) == []


def test_out_exists_without_force(taco, src, outdir):
    out = outdir / "x.taco"
    out.write_bytes(b"precious")
    cp = taco("pack", out, src)
    assert_fails_cleanly(cp, "x.taco", "already exists", workdir=outdir, before={"x.taco"})
    assert out.read_bytes() == b"precious"
    taco("pack", out, src, "--force", check=True)
    assert zip_members(out)[0].name == "TACO_HEADER"
    assert os.listdir(outdir) == ["x.taco"]


def test_out_in_missing_directory(taco, src, tmp_path):
    before = listing(tmp_path)
    cp = taco("pack", tmp_path / "nope" / "x.taco", src)
    assert_fails_cleanly(cp, "nope", workdir=tmp_path, before=before)
    assert not (tmp_path / "nope").exists()


def test_kill_9_during_pack_leaves_no_out(taco_bin, tmp_path, outdir):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(2 << 30)
        f.write(b"start")
    out = outdir / "killed.taco"
    try:
        p = subprocess.Popen([str(taco_bin), "pack", str(out), str(big), "-q"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 0.3
        # kill once writing has visibly started (a temp file exists) or after 0.3 s
        while time.monotonic() < deadline and not os.listdir(outdir) and p.poll() is None:
            time.sleep(0.005)
        time.sleep(0.02)
        still_running = p.poll() is None
        if still_running:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        assert still_running, "pack finished before it could be killed; use a bigger input"
        assert p.returncode == -signal.SIGKILL
        assert not out.exists(), "a killed pack must not leave anything at OUT"
    finally:
        for n in os.listdir(outdir):
            os.unlink(outdir / n)  # temp files a SIGKILL could not clean up
        big.unlink()


# ---------------------------------------------------------------------------
# header on things that are not TACO archives


def make_plain_zip(p):
    with zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) as z:
        z.writestr("first.txt", payload(300, 4))
        z.writestr("TACO_HEADER", bytes(116))  # right name, wrong place
    return p


@pytest.mark.parametrize("kind", ["plain-zip", "not-zip", "empty", "100-bytes", "missing", "directory"])
def test_header_rejects_non_taco(taco, tmp_path, kind):
    p = tmp_path / "input.bin"
    if kind == "plain-zip":
        make_plain_zip(p)
    elif kind == "not-zip":
        p.write_bytes(b"this is definitely not a zip archive\n" * 20)
    elif kind == "empty":
        p.write_bytes(b"")
    elif kind == "100-bytes":
        p.write_bytes(payload(100, 7))
    elif kind == "directory":
        p.mkdir()
    cmds = [["header"], ["header", "--json"], ["validate", "--level", "quick"]]
    if kind != "plain-zip":  # listing a plain ZIP may legitimately work
        cmds.append(["ls"])
    for cmd in cmds:
        cp = taco(*cmd, p)
        assert_taco_error(cp)
        assert '"count"' not in cp.stdout, "no header JSON on failure"


def test_header_first_157_bytes_of_taco_prefix_is_enough(taco, src, tmp_path):
    """`header` needs only the first 157 bytes: a file holding just those still parses."""
    out = tmp_path / "a.taco"
    taco("pack", out, src, "--entry", "157:3", check=True)
    head = tmp_path / "head.bin"
    head.write_bytes(out.read_bytes()[:HEADER_SIZE])
    doc = json.loads(taco("header", head, "--json", check=True).stdout)
    assert doc["entries"] == [{"index": 0, "offset": 157, "length": 3}]


# ---------------------------------------------------------------------------
# damaged archives


@pytest.fixture
def good(taco, src, tmp_path):
    out = tmp_path / "good.taco"
    taco("pack", out, src, "--entry", "157:20", check=True)
    taco("validate", out, "--level", "deep", check=True)
    return out


def damaged(tmp_path, good, pos, name="bad.taco"):
    b = bytearray(good.read_bytes())
    b[pos] ^= 0x5A
    p = tmp_path / name
    p.write_bytes(bytes(b))
    return p


def test_truncated_archives_fail_validation(taco, tmp_path, good):
    b = good.read_bytes()
    ms = zip_members(good)
    cuts = sorted({
        0, 1, 30, 100, 156, 157, 158,
        ms[1].data_offset + 2,
        ms[2].header_offset + 10,
        ms[-1].data_end - 1,
        ms[-1].data_end,  # no central directory at all
        len(b) - 60,  # inside the central directory
        len(b) - 22,  # EOCD missing
        len(b) - 1,
    })
    for c in cuts:
        p = tmp_path / f"cut-{c}.taco"
        p.write_bytes(b[:c])
        cp = taco("validate", p)
        assert_taco_error(cp)
        cp = taco("validate", p, "--json")
        assert cp.returncode == 1, f"cut at {c}: --json must still exit 1"
        doc = json.loads(cp.stdout)
        assert doc["ok"] is False and doc["error"]["kind"], doc
        p.unlink()


def test_flipped_header_payload_byte(taco, tmp_path, good):
    p = damaged(tmp_path, good, 50)
    line = assert_taco_error(taco("validate", p, "--level", "quick"))
    assert "crc" in line.lower()
    assert_taco_error(taco("header", p), "crc")
    # lenient mode reads it anyway (it may warn)
    cp = taco("header", p, "--json", "--lenient")
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["count"] == 1

    cp = taco("validate", p, "--level", "quick", "--json")
    assert cp.returncode == 1
    doc = json.loads(cp.stdout)
    assert doc["ok"] is False and doc["level"] == "quick"
    kind = doc["error"]["kind"]
    assert kind[:1].isupper() and "_" not in kind and " " not in kind, kind
    assert "crc" in (kind + doc["error"]["message"]).lower()


def test_flipped_local_header_byte(taco, tmp_path, good):
    ms = zip_members(good)
    # the CRC field of member 2's local header: disagrees with the central record
    p = damaged(tmp_path, good, ms[2].header_offset + 15)
    taco("validate", p, "--level", "quick", check=True)
    line = assert_taco_error(taco("validate", p, "--level", "normal"))
    assert "local" in line.lower(), line
    assert_taco_error(taco("validate", p))  # default level is normal


def test_flipped_local_header_name(taco, tmp_path, good):
    ms = zip_members(good)
    p = damaged(tmp_path, good, ms[1].header_offset + 30)
    line = assert_taco_error(taco("validate", p, "--level", "normal"))
    assert "local" in line.lower(), line


def test_flipped_central_directory_byte(taco, tmp_path, good):
    b = good.read_bytes()
    cd = central_dir_offset(b)
    # second central record = member 1; flip its CRC field (+16)
    pos = cd + 46 + len(b"TACO_HEADER") + 16
    assert b[pos - 16:pos - 12] == b"PK\x01\x02"
    p = damaged(tmp_path, good, pos)
    assert_taco_error(taco("validate", p, "--level", "normal"))
    # a broken central-directory signature
    p2 = damaged(tmp_path, good, cd, name="bad2.taco")
    assert_taco_error(taco("validate", p2, "--level", "normal"))
    # and a local-header-offset pointing elsewhere (+42 of the record for member 1)
    p3 = damaged(tmp_path, good, cd + 46 + 11 + 42, name="bad3.taco")
    assert_taco_error(taco("validate", p3, "--level", "normal"))


def test_flipped_member_data_byte(taco, tmp_path, good):
    ms = zip_members(good)
    big = max(ms[1:], key=lambda m: m.size)
    p = damaged(tmp_path, good, big.data_offset + big.size // 2)
    taco("validate", p, "--level", "quick", check=True)
    taco("validate", p, "--level", "normal", check=True)
    line = assert_taco_error(taco("validate", p, "--level", "deep"))
    assert "crc" in line.lower()
    assert big.name in line, f"deep error should name the member {big.name}: {line}"
    doc = json.loads(taco("validate", p, "--level", "deep", "--json").stdout)
    assert doc["ok"] is False and doc["level"] == "deep"
    # sanity: the oracle agrees the data is bad
    assert run_tool("unzip", "-tqq", p).returncode != 0


def test_validate_accepts_good(taco, good):
    check_unzip(good)
    doc = json.loads(taco("validate", good, "--json", check=True).stdout)
    assert doc["ok"] is True and doc["level"] == "normal" and doc["error"] is None


# ---------------------------------------------------------------------------
# extraction safety


@pytest.mark.parametrize("evil", ["../evil.txt", "a/../../evil.txt", "/ABS"])
def test_extract_refuses_escaping_names(taco, tmp_path, evil):
    token = uuid.uuid4().hex
    abs_target = f"/tmp/taco-e2e-abs-{token}.txt"
    if evil == "/ABS":
        evil = abs_target
    dest = tmp_path / "work" / "dest"
    dest.mkdir(parents=True)
    arc = tmp_path / "evil.taco"
    craft_taco_zip(arc, [(evil, token.encode()), ("ok.txt", b"fine")])
    before = listing(tmp_path)
    try:
        assert_taco_error(taco("extract", arc, "-C", dest))
        new = listing(tmp_path) - before
        outside = {p for p in new if not p.startswith(os.path.join("work", "dest") + os.sep)}
        assert not outside, f"written outside DEST: {outside}"
        assert not os.path.exists(abs_target)
        for root, _ds, fs in os.walk(dest):
            for n in fs:
                with open(os.path.join(root, n), "rb") as f:
                    assert f.read() != token.encode(), f"evil member extracted as {n}"
    finally:
        if os.path.exists(abs_target):
            os.unlink(abs_target)


def test_extract_does_not_follow_symlink_out_of_dest(taco, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "link")
    arc = tmp_path / "sym.taco"
    craft_taco_zip(arc, [("link/pwned.txt", b"pwned")])
    taco("extract", arc, "-C", dest, "--force")
    assert os.listdir(outside) == [], "extraction wrote through a symlink out of DEST"


def test_crafted_archive_is_valid_taco(taco, tmp_path):
    """Control for the tests above: the zipfile-crafted archive is accepted when names are sane."""
    arc = tmp_path / "ok.taco"
    craft_taco_zip(arc, [("x/ok.txt", b"fine")], entries=[(157, 4)])
    taco("validate", arc, "--level", "deep", check=True)
    dest = tmp_path / "d"
    dest.mkdir()
    taco("extract", arc, "-C", dest, check=True)
    assert (dest / "x" / "ok.txt").read_bytes() == b"fine"
    check_unzip(arc)
    shutil.rmtree(dest)
