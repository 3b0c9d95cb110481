"""The command-line contract of DESIGN §8 (and the ZIP64 rule of §2) where other files stop short.

- a runtime failure is exit 1, one `taco: ` line naming the file, nothing on stdout and nothing
  left behind; a usage error is exit 2 with clap's usage text; `--help` and `--version` work;
- the summary lines of `pack` and the `pack-*` planners carry the real numbers (members,
  entries, the archive's size in bytes, the output path);
- `header --lenient` reads a header whose CRC is wrong and says so on stderr;
- the progress bar is drawn on a terminal (a pty here), never with `-q`, never into a pipe;
- a closed pipe is not an error;
- ZIP64 exactly when needed (§2): 65 534 / 65 535 records, and members of 4 GiB − 2, 4 GiB − 1
  and 4 GiB, and a local header starting at byte 4 GiB − 1, each checked byte by byte.

Nothing here asks taco how an archive is laid out: sizes come from the file system, headers from
conftest.parse_taco_header, ZIP records from our own parsing and Python's zipfile, and unzip.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import tempfile
import termios
import time
import tomllib
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import (
    HEADER_SIZE,
    PAYLOAD_OFFSET,
    PAYLOAD_SIZE,
    REPO,
    assert_fails_cleanly,
    check_unzip,
    listing,
    parse_taco_header,
    payload,
    read_range,
    require_free_space,
    write_tree,
)
from tree_fixtures import meta_path, note_lines, random_pyramid, scratch_dir

SUBCOMMANDS = ["pack", "pack-parquet", "pack-tiles", "pack-splits", "pack-netcdf", "header",
               "info", "update-header", "ls", "validate", "extract", "get", "query", "manifest",
               "completions", "man"]

SRC_FILES = {"a.txt": b"alpha\n", "b.bin": payload(5000, 1), "sub/c.txt": b"gamma\n"}


@pytest.fixture
def src(tmp_path) -> Path:
    d = tmp_path / "src"
    write_tree(d, SRC_FILES)
    return d


@pytest.fixture
def small(taco, work) -> Path:
    """work/a.taco: a.txt and b.bin with one data entry each (work also holds the two files)."""
    write_tree(work, {"a.txt": SRC_FILES["a.txt"], "b.bin": SRC_FILES["b.bin"]})
    out = work / "a.taco"
    taco("pack", out, work / "a.txt", work / "b.bin", "--entry-per-file", "-q", check=True)
    return out


# ---------------------------------------------------------------------------
# the helper itself: every check of assert_fails_cleanly can fail


def completed(rc, stdout="", stderr="") -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(["taco"], rc, stdout, stderr)


GOOD_LINE = "taco: x.taco: No such file or directory (os error 2)\n"


@pytest.mark.parametrize("cp, complaint", [
    (completed(0, stderr=GOOD_LINE), "expected exit 1, got 0"),
    (completed(2, stderr=GOOD_LINE), "expected exit 1, got 2"),
    (completed(-9, stderr=GOOD_LINE), "expected exit 1, got -9"),
    (completed(1, stdout="half an answer", stderr=GOOD_LINE), "printed on stdout"),
    (completed(1, stdout=b"\x00", stderr=GOOD_LINE), "printed on stdout"),
    (completed(1, stderr=""), "exactly one line, got 0"),
    (completed(1, stderr=GOOD_LINE * 2), "exactly one line, got 2"),
    (completed(1, stderr="error: x.taco: gone\n"), "must start with 'taco: '"),
    (completed(1, stderr="taco: y.taco: No such file\n"), "'x.taco' not in error line"),
    (completed(1, stderr="thread 'main' panicked at src/main.rs:3:5: x.taco\n"), "panic"),
    (completed(1, stderr='taco: x.taco: Os { code: 2, kind: NotFound }\n'), "panic / debug"),
], ids=["exit-0", "exit-2", "signal", "stdout", "stdout-bytes", "no-line", "two-lines",
        "no-prefix", "needle", "panic", "debug-print"])
def test_assert_fails_cleanly_rejects(cp, complaint):
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        assert_fails_cleanly(cp, "x.taco")


@pytest.mark.parametrize("change, complaint", [
    (lambda d: (d / ".x.taco.Ab12Cd.tmp").write_bytes(b""), "temporary files left behind"),
    (lambda d: (d / ".taco-extract.1.2.tmp").write_bytes(b""), "temporary files left behind"),
    (lambda d: (d / "x.taco").write_bytes(b"PK"), "left behind in"),
    (lambda d: (d / "keep.txt").unlink(), "removed from"),
], ids=["writer-temp", "extract-temp", "out", "removed"])
def test_assert_fails_cleanly_checks_the_directory(tmp_path, change, complaint):
    (tmp_path / "keep.txt").write_bytes(b"k")
    before = listing(tmp_path)
    assert assert_fails_cleanly(completed(1, stderr=GOOD_LINE), "x.taco", "no such file",
                                workdir=tmp_path, before=before) == GOOD_LINE.strip()
    change(tmp_path)
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        assert_fails_cleanly(completed(1, stderr=GOOD_LINE), workdir=tmp_path, before=before)


# ---------------------------------------------------------------------------
# runtime errors: exit 1, one line naming the file, nothing left behind


MISSING_SRC = [
    ("header", "missing.taco"),
    ("header", "--lenient", "--json", "missing.taco"),
    ("ls", "missing.taco"),
    ("ls", "--json", "missing.taco"),
    ("validate", "missing.taco"),
    ("validate", "--level", "deep", "missing.taco"),
    ("extract", "missing.taco", "-C", "dest"),
    ("extract", "--range", "missing.taco", "-C", "dest"),
    ("get", "missing.taco", "--entry", "0", "-o", "out.bin"),
    ("get", "missing.taco", "--member", "a.txt", "-o", "dir/"),
    ("query", "missing.taco", "--time", "2024"),
    ("manifest", "missing.taco", "-o", "m.parquet"),
    ("update-header", "missing.taco", "--clear"),
    ("pack", "out.taco", "missing.taco"),
    ("pack-parquet", "missing.taco"),
    ("pack-parquet", "missing.taco", "-o", "out.taco"),
    ("pack-tiles", "missing.taco"),
    ("pack-splits", "missing.taco"),
    ("pack-netcdf", "missing.taco", "-o", "out.taco"),
]


@pytest.mark.parametrize("args", MISSING_SRC,
                         ids=lambda a: "-".join(a).replace("missing.taco", "X"))
def test_missing_input_is_exit_1_naming_it(taco, work, args):
    """A missing input is a runtime error (exit 1), never a usage error (2); no OUT, no -C
    directory, no default `missing.taco` output, no temp file appears in the working dir."""
    before = listing(work)
    cp = taco(*args, cwd=work)
    line = assert_fails_cleanly(cp, workdir=work, before=before)
    assert line.startswith("taco: missing.taco: "), line
    assert "no such file or directory" in line.lower(), line


def test_missing_input_among_good_ones_names_only_it(taco, work, small):
    before = listing(work)
    cp = taco("pack", "out.taco", "a.txt", "gone.bin", "b.bin", cwd=work)
    line = assert_fails_cleanly(cp, "gone.bin", workdir=work, before=before)
    assert "a.txt" not in line and "b.bin" not in line, line


# ---------------------------------------------------------------------------
# usage errors: exit 2, one `taco:` line with clap's message, the usage and a hint, nothing done


REQUIRED = "the following required arguments were not provided:"

USAGE_ERRORS = [
    (["bogus"], ["unrecognized subcommand 'bogus'", "usage: taco <COMMAND>", "'taco --help'"]),
    (["pack", "--bogus", "o.taco", "a.txt"],
     ["unexpected argument '--bogus' found", "usage: taco pack [OPTIONS] <OUT> [FILE|DIR]...",
      "'taco pack --help'"]),
    (["ls", "A", "extra"],
     ["unexpected argument 'extra' found", "usage: taco ls [OPTIONS] <SRC>"]),
    (["pack"], [REQUIRED, "<OUT>", "usage: taco pack <OUT>"]),
    (["pack", "o.taco"], [REQUIRED, "<FILE|DIR>..."]),
    (["header"], [REQUIRED, "<SRC>", "usage: taco header <SRC>", "'taco header --help'"]),
    (["get", "A"], [REQUIRED, "<--entry <N>|--member <NAME>|--tile <Z/X/Y>>"]),
    (["validate", "A", "--level", "bogus"],
     ["invalid value 'bogus' for '--level <LEVEL>'",
      "[possible values: quick, normal, deep]", "'taco validate --help'"]),
    (["get", "A", "--entry", "notanumber"],
     ["invalid value 'notanumber' for '--entry <N>'"]),
    (["get", "A", "--entry", "0", "--jobs", "0"], ["invalid value '0' for '--jobs <N>'"]),
    (["get", "A", "--entry", "0", "--member", "a.txt"],
     ["the argument '--entry <N>' cannot be used with '--member <NAME>'"]),
    (["extract", "A", "--entry", "x"], ["invalid value 'x' for '--entry <N>'"]),
    (["update-header", "A", "--clear", "--entry", "157:1"],
     ["the argument '--clear' cannot be used with '--entry <OFF:LEN>'"]),
    (["pack", "o.taco", "a.txt", "--entry", "1:"],
     ["invalid value '1:' for '--entry <OFF:LEN>'"]),
    (["pack-parquet", "in.parquet", "--layout", "nope"],
     ["invalid value 'nope' for '--layout <LAYOUT>'",
      "[possible values: split, verbatim]"]),
    (["pack-parquet", "in.parquet", "--parts", "8"],
     ["invalid value '8' for '--parts <N>'", "1..=7"]),
    (["header", "A", "--timeout", "soon"],
     ["invalid value 'soon' for '--timeout <SECONDS>'"]),
    (["pack", "o.taco", "a.txt", "--forc"], ["tip: a similar argument exists: '--force'"]),
]


@pytest.mark.parametrize("args, needles", USAGE_ERRORS, ids=["-".join(a) for a, _ in USAGE_ERRORS])
def test_usage_error_is_exit_2_with_usage(taco, work, small, args, needles):
    argv = [str(small) if a == "A" else a for a in args]
    before, archive = listing(work), small.read_bytes()
    cp = taco(*argv, cwd=work)
    assert cp.returncode == 2, f"exit {cp.returncode}: {cp.stderr!r}"
    assert cp.stdout == ""
    assert len(cp.stderr.splitlines()) == 1, cp.stderr
    assert cp.stderr.startswith("taco: ") and cp.stderr.rstrip().endswith("--help')"), cp.stderr
    assert "error:" not in cp.stderr and "Usage:" not in cp.stderr, cp.stderr
    for n in needles:
        assert n in cp.stderr, f"{n!r} not in {cp.stderr!r}"
    assert listing(work) == before, "a usage error created or removed files"
    assert small.read_bytes() == archive, "a usage error touched the archive"


def test_no_arguments_is_usage(taco, work):
    cp = taco(cwd=work)
    assert cp.returncode == 2 and cp.stdout == ""
    assert "Usage: taco <COMMAND>" in cp.stderr and "Commands:" in cp.stderr, cp.stderr
    assert listing(work) == set()


def test_same_command_is_1_at_runtime_and_2_for_usage(taco, work, small):
    """The distinction the exit code carries: the archive is missing (1) vs the level is not
    a level (2) — for the same subcommand."""
    cp = taco("validate", "--level", "quick", "missing.taco", cwd=work)
    assert_fails_cleanly(cp, "missing.taco")
    assert taco("validate", "--level", "quickest", small, cwd=work).returncode == 2
    assert taco("validate", "--level", "quick", small, cwd=work).returncode == 0


def help_commands(text: str) -> list[str]:
    """Names listed under `Commands:` in clap's help."""
    section = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    return [ln.split()[0] for ln in section.splitlines() if ln.startswith("  ")]


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_top_level_help(taco, flag):
    cp = taco(flag)
    assert cp.returncode == 0 and cp.stderr == ""
    assert "Usage: taco <COMMAND>" in cp.stdout
    assert help_commands(cp.stdout) == SUBCOMMANDS + ["help"]
    assert "-V, --version" in cp.stdout


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_subcommand_help(taco, sub):
    long = taco(sub, "--help")
    assert long.returncode == 0 and long.stderr == "", long.stderr
    assert f"Usage: taco {sub} " in long.stdout, long.stdout
    assert taco("help", sub).stdout == long.stdout, "`taco help SUB` differs from `taco SUB --help`"
    if sub == "ls":  # as in ls(1), -h is --human there; --help stays
        assert "-h, --human" in long.stdout and "      --help" in long.stdout
        return
    assert "-h, --help" in long.stdout
    short = taco(sub, "-h")
    assert short.returncode == 0 and short.stderr == ""
    assert f"Usage: taco {sub} " in short.stdout


