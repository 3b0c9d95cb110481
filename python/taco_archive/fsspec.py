"""An fsspec filesystem for TACO archives, protocol ``taco``, read-only.

It chains like fsspec's ``zip::``: ``taco://data/part-2.parquet::s3://bucket/x.taco`` names
member ``data/part-2.parquet`` of the archive at ``s3://bucket/x.taco`` (or a path, or an
``http(s)://`` URL), so pandas, ``pyarrow.dataset``, xarray and Dask read members directly::

    import pandas as pd
    df = pd.read_parquet("taco://part-2.parquet::https://cdn.example.com/obs.taco")

The archive is read by taco itself (not through another fsspec filesystem): ``s3fs`` is not
needed. Options for the archive (``retries``, ``timeout``…) go in ``target_options`` (or
``storage_options={"taco": {...}}`` for the chain). Members open as taco's
:class:`~taco_archive.MemberFile`: seekable, reading by range on demand. Registered with fsspec
through the ``fsspec.specs`` entry point of the ``taco-archive`` distribution.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional

from fsspec.archive import AbstractArchiveFileSystem

from ._archive import DEFAULT_READ_AHEAD, _STORAGE_OPTIONS, Archive
from .errors import InvalidArgumentError, NotFoundError

#: Protocols whose paths taco opens as local files.
_LOCAL = {None, "", "file", "local"}
#: Protocols taco reads itself.
_REMOTE = {"http", "https", "s3", "s3a"}
#: Members taco writes for itself: not listed (a `*.parquet` glob must not pick up the
#: manifest as data), still readable by name.
_OWN = {"TACO_HEADER", "TACO_DIRECTORY", "TACO_MANIFEST.parquet", "TACO_INDEX.json"}


def _archive_url(fo: Any, target_protocol: Optional[str]) -> str:
    if not isinstance(fo, (str, os.PathLike)):
        raise TypeError(
            "taco:// reads archives by path or URL (a file object cannot be chained): "
            f"got {type(fo).__name__}"
        )
    url = os.fspath(fo)
    protocol = url.split("://", 1)[0] if "://" in url else target_protocol
    if protocol not in _LOCAL and protocol not in _REMOTE:
        raise InvalidArgumentError(
            f"taco:// reads archives from local paths, http(s):// and s3:// URLs, not "
            f"{protocol}://"
        )
    if "://" in url or protocol in _LOCAL:
        return url
    return f"{protocol}://{url}"


class TacoFileSystem(AbstractArchiveFileSystem):
    """Read-only view of one TACO archive's members as files and directories."""

    protocol = "taco"
    root_marker = ""

    def __init__(
        self,
        fo: Any = "",
        target_protocol: Optional[str] = None,
        target_options: Optional[Dict[str, Any]] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fo = _archive_url(fo, target_protocol)
        options = dict(target_options or {})
        unknown = set(options) - set(_STORAGE_OPTIONS)
        if unknown:
            # Never ignored: an option meant for another client (an endpoint, credentials)
            # would otherwise send requests somewhere the caller did not mean.
            raise InvalidArgumentError(
                f"taco:// does not take the option(s) {', '.join(sorted(unknown))}; it takes "
                f"{', '.join(_STORAGE_OPTIONS)} (S3 credentials come from the environment "
                "or an AWS profile, as for the taco command)"
            )
        self.archive = Archive(self.fo, **options)
        self.dir_cache: Optional[Dict[str, Dict[str, Any]]] = None

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        # member names are relative to the archive's root
        return super()._strip_protocol(path).lstrip("/")

    def _get_dirs(self) -> None:
        if self.dir_cache is not None:
            return
        members = [m for m in self.archive.members() if m.name not in _OWN]
        cache: Dict[str, Dict[str, Any]] = {
            d: {"name": d, "size": 0, "type": "directory"}
            for d in self._all_dirnames([m.name for m in members])
        }
        for m in members:
            cache[m.name] = {
                "name": m.name,
                "size": m.size,
                "type": "file",
                "crc32": m.crc32,
                "header_offset": m.header_offset,
            }
        self.dir_cache = cache

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        path = self._strip_protocol(path)
        if path in ("", "/"):
            return {"name": "", "type": "directory", "size": 0}
        return super().info(path, **kwargs)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Optional[int] = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> Any:
        if mode != "rb":
            raise OSError(f"taco:// is read-only: cannot open {path!r} with mode {mode!r}")
        path = self._strip_protocol(path)
        try:
            return self.archive.open_member(path, read_ahead=block_size or DEFAULT_READ_AHEAD)
        except NotFoundError as e:
            raise FileNotFoundError(str(e)) from e

    def cat_file(
        self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any
    ) -> bytes:
        path = self._strip_protocol(path)
        if start is None and end is None:
            try:
                return self.archive.read_member(path)
            except NotFoundError as e:
                raise FileNotFoundError(str(e)) from e
        with self._open(path) as f:
            size = f.size
            begin = 0 if start is None else (start if start >= 0 else max(0, size + start))
            stop = size if end is None else (end if end >= 0 else max(0, size + end))
            f.seek(begin)
            return f.read(max(0, stop - begin))
