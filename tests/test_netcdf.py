"""`taco pack-netcdf` and `taco query`: NetCDF files ordered by their CF time coordinate;
<= 7 files give one data entry each (the fetched range IS the .nc file), more give <= 7
contiguous spans balanced by file count; the index carries every file's start/end, and
`taco query` selects files by time.

Inputs come from the reference stack (netCDF4 for NetCDF-4/HDF5, ncgen for NetCDF-3 classic,
64-bit offset and CDF-5); expected times come from netCDF4 + cftime; ranges are checked with
netCDF4 opening the fetched bytes in memory, bsdtar splitting spans, tacozip reading the
header, and unzip/zipfile/7-Zip reading the ZIP.
"""

from __future__ import annotations

import calendar as pycal
import json
import random
import subprocess
import sys
from datetime import datetime, timedelta

import numpy as np
import pytest

from conftest import REPO, assert_taco_error, listing, write_tree
from netcdf_fixtures import (
    canonical_calendar,
    cftime,
    check_netcdf_archive,
    covering_entry,
    describe,
    netCDF4,
    time_order,
    time_values_of,
    write_cdl,
    write_nc,
)
from parquet_fixtures import require_module
from tree_fixtures import (
    check_entry_extracts,
    fails_cleanly,
    meta_path,
    note_lines,
    pack_dir_fails,
)

tacozip = require_module("tacozip")

EXAMPLE = REPO / "examples" / "data" / "climate"
GENERATOR = REPO / "examples" / "data" / "make_climate.py"


def num(dates, units, cal):
    """cftime.date2num for a list of (y, m, d, h) tuples on calendar CAL."""
    return cftime.date2num([cftime.datetime(*d, calendar=cal) for d in dates], units, cal)


def steps(first: datetime, n: int, every: timedelta) -> list[tuple]:
    return [(d.year, d.month, d.day, d.hour, d.minute) for d in (first + k * every for k in range(n))]


def pack(taco, src, out, *args, cwd=None):
    return taco("pack-netcdf", src, "-o", out, *args, cwd=cwd, check=True)


# ---------------------------------------------------------------------------
# inputs: NetCDF-4 written by netCDF4, NetCDF-3 written by ncgen


def make_nc4_mix(root) -> list[dict]:
    """Five NetCDF-4 files in several layouts (plus two non-NetCDF files to be ignored)."""
    out = []
    # ERA5 style: int32 hours since 1900-01-01, 6-hourly, unlimited, chunked + zlib time
    u = "hours since 1900-01-01"
    vals = num(steps(datetime(2021, 7, 1), 31 * 4, timedelta(hours=6)), u, "standard")
    write_nc(root / "era5" / "t2m_2021-07.nc", vals, units=u, calendar="gregorian", dtype="i4",
             zlib=True, chunks=24, attrs={"axis": "T", "standard_name": "time", "long_name": "time"})
    out.append(describe(root / "era5" / "t2m_2021-07.nc", "era5/t2m_2021-07.nc", "time"))

    # CMIP style: monthly means on the noleap calendar with time bounds, NETCDF4_CLASSIC model
    u = "days since 1850-01-01"
    mids = num([(y, m, 15, 12) for y in (2015, 2016) for m in range(1, 13)], u, "noleap")

    def bounds(ds):
        ds.createDimension("bnds", 2)
        b = ds.createVariable("time_bnds", "f8", ("time", "bnds"))
        b[:] = np.stack([mids - 14.5, mids + 14.5], axis=1)

    write_nc(root / "cmip" / "tas_Amon_noleap_201501-201612.nc4", mids, units=u, calendar="noleap",
             fmt="NETCDF4_CLASSIC", attrs={"axis": "T", "standard_name": "time", "bounds": "time_bnds"},
             extra=bounds)
    out.append(describe(root / "cmip" / "tas_Amon_noleap_201501-201612.nc4",
                        "cmip/tas_Amon_noleap_201501-201612.nc4", "time"))

    # CMIP style: daily on 360_day, including 2005-02-29 and 2005-02-30
    vals = num([(2005, 2, d, 12) for d in range(1, 31)], u, "360_day")
    write_nc(root / "cmip" / "pr_day_360day_200502.cdf", vals, units=u, calendar="360_day",
             zlib=True, chunks=8, attrs={"axis": "T", "standard_name": "time"})
    out.append(describe(root / "cmip" / "pr_day_360day_200502.cdf", "cmip/pr_day_360day_200502.cdf", "time"))

    # found only through axis = "T": int64 seconds since 1970 named valid_time
    u = "seconds since 1970-01-01"
    vals = num(steps(datetime(2023, 9, 10), 24, timedelta(hours=1)), u, "proleptic_gregorian")
    write_nc(root / "valid_time_only.nc4", vals, units=u, calendar="proleptic_gregorian",
             name="valid_time", dtype="i8", attrs={"axis": "T"})
    out.append(describe(root / "valid_time_only.nc4", "valid_time_only.nc4", "valid_time"))

    # found only through standard_name = "time": variable `t`, no calendar attribute
    u = "minutes since 2010-06-01 00:00:00"
    write_nc(root / "stdname_only.nc", np.arange(0, 30 * 1440, 180), units=u, calendar=None,
             name="t", attrs={"standard_name": "time"})
    out.append(describe(root / "stdname_only.nc", "stdname_only.nc", "t"))

    write_tree(root, {"README.txt": b"not a netcdf file\n", "era5/request.json": b"{}\n"})
    return out


