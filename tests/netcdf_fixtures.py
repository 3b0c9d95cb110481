"""NetCDF inputs and independent checks for the `taco pack-netcdf` and `taco query` tests.

Inputs are written by the reference NetCDF stack, never by taco: NetCDF-4 (HDF5) and
NetCDF-3 files by the `netCDF4` Python package, NetCDF-3 classic / 64-bit offset / CDF-5
files by `ncgen` from CDL text. What a file's time range is comes from `netCDF4` (the raw
values of the time variable) and `cftime.num2date` (units and calendar); the ZIP layout comes
from Python's zipfile and our own local-header parsing, the TACO header from tacozip and
conftest.parse_taco_header.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from conftest import (
    HEADER_SIZE,
    MAX_ENTRIES,
    check_7z,
    check_unzip,
    check_zipfile,
    parse_taco_header,
    require_tool,
    run_tool,
)
from parquet_fixtures import require_module
from tree_fixtures import check_index_member

netCDF4 = require_module("netCDF4")
cftime = require_module("cftime")

ISO = "%Y-%m-%dT%H:%M:%S"

# calendar spellings that mean the same calendar (CF conventions)
CALENDAR_ALIASES = {"gregorian": "standard", "365_day": "noleap", "366_day": "all_leap"}


def canonical_calendar(name: str | None) -> str:
    name = (name or "standard").lower()
    return CALENDAR_ALIASES.get(name, name)


def iso(d) -> str:
    return d.strftime(ISO)


# ---------------------------------------------------------------------------
# writing inputs


def write_nc(path: Path, values, *, units: str | None, calendar: str | None = "standard",
             name: str = "time", dim: str | None = None, dtype: str = "f8", attrs=None,
             fmt: str = "NETCDF4", zlib: bool = False, chunks: int | None = None,
             unlimited: bool = True, data_var: bool = True, extra=None) -> Path:
    """A file with a 1-D time variable NAME(DIM) holding VALUES, written by netCDF4.

    units/calendar None leave that attribute out; attrs adds more attributes (axis,
    standard_name, ...). data_var adds a small float32 field(time, lat, lon) like a real
    climate file. extra(ds) may add anything else before the file is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dim = dim or name
    values = np.asarray(values, dtype=dtype)
    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        ds.Conventions = "CF-1.8"
        ds.createDimension(dim, None if unlimited else len(values))
        kw = {}
        if fmt.startswith("NETCDF4"):
            kw["zlib"] = zlib
            if chunks:
                kw["chunksizes"] = (chunks,)
        t = ds.createVariable(name, dtype, (dim,), **kw)
        if units is not None:
            t.units = units
        if calendar is not None:
            t.calendar = calendar
        for k, v in (attrs or {}).items():
            t.setncattr(k, v)
        t[:] = values
        if data_var:
            ds.createDimension("lat", 3)
            ds.createDimension("lon", 4)
            lat = ds.createVariable("lat", "f4", ("lat",))
            lat.units = "degrees_north"
            lat[:] = [10.0, 20.0, 30.0]
            lon = ds.createVariable("lon", "f4", ("lon",))
            lon.units = "degrees_east"
            lon[:] = [0.0, 90.0, 180.0, 270.0]
            vkw = {"zlib": True} if fmt.startswith("NETCDF4") else {}
            v = ds.createVariable("t2m", "f4", (dim, "lat", "lon"), **vkw)
            v.units = "K"
            n = len(values)
            v[:] = (270.0 + np.arange(n * 12, dtype="f4").reshape(n, 3, 4) % 31).astype("f4")
        if extra:
            extra(ds)
    return path


def cdl_value(v, integer: bool) -> str:
    return str(int(v)) if integer else repr(float(v))


def write_cdl(path: Path, kind: str, values, *, units: str, calendar: str | None,
              name: str = "time", ctype: str = "double") -> Path:
    """A NetCDF-3 file made by `ncgen -k KIND` (classic, 64-bit offset, 64-bit data) from CDL."""
    ncgen = require_tool("ncgen")
    path.parent.mkdir(parents=True, exist_ok=True)
    integer = ctype in ("int", "short", "int64")
    cal = f'    {name}:calendar = "{calendar}" ;\n' if calendar is not None else ""
    n = len(values)
    field = ", ".join(str(250 + (k % 40)) for k in range(n * 2))
    cdl = (
        f"netcdf {path.stem.replace('-', '_')} {{\n"
        f"dimensions:\n  {name} = UNLIMITED ;\n  station = 2 ;\n"
        f"variables:\n"
        f"  {ctype} {name}({name}) ;\n"
        f'    {name}:units = "{units}" ;\n'
        f"{cal}"
        f'    {name}:long_name = "time" ;\n'
        f"  float temperature({name}, station) ;\n"
        f'    temperature:units = "K" ;\n'
        f'// global attributes:\n    :Conventions = "CF-1.8" ;\n'
        f"data:\n"
        f"  {name} = {', '.join(cdl_value(v, integer) for v in values)} ;\n"
        f"  temperature = {field} ;\n"
        f"}}\n"
    )
    cdl_path = path.with_name(path.name + ".cdl.tmp")
    cdl_path.write_text(cdl)
    try:
        run_tool(ncgen, "-k", kind, "-o", path, cdl_path, check=True)
    finally:
        cdl_path.unlink()
    return path


# ---------------------------------------------------------------------------
# what the reference library says about a file