def test_version_is_the_workspace_version(taco):
    with open(REPO / "Cargo.toml", "rb") as f:
        version = tomllib.load(f)["workspace"]["package"]["version"]
    for flag in ("--version", "-V"):
        cp = taco(flag)
        assert cp.returncode == 0 and cp.stderr == ""
        assert cp.stdout == f"taco {version}\n"


# `-q` on every command (DESIGN §8): progress, notes and summary lines go; data output stays.

@pytest.mark.parametrize("args", [
    ["pack", "OUT", "a.txt"],
    ["get", "A", "--entry", "0", "-o", "OUT"],
    ["header", "A"],
    ["ls", "A"],
    ["validate", "A"],
    ["extract", "A", "-C", "OUT"],
    ["update-header", "A", "--clear"],
    ["manifest", "A", "--json"],
], ids=lambda a: a[0])
def test_quiet_is_accepted(taco, work, small, args):
    argv = [str(small) if a == "A" else str(work / "q-out") if a == "OUT" else a for a in args]
    cp = taco(*argv, "-q", cwd=work)
    assert cp.returncode == 0, f"exit {cp.returncode}: {cp.stderr!r}"
    assert cp.stderr == ""
    # the listings are the output; a summary or an "ok" line is not
    if args[0] in ("header", "ls", "manifest"):
        assert cp.stdout != ""
    else:
        assert cp.stdout == "", cp.stdout