def make_classic_mix(root) -> list[dict]:
    """NetCDF-3 classic, 64-bit offset and 64-bit data (CDF-5) files made by ncgen."""
    out = []
    u = "hours since 1900-01-01"
    vals = num(steps(datetime(1999, 12, 31), 9, timedelta(hours=6)), u, "standard")[::-1]  # decreasing
    write_cdl(root / "classic.nc", "classic", vals, units=u, calendar="standard", ctype="int")
    out.append(describe(root / "classic.nc", "classic.nc", "time"))

    # all_leap: 2001-02-29 exists
    write_cdl(root / "offset64.nc", "64-bit offset", [424.0 + 0.5 * k for k in range(6)],
              units="days since 2000-01-01", calendar="all_leap")
    out.append(describe(root / "offset64.nc", "offset64.nc", "time"))

    write_cdl(root / "cdf5.nc", "nc5", [1_700_000_000 + 3600 * k for k in range(48)],
              units="seconds since 1970-01-01 00:00:00", calendar=None, ctype="int64")
    out.append(describe(root / "cdf5.nc", "cdf5.nc", "time"))
    return out


@pytest.fixture(scope="module")
def nc4_mix(taco, tmp_path_factory):
    base = tmp_path_factory.mktemp("nc4mix")
    src = base / "mix"
    files = make_nc4_mix(src)
    out = base / "mix.taco"
    cp = pack(taco, src, out)
    return src, out, files, cp


@pytest.fixture(scope="module")
def classic_mix(taco, tmp_path_factory):
    base = tmp_path_factory.mktemp("classicmix")
    src = base / "classic"
    files = make_classic_mix(src)
    out = base / "classic.taco"
    cp = pack(taco, src, out)
    return src, out, files, cp


@pytest.fixture(params=["nc4", "classic"])
def small(request):
    return request.getfixturevalue({"nc4": "nc4_mix", "classic": "classic_mix"}[request.param])


# ---------------------------------------------------------------------------
# <= 7 files: one data entry per file


def test_small_archive_layout_and_index(taco, small):
    _src, out, files, _cp = small
    check_netcdf_archive(taco, out, files, tacozip)


def test_small_data_entries_open_as_netcdf(taco, small, tmp_path):
    _src, out, files, _cp = small
    index = json.loads(meta_path(out).read_bytes())
    raw = out.read_bytes()
    for e, f in zip(index["entries"], time_order(files)):
        data = raw[e["offset"]:e["offset"] + e["length"]]
        assert data == f["bytes"], f"entry {e['index']} is not {f['name']}"
        got = time_values_of(data)
        assert np.array_equal(got[f["time_variable"]], f["values"]), f"entry {e['index']}: time values"
        got_path = tmp_path / f"got-{e['index']}.nc"
        taco("get", out, "--entry", e["index"], "-o", got_path, check=True)
        assert got_path.read_bytes() == data, f"taco get --entry {e['index']}"


def test_time_variable_found_by_axis_and_standard_name(nc4_mix):
    _src, out, _files, _cp = nc4_mix
    members = {m["name"]: m for m in json.loads(meta_path(out).read_bytes())["members"]}
    assert members["valid_time_only.nc4"]["time_variable"] == "valid_time"
    assert members["stdname_only.nc"]["time_variable"] == "t"
    assert members["cmip/pr_day_360day_200502.cdf"]["end"] == "2005-02-30T12:00:00"


