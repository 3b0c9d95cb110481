#!/usr/bin/env python3
"""Regenerate the sample NetCDF climate files (or write them into DIR).

    python3 examples/data/make_climate.py [DIR]   (default: examples/data/climate)

Five monthly files, 2024-01 .. 2024-05, shaped like an ERA5 2 m temperature download:
`era5_t2m_2024-MM.nc`, NetCDF-4 (HDF5) written by the netCDF4 package, each holding

    time(time)            int32, "hours since 1900-01-01", calendar "gregorian", axis "T",
                          6-hourly from the 1st 00:00 to the last day 18:00 of the month
    latitude(latitude)    5 values, 60N .. 40N
    longitude(longitude)  8 values, 0E .. 17.5E
    t2m(time, latitude, longitude)  float32 kelvin, zlib-compressed

so `taco pack-netcdf examples/data/climate` gives one data entry per month and
`taco query climate.taco --time 2024-03` finds the March file.

Deterministic: the values come from a closed formula (no randomness, no clock), and the
netCDF-C library does not store creation times in the file. This script lives outside the
climate directory so packing that directory sees nothing but the NetCDF files.
"""

from __future__ import annotations

import calendar
import math
import sys
from datetime import datetime
from pathlib import Path

import netCDF4
import numpy as np

YEAR = 2024
MONTHS = range(1, 6)
STEP_HOURS = 6
LATS = [60.0, 55.0, 50.0, 45.0, 40.0]
LONS = [2.5 * i for i in range(8)]
EPOCH = datetime(1900, 1, 1)


def hours_since_epoch(d: datetime) -> int:
    delta = d - EPOCH
    return delta.days * 24 + delta.seconds // 3600


def t2m_field(hours: np.ndarray) -> np.ndarray:
    """Kelvin: colder to the north, a seasonal cycle, a daily cycle and a gentle east-west wave."""
    lat = np.array(LATS)[None, :, None]
    lon = np.array(LONS)[None, None, :]
    h = hours.astype(np.float64)[:, None, None]
    day_of_year = (h / 24.0) % 365.25
    seasonal = -12.0 * np.cos(2 * math.pi * (day_of_year - 15.0) / 365.25)
    daily = 4.0 * np.sin(2 * math.pi * ((h % 24.0) - 9.0) / 24.0)
    wave = 1.5 * np.sin(lon / 5.0 + h / 37.0)
    field = 288.0 - 0.6 * (lat - 40.0) + seasonal + daily + wave
    return np.round(field, 2).astype(np.float32)


def write_month(path: Path, month: int) -> None:
    days = calendar.monthrange(YEAR, month)[1]
    first = hours_since_epoch(datetime(YEAR, month, 1))
    hours = np.arange(first, first + days * 24, STEP_HOURS, dtype=np.int32)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.6"
        ds.title = f"Sample 2 m temperature, {YEAR}-{month:02d} (synthetic, ERA5-like layout)"
        ds.createDimension("longitude", len(LONS))
        ds.createDimension("latitude", len(LATS))
        ds.createDimension("time", None)

        lon = ds.createVariable("longitude", "f4", ("longitude",))
        lon.units = "degrees_east"
        lon.long_name = "longitude"
        lon[:] = LONS
        lat = ds.createVariable("latitude", "f4", ("latitude",))
        lat.units = "degrees_north"
        lat.long_name = "latitude"
        lat[:] = LATS

        t = ds.createVariable("time", "i4", ("time",), zlib=True, chunksizes=(32,))
        t.units = "hours since 1900-01-01"
        t.long_name = "time"
        t.calendar = "gregorian"
        t.axis = "T"
        t[:] = hours

        v = ds.createVariable("t2m", "f4", ("time", "latitude", "longitude"), zlib=True,
                              complevel=6, shuffle=True, chunksizes=(32, len(LATS), len(LONS)))
        v.units = "K"
        v.long_name = "2 metre temperature"
        v[:] = t2m_field(hours)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent / "climate"
    out.mkdir(parents=True, exist_ok=True)
    for month in MONTHS:
        write_month(out / f"era5_t2m_{YEAR}-{month:02d}.nc", month)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