def test_quiet_validate_still_fails_on_a_broken_archive(taco, work, small):
    broken = work / "broken.taco"
    data = bytearray(small.read_bytes())
    data[-22:-18] = b"XXXX"  # the end record's signature
    broken.write_bytes(bytes(data))
    cp = taco("validate", broken, "-q")
    assert cp.returncode == 1 and cp.stdout == ""
    assert cp.stderr.startswith("taco: ") and cp.stderr.count("\n") == 1


# ---------------------------------------------------------------------------
# summary lines carry the facts


def test_pack_summary_line(taco, tmp_path, src):
    out = tmp_path / "s.taco"
    cp = taco("pack", out, src, check=True)
    assert cp.stderr == "", "no progress bar or note when stderr is not a terminal"
    with zipfile.ZipFile(out) as z:  # header, lookup directory, the files, manifest
        assert len(z.namelist()) == 3 + len(SRC_FILES)
    assert cp.stdout == f"{out}: 3 members and the index, {out.stat().st_size} bytes, 0 entries\n"


def test_pack_summary_singular_and_entries(taco, tmp_path, src):
    one = tmp_path / "one.taco"
    cp = taco("pack", one, src / "a.txt", "--entry-per-file", check=True)
    with zipfile.ZipFile(one) as z:
        data_offset = z.getinfo("a.txt").header_offset + 30 + 5
    assert parse_taco_header(read_range(one, 0, HEADER_SIZE)) == [(data_offset, 6)]
    assert cp.stdout == f"{one}: 1 member and the index, {one.stat().st_size} bytes, 1 entry\n"

    # without the index: the header, the file, the central directory and the end record
    bare = tmp_path / "bare.taco"
    cp = taco("pack", bare, src / "a.txt", "--entry-per-file", "--no-index", check=True)
    assert parse_taco_header(read_range(bare, 0, HEADER_SIZE)) == [(157 + 30 + 5, 6)]
    assert cp.stdout == f"{bare}: 1 member, {bare.stat().st_size} bytes, 1 entry\n"
    assert bare.stat().st_size == 157 + (30 + 5 + 6) + (46 + 11) + (46 + 5) + 22

    two = tmp_path / "two.taco"
    cp = taco("pack", two, src, "--entry", "157:1", "--entry", "160:2", check=True)
    assert parse_taco_header(read_range(two, 0, HEADER_SIZE)) == [(157, 1), (160, 2)]
    assert cp.stdout == f"{two}: 3 members and the index, {two.stat().st_size} bytes, 2 entries\n"


def test_pack_summary_names_the_output_as_given(taco, tmp_path, src):
    cp = taco("pack", "rel.taco", "src", cwd=tmp_path, check=True)
    size = (tmp_path / "rel.taco").stat().st_size
    assert cp.stdout == f"rel.taco: 3 members and the index, {size} bytes, 0 entries\n"