def test_non_netcdf_files_ignored_with_one_note(nc4_mix, classic_mix):
    _src, _out, _files, cp = nc4_mix
    notes = note_lines(cp.stderr)
    assert len(notes) == 1, f"expected one note line, stderr: {cp.stderr!r}"
    assert not note_lines(classic_mix[3].stderr), "nothing to ignore, nothing to note"


def test_eight_files_make_seven_spans(taco, nc4_mix, classic_mix, tmp_path):
    src = tmp_path / "eight"
    files = []
    for s_src, _out, s_files, _cp in (nc4_mix, classic_mix):
        for f in s_files:
            (src / f["name"]).parent.mkdir(parents=True, exist_ok=True)
            (src / f["name"]).write_bytes(f["bytes"])
            files.append({**f, "path": src / f["name"]})
    out = tmp_path / "eight.taco"
    pack(taco, src, out)
    index, _body = check_netcdf_archive(taco, out, files, tacozip)
    assert sorted(len(e["files"]) for e in index["entries"]) == [1, 1, 1, 1, 1, 1, 2]


@pytest.mark.parametrize("cal", ["standard", "gregorian", "proleptic_gregorian", "noleap", "365_day",
                                 "all_leap", "366_day", "360_day", None])
def test_calendars(taco, tmp_path, cal):
    """Days 59 and 365.75 after 2000-01-01 fall on different dates in every calendar family."""
    src = tmp_path / "cal"
    write_nc(src / "x.nc", [365.75, 59.0, 200.0], units="days since 2000-01-01", calendar=cal)
    f = describe(src / "x.nc", "x.nc", "time")
    out = tmp_path / "cal.taco"
    pack(taco, src, out)
    index, _ = check_netcdf_archive(taco, out, [f], tacozip)
    m = index["members"][0]
    assert canonical_calendar(m["calendar"]) == canonical_calendar(cal)


UNITS = [
    ("hours since 1900-01-01 00:00:00.0", "gregorian", [1_066_800, 1_066_830]),  # ERA5 (CDS, NetCDF-3)
    ("days since 1850-1-1", "noleap", [60225.5, 60300.0]),  # CMIP files often skip the zero padding
    ("days since 1850-1-1 0:0:0", "360_day", [56000.0, 56010.25]),
    ("seconds since 1970-01-01T00:00:00Z", "standard", [1_700_000_000, 1_700_086_400]),
    ("minutes since 2000-01-01 00:00:00 UTC", "proleptic_gregorian", [0, 1440 * 366]),
    ("hours since 2000-01-01 06:00:00 +01:00", "standard", [0, 18]),
    ("hours since 2000-01-01 06:00", "standard", [0, 1.5]),
]


@pytest.mark.parametrize("units,cal,values", UNITS, ids=[u for u, _c, _v in UNITS])
def test_units_spellings(taco, tmp_path, units, cal, values):
    src = tmp_path / "units"
    write_nc(src / "u.nc", values, units=units, calendar=cal, data_var=False)
    f = describe(src / "u.nc", "u.nc", "time")
    out = tmp_path / "units.taco"
    pack(taco, src, out)
    check_netcdf_archive(taco, out, [f], tacozip)


def test_time_coordinate_priority(taco, tmp_path):
    """axis = "T" beats standard_name = "time", which beats a variable merely named `time`."""
    src = tmp_path / "prio"

    def decoys(with_axis):
        def add(ds):
            ds.createDimension("ref", 2)
            s = ds.createVariable("forecast_time", "f8", ("ref",))
            s.units = "days since 2010-01-01"
            s.standard_name = "time"
            s[:] = [3.0, 1.0]
            if with_axis:
                ds.createDimension("vt", 3)
                v = ds.createVariable("valid_time", "i8", ("vt",))
                v.units = "seconds since 1970-01-01"
                v.axis = "T"
                v[:] = num([(2024, 1, 5, 0), (2024, 1, 5, 6), (2024, 1, 5, 12)],
                           "seconds since 1970-01-01", "standard")
        return add

    u = "hours since 1900-01-01"
    plain = num([(1999, 3, 1, 0), (1999, 3, 2, 0)], u, "standard")
    write_nc(src / "axis.nc", plain, units=u, data_var=False, extra=decoys(True))
    write_nc(src / "stdname.nc", plain, units=u, data_var=False, extra=decoys(False))
    write_nc(src / "named.nc", plain + 24 * 365, units=u, data_var=False)
    files = [describe(src / "axis.nc", "axis.nc", "valid_time"),
             describe(src / "stdname.nc", "stdname.nc", "forecast_time"),
             describe(src / "named.nc", "named.nc", "time")]
    out = tmp_path / "prio.taco"
    pack(taco, src, out)
    index, _ = check_netcdf_archive(taco, out, files, tacozip)
    assert [m["name"] for m in index["members"]] == ["named.nc", "stdname.nc", "axis.nc"]


