"""Writing archives: the planners of the ``taco pack*`` commands as functions.

``out`` is a path or an object URL (``s3://BUCKET/KEY``, ``az://CONTAINER/KEY``): an object
is streamed with a multipart upload, configured from the environment as ``taco`` reads it
(``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ``AZURE_STORAGE_CONNECTION_STRING``…), and appears
only when complete; a failure or Ctrl-C aborts the upload. An existing object is replaced
only with ``force``."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]
#: ``progress=True`` draws a line on stderr; a callable gets ``(bytes_done, bytes_total)``
#: about ten times a second.
Progress = Union[bool, Callable[[int, int], object], None]


@dataclass(frozen=True)
class EntryInfo:
    """One header entry of a written archive."""

    index: int
    offset: int
    length: int
    label: str
    kind: str


@dataclass(frozen=True)
class PackResult:
    """What a pack wrote."""

    path: str
    entries: List[EntryInfo]
    #: Members written, taco's own index members included (not ``TACO_HEADER``).
    members: int
    size: int
    zip64: bool
    #: The planner's notes (merged groups, files left out), one line each.
    notes: List[str] = field(default_factory=list)


def _progress_callback(progress: Progress) -> Optional[Callable[[int, int], object]]:
    if progress is None or progress is False:
        return None
    if callable(progress):
        return progress

    finished = False

    def draw(done: int, total: int) -> None:
        nonlocal finished
        if finished:
            return  # the index and the final sync still run; the line is complete
        share = f"{100 * done // total:3d}%" if total else "   "
        sys.stderr.write(f"\rtaco: packing {share} {done / 2**20:,.1f} of {total / 2**20:,.1f} MiB")
        if total and done >= total:
            sys.stderr.write("\n")
            finished = True
        sys.stderr.flush()

    return draw


def _result(packed: "_native.Packed", out: str) -> PackResult:
    entries = [
        EntryInfo(index=i, offset=o, length=n, label=label, kind=kind)
        for i, ((o, n), (label, kind)) in enumerate(zip(packed.entries, packed.labels))
    ]
    return PackResult(
        # An object URL as given: a path object would fold its "//".
        path=out if "://" in out else os.fspath(packed.path),
        entries=entries,
        members=packed.members,
        size=packed.size,
        zip64=packed.zip64,
        notes=list(packed.notes),
    )


def _run(planner: str, inputs: Sequence[PathLike], out: PathLike, **options: Any) -> PackResult:
    progress = _progress_callback(options.pop("progress", None))
    packed = _native.pack(
        planner,
        [os.fspath(p) for p in inputs],
        os.fspath(out),
        progress=progress,
        **options,
    )
    return _result(packed, os.fspath(out))


def _default_out(input: PathLike, out: Optional[PathLike]) -> PathLike:
    return out if out is not None else _native.default_output(os.fspath(input))


def pack(
    out: PathLike,
    inputs: Sequence[PathLike],
    *,
    entries: Optional[Sequence[Tuple[int, int]]] = None,
    entry_per_file: bool = False,
    no_index: bool = False,
    allow_outside: bool = False,
    force: bool = False,
    progress: Progress = None,
) -> PackResult:
    """``taco pack``: files stored under their names and directories recursively, in the
    order given, with the lookup directory and manifest (unless ``no_index``). ``entries``
    are absolute ``(offset, length)`` ranges; ``entry_per_file`` makes entry *i* file *i*'s
    data. An existing ``out`` is replaced only with ``force``."""
    return _run(
        "pack",
        inputs,
        out,
        entries=list(entries) if entries is not None else None,
        entry_per_file=entry_per_file,
        no_index=no_index,
        allow_outside=allow_outside,
        force=force,
        progress=progress,
    )


def pack_parquet(
    input: PathLike,
    out: Optional[PathLike] = None,
    *,
    layout: str = "split",
    parts: Optional[int] = None,
    force: bool = False,
    progress: Progress = None,
) -> PackResult:
    """``taco pack-parquet``: ``layout="split"`` cuts the file into ≤ 7 self-contained Parquet
    parts of consecutive row groups (``parts`` of them), ``"verbatim"`` stores it whole with
    entry *i* = row group *i*. Default ``out``: ``<stem>.taco`` in the current directory."""
    return _run(
        "parquet", [input], _default_out(input, out), layout=layout, parts=parts, force=force,
        progress=progress,
    )


def pack_tiles(
    directory: PathLike,
    out: Optional[PathLike] = None,
    *,
    force: bool = False,
    progress: Progress = None,
) -> PackResult:
    """``taco pack-tiles``: ``z/x/y.ext`` files by zoom then Hilbert order; entry *k* is the
    span of the *k*-th lowest zoom."""
    return _run("tiles", [directory], _default_out(directory, out), force=force,
                progress=progress)


def pack_splits(
    directory: PathLike,
    out: Optional[PathLike] = None,
    *,
    splits: Optional[Sequence[str]] = None,
    force: bool = False,
    progress: Progress = None,
) -> PackResult:
    """``taco pack-splits``: one span entry per split directory (``train``, ``val``,
    ``test`` first, or the order of ``splits``)."""
    return _run(
        "splits", [directory], _default_out(directory, out),
        splits=list(splits) if splits is not None else None, force=force, progress=progress,
    )


def pack_netcdf(
    directory: PathLike,
    out: Optional[PathLike] = None,
    *,
    skip_invalid: bool = False,
    force: bool = False,
    progress: Progress = None,
) -> PackResult:
    """``taco pack-netcdf``: NetCDF files sorted by their first time; ≤ 7 files are data
    entries, more are grouped into ≤ 7 spans. ``skip_invalid`` leaves out files whose time
    cannot be read (with a note) instead of failing."""
    return _run(
        "netcdf", [directory], _default_out(directory, out), skip_invalid=skip_invalid,
        force=force, progress=progress,
    )