def planned_summary(out_as_given: str, archive: Path) -> str:
    """What a `pack-*` command prints: OUT, its real size, the header's entry count, the sidecar."""
    n = len(parse_taco_header(read_range(archive, 0, HEADER_SIZE)))
    assert meta_path(archive).is_file(), "the sidecar named in the summary must exist"
    word = "entry" if n == 1 else "entries"
    size = archive.stat().st_size
    return f"{out_as_given}: {size} bytes, {n} {word}; index in {out_as_given}.meta.json\n"


def test_pack_tiles_summary(taco, tmp_path, work):
    tiles = tmp_path / "pyramid"
    random_pyramid(tiles, [0, 1, 2], seed=11, sizes=(10, 400))
    write_tree(tiles, {"metadata.json": b"{}\n"})
    cp = taco("pack-tiles", tiles, cwd=work, check=True)
    assert cp.stdout == planned_summary("pyramid.taco", work / "pyramid.taco")
    assert "3 entries" in cp.stdout  # zooms 0, 1, 2
    assert cp.stderr.splitlines() == note_lines(cp.stderr) == [
        "taco: note: 1 file(s) are not tiles (Z/X/Y.EXT) and were left out, e.g. metadata.json"]


def test_pack_splits_summary(taco, tmp_path):
    ml = tmp_path / "ml"
    write_tree(ml, {"train/a.bin": payload(100, 1), "train/b.bin": payload(200, 2),
                    "val/c.bin": payload(50, 3), "test/d.bin": b"", "extra/e.bin": b"e",
                    "README.md": b"# ml\n"})
    out = tmp_path / "out" / "ml.taco"
    out.parent.mkdir()
    cp = taco("pack-splits", ml, "-o", out, check=True)
    assert cp.stdout == planned_summary(str(out), out)
    assert "4 entries" in cp.stdout
    # README.md is kept beside the splits, outside every entry: nothing to say
    assert cp.stderr == ""
    cp = taco("pack-splits", ml, "-o", out, "--splits", "val", "--force", check=True)
    assert cp.stdout == planned_summary(str(out), out)
    assert "1 entry;" in cp.stdout


@pytest.mark.parametrize("args, entries", [([], 5), (["--parts", "1"], 1), (["--parts", "3"], 3),
                                           (["--layout", "verbatim"], 5)],
                         ids=["split", "one-part", "three-parts", "verbatim"])
def test_pack_parquet_summary(taco, tmp_path, args, entries):
    from parquet_fixtures import rows_for, write_parquet

    src = write_parquet(tmp_path / "obs.parquet", rows_for(5))
    work = tmp_path / "w"
    work.mkdir()
    cp = taco("pack-parquet", src, *args, cwd=work, check=True)
    assert cp.stdout == planned_summary("obs.taco", work / "obs.taco")
    word = "entry" if entries == 1 else "entries"
    assert f", {entries} {word};" in cp.stdout
    assert cp.stderr == ""
    assert sorted(os.listdir(work)) == ["obs.taco", "obs.taco.meta.json"]


def test_pack_netcdf_summary(taco, tmp_path):
    import numpy as np

    from netcdf_fixtures import write_nc

    nc = tmp_path / "climate"
    for k in range(3):
        write_nc(nc / f"t{k}.nc", np.arange(24) + 24 * k, units="hours since 2020-01-01")
    write_tree(nc, {"README.txt": b"not netcdf\n"})
    out = tmp_path / "c.taco"
    cp = taco("pack-netcdf", nc, "-o", out, check=True)
    assert cp.stdout == planned_summary(str(out), out)
    assert "3 entries" in cp.stdout  # <= 7 files: one data entry per file
    assert cp.stderr == "taco: note: 1 file(s) without a .nc/.nc4/.cdf extension were left out\n"


# ---------------------------------------------------------------------------
# header --lenient: a CRC mismatch is reported, not fatal


def header_table(label: str, entries) -> str:
    lines = [f"{label}: {len(entries)} entries"]
    if entries:
        lines.append(f"{'entry':>5}  {'offset':>14}  {'length':>14}")
    lines += [f"{i:>5}  {o:>14}  {n:>14}" for i, (o, n) in enumerate(entries)]
    return "\n".join(lines) + "\n"


@pytest.fixture
def bad_crc(taco, tmp_path, src):
    """(good archive, copy with one header payload bit flipped and the CRC left alone,
    entries as the flipped header states them, stored CRC, CRC of the flipped payload)."""
    good = tmp_path / "good.taco"
    taco("pack", good, src / "a.txt", src / "b.bin", "--entry-per-file", "-q", check=True)
    b = bytearray(good.read_bytes())
    entries = parse_taco_header(bytes(b[:HEADER_SIZE]))
    stored = struct.unpack_from("<I", b, 14)[0]
    b[PAYLOAD_OFFSET + 4 + 16] ^= 0x01  # low byte of entry 1's offset
    computed = zlib.crc32(b[PAYLOAD_OFFSET:PAYLOAD_OFFSET + PAYLOAD_SIZE])
    assert computed != stored
    bad = tmp_path / "bad.taco"
    bad.write_bytes(bytes(b))
    flipped = [entries[0], (entries[1][0] ^ 1, entries[1][1])]
    return good, bad, flipped, stored, computed


def test_header_crc_mismatch_is_an_error_by_default(taco, tmp_path, bad_crc):
    _good, bad, _flipped, stored, computed = bad_crc
    for extra in ([], ["--json"]):
        before = listing(tmp_path)
        cp = taco("header", bad, *extra)
        line = assert_fails_cleanly(cp, workdir=tmp_path, before=before)
        assert line == (f"taco: {bad}: TACO header CRC mismatch: stored 0x{stored:08x}, "
                        f"computed 0x{computed:08x}")