# ---------------------------------------------------------------------------
# > 7 files: 7 spans of time-ordered files


@pytest.fixture(scope="module")
def twenty(taco, tmp_path_factory):
    """20 files, names random so that name order != time order; two share a start time."""
    base = tmp_path_factory.mktemp("twenty")
    src = base / "series"
    rng = random.Random(20)
    names = set()
    while len(names) < 20:
        names.add(f"{rng.getrandbits(24):06x}.nc")
    names = sorted(names)
    rng.shuffle(names)
    files = []
    for k, name in enumerate(names):
        month = k if k != 6 else 5  # files 5 and 6 start at the same instant
        y, m = 1990 + month // 12, 1 + month % 12
        n = 5 + rng.randrange(20) + (k == 6) * 7
        if k % 3 == 2:
            u, cal, fmt = "days since 1850-01-01", "standard", "NETCDF3_64BIT_OFFSET"
        else:
            u, cal, fmt = "hours since 1900-01-01", "gregorian", "NETCDF4"
        vals = num(steps(datetime(y, m, 1), n, timedelta(days=1)), u, "standard")
        write_nc(src / name, vals, units=u, calendar=cal, fmt=fmt)
        files.append(describe(src / name, name, "time"))
    order = [f["name"] for f in time_order(files)]
    assert order != sorted(order), "fixture: name order must differ from time order"
    out = base / "series.taco"
    pack(taco, src, out)
    return src, out, files


def test_twenty_files_layout_and_index(taco, twenty):
    _src, out, files = twenty
    index, _body = check_netcdf_archive(taco, out, files, tacozip)
    assert sorted(len(e["files"]) for e in index["entries"]) == [2, 3, 3, 3, 3, 3, 3]
    tie = [m for m in index["members"] if m["start"].startswith("1990-06-01")]
    assert [m["name"] for m in tie] == sorted(m["name"] for m in tie) and len(tie) == 2


@pytest.mark.parametrize("i", range(7))
def test_twenty_files_span_extracts(taco, twenty, tmp_path, i):
    _src, out, files = twenty
    index = json.loads(meta_path(out).read_bytes())
    e = index["entries"][i]
    by_name = {f["name"]: f["bytes"] for f in files}
    check_entry_extracts(taco, out, e, {n: by_name[n] for n in e["files"]}, tmp_path)


# ---------------------------------------------------------------------------
# query


MONTHS = [(y, m) for y in (2023, 2024) for m in range(1, 13)]


def month_name(y, m):
    return f"{pycal.month_abbr[m].lower()}-{y}.nc"  # apr-2023.nc: name order != time order


def names(*months):
    return [month_name(y, m) for y, m in months]


@pytest.fixture(scope="module")
def monthly(taco, tmp_path_factory):
    """One file per month 2023-01 .. 2024-12, 6-hourly from the 1st 00:00 to the last day
    18:00, so consecutive files are 6 hours apart and no boundary instant is in two files.
    Units alternate between hours since 1900 (int) and days since 2000 (double)."""
    base = tmp_path_factory.mktemp("monthly")
    src = base / "era5"
    files = []
    for k, (y, m) in enumerate(MONTHS):
        u, dtype = (("hours since 1900-01-01", "i4") if k % 2 == 0
                    else ("days since 2000-01-01 00:00:00", "f8"))
        n = pycal.monthrange(y, m)[1] * 4
        vals = num(steps(datetime(y, m, 1), n, timedelta(hours=6)), u, "standard")
        write_nc(src / month_name(y, m), vals, units=u, calendar="standard", dtype=dtype)
        f = describe(src / month_name(y, m), month_name(y, m), "time")
        assert f["start"] == f"{y}-{m:02d}-01T00:00:00"
        assert f["end"] == f"{y}-{m:02d}-{pycal.monthrange(y, m)[1]:02d}T18:00:00"
        files.append(f)
    out = base / "era5.taco"
    pack(taco, src, out)
    return src, out, files


