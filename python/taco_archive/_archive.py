"""Reading archives: :func:`open` returns an :class:`Archive`, whose entries and members open
as seekable, read-only binary file objects that fetch byte ranges on demand."""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from . import _native
from .errors import ArchiveError, InvalidArgumentError, NotFoundError

#: Bytes a file object reads ahead of what was asked (one range request covers both).
DEFAULT_READ_AHEAD = 256 * 1024
#: The most a file object over a local archive reads beyond what was asked.
LOCAL_WINDOW = 64 * 1024

_STORAGE_OPTIONS = (
    "retries",
    "connect_timeout",
    "timeout",
    "stall_timeout",
    "profile",
    "region",
    "endpoint_url",
    "no_sign_request",
)


@dataclass(frozen=True)
class Member:
    """One member of the archive, as its central directory lists it."""

    name: str
    size: int
    crc32: int
    header_offset: int


class MemberFile(io.RawIOBase):
    """A read-only, seekable binary file over ``length`` bytes at ``offset`` of an archive.

    Reads are range reads (one request each for a remote archive) through a one-window cache.
    Remote, a read outside the window fetches at least ``read_ahead`` bytes, and each further
    read that continues where the window ended doubles that (up to 8 MiB), so a sequential
    scan costs few requests while a random read costs one small one. Local, a read fetches
    what it asks for (at least 64 KiB). Reading from start to end in
    order checks the CRC-32 when one is known; a mismatch raises :class:`ArchiveError`."""

    MAX_READ_AHEAD = 8 * 1024 * 1024

    def __init__(
        self,
        archive: "Archive",
        offset: int,
        length: int,
        name: str,
        crc32: Optional[int],
        read_ahead: int = DEFAULT_READ_AHEAD,
    ) -> None:
        super().__init__()
        self._archive = archive
        self._offset = offset
        self._length = length
        self._pos = 0
        self._base_ahead = max(0, read_ahead)
        self._ahead = self._base_ahead
        self._window_start = 0
        self._window = b""
        self._crc = 0
        self._crc_pos = 0
        self._expected_crc = crc32
        self._crc_failure: Optional[str] = None
        self.name = name

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def close(self) -> None:
        self._window = b""
        super().close()

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"I/O operation on closed file ({self.name})")

    def write(self, data: Any) -> int:
        raise io.UnsupportedOperation(f"{self.name}: archive members are read-only")

    @property
    def size(self) -> int:
        """The member's length in bytes."""
        return self._length

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            new = pos
        elif whence == io.SEEK_CUR:
            new = self._pos + pos
        elif whence == io.SEEK_END:
            new = self._length + pos
        else:
            raise ValueError(f"invalid whence ({whence})")
        if new < 0:
            raise ValueError(f"negative seek position {new}")
        self._pos = new
        return new

    def _fetch(self, pos: int, want: int) -> None:
        """Makes the window cover ``pos .. pos + want`` (one read)."""
        window_end = self._window_start + len(self._window)
        if not self._archive._remote:
            # A local read costs a system call, not a request: read what was asked (small
            # reads still fill a window), so large reads are never copied twice.
            self._ahead = min(self._base_ahead, LOCAL_WINDOW)
        elif pos == window_end and self._window:
            self._ahead = min(max(self._ahead * 2, self._base_ahead), self.MAX_READ_AHEAD)
        else:
            self._ahead = self._base_ahead
        size = min(max(want, self._ahead), self._length - pos)
        self._window = self._archive._native().read_at(self._offset + pos, size)
        self._window_start = pos

    def _take(self, size: int) -> bytes:
        """Up to ``size`` bytes from the current position, from the window (fetched when
        the position is outside it)."""
        self._check_open()
        if self._crc_failure is not None:
            raise ArchiveError(self._crc_failure, -3)
        pos = self._pos
        want = min(size, max(0, self._length - pos))
        if want == 0:
            return b""
        start = pos - self._window_start
        if not (0 <= start and start + want <= len(self._window)):
            self._fetch(pos, want)
            start = 0
        if start == 0 and want == len(self._window):
            data = self._window  # the whole window: no copy
        else:
            data = self._window[start:start + want]
        self._check_crc(pos, data)
        self._pos = pos + want
        return data

    def read(self, size: Optional[int] = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        return self._take(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._take(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        chunks: List[bytes] = []
        while True:
            chunk = self.read(max(self._length - self._pos, 1))
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)

    def _check_crc(self, pos: int, data: bytes) -> None:
        if self._expected_crc is None or self._crc_pos != pos:
            return
        self._crc = _native.crc32(data, self._crc)
        self._crc_pos += len(data)
        if self._crc_pos == self._length and self._crc != self._expected_crc:
            # Sticky: every later read fails too, so a retry cannot return the bad bytes.
            self._crc_failure = (
                f"{self._archive.label}: {self.name}: CRC-32 {self._crc:08x} of the data "
                f"read, the archive records {self._expected_crc:08x}"
            )
            raise ArchiveError(self._crc_failure, -3)


class Archive:
    """An open TACO archive (a path or an ``http(s)://`` / ``s3://`` URL). Opening reads its
    first 64 KiB: the header and, in an archive with index v2, the lookup directory's root.
    Everything else is read when asked for. One ``Archive`` may be used from many threads at
    once; the GIL is released while it reads. After ``os.fork()`` the child reopens the
    archive on first use (an HTTP client does not survive a fork)."""

    def __init__(self, src: "str | os.PathLike[str]", **storage_options: Any) -> None:
        unknown = set(storage_options) - set(_STORAGE_OPTIONS)
        if unknown:
            raise InvalidArgumentError(
                f"unknown storage option(s) {', '.join(sorted(unknown))}; "
                f"accepted: {', '.join(_STORAGE_OPTIONS)}"
            )
        self._src = os.fspath(src)
        self._options = storage_options
        self._pid = os.getpid()
        self._handle: Optional[_native.NativeArchive] = _native.NativeArchive(
            self._src, **storage_options
        )
        self._remote = self._handle.reads_are_requests()

    def _native(self) -> _native.NativeArchive:
        handle = self._handle
        if handle is None:
            raise ValueError(f"I/O operation on a closed archive ({self._src})")
        if self._pid != os.getpid():
            # A forked child: the parent's client (connections, runtime threads) is not ours.
            # The old handle is dropped without being torn down (see NativeArchive's Drop).
            handle = _native.NativeArchive(self._src, **self._options)
            self._handle, self._pid = handle, os.getpid()
        return handle

    def __reduce__(self) -> Any:
        # Pickled as what to open: a worker process opens its own.
        return (_reopen, (self._src, self._options))

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Releases the archive (file handle, connections). Idempotent."""
        self._handle = None

    @property
    def closed(self) -> bool:
        return self._handle is None

    def __repr__(self) -> str:
        return f"<taco_archive.Archive {self._src!r}>"

    # -- what it holds ---------------------------------------------------------------------

    @property
    def label(self) -> str:
        """The archive's path or URL."""
        return self._src

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self._native().size()

    @property
    def entries(self) -> List[Tuple[int, int]]:
        """The header's entries, ``[(offset, length), ...]`` (absolute byte ranges)."""
        return self._native().entries()

    def members(self) -> List[Member]:
        """Every member, in archive order (``TACO_HEADER`` first). Reads the central
        directory (remote: one or two requests)."""
        return [
            Member(name=n, header_offset=h, size=s, crc32=c)
            for (n, h, s, c) in self._native().members()
        ]

    @property
    def stats(self) -> Dict[str, int]:
        """Requests sent and bytes received so far (zeros for a local file)."""
        requests, received = self._native().stats()
        return {"requests": requests, "bytes": received}

    # -- bytes -----------------------------------------------------------------------------

    def read_entry(self, index: int) -> bytes:
        """The bytes of entry ``index`` (its whole range)."""
        return self._native().read_entry(index)

    def read_member(self, name: str) -> bytes:
        """The data of member ``name``, CRC-checked. Found through the lookup directory when
        the archive has one (no central directory read)."""
        return self._native().read_member(name)

    def read_tile(self, z: int, x: int, y: int) -> bytes:
        """The data of tile ``z/x/y`` of a tile archive, CRC-checked."""
        with self.open_tile(z, x, y) as f:
            return f.read()

    def open_entry(self, index: int, read_ahead: int = DEFAULT_READ_AHEAD) -> MemberFile:
        """Entry ``index`` as a seekable binary file object reading by range on demand."""
        entries = self.entries
        if not 0 <= index < len(entries):
            raise NotFoundError(
                f"{self._src}: no entry {index} (the header has {len(entries)})", -5
            )
        offset, length = entries[index]
        size = self.size
        if offset + length > size:
            raise ArchiveError(
                f"{self._src}: entry {index} ({length} bytes at offset {offset}) reaches past "
                f"the end of the archive ({size} bytes)",
                -3,
            )
        return MemberFile(self, offset, length, f"entry {index}", None, read_ahead)

    def open_member(self, name: str, read_ahead: int = DEFAULT_READ_AHEAD) -> MemberFile:
        """Member ``name`` as a seekable binary file object reading by range on demand (so
        ``pyarrow.parquet.ParquetFile(f)`` reads only the footer and the row groups it
        needs). Reading it through in order checks its CRC-32."""
        offset, length, crc = self._native().locate_member(name)
        return MemberFile(self, offset, length, name, crc, read_ahead)

    def open_tile(
        self, z: int, x: int, y: int, read_ahead: int = DEFAULT_READ_AHEAD
    ) -> MemberFile:
        """Tile ``z/x/y`` of a tile archive as a file object (see :meth:`open_member`)."""
        offset, length, crc = self._native().locate_tile(z, x, y)
        return MemberFile(self, offset, length, f"{z}/{x}/{y}", crc, read_ahead)

    # -- index -----------------------------------------------------------------------------

    def manifest_bytes(self) -> bytes:
        """The bytes of ``TACO_MANIFEST.parquet`` (index v2), CRC-checked."""
        offset, length, crc = self._native().manifest_range()
        data = self._native().read_at(offset, length)
        if _native.crc32(data, 0) != crc:
            raise ArchiveError(f"{self._src}: TACO_MANIFEST.parquet: CRC-32 mismatch", -3)
        return data

    def manifest(self) -> Any:
        """The manifest as a ``pyarrow.Table``: one row per member (name, data offset,
        length, CRC-32 and the planner's columns). An archive with only a v1 index
        (``TACO_INDEX.json``) gives its member records as a table instead. Needs pyarrow."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            data = self.manifest_bytes()
        except NotFoundError:
            try:
                index = json.loads(self.read_member("TACO_INDEX.json"))
            except NotFoundError:
                raise NotFoundError(
                    f"{self._src}: has no index (no TACO_MANIFEST.parquet, no TACO_INDEX.json)",
                    -5,
                ) from None
            return pa.Table.from_pylist(index.get("members", []))
        return pq.read_table(pa.BufferReader(data))

    def query(
        self, time: Optional[str] = None, *, start: Optional[str] = None, end: Optional[str] = None
    ) -> List[Dict[str, Any]]:
        """The NetCDF files whose time range overlaps ``time`` (``"2024-03"``,
        ``"2024-03-05T12:00"``…) or ``start``..``end``, as ``taco query`` selects them: dicts
        with name, offset, length, start, end and entry."""
        return self._native().query_time(time, start, end)

    def validate(self, level: str = "normal") -> Dict[str, Any]:
        """Checks the archive (``"quick"``, ``"normal"`` or ``"deep"``, as ``taco
        validate``); returns a summary, or raises the first problem found."""
        return self._native().validate(level)

    def extract(
        self,
        directory: "str | os.PathLike[str]",
        entry: Optional[int] = None,
        overwrite: bool = False,
    ) -> List[str]:
        """Extracts every member (or those entry ``entry`` holds) under ``directory``, but
        taco's own (``TACO_DIRECTORY``, ``TACO_MANIFEST.parquet``, ``TACO_INDEX.json``):
        confined to it, never through a symlink, CRC-checked. Returns the paths written."""
        written = self._native().extract(os.fspath(directory), entry, overwrite)
        return [os.fspath(p) for p in written]


def _reopen(src: str, options: Dict[str, Any]) -> Archive:
    return Archive(src, **options)


def open(src: "str | os.PathLike[str]", **storage_options: Any) -> Archive:  # noqa: A001
    """Opens a TACO archive: a local path or an ``http(s)://`` (query string kept),
    ``s3://`` or ``az://`` URL.

    ``storage_options``: ``retries`` (transient failures, default 5), ``connect_timeout``,
    ``timeout`` (a whole request) and ``stall_timeout`` (no bytes for that long), in seconds;
    for ``s3://``: ``profile``, ``region``, ``endpoint_url`` and ``no_sign_request``, over the
    environment and ``~/.aws`` as for the ``taco`` command (and the AWS CLI)."""
    return Archive(src, **storage_options)