def test_header_lenient_warns_and_prints_the_entries(taco, bad_crc):
    good, bad, flipped, stored, computed = bad_crc
    before = bad.read_bytes()

    cp = taco("header", bad, "--lenient")
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == header_table(str(bad), flipped)
    assert cp.stderr == (f"taco: warning: {bad}: header CRC mismatch (stored 0x{stored:08x}, "
                         f"computed 0x{computed:08x}); entries may be wrong\n")

    cp = taco("header", bad, "--lenient", "--json")
    assert cp.returncode == 0, cp.stderr
    doc = json.loads(cp.stdout)
    assert doc["crc_ok"] is False and doc["count"] == 2
    assert [(e["offset"], e["length"]) for e in doc["entries"]] == flipped
    assert cp.stderr.count("\n") == 1 and "header CRC mismatch" in cp.stderr
    assert bad.read_bytes() == before, "a lenient read must not repair or touch the file"

    # on a sound header --lenient changes nothing and warns about nothing
    strict = taco("header", good, check=True)
    lenient = taco("header", good, "--lenient", check=True)
    entries = parse_taco_header(read_range(good, 0, HEADER_SIZE))
    assert lenient.stdout == strict.stdout == header_table(str(good), entries)
    assert lenient.stderr == strict.stderr == ""
    doc = json.loads(taco("header", good, "--lenient", "--json", check=True).stdout)
    assert doc["crc_ok"] is True


def test_header_lenient_warning_names_both_crcs(taco, bad_crc):
    _good, bad, _flipped, stored, computed = bad_crc
    cp = taco("header", bad, "--lenient")
    assert cp.returncode == 0
    assert f"0x{stored:08x}" in cp.stderr and f"0x{computed:08x}" in cp.stderr, cp.stderr


# ---------------------------------------------------------------------------
# progress bar: on a terminal only, never with -q


