"""TACO archives from Python.

- tacozip 0.13's API — ``create``, ``read_header``, ``update_header``,
  ``get_library_version``, the ``TACOZ_*`` codes and ``TacozipError`` — so that
  ``import taco_archive as tacozip`` runs tacozip code unchanged (see ``_tacozip`` for the
  documented differences);
- the planners: :func:`pack`, :func:`pack_parquet`, :func:`pack_tiles`, :func:`pack_splits`,
  :func:`pack_netcdf`;
- :func:`open`: an archive (path or URL) whose entries, members and tiles open as seekable
  binary file objects reading byte ranges on demand.
"""

from __future__ import annotations

from . import _native
from ._archive import DEFAULT_READ_AHEAD, Archive, Member, MemberFile, open
from ._pack import EntryInfo, PackResult, pack, pack_netcdf, pack_parquet, pack_splits, pack_tiles
from ._tacozip import (
    TACO_HEADER_MAX_ENTRIES,
    create,
    get_library_version,
    read_header,
    self_check,
    update_header,
)
from .errors import (
    TACOZ_ERR_EXISTS,
    TACOZ_ERR_INVALID_HEADER,
    TACOZ_ERR_IO,
    TACOZ_ERR_LIBZIP,
    TACOZ_ERR_NOT_FOUND,
    TACOZ_ERR_PARAM,
    TACOZ_ERR_TOO_LARGE,
    TACOZ_OK,
    ArchiveError,
    ArchiveNotFoundError,
    InvalidArgumentError,
    NotFoundError,
    OutputError,
    TacoError,
    TacozipError,
    TransportError,
)

__version__: str = _native.version()
#: tacozip names the native library's version so; here it is taco's.
__tacozip_version__: str = __version__

__all__ = [
    "__version__",
    "__tacozip_version__",
    "TACOZ_OK",
    "TACOZ_ERR_IO",
    "TACOZ_ERR_LIBZIP",
    "TACOZ_ERR_INVALID_HEADER",
    "TACOZ_ERR_PARAM",
    "TACOZ_ERR_NOT_FOUND",
    "TACOZ_ERR_EXISTS",
    "TACOZ_ERR_TOO_LARGE",
    "TACO_HEADER_MAX_ENTRIES",
    "TacozipError",
    "create",
    "update_header",
    "read_header",
    "get_library_version",
    "self_check",
    "TacoError",
    "ArchiveError",
    "ArchiveNotFoundError",
    "NotFoundError",
    "TransportError",
    "OutputError",
    "InvalidArgumentError",
    "open",
    "Archive",
    "Member",
    "MemberFile",
    "DEFAULT_READ_AHEAD",
    "pack",
    "pack_parquet",
    "pack_tiles",
    "pack_splits",
    "pack_netcdf",
    "PackResult",
    "EntryInfo",
]