QUERIES = [
    (["--time", "2024-03"], names((2024, 3))),
    (["--time", "2023"], names(*MONTHS[:12])),
    (["--time", "2024"], names(*MONTHS[12:])),
    # half-open period: March starts exactly where February's period ends
    (["--time", "2024-02"], names((2024, 2))),
    (["--time", "2024-02-29"], names((2024, 2))),
    (["--time", "2024-03-01"], names((2024, 3))),
    # instants on a boundary: the first step of March, the last step of February, the gap
    (["--time", "2024-03-01T00:00"], names((2024, 3))),
    (["--time", "2024-03-01T00:00:00"], names((2024, 3))),
    (["--time", "2024-02-29T18:00"], names((2024, 2))),
    (["--time", "2024-02-29T21:00:00"], []),
    (["--time", "2023-07-15T06:00"], names((2023, 7))),
    (["--from", "2023-11", "--to", "2024-02"], names((2023, 11), (2023, 12), (2024, 1), (2024, 2))),
    (["--from", "2023-12-31", "--to", "2024-01-01"], names((2023, 12), (2024, 1))),
    (["--from", "2024-11"], names((2024, 11), (2024, 12))),
    (["--to", "2023-02"], names((2023, 1), (2023, 2))),
    (["--from", "2023-06", "--to", "2023-06"], names((2023, 6))),
    (["--time", "2030"], []),
    (["--time", "1999-12-31"], []),
    (["--from", "2022", "--to", "2022-12"], []),
]


def qid(q):
    return " ".join(q[0])


@pytest.mark.parametrize("args,want", QUERIES, ids=[qid(q) for q in QUERIES])
def test_query_json(taco, monthly, args, want):
    _src, out, files = monthly
    cp = taco("query", out, *args, "--json", check=bool(want))
    got = json.loads(cp.stdout)["files"]
    assert [g["name"] for g in got] == want
    if not want:  # nothing overlaps: still the JSON shape, and exit 1 with a line saying so
        assert cp.returncode == 1 and cp.stderr.startswith("taco: ")
        assert "no file overlaps" in cp.stderr
    index = json.loads(meta_path(out).read_bytes())
    raw = out.read_bytes()
    by_name = {f["name"]: f for f in files}
    for g in got:
        f = by_name[g["name"]]
        assert raw[g["offset"]:g["offset"] + g["length"]] == f["bytes"], f"{g['name']}: range"
        assert (g["start"], g["end"]) == (f["start"], f["end"]), g
        assert g["entry"] == covering_entry(index, g["offset"], g["length"]), g
        assert g["entry"] is not None


@pytest.mark.parametrize("args,want", [QUERIES[i] for i in (0, 1, 9, 11)],
                         ids=[qid(QUERIES[i]) for i in (0, 1, 9, 11)])
def test_query_text(taco, monthly, args, want):
    _src, out, files = monthly
    cp = taco("query", out, *args, check=bool(want))
    assert cp.returncode == (0 if want else 1), cp.stderr
    known = {f["name"] for f in files}
    found = [tok for line in cp.stdout.splitlines() for tok in line.split() if tok in known]
    assert found == want, cp.stdout
    if not want:
        assert cp.stdout.strip() == ""


def test_monthly_layout(taco, monthly):
    _src, out, files = monthly
    index, _ = check_netcdf_archive(taco, out, files, tacozip)
    assert sorted(len(e["files"]) for e in index["entries"]) == [3, 3, 3, 3, 4, 4, 4]


def test_query_on_data_entries(taco, nc4_mix):
    """With <= 7 files the covering entry of a file is its own data entry."""
    _src, out, files, _cp = nc4_mix
    got = json.loads(taco("query", out, "--from", "2005", "--to", "2015-03", "--json",
                          check=True).stdout)["files"]
    assert [g["name"] for g in got] == ["cmip/pr_day_360day_200502.cdf", "stdname_only.nc",
                                        "cmip/tas_Amon_noleap_201501-201612.nc4"]
    index = json.loads(meta_path(out).read_bytes())
    for g in got:
        e = index["entries"][g["entry"]]
        assert (e["offset"], e["length"]) == (g["offset"], g["length"]), g
        assert e["files"] == [g["name"]]


