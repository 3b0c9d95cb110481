"""Shared helpers for the end-to-end tests.

These tests run the real `taco` binary and check its output with tools we did not write:
tacozip (the reference implementation), Info-ZIP unzip, Python's zipfile, 7-Zip and bsdtar.

The binary is taken from $TACO_BIN, or <repo>/target/release/taco by default.
A missing external tool skips the test locally, but fails it when CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TACO_BIN = Path(os.environ.get("TACO_BIN", REPO / "target" / "release" / "taco"))

HEADER_SIZE = 157
PAYLOAD_OFFSET = 41
PAYLOAD_SIZE = 116
MAX_ENTRIES = 7

# Oracles print non-ASCII names; give them a UTF-8 locale that always exists on Debian 12.
TOOL_ENV = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "zip64: multi-GiB / many-member ZIP64 tests (slow, still part of the default run)",
    )


# ---------------------------------------------------------------------------
# running things


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def skip_or_fail(msg: str, *, allow_module_level: bool = False):
    """The one way a test gives up for a missing prerequisite (tool, package, data, disk space):
    a skip locally, a failure under CI=true (CI must never silently drop an oracle)."""
    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg, allow_module_level=allow_module_level)


def require_tool(name: str) -> str:
    """Return the path of an external tool; skip (or fail under CI=true) when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    skip_or_fail(f"required tool {name!r} is not installed (run scripts/setup.sh)")


