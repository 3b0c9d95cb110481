"""Where taco reads from and writes to (issue 10): FIFOs, sockets and devices as SRC are refused
at once, `header -` reads standard input, `-o -` is standard output, a FIFO or device given as
`-o` is written to and never replaced, and no command replaces one of its own inputs — even
with --force, even through a hard link — or packs an archive into itself."""

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from conftest import (
    assert_fails_cleanly,
    assert_taco_error,
    listing,
    packed_names,
    payload,
    write_tree,
)


@pytest.fixture
def archive(taco, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_tree(src, {"a.bin": payload(3000, 1), "b.txt": b"bee\n"})
    out = tmp_path / "a.taco"
    taco("pack", out, src, "--entry-per-file", check=True)
    return out


READING = [
    ("header",),
    ("ls",),
    ("validate",),
    ("validate", "--level", "deep"),
    ("get", "--entry", "0", "-o", "OUT"),
    ("extract", "-C", "OUT"),
]


def special_node(kind: str, path):
    if kind == "fifo":
        os.mkfifo(path)
        return None
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(path))
        return s
    # A character device (the same one as /dev/null), made here so nothing outside the test
    # directory is ever at risk.
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return None


@pytest.mark.parametrize("kind", ["fifo", "socket", "device"])
@pytest.mark.parametrize("command", READING, ids=lambda c: "-".join(c))
def test_special_files_as_src_are_refused_at_once(taco, tmp_path, kind, command):
    node = tmp_path / "node"
    keep = special_node(kind, node)
    try:
        out = tmp_path / "out"
        args = [str(out) if a == "OUT" else a for a in command[1:]]
        before = listing(tmp_path)
        cp = taco(command[0], node, *args, timeout=20)
        assert_fails_cleanly(cp, "not a regular file", str(node), workdir=tmp_path, before=before)
        assert not out.exists()
    finally:
        if keep is not None:
            keep.close()


def test_header_reads_standard_input(taco, archive):
    want = taco("header", "--json", archive, check=True).stdout
    cp = taco("header", "--json", "-", input=archive.read_bytes())
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == want


def test_header_of_short_standard_input_is_one_line(taco):
    assert_taco_error(taco("header", "-", input=b"PK\x03\x04 too short"))


def test_output_dash_is_standard_output(taco, archive, tmp_path):
    cp = taco("get", archive, "--entry", "1", "-o", "-", binary=True, cwd=tmp_path)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == b"bee\n"
    assert not (tmp_path / "-").exists(), "a file named '-' was created"


def test_several_items_to_standard_output_are_refused(taco, archive, tmp_path):
    before = listing(tmp_path)
    cp = taco("get", archive, "--entry", "0,1", "-o", "-", cwd=tmp_path)
    assert_fails_cleanly(cp, "standard output", workdir=tmp_path, before=before)
    assert not (tmp_path / "-").exists(), "a directory named '-' was created"


def test_output_to_a_device_writes_to_it_and_keeps_the_node(taco, archive, tmp_path):
    dev = tmp_path / "null"
    special_node("device", dev)
    for extra in ([], ["--force"]):
        cp = taco("get", archive, "--entry", "0", "-o", dev, *extra)
        assert cp.returncode == 0, cp.stderr
        assert stat.S_ISCHR(os.lstat(dev).st_mode), "the device node was replaced"
    assert listing(tmp_path) == {"null", "a.taco", "src", "src/a.bin", "src/b.txt"}


def test_output_to_a_fifo_writes_to_it_and_keeps_the_node(taco, archive, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    cp = taco("get", archive, "--entry", "1", "-o", fifo, "--force", timeout=30)
    reader.join(10)
    assert cp.returncode == 0, cp.stderr
    assert got == [b"bee\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"


def test_pack_refuses_to_replace_a_fifo(taco, archive, tmp_path):
    fifo = tmp_path / "out.taco"
    os.mkfifo(fifo)
    before = listing(tmp_path)
    cp = taco("pack", fifo, archive, "--force", timeout=20)
    assert_fails_cleanly(cp, "not a regular file", workdir=tmp_path, before=before)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("how", ["same-path", "hard-link"])
def test_get_never_replaces_its_own_input(taco, archive, tmp_path, how):
    before = archive.read_bytes()
    target = archive
    if how == "hard-link":
        target = tmp_path / "link.taco"
        os.link(archive, target)
    listed = listing(tmp_path)
    cp = taco("get", archive, "--entry", "0", "-o", target, "--force")
    assert_fails_cleanly(cp, "input", workdir=tmp_path, before=listed)
    assert archive.read_bytes() == before


def test_extract_never_replaces_its_own_input(taco, tmp_path):
    """An archive holding a member named like itself, extracted with --force into its own
    directory, must not replace itself."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "x.taco").write_bytes(b"placeholder")
    taco("pack", tmp_path / "x.taco", d / "x.taco", check=True)
    archive = tmp_path / "x.taco"
    before = archive.read_bytes()
    listed = listing(tmp_path)
    cp = taco("extract", archive, "-C", tmp_path, "--force")
    assert_fails_cleanly(cp, "input", workdir=tmp_path, before=listed)
    assert archive.read_bytes() == before


def test_pack_does_not_pack_the_archive_into_itself(taco, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write_tree(d, {"a.txt": b"a", "b.txt": b"b"})
    out = d / "self.taco"
    taco("pack", out, d, check=True)
    cp = taco("pack", out, d, "--force")
    assert cp.returncode == 0, cp.stderr
    assert "not packed into itself" in cp.stderr
    names = [m["name"] for m in __import__("json").loads(
        taco("ls", "--json", out, check=True).stdout)["members"]]
    assert names == packed_names(["d/a.txt", "d/b.txt"])


def test_pack_refuses_the_output_named_as_an_input(taco, tmp_path):
    out = tmp_path / "o.taco"
    (tmp_path / "a.txt").write_bytes(b"a")
    taco("pack", out, tmp_path / "a.txt", check=True)
    before = out.read_bytes()
    cp = taco("pack", out, tmp_path / "a.txt", out, "--force")
    assert_fails_cleanly(cp, "itself", workdir=tmp_path, before={"a.txt", "o.taco"})
    assert out.read_bytes() == before


def test_pack_parquet_never_replaces_its_input(taco, tmp_path):
    src = tmp_path / "obs.parquet"
    src.write_bytes((Path(__file__).parent.parent / "examples/data/parquet/observations.parquet")
                    .read_bytes())
    before = src.read_bytes()
    cp = taco("pack-parquet", src, "-o", src, "--force")
    assert_fails_cleanly(cp, "input", workdir=tmp_path, before={"obs.parquet"})
    assert src.read_bytes() == before