# ---------------------------------------------------------------------------
# the example data


def nc_content(path):
    """Everything netCDF4 sees in a file: dimensions, attributes, variables and values."""
    with netCDF4.Dataset(path) as ds:
        dims = {n: (len(d), d.isunlimited()) for n, d in ds.dimensions.items()}
        gattrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        variables = {}
        for n, v in ds.variables.items():
            v.set_auto_maskandscale(False)
            variables[n] = (str(v.dtype), v.dimensions, {k: v.getncattr(k) for k in v.ncattrs()},
                            np.asarray(v[:]).tobytes(), v.filters())
        return ds.data_model, dims, gattrs, variables


def example_files():
    return sorted(EXAMPLE.iterdir())


def test_example_data_is_what_its_generator_writes(tmp_path):
    paths = example_files()
    assert 4 <= len(paths) <= 6
    assert all(p.suffix == ".nc" and p.stat().st_size < 30_000 for p in paths)
    assert all(p.read_bytes()[:8] == b"\x89HDF\r\n\x1a\n" for p in paths), "NetCDF-4 files expected"
    regen = tmp_path / "regen"
    cp = subprocess.run([sys.executable, GENERATOR, regen], capture_output=True, text=True)
    assert cp.returncode == 0, cp.stderr
    assert [p.name for p in sorted(regen.iterdir())] == [p.name for p in paths]
    for p in paths:
        assert nc_content(regen / p.name) == nc_content(p), f"{p.name} differs from the generator's output"
    starts = [describe(p, p.name, "time")["start"] for p in paths]
    assert len({s[:7] for s in starts}) == len(paths), "one month per file"


def test_example_default_output_and_query(taco, tmp_path, work):
    cp = taco("pack-netcdf", EXAMPLE, cwd=work, check=True)
    assert listing(work) == {"climate.taco", "climate.taco.meta.json"}
    assert note_lines(cp.stderr) == [], "the example holds nothing but NetCDF files"
    out = work / "climate.taco"
    files = [describe(p, p.name, "time") for p in example_files()]
    check_netcdf_archive(taco, out, files, tacozip)
    got = json.loads(taco("query", out, "--time", "2024-03", "--json", check=True).stdout)["files"]
    assert [g["name"] for g in got] == ["era5_t2m_2024-03.nc"]
    assert got[0]["entry"] == 2
    assert got[0]["start"] == "2024-03-01T00:00:00" and got[0]["end"] == "2024-03-31T18:00:00"


def test_force_and_quiet(taco, tmp_path, classic_mix):
    src, _out, files, _cp = classic_mix
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "c.taco"
    out.write_bytes(b"precious")
    assert_taco_error(taco("pack-netcdf", src, "-o", out), "exists")
    assert out.read_bytes() == b"precious"
    assert listing(outdir) == {"c.taco"}, "no .meta.json may be written when OUT exists"
    cp = taco("pack-netcdf", src, "-o", out, "--force", "-q", check=True)
    assert cp.stdout == ""
    assert listing(outdir) == {"c.taco", "c.taco.meta.json"}
    check_netcdf_archive(taco, out, files, tacozip)


# ---------------------------------------------------------------------------
# bad input: one line naming the file, exit 1, nothing written


def good_file(src):
    u = "hours since 1900-01-01"
    path = write_nc(src / "good.nc", num([(2020, 1, 1, 0), (2020, 1, 1, 6)], u, "standard"), units=u)
    return describe(path, "good.nc", "time")


def bad_text(p):
    p.write_bytes(b"CDF? no: this is a text file with a .nc name\n")


def bad_plain_text(p):
    p.write_text("station,temperature\n1,280.5\n")


def bad_truncated(p):
    write_nc(p.with_name("full.tmp"), np.arange(100.0), units="days since 2000-01-01")
    full = p.with_name("full.tmp").read_bytes()
    p.with_name("full.tmp").unlink()
    p.write_bytes(full[:64])


def bad_no_time(p):
    with netCDF4.Dataset(p, "w") as ds:
        ds.createDimension("lat", 3)
        v = ds.createVariable("lat", "f4", ("lat",))
        v.units = "degrees_north"
        v[:] = [1.0, 2.0, 3.0]
        w = ds.createVariable("elevation", "f4", ("lat",))
        w.units = "m"
        w[:] = [10.0, 20.0, 30.0]