def free_bytes(path) -> int:
    """Bytes available to us on the file system holding `path`."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def require_free_space(path, need: int) -> None:
    """Skip (fail under CI=true) unless `need` bytes are free where `path` lives."""
    have = free_bytes(path)
    if have < need:
        skip_or_fail(f"need {need / 2**30:.1f} GiB free in {path}, have {have / 2**30:.1f} GiB")


def run_tool(*args, cwd=None, timeout=600, check=False) -> subprocess.CompletedProcess:
    """Run an external tool (which must exist) with text output."""
    require_tool(str(args[0]))
    cp = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=TOOL_ENV,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check:
        assert cp.returncode == 0, f"{args[0]} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"
    return cp


class Taco:
    """Callable that runs the taco binary and returns the CompletedProcess.

    Text mode by default; pass binary=True to get stdout as bytes (for `taco get` to stdout).
    check=True asserts exit code 0 and shows stderr otherwise.
    """

    def __init__(self, binary: Path):
        self.bin = binary

    def __call__(self, *args, cwd=None, timeout=600, binary=False, check=False, input=None,
                 prefix=()):
        cmd = [*map(str, prefix), str(self.bin), *map(str, args)]
        cp = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            timeout=timeout,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        cp.stderr = cp.stderr.decode("utf-8", "replace")
        if not binary:
            cp.stdout = cp.stdout.decode("utf-8", "replace")
        if check:
            assert cp.returncode == 0, (
                f"taco {' '.join(map(str, args))} exited {cp.returncode}\nstderr: {cp.stderr}"
            )
        return cp


@pytest.fixture(scope="session")
def taco_bin() -> Path:
    if not (TACO_BIN.is_file() and os.access(TACO_BIN, os.X_OK)):
        pytest.fail(
            f"taco binary not found at {TACO_BIN}; build it with "
            "`cargo build --release -p taco-cli` or set TACO_BIN"
        )
    return TACO_BIN


@pytest.fixture(scope="session")
def taco(taco_bin) -> Taco:
    return Taco(taco_bin)


@pytest.fixture
def work(tmp_path) -> Path:
    """An empty directory to run failing commands in (their default OUT lands here)."""
    d = tmp_path / "work"
    d.mkdir()
    return d


# ---------------------------------------------------------------------------
# assertions


# What a Rust panic or an error printed through Debug leaves on stderr.
PANIC_MARKERS = ("panicked at", "RUST_BACKTRACE", "stack backtrace", "Os { code")


def assert_taco_error(cp: subprocess.CompletedProcess, *needles: str) -> str:
    """A failed command: non-zero exit, stderr exactly one line starting `taco: `, no panic.

    Each needle must appear in that line (case-insensitive). Returns the line.
    (assert_fails_cleanly is the stricter form: exit 1, empty stdout, nothing left behind.)
    """
    assert cp.returncode != 0, f"expected failure, got exit 0; stdout={cp.stdout!r}"
    for marker in PANIC_MARKERS:
        assert marker not in cp.stderr, f"panic / debug output ({marker!r}): {cp.stderr!r}"
    lines = cp.stderr.splitlines()
    assert len(lines) == 1, f"stderr must be exactly one line, got {len(lines)}: {cp.stderr!r}"
    line = lines[0]
    assert line.startswith("taco: "), f"stderr must start with 'taco: ': {line!r}"
    # "one clear line": the same clause must not be printed twice (e.g. an error chain that
    # repeats a cause already folded into its context)
    parts = [p for p in line[len("taco: "):].split(": ") if len(p) >= 8]
    repeated = {p for p in parts if parts.count(p) > 1}
    assert not repeated, f"error line repeats itself ({sorted(repeated)}): {line!r}"
    for n in needles:
        assert n.lower() in line.lower(), f"{n!r} not in error line {line!r}"
    return line


def ls_seen_remotely(taco, path: Path, *flags: str) -> str:
    """What `taco ls URL [FLAGS]` prints for the archive at `path`: the local listing, except
    that without a manifest the data offsets of members before the last 64 KiB (which
    remotely would mean reading the data) are `-` (null in JSON)."""
    size = path.stat().st_size
    members = json.loads(taco("ls", "--json", path, check=True).stdout)["members"]
    tail_start = max(0, size - 65536)
    known = ("TACO_MANIFEST.parquet" in [m["name"] for m in members]
             or all(m["header_offset"] >= tail_start for m in members))
    local = taco("ls", path, *flags, check=True).stdout
    if known:
        return local
    hidden = [m["header_offset"] < tail_start for m in members]
    if "--json" in flags:
        for m, h in zip(members, hidden):
            if h:
                m["data_offset"] = None
        return json.dumps({"members": members}, indent=2, sort_keys=True) + "\n"
    lines = local.splitlines(keepends=True)
    column = 1 if ("-l" in flags or "--long" in flags) else 0
    out = [lines[0]]
    for line, h in zip(lines[1:], hidden):
        if h:
            cells = line.split()
            value = cells[column]
            at = line.index(value, 0 if column == 0 else line.index(cells[0]) + len(cells[0]))
            line = line[:at] + "-".rjust(len(value)) + line[at + len(value):]
        out.append(line)
    return "".join(out)


def listing(d: Path) -> set[str]:
    """Every path under d, relative, including directories and symlinks."""
    out = set()
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(root, n), d))
    return out


def assert_fails_cleanly(cp: subprocess.CompletedProcess, *needles: str,
                         workdir: Path | None = None, before: set[str] | None = None) -> str:
    """A runtime failure done right (DESIGN §8): exit status 1 (not 2, which is for usage, nor a
    signal), nothing on stdout, stderr exactly one `taco: ` line holding every needle
    (case-insensitive) and no panic text. With `workdir` and `before` (a `listing(workdir)`
    taken before the command), the directory must be exactly as it was: no OUT, no temp file
    (`.NAME.*.tmp`, `.taco-*`), nothing removed. Returns the error line."""
    assert (workdir is None) == (before is None), "give both workdir and before, or neither"
    assert cp.returncode == 1, f"expected exit 1, got {cp.returncode}; stderr={cp.stderr!r}"
    out = cp.stdout
    assert out in ("", b""), f"a failed command printed on stdout: {out[:300]!r}"
    line = assert_taco_error(cp, *needles)
    if workdir is not None:
        after = listing(workdir)
        added, removed = sorted(after - before), sorted(before - after)
        temps = [p for p in added if os.path.basename(p).startswith(".") or p.endswith(".tmp")]
        assert not temps, f"temporary files left behind in {workdir}: {temps}"
        assert not added, f"left behind in {workdir}: {added}"
        assert not removed, f"removed from {workdir}: {removed}"
    return line


def tree_files(d: Path) -> dict[str, bytes]:
    """Regular files under d -> contents, keyed by '/'-joined relative path."""
    out = {}
    for root, _dirs, files in os.walk(d):
        for n in files:
            p = Path(root) / n
            out[p.relative_to(d).as_posix()] = p.read_bytes()
    return out


# ---------------------------------------------------------------------------
# building inputs


def write_tree(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic, incompressible-ish bytes."""
    out = bytearray()
    x = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out += x.to_bytes(4, "little")
    return bytes(out[:n])


def entry_args(entries) -> list[str]:
    args = []
    for off, length in entries:
        args += ["--entry", f"{off}:{length}"]
    return args


# ---------------------------------------------------------------------------
# reading archives independently of taco


