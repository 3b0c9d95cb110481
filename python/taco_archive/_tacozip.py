"""tacozip 0.13's functions, with its signatures, defaults, return values and error codes, so
``import taco_archive as tacozip`` runs code written for tacozip unchanged.

Deliberate differences (README, "Python"), each where tacozip loses data or accepts what it
should not:

- **The count byte.** tacozip counts only the entries that are not ``(0, 0)`` but then reads the
  first *count* slots, so ``[(1, 2), (0, 0), (5, 6)]`` comes back as ``[(1, 2), (0, 0)]``. Here the
  count is the position of the last entry that is not ``(0, 0)``: the same headers for every
  list tacozip keeps whole (trailing ``(0, 0)`` are dropped, as there), and nothing lost when a
  ``(0, 0)`` sits in the middle.
- **The header CRC is checked**: a header whose CRC-32 does not match raises
  ``TACOZ_ERR_INVALID_HEADER`` (tacozip returns whatever the damaged bytes say).
- **Entries must be 0 ≤ n < 2⁶⁴** (tacozip wraps negative numbers silently):
  ``TACOZ_ERR_PARAM``.
- **Member names are checked** as every taco archive's are (DESIGN §2): tacozip writes
  absolute paths, ``..``, empty names, ``dir/``, backslashes, ``./a``, ``a//b``, control
  characters and ``TACO_HEADER`` itself, some of which make extraction tools write outside
  their directory; here each is ``TACOZ_ERR_PARAM`` (a duplicate name ``TACOZ_ERR_EXISTS``).
- ``SOURCE_DATE_EPOCH``, when set, fixes every member's time (reproducible archives); a value
  that is not an integer is ``TACOZ_ERR_PARAM`` (tacozip ignores the variable).
- ``read_header`` also takes ``bytearray`` and ``memoryview``; ``update_header`` takes a
  ``pathlib.Path`` (tacozip raises ``AttributeError``).
- ``get_library_version()``, ``__version__`` and ``__tacozip_version__`` are taco's version.
- ``create`` writes the archive to a temporary file and renames it into place: a failure
  leaves any existing archive untouched.
"""

from __future__ import annotations

import operator
import os
import pathlib
from typing import List, Optional, Sequence, Tuple, Union

from . import _native
from .errors import (
    TACOZ_ERR_IO,
    TACOZ_ERR_PARAM,
    TacoError,
    TacozipError,
)

TACO_HEADER_MAX_ENTRIES = 7
_U64 = 1 << 64

PathLike = Union[str, "os.PathLike[str]"]


def _checked_entries(entries: Sequence[Tuple[int, int]]) -> List[Tuple[int, int]]:
    if len(entries) > TACO_HEADER_MAX_ENTRIES:
        raise ValueError(f"Too many entries: {len(entries)} > {TACO_HEADER_MAX_ENTRIES}")
    out = []
    for pair in entries:
        # integers only, as tacozip's ctypes fields (a float is a TypeError there too)
        offset, length = (operator.index(n) for n in pair)
        if not (0 <= offset < _U64 and 0 <= length < _U64):
            raise TacozipError(
                TACOZ_ERR_PARAM,
                detail=f"entry ({offset}, {length}): offsets and lengths are 0 .. 2^64 - 1",
            )
        out.append((int(offset), int(length)))
    # Trailing (0, 0) slots are "no entry" (tacozip's count); one in the middle is kept.
    while out and out[-1] == (0, 0):
        out.pop()
    return out


def _tacozip_error(error: TacoError) -> TacozipError:
    return TacozipError(error.tacozip_code, detail=str(error))


def create(
    zip_path: str,
    src_files: List[Union[str, pathlib.Path]],
    arc_files: Optional[List[str]] = None,
    entries: Optional[List[Tuple[int, int]]] = None,
) -> None:
    """Create archive with up to 7 metadata entries in TACO header.

    Writes ``TACO_HEADER`` then each file of ``src_files`` stored under the matching name of
    ``arc_files`` (default: the file's name), replacing ``zip_path`` if it exists.
    """
    if entries is None:
        entries = [(0, 0)]
    sources = [str(pathlib.Path(f).resolve()) for f in src_files]
    if arc_files is None:
        names = [pathlib.Path(f).name for f in sources]
    else:
        if len(arc_files) != len(sources):
            raise ValueError(
                f"Archive names count ({len(arc_files)}) must match source files count "
                f"({len(sources)})"
            )
        names = list(arc_files)
    checked = _checked_entries(entries)
    if not sources:
        raise TacozipError(TACOZ_ERR_PARAM, detail="no source files")
    try:
        _native.create(str(pathlib.Path(zip_path).resolve()), list(zip(names, sources)), checked)
    except TacoError as error:
        raise _tacozip_error(error) from None


def update_header(zip_path: Union[str, pathlib.Path], entries: List[Tuple[int, int]]) -> None:
    """Update all metadata entries in TACO header (in place: only the header's 116-byte
    payload and its CRC, in the local header and the central directory, change)."""
    checked = _checked_entries(entries)
    try:
        _native.update_header(os.fspath(zip_path), checked, allow_outside=True)
    except TacoError as error:
        raise _tacozip_error(error) from None


def read_header(
    source: Union[str, bytes, bytearray, memoryview, pathlib.Path],
) -> List[Tuple[int, int]]:
    """Read all metadata entries from TACO header.

    Args:
        source: Either a file path (str/Path) OR bytes buffer (157+ bytes)

    Returns:
        List of (offset, length) tuples containing the metadata entries
    """
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            if len(data) < 157:
                raise ValueError(f"Buffer too small: {len(data)} < 157")
            return _native.parse_header(data)
        if not isinstance(source, (str, os.PathLike)):
            raise TacozipError(TACOZ_ERR_IO, detail=f"{source!r} is not a path")
        return _native.read_header_file(os.fspath(source))
    except TacoError as error:
        raise _tacozip_error(error) from None


def get_library_version() -> str:
    """The version of the library doing the work (taco's)."""
    return _native.version()


def self_check() -> None:
    """tacozip's self-check: returns None when the native library is loaded and answers (it
    is, or importing the package would have failed)."""
    _native.version()