def bad_units(p):
    write_nc(p, [1.0, 2.0], units="fortnights since 2000-01-01")


def bad_calendar(p):
    write_nc(p, [1.0, 2.0], units="days since 2000-01-01", calendar="martian")


def bad_no_units(p):
    write_nc(p, [1.0, 2.0], units=None)


BAD = {
    "text": ("notes.nc", bad_text, ("netcdf",)),
    "plain-text": ("stations.nc", bad_plain_text, ("netcdf",)),
    "truncated": ("truncated.nc4", bad_truncated, ()),
    "no-time": ("elevation.nc", bad_no_time, ("time",)),
    "units": ("fortnightly.nc", bad_units, ("fortnights",)),
    "calendar": ("mars.cdf", bad_calendar, ("martian",)),
    "no-units": ("unitless.nc", bad_no_units, ()),
}


def make_bad(src, kind):
    name, write, needles = BAD[kind]
    (src / "sub").mkdir(parents=True, exist_ok=True)
    write(src / "sub" / name)
    return name, needles


@pytest.mark.parametrize("kind", BAD)
def test_bad_file_fails(taco, tmp_path, work, kind):
    src = tmp_path / "data"
    good_file(src)
    name, needles = make_bad(src, kind)
    pack_dir_fails(taco, work, "pack-netcdf", src, needles=(name, *needles))


@pytest.mark.parametrize("kind", BAD)
def test_skip_invalid(taco, tmp_path, kind):
    src = tmp_path / "data"
    good = good_file(src)
    name, _needles = make_bad(src, kind)
    out = tmp_path / "ok.taco"
    cp = pack(taco, src, out, "--skip-invalid")
    notes = note_lines(cp.stderr)
    assert len(notes) == 1 and name in notes[0], f"one note naming {name}: {cp.stderr!r}"
    check_netcdf_archive(taco, out, [good], tacozip)


def test_skip_invalid_with_nothing_valid(taco, tmp_path, work):
    src = tmp_path / "data"
    make_bad(src, "text")
    make_bad(src, "units")
    pack_dir_fails(taco, work, "pack-netcdf", src, "--skip-invalid")


@pytest.mark.parametrize("how", ["empty", "no-netcdf"])
def test_nothing_to_pack(taco, tmp_path, work, how):
    src = tmp_path / "data"
    src.mkdir()
    if how == "no-netcdf":
        write_tree(src, {"a.txt": b"a", "b/c.csv": b"1,2\n"})
    pack_dir_fails(taco, work, "pack-netcdf", src)


def test_missing_dir(taco, tmp_path, work):
    pack_dir_fails(taco, work, "pack-netcdf", tmp_path / "nope-data", needles=("nope-data",))


def test_query_non_netcdf_archives(taco, tmp_path, work):
    splits = tmp_path / "ml.taco"
    taco("pack-splits", REPO / "examples" / "data" / "ml_data", "-o", splits, check=True)
    fails_cleanly(taco, work, "query", splits, "--time", "2024", needles=("ml.taco",))
    src = tmp_path / "plain"
    write_tree(src, {"a.nc": b"x"})
    plain = tmp_path / "plain.taco"
    taco("pack", plain, src, check=True)
    fails_cleanly(taco, work, "query", plain, "--time", "2024", needles=("plain.taco",))
    fails_cleanly(taco, work, "query", tmp_path / "missing.taco", "--time", "2024",
                  needles=("missing.taco",))


@pytest.mark.parametrize("args", [[], ["--time", "2024", "--from", "2023"], ["--time", "2024", "--to", "2025"]],
                         ids=["no-time", "time-and-from", "time-and-to"])
def test_query_usage(taco, nc4_mix, args):
    _src, out, _files, _cp = nc4_mix
    cp = taco("query", out, *args)
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    assert cp.stdout == ""


@pytest.mark.parametrize("t", ["2024-13", "24-01", "2024-1", "2024-01-32", "2024-01-15T25:00", "yesterday"])
def test_query_bad_time(taco, nc4_mix, t):
    _src, out, _files, _cp = nc4_mix
    cp = taco("query", out, "--time", t)
    assert cp.returncode in (1, 2), (cp.returncode, cp.stderr)
    assert t in cp.stderr, cp.stderr
    assert cp.stdout == ""
