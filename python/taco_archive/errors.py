"""Exceptions raised by taco_archive.

Every failure is one exception whose message is the one line the ``taco`` command prints
("x.taco: member 'a.txt' not found", "https://…: HTTP 403 …"). The class says what kind of
failure it is, so callers can catch what they can handle:

- :class:`ArchiveError` — the archive's bytes (or its index) are wrong; retrying will not help.
- :class:`NotFoundError` — no such member, entry or tile (also a :class:`LookupError`).
- :class:`TransportError` — reading failed: the file or the server (also an :class:`OSError`);
  :class:`ArchiveNotFoundError` (also a :class:`FileNotFoundError`) when there is no such
  archive.
- :class:`OutputError` — writing a result failed (also an :class:`OSError`).
- :class:`InvalidArgumentError` — an argument or input the call cannot use (also a
  :class:`ValueError`).

The drop-in functions of tacozip raise :class:`TacozipError` instead, with tacozip's codes.
"""

from __future__ import annotations

TACOZ_OK = 0
TACOZ_ERR_IO = -1
TACOZ_ERR_LIBZIP = -2
TACOZ_ERR_INVALID_HEADER = -3
TACOZ_ERR_PARAM = -4
TACOZ_ERR_NOT_FOUND = -5
TACOZ_ERR_EXISTS = -6
TACOZ_ERR_TOO_LARGE = -7

_TACOZIP_MESSAGES = {
    TACOZ_ERR_IO: "I/O error (open/read/write/close/flush)",
    TACOZ_ERR_LIBZIP: "An error occurred in libzip",
    TACOZ_ERR_INVALID_HEADER: "Header bytes malformed or unexpected",
    TACOZ_ERR_PARAM: "Invalid argument(s)",
    TACOZ_ERR_NOT_FOUND: "File not found in archive",
    TACOZ_ERR_EXISTS: "File already exists in archive",
    TACOZ_ERR_TOO_LARGE: "Archive too large",
}


class TacoError(Exception):
    """Base class of taco_archive's errors. ``str(e)`` is the one-line message;
    ``e.tacozip_code`` the tacozip error code the same failure has in the drop-in API."""

    def __init__(self, message: str, tacozip_code: int = TACOZ_ERR_IO) -> None:
        super().__init__(message)
        self.message = message
        self.tacozip_code = tacozip_code

    def __str__(self) -> str:
        return self.message


class ArchiveError(TacoError):
    """The archive's bytes, or its index, are wrong."""


class NotFoundError(TacoError, LookupError):
    """No such member, entry or tile."""


class TransportError(TacoError, OSError):
    """Reading the archive or a source file failed."""


class ArchiveNotFoundError(TransportError, FileNotFoundError):
    """The archive does not exist: no such file, HTTP 404, no such key or bucket."""


class OutputError(TacoError, OSError):
    """Writing a result failed, or it would replace something it must not."""


class InvalidArgumentError(TacoError, ValueError):
    """An argument or an input that the call cannot use."""


class TacozipError(Exception):
    """tacozip's exception, raised by the drop-in functions: ``e.code`` is one of the
    ``TACOZ_ERR_*`` constants and ``str(e)`` reads as tacozip's ("tacozip error -1: I/O
    error (…)"). ``e.detail`` holds taco's one-line explanation when there is one."""

    def __init__(self, code: int, message: str | None = None, detail: str | None = None) -> None:
        self.code = code
        if message is None:
            message = _TACOZIP_MESSAGES.get(code, f"Unknown error code: {code}")
        self.detail = detail
        super().__init__(f"tacozip error {code}: {message}")