def parse_taco_header(b: bytes) -> list[tuple[int, int]]:
    """Our own reading of the 157-byte header; asserts the fixed fields."""
    assert len(b) >= HEADER_SIZE
    assert b[0:4] == b"PK\x03\x04"
    assert struct.unpack_from("<H", b, 8)[0] == 0, "method must be STORED"
    crc, csize, usize, nlen, xlen = struct.unpack_from("<IIIHH", b, 14)
    assert (csize, usize, nlen, xlen) == (PAYLOAD_SIZE, PAYLOAD_SIZE, 11, 0)
    assert b[30:41] == b"TACO_HEADER"
    body = b[PAYLOAD_OFFSET:HEADER_SIZE]
    assert zlib.crc32(body) == crc, "header CRC mismatch"
    count = body[0]
    assert count <= MAX_ENTRIES
    assert body[1:4] == b"\0\0\0"
    slots = struct.unpack_from("<14Q", body, 4)
    pairs = [(slots[2 * i], slots[2 * i + 1]) for i in range(MAX_ENTRIES)]
    assert all(p == (0, 0) for p in pairs[count:]), "slots past count must be zero"
    return pairs[:count]


def build_taco_payload(entries) -> bytes:
    assert len(entries) <= MAX_ENTRIES
    slots = list(entries) + [(0, 0)] * (MAX_ENTRIES - len(entries))
    flat = [v for pair in slots for v in pair]
    return bytes([len(entries), 0, 0, 0]) + struct.pack("<14Q", *flat)