def describe(path: Path, name: str, time_var: str) -> dict:
    """netCDF4 + cftime's view of a file: the fields pack-netcdf must put in its index."""
    with netCDF4.Dataset(path) as ds:
        v = ds.variables[time_var]
        v.set_auto_maskandscale(False)
        values = np.asarray(v[:])
        units = v.getncattr("units")
        calendar = v.getncattr("calendar") if "calendar" in v.ncattrs() else None
    cal = calendar or "standard"
    first, last = cftime.num2date([values.min(), values.max()], units, cal)
    return {
        "name": name,
        "path": path,
        "time_variable": time_var,
        "units": units,
        "calendar": calendar,
        "steps": int(values.size),
        "start": iso(first),
        "end": iso(last),
        "values": values,
        "bytes": path.read_bytes(),
    }


def time_order(files: list[dict]) -> list[dict]:
    """pack-netcdf's member order: start time, then name (byte order)."""
    return sorted(files, key=lambda f: (f["start"], f["name"].encode()))


def time_values_of(data: bytes) -> dict[str, np.ndarray]:
    """Open NetCDF bytes in memory (no file) and return every 1-D variable's raw values."""
    out = {}
    with netCDF4.Dataset("in-memory.nc", memory=data) as ds:
        for name, v in ds.variables.items():
            if v.ndim == 1:
                v.set_auto_maskandscale(False)
                out[name] = np.asarray(v[:])
    return out


# ---------------------------------------------------------------------------
# reading a packed archive


def check_netcdf_archive(taco, archive: Path, files: list[dict], tacozip) -> tuple[dict, list]:
    """Everything a pack-netcdf archive must satisfy, given the files that should be in it.

    TACO_INDEX.json is the last member and equals OUT.meta.json; the index is planner
    "netcdf"; members are exactly FILES in time order with zipfile's offsets, lengths and
    CRCs and with time variable, units, calendar, step count, start and end agreeing with
    netCDF4 + cftime; the header (ours and tacozip's reading) lists the index entries; with
    <= 7 files entry i is the data of file i, else <= 7 balanced contiguous spans that
    cover all files in order; zipfile, unzip -t, 7zz t and `taco validate --level deep`
    accept the archive. Returns (index, archive members between header and index)."""
    want = time_order(files)
    meta_bytes, zms = check_index_member(archive)
    body = zms[1:-1]

    index = json.loads(meta_bytes)
    assert (index["format"], index["version"], index["planner"]) == ("taco-index", 1, "netcdf")
    assert index["netcdf"]["files"] == len(want)

    # members: the files, in time order, each byte-identical at its data range
    assert [m.name for m in body] == [f["name"] for f in want], "archive members / order"
    assert [m["name"] for m in index["members"]] == [f["name"] for f in want], "index members / order"
    raw = archive.read_bytes()
    for m, zm, f in zip(index["members"], body, want):
        assert (m["data_offset"], m["length"], m["crc32"]) == (zm.data_offset, zm.size, zm.crc), m
        assert raw[m["data_offset"]:m["data_offset"] + m["length"]] == f["bytes"], (
            f"{f['name']}: data range is not the file")
        assert m["time_variable"] == f["time_variable"], m
        assert m["units"] == f["units"], m
        assert canonical_calendar(m["calendar"]) == canonical_calendar(f["calendar"]), m
        assert m["steps"] == f["steps"], m
        assert (m["start"], m["end"]) == (f["start"], f["end"]), (
            f"{f['name']}: index says {m['start']}..{m['end']}, cftime says {f['start']}..{f['end']}")

    # entries
    entries = index["entries"]
    pairs = [(e["offset"], e["length"]) for e in entries]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    with open(archive, "rb") as fh:
        assert parse_taco_header(fh.read(HEADER_SIZE)) == pairs
    assert [tuple(e) for e in tacozip.read_header(str(archive))] == pairs
    for e in entries:
        assert isinstance(e["label"], str) and e["label"], e

    if len(want) <= MAX_ENTRIES:
        assert len(entries) == len(want)
        for e, zm, f in zip(entries, body, want):
            assert e["kind"] == "data", e
            assert (e["offset"], e["length"]) == (zm.data_offset, zm.size), f"entry {e['index']}"
            assert e["files"] == [f["name"]], e
            assert (e["start"], e["end"]) == (f["start"], f["end"]), e
    else:
        assert len(entries) == MAX_ENTRIES, "more than 7 files: 7 spans"
        sizes = [len(e["files"]) for e in entries]
        assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1, f"spans not balanced by count: {sizes}"
        assert [n for e in entries for n in e["files"]] == [f["name"] for f in want], (
            "spans must cover the files contiguously in time order")
        k = 0
        for e in entries:
            inside = body[k:k + len(e["files"])]
            k += len(inside)
            assert e["kind"] == "span", e
            assert e["offset"] == inside[0].header_offset, f"entry {e['index']} start"
            assert e["offset"] + e["length"] == inside[-1].data_end, f"entry {e['index']} end"
            group = want[k - len(inside):k]
            assert e["start"] == min(f["start"] for f in group), e
            assert e["end"] == max(f["end"] for f in group), e

    check_zipfile(archive)
    check_unzip(archive)
    check_7z(archive)
    taco("validate", "--level", "deep", archive, check=True)
    return index, body


def covering_entry(index: dict, offset: int, length: int):
    hits = [e["index"] for e in index["entries"]
            if e["offset"] <= offset and offset + length <= e["offset"] + e["length"]]
    assert len(hits) <= 1
    return hits[0] if hits else None