def run_on_pty(argv, timeout: float = 120) -> tuple[int, bytes, bytes]:
    """Run argv with stderr on a fresh pty (120 columns) and stdout in a file. Reads the pty
    until the child has exited and the pty is drained. Returns (exit code, pty bytes, stdout)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    with tempfile.TemporaryFile() as out:
        try:
            p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=slave, close_fds=True)
        finally:
            os.close(slave)
        got = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    p.kill()
                    p.wait(10)
                    pytest.fail(f"{argv[1]} on a pty did not finish in {timeout} s; "
                                f"got {bytes(got[-300:])!r}")
                ready, _, _ = select.select([master], [], [], 0.1)
                if not ready:
                    continue
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the last slave descriptor closed (the child is gone)
                    break
                if not chunk:
                    break
                got += chunk
            rc = p.wait(timeout=30)
        finally:
            os.close(master)
            if p.poll() is None:
                p.kill()
                p.wait(10)
        out.seek(0)
        return rc, bytes(got), out.read()


MIB = 1 << 20


@pytest.fixture
def quarter_gib(tmp_path):
    """Four sparse 64 MiB files (256 MiB in all): long enough for several bar updates."""
    d = tmp_path / "quarter"
    d.mkdir()
    for i in range(4):
        with open(d / f"part-{i}.bin", "wb") as f:
            f.truncate(64 * MIB)
            f.write(b"part %d" % i)
    yield d
    for p in tmp_path.rglob("*"):  # the archives and copies made from it hold real blocks
        if p.is_file() and p.stat().st_size >= MIB:
            p.unlink()


BAR_TOTAL = re.compile(rb"\d+(?:\.\d+)? (?:B|KiB|MiB)/256\.00 MiB")
CLEAR_LINE = b"\r\x1b[2K"


def test_pack_draws_a_progress_bar_on_a_terminal(taco_bin, tmp_path, quarter_gib):
    out = tmp_path / "bar.taco"
    rc, tty, stdout = run_on_pty([taco_bin, "pack", out, quarter_gib])
    assert rc == 0, tty[-500:]
    assert BAR_TOTAL.search(tty), f"no 'N/256.00 MiB' byte count on the terminal: {tty[:300]!r}"
    assert b"256.00 MiB/256.00 MiB" in tty or tty.count(CLEAR_LINE) >= 2, tty[-300:]
    assert tty.endswith(CLEAR_LINE), f"the bar must be cleared when done: {tty[-120:]!r}"
    # the summary goes to stdout, free of terminal codes
    assert stdout == (f"{out}: 4 members and the index, {out.stat().st_size} bytes, "
                      "0 entries\n").encode()


def test_get_draws_a_progress_bar_on_a_terminal(taco, taco_bin, tmp_path, quarter_gib):
    arc = tmp_path / "g.taco"
    taco("pack", arc, quarter_gib, "--entry-per-file", "-q", check=True)
    got = tmp_path / "entry-2.bin"
    rc, tty, stdout = run_on_pty([taco_bin, "get", arc, "--entry", "2", "-o", got])
    assert rc == 0, tty[-500:]
    assert re.search(rb"/64\.00 MiB", tty), f"no '/64.00 MiB' on the terminal: {tty[:300]!r}"
    assert tty.endswith(CLEAR_LINE)
    assert stdout == b""
    assert got.stat().st_size == 64 * MIB and read_range(got, 0, 6) == b"part 2"


@pytest.mark.parametrize("cmd", ["pack", "get"])
def test_quiet_draws_nothing_on_a_terminal(taco, taco_bin, tmp_path, quarter_gib, cmd):
    arc = tmp_path / "q.taco"
    if cmd == "pack":
        argv = [taco_bin, "pack", arc, quarter_gib, "-q"]
    else:
        taco("pack", arc, quarter_gib, "--entry-per-file", "-q", check=True)
        argv = [taco_bin, "get", arc, "--entry", "1", "-o", tmp_path / "e1.bin", "-q"]
    rc, tty, stdout = run_on_pty(argv)
    assert rc == 0
    assert tty == b"", f"-q printed on the terminal: {tty[:300]!r}"
    assert stdout == b""


def test_no_bar_when_stderr_is_not_a_terminal(taco, tmp_path, quarter_gib):
    out = tmp_path / "pipe.taco"
    cp = taco("pack", out, quarter_gib)
    assert cp.returncode == 0
    assert cp.stderr == "", f"progress output into a pipe: {cp.stderr[:300]!r}"
    assert cp.stdout == f"{out}: 4 members and the index, {out.stat().st_size} bytes, 0 entries\n"
    got = tmp_path / "m.bin"
    cp = taco("get", out, "--member", "quarter/part-3.bin", "-o", got, check=True)
    assert cp.stderr == "" and cp.stdout == ""
    assert got.stat().st_size == 64 * MIB


# ---------------------------------------------------------------------------
# a closed pipe is not an error


def read_then_close(argv, keep: int) -> tuple[int, bytes, str]:
    """Run argv with stdout on a pipe, read `keep` bytes, close the pipe, wait."""
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    head = p.stdout.read(keep)
    p.stdout.close()
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"{argv[1]} did not stop after its reader went away")
    return p.returncode, head, err.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def long_listing(taco, tmp_path_factory) -> Path:
    """An archive whose listing (text or JSON) is far larger than a pipe buffer, with a 4 MiB
    member that is also entry 0."""
    base = tmp_path_factory.mktemp("pipe")
    d = base / "many"
    write_tree(d, {f"file-with-a-rather-long-name-{i:05d}.txt": b"%d" % i for i in range(4000)})
    big = base / "big.bin"
    big.write_bytes(payload(4 * MIB, 3))
    arc = base / "many.taco"
    taco("pack", arc, big, d, "--entry", f"{HEADER_SIZE + 30 + 7}:{4 * MIB}", "-q", check=True)
    listed = taco("ls", arc, check=True).stdout
    assert len(listed) > 256 * 1024, "the listing must outgrow a pipe buffer"
    return arc


@pytest.mark.parametrize("args", [
    ["ls", "A"],
    ["get", "A", "--entry", "0"],
    ["get", "A", "--member", "big.bin"],
    ["ls", "--json", "A"],
    ["extract", "--json", "A", "-C", "DEST"],
], ids=["ls", "get-entry", "get-member", "ls-json", "extract-json"])
def test_closed_pipe_is_not_an_error(taco_bin, tmp_path, long_listing, args):
    argv = [taco_bin] + [long_listing if a == "A" else tmp_path / "dest" if a == "DEST" else a
                         for a in args]
    rc, head, err = read_then_close(argv, 100)
    assert len(head) == 100
    assert (rc, err) == (0, ""), f"exit {rc}, stderr {err!r}"


# ---------------------------------------------------------------------------
# ZIP64 exactly when needed (DESIGN §2)


def end_records(path: Path) -> dict:
    """Our own reading of the end records: the classic EOCD (which taco writes last, with no
    comment) and, when a locator precedes it, the ZIP64 EOCD record it points at."""
    size = os.path.getsize(path)
    tail = read_range(path, max(0, size - 22 - 20), 42)
    eocd = tail[-22:]
    assert eocd[:4] == b"PK\x05\x06", "EOCD must be the last 22 bytes (no comment)"
    fields = struct.unpack_from("<HHHHIIH", eocd, 4)
    disk, cd_disk, on_disk, total, cd_size, cd_off, comment = fields
    assert (disk, cd_disk, comment) == (0, 0, 0)
    out = {"on_disk": on_disk, "total": total, "cd_size": cd_size, "cd_off": cd_off, "zip64": None}
    if len(tail) == 42 and tail[:4] == b"PK\x06\x07":
        _disk, z64_off, disks = struct.unpack_from("<IQI", tail, 4)
        assert disks == 1
        rec = read_range(path, z64_off, 56)
        assert rec[:4] == b"PK\x06\x06", f"locator points at {z64_off}, no ZIP64 EOCD there"
        fields = struct.unpack_from("<QHHIIQQQQ", rec, 4)
        rec_size, _made, _need, _d, _cdd, z_on_disk, z_total, z_cd_size, z_cd_off = fields
        assert rec_size == 44, "ZIP64 EOCD without extensible data is 44 bytes after the size field"
        assert z64_off + 56 == size - 22 - 20, "ZIP64 EOCD, locator, EOCD must be adjacent"
        assert z_cd_off + z_cd_size == z64_off, "the central directory must end at the end records"
        out["zip64"] = {"on_disk": z_on_disk, "total": z_total, "cd_size": z_cd_size,
                        "cd_off": z_cd_off}
    else:
        assert cd_off + cd_size == size - 22, "the central directory must end at the EOCD"
    return out


def extra_blocks(b: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(b):
        assert i + 4 <= len(b), f"truncated extra field {b.hex()}"
        hid, n = struct.unpack_from("<HH", b, i)
        out.append((hid, b[i + 4:i + 4 + n]))
        assert i + 4 + n <= len(b), f"extra block overruns its field {b.hex()}"
        i += 4 + n
    return out


def central_records(path: Path) -> list[dict]:
    ends = end_records(path)
    where = ends["zip64"] or ends
    count, cd, cd_size = where["total"], where["cd_off"], where["cd_size"]
    raw = read_range(path, cd, cd_size)
    out, i = [], 0
    for _ in range(count):
        assert raw[i:i + 4] == b"PK\x01\x02", f"no central record at {cd + i}"
        (need, flags, method, crc, csize, usize, nlen, xlen, clen,
         offset) = struct.unpack_from("<2xHHH4xIIIHHH8xI", raw, i + 4)
        name = raw[i + 46:i + 46 + nlen].decode()
        extra = raw[i + 46 + nlen:i + 46 + nlen + xlen]
        out.append({"name": name, "need": need, "flags": flags, "method": method, "crc": crc,
                    "csize": csize, "usize": usize, "offset": offset, "extra": extra_blocks(extra)})
        i += 46 + nlen + xlen + clen
    assert i == len(raw), "central directory size disagrees with its records"
    return out


def local_record(path: Path, offset: int) -> dict:
    lh = read_range(path, offset, 30)
    assert lh[:4] == b"PK\x03\x04", f"no local header at {offset}"
    need, flags, method, crc, csize, usize, nlen, xlen = struct.unpack_from("<HHH4xIIIHH", lh, 4)
    rest = read_range(path, offset + 30, nlen + xlen)
    return {"need": need, "flags": flags, "method": method, "crc": crc, "csize": csize,
            "usize": usize, "name": rest[:nlen].decode(), "extra": extra_blocks(rest[nlen:]),
            "data_offset": offset + 30 + nlen + xlen}


FFFF, FFFFFFFF = 0xFFFF, 0xFFFFFFFF


def check_member_zip64(path: Path, central: dict, size: int, offset: int) -> None:
    """A member's local and central records use ZIP64 exactly when §2 says: sizes when the size
    is >= 4 GiB - 1 (0xFFFFFFFF is the 'see ZIP64' marker), the offset when it is >= 4 GiB - 1."""
    name = central["name"]
    big, far = size >= FFFFFFFF, offset >= FFFFFFFF
    want_cd = b""
    if big:
        want_cd += struct.pack("<QQ", size, size)
    if far:
        want_cd += struct.pack("<Q", offset)
    assert (central["usize"], central["csize"]) == ((FFFFFFFF,) * 2 if big else (size, size)), name
    assert central["offset"] == (FFFFFFFF if far else offset), name
    want_extra = [(1, want_cd)] if want_cd else []
    assert central["extra"] == want_extra, f"{name}: central extra {central['extra']}"
    if want_cd:
        assert central["need"] >= 45, f"{name}: ZIP64 record needs version 4.5"

    local = local_record(path, offset)
    assert local["name"] == name and local["method"] == 0 and not local["flags"] & 0x08, local
    assert local["crc"] == central["crc"], f"{name}: local CRC differs from central"
    assert (local["usize"], local["csize"]) == ((FFFFFFFF,) * 2 if big else (size, size)), name
    want_local = [(1, struct.pack("<QQ", size, size))] if big else []
    assert local["extra"] == want_local, f"{name}: local extra {local['extra']}"
    if big:
        assert local["need"] >= 45, f"{name}: local ZIP64 header needs version 4.5"


@pytest.mark.zip64
def test_record_count_boundary(taco, tmp_path):
    """65 534 records (TACO_HEADER + 65 533 files) fit the classic EOCD; 65 535 do not (0xFFFF is
    the 'see ZIP64' marker), nor 65 536. Member records never carry ZIP64 for a count alone.
    (test_zip64.py covers 70 000 members with the index; this is the boundary, packed with
    --no-index so every record is a file of the test.)"""
    with scratch_dir(tmp_path, 256 * MIB) as d:
        src = d / "f"
        src.mkdir()
        made = 0
        for files, zip64 in ((65533, False), (65534, True), (65535, True)):
            while made < files:
                with open(src / f"{made:05d}", "wb") as f:
                    f.write(b"%d" % made)
                made += 1
            records = files + 1
            out = d / f"n{files}.taco"
            cp = taco("pack", out, src, "--no-index", check=True, timeout=600)
            size = out.stat().st_size
            assert cp.stdout == (f"{out}: {files} members, {size} bytes, 0 entries"
                                 f"{', ZIP64' if zip64 else ''}\n")
            ends = end_records(out)
            if zip64:
                assert ends["zip64"] is not None, f"{records} records: ZIP64 end records missing"
                assert (ends["on_disk"], ends["total"]) == (FFFF, FFFF)
                assert (ends["zip64"]["on_disk"], ends["zip64"]["total"]) == (records, records)
            else:
                assert ends["zip64"] is None, f"{records} records: ZIP64 end records not needed"
                assert read_range(out, size - 200, 200).find(b"PK\x06\x06") < 0
                assert (ends["on_disk"], ends["total"]) == (records, records)

            with zipfile.ZipFile(out) as z:
                infos = z.infolist()
                assert len(infos) == records
                assert infos[0].filename == "TACO_HEADER"
                assert [i.filename for i in infos[1:]] == [f"f/{k:05d}" for k in range(files)]
                assert not [i.filename for i in infos if i.extra], "no member needs a ZIP64 extra"
                assert z.read(f"f/{files - 1:05d}") == b"%d" % (files - 1)
            assert all(r["extra"] == [] and r["need"] < 45 for r in central_records(out)[:3])
            check_unzip(out)
            doc = json.loads(taco("ls", "--json", out, check=True, timeout=300).stdout)
            assert len(doc["members"]) == records
            assert doc["members"][-1]["name"] == f"f/{files - 1:05d}"
            taco("validate", out, check=True, timeout=300)
            out.unlink()


BIG_NAME = "big.bin"
# where the member after big.bin starts: 157 (TACO_HEADER) + 30 + len("big.bin") + extra + size
SIZE_PUTTING_NEXT_AT_4GIB_MINUS_1 = FFFFFFFF - (HEADER_SIZE + 30 + len(BIG_NAME))


@pytest.mark.zip64
@pytest.mark.parametrize(
    "size", [FFFFFFFF - 1, FFFFFFFF, FFFFFFFF + 1, SIZE_PUTTING_NEXT_AT_4GIB_MINUS_1],
    ids=["4GiB-2", "4GiB-1", "4GiB", "next-at-4GiB-1"])
def test_member_size_and_offset_boundary(taco, tmp_path, size):
    """One big sparse member then a small one. big.bin needs ZIP64 sizes only from 4 GiB - 1 on;
    tail.txt's local header lies at or past 4 GiB - 1 in every case, so only its central offset
    needs ZIP64; the end records need ZIP64 because the central directory starts past 4 GiB."""
    require_free_space(tmp_path, size + 2 * 2**30)
    d = tmp_path / "z64"
    d.mkdir()
    try:
        big = d / BIG_NAME
        marks = {0: b"FIRST", size // 2: b"MIDDLE", size - 4: b"LAST"}
        with open(big, "wb") as f:
            f.truncate(size)
            for off, mark in marks.items():
                f.seek(off)
                f.write(mark)
        assert big.stat().st_size == size
        tail = d / "tail.txt"
        tail.write_bytes(b"after the big one\n")
        out = d / "z.taco"
        cp = taco("pack", out, big, tail, "--entry-per-file", "--no-index", check=True,
                  timeout=1200)
        arc_size = out.stat().st_size
        assert cp.stdout == f"{out}: 2 members, {arc_size} bytes, 2 entries, ZIP64\n"

        big_local = HEADER_SIZE
        big_data = big_local + 30 + len(BIG_NAME) + (20 if size >= FFFFFFFF else 0)
        tail_local = big_data + size
        tail_data = tail_local + 30 + len("tail.txt")
        assert tail_local >= FFFFFFFF
        if size == SIZE_PUTTING_NEXT_AT_4GIB_MINUS_1:
            assert tail_local == FFFFFFFF
        entries = parse_taco_header(read_range(out, 0, HEADER_SIZE))
        assert entries == [(big_data, size), (tail_data, 18)]

        ends = end_records(out)
        assert ends["zip64"] is not None, "the directory starts past 4 GiB: ZIP64 end records"
        assert ends["zip64"]["total"] == 3 and ends["zip64"]["cd_off"] > FFFFFFFF
        assert ends["cd_off"] == FFFFFFFF, "a classic EOCD field that does not fit holds 0xFFFFFFFF"

        recs = central_records(out)
        assert [r["name"] for r in recs] == ["TACO_HEADER", BIG_NAME, "tail.txt"]
        assert recs[0]["extra"] == [] and recs[0]["offset"] == 0
        check_member_zip64(out, recs[1], size, big_local)
        check_member_zip64(out, recs[2], 18, tail_local)
        assert local_record(out, big_local)["data_offset"] == big_data
        assert local_record(out, tail_local)["data_offset"] == tail_data

        # Python's zipfile reads every byte of the big member (its CRC is checked at the end)
        with zipfile.ZipFile(out) as z:
            info = z.getinfo(BIG_NAME)
            got = (info.file_size, info.compress_size, info.header_offset)
            assert got == (size, size, big_local)
            assert z.getinfo("tail.txt").header_offset == tail_local
            assert z.read("tail.txt") == b"after the big one\n"
            pos, found = 0, {off: b"" for off in marks}
            with z.open(info) as f:
                while chunk := f.read(64 * MIB):
                    for off, mark in marks.items():  # a mark may straddle two chunks
                        lo, hi = max(off, pos), min(off + len(mark), pos + len(chunk))
                        if lo < hi:
                            found[off] += chunk[lo - pos:hi - pos]
                    pos += len(chunk)
            assert pos == size and found == marks
        doc = json.loads(taco("ls", "--json", out, check=True).stdout)
        assert [(m["name"], m["size"], m["header_offset"]) for m in doc["members"]] == [
            ("TACO_HEADER", 116, 0), (BIG_NAME, size, big_local), ("tail.txt", 18, tail_local)]
        taco("validate", out, check=True, timeout=600)
    finally:
        for p in sorted(d.iterdir()):
            p.unlink()
        d.rmdir()


@pytest.mark.zip64
@pytest.mark.parametrize("size", [FFFFFFFF - 1, FFFFFFFF], ids=["4GiB-2", "4GiB-1"])
def test_planned_offsets_across_the_zip64_size_line(taco, tmp_path, size):
    """With the index the writer plans every offset before writing (the lookup directory comes
    first): a member of 4 GiB - 1 bytes or more takes a 20-byte ZIP64 extra in its local header,
    which the plan must count, or the member after it lands elsewhere than the directory says
    (the writer refuses that; a reader would fetch the wrong bytes)."""
    require_free_space(tmp_path, size + 2 * 2**30)
    d = tmp_path / "plan64"
    d.mkdir()
    try:
        big = d / BIG_NAME
        with open(big, "wb") as f:
            f.truncate(size)
        tail = d / "tail.txt"
        tail.write_bytes(b"after the big one\n")
        out = d / "z.taco"
        taco("pack", out, big, tail, "--entry-per-file", "-q", check=True, timeout=1200)
        with zipfile.ZipFile(out) as z:
            names = z.namelist()
            big_info, tail_info = z.getinfo(BIG_NAME), z.getinfo("tail.txt")
            assert z.read("tail.txt") == b"after the big one\n"
        assert names == ["TACO_HEADER", "TACO_DIRECTORY", BIG_NAME, "tail.txt",
                         "TACO_MANIFEST.parquet"]
        big_data = local_record(out, big_info.header_offset)["data_offset"]
        tail_data = local_record(out, tail_info.header_offset)["data_offset"]
        assert tail_info.header_offset == big_data + size
        assert parse_taco_header(read_range(out, 0, HEADER_SIZE)) == [(big_data, size),
                                                                      (tail_data, 18)]
        # found through the lookup directory, checked against its local header
        got = d / "tail.out"
        taco("get", out, "--member", "tail.txt", "-o", got, check=True)
        assert got.read_bytes() == b"after the big one\n"
        taco("validate", out, check=True, timeout=600)  # the directory equals the central one
    finally:
        for p in sorted(d.iterdir()):
            p.unlink()
        d.rmdir()