def stored_info(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    zi.compress_type = zipfile.ZIP_STORED
    return zi


def craft_taco_zip(path: Path, members: list[tuple[str, bytes]], entries=()) -> None:
    """A TACO archive written by Python's zipfile (not by taco), for hostile-input tests.

    zipfile writes a 30-byte local header + 11-byte name with no extra field for an ASCII
    name into a seekable file, so the first member lands exactly as the 157-byte TACO header.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(stored_info("TACO_HEADER"), build_taco_payload(entries))
        for name, data in members:
            z.writestr(stored_info(name), data)
    b = path.read_bytes()
    parse_taco_header(b[:HEADER_SIZE])


class Member:
    def __init__(self, info: zipfile.ZipInfo, data_offset: int):
        self.info = info
        self.name = info.filename
        self.header_offset = info.header_offset
        self.data_offset = data_offset
        self.size = info.file_size
        self.crc = info.CRC

    @property
    def data_end(self) -> int:
        return self.data_offset + self.size

    def __repr__(self):
        return f"Member({self.name!r}, hdr={self.header_offset}, data={self.data_offset}, size={self.size})"


def zip_members(path: Path) -> list[Member]:
    """Members in central-directory order, with data offsets read from the local headers."""
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    out = []
    with open(path, "rb") as f:
        for i in infos:
            f.seek(i.header_offset)
            lh = f.read(30)
            assert lh[:4] == b"PK\x03\x04", f"no local header at {i.header_offset} for {i.filename}"
            nlen, xlen = struct.unpack_from("<HH", lh, 26)
            out.append(Member(i, i.header_offset + 30 + nlen + xlen))
    return out


def find_eocd(b: bytes) -> int:
    pos = b.rfind(b"PK\x05\x06", max(0, len(b) - 22 - 65535))
    assert pos >= 0, "no end of central directory record"
    return pos


def central_dir_offset(b: bytes) -> int:
    """Offset of the central directory (follows ZIP64 records when present)."""
    eocd = find_eocd(b)
    cd = struct.unpack_from("<I", b, eocd + 16)[0]
    if cd == 0xFFFFFFFF:
        loc = eocd - 20
        assert b[loc:loc + 4] == b"PK\x06\x07"
        z64 = struct.unpack_from("<Q", b, loc + 8)[0]
        assert b[z64:z64 + 4] == b"PK\x06\x06"
        cd = struct.unpack_from("<Q", b, z64 + 48)[0]
    return cd


def check_sidecar(archive: Path, meta_bytes: bytes) -> dict:
    """OUT.meta.json is the archive's index member plus the identity of the archive it was
    written for: `archive` = {size, header_crc32 (bytes 14-17), cd_crc32 (CRC-32 of the
    central directory's bytes)}, each checked here against the file itself. Returns the
    sidecar as a dict."""
    sidecar = json.loads(meta_bytes)
    identity = sidecar.pop("archive")
    b = archive.read_bytes()
    with zipfile.ZipFile(archive) as z:
        assert json.loads(z.read("TACO_INDEX.json")) == sidecar, "TACO_INDEX.json differs from .meta.json"
    cd = central_dir_offset(b)
    eocd = find_eocd(b)
    zip64 = b[eocd - 20:eocd - 16] == b"PK\x06\x07"
    cd_end = struct.unpack_from("<Q", b, eocd - 12)[0] if zip64 else eocd
    assert identity == {
        "size": len(b),
        "header_crc32": struct.unpack_from("<I", b, 14)[0],
        "cd_crc32": zlib.crc32(b[cd:cd_end]),
    }, "the sidecar's identity does not describe the archive beside it"
    return sidecar


def read_range(path: Path, off: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


# ---------------------------------------------------------------------------
# oracles


def check_unzip(archive: Path) -> None:
    cp = run_tool("unzip", "-t", archive)
    assert cp.returncode == 0, f"unzip -t failed ({cp.returncode}):\n{cp.stdout[-3000:]}\n{cp.stderr}"
    assert "No errors detected" in cp.stdout, cp.stdout[-3000:]


def check_7z(archive: Path) -> None:
    cp = run_tool("7zz", "t", "-bd", archive)
    assert cp.returncode == 0, f"7zz t failed ({cp.returncode}):\n{cp.stdout[-3000:]}\n{cp.stderr}"
    assert "Everything is Ok" in cp.stdout, cp.stdout[-3000:]


# index v2 members `taco pack` and the planners add (docs/FORMAT.md §4, §5)
LOOKUP_MEMBER = "TACO_DIRECTORY"
MANIFEST_MEMBER = "TACO_MANIFEST.parquet"
INDEX_MEMBERS = (LOOKUP_MEMBER, MANIFEST_MEMBER, "TACO_INDEX.json")


def packed_names(files: list[str]) -> list[str]:
    """The member order of a `taco pack` archive: the header, the lookup directory, the files
    in the order packed, the manifest."""
    return ["TACO_HEADER", LOOKUP_MEMBER, *files, MANIFEST_MEMBER]


def check_zipfile(archive: Path, expected: dict[str, bytes] | None = None) -> list[str]:
    """Python zipfile: testzip() clean, every member STORED without data descriptor,
    TACO_HEADER first at offset 0, and (if given) contents equal to `expected` (index members
    `expected` does not name may be there too: their own tests check them)."""
    with zipfile.ZipFile(archive) as z:
        assert z.testzip() is None
        infos = z.infolist()
        assert infos[0].filename == "TACO_HEADER"
        assert infos[0].header_offset == 0
        for i in infos:
            assert i.compress_type == zipfile.ZIP_STORED, i.filename
            assert not (i.flag_bits & 0x08), f"{i.filename}: data descriptor flag set"
            if any(ord(c) > 127 for c in i.filename):
                assert i.flag_bits & 0x800, f"{i.filename}: non-ASCII name without UTF-8 flag"
        names = [i.filename for i in infos]
        if expected is not None:
            got = [n for n in names[1:] if n in expected or n not in INDEX_MEMBERS]
            assert sorted(got) == sorted(expected), "member names differ"
            for name, data in expected.items():
                assert z.read(name) == data, f"{name}: content differs"
    return names


# ---------------------------------------------------------------------------
# servers for the remote (HTTP / S3) tests; the classes are in remote_servers.py
# (imported lazily: remote_servers imports helpers from this module)


@pytest.fixture(scope="session")
def nginx_server(tmp_path_factory):
    """A running remote_servers.NginxServer (skips when nginx is missing, fails under CI)."""
    from remote_servers import NginxServer

    server = NginxServer(tmp_path_factory.mktemp("nginx"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running remote_servers.MotoServer (moto S3 in a child process)."""
    from remote_servers import MotoServer

    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def azurite_server(tmp_path_factory):
    """A running remote_servers.AzuriteServer (Azure Blob on 127.0.0.1)."""
    from remote_servers import AzuriteServer

    server = AzuriteServer(tmp_path_factory.mktemp("azurite"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fault_server(tmp_path):
    """A fresh remote_servers.FaultServer per test (faults never leak between tests)."""
    from remote_servers import FaultServer

    server = FaultServer(tmp_path / "fault-www")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def remote_env(monkeypatch):
    """For this test, os.environ (inherited by the Taco runner) has no proxy variable and no
    AWS_* variable, so nothing from the host leaks into a remote test."""
    from remote_servers import clean_env

    env = clean_env()
    for k in list(os.environ):
        if k not in env:
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def s3_env(remote_env, s3_server, monkeypatch):
    """remote_env plus the AWS variables pointing at s3_server; returns s3_server.env."""
    for k, v in s3_server.env.items():
        monkeypatch.setenv(k, v)
    return s3_server.env
