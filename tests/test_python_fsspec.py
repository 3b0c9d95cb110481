"""taco_archive through the tools Python users read data with: the fsspec filesystem `taco://`
(chained like `zip::`) under pandas, pyarrow.dataset and Dask (process scheduler), and xarray
reading one time step of a remote NetCDF-4 member — each checked against the source files, with
what the server sent counted in its log."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import payload, write_tree
from parquet_fixtures import require_module, write_parquet

taco_archive = require_module("taco_archive")
fsspec = require_module("fsspec")
pd = require_module("pandas")
pa = require_module("pyarrow")
pq = require_module("pyarrow.parquet")
ds_mod = require_module("pyarrow.dataset")
dask_bag = require_module("dask.bag")
xr = require_module("xarray")
netCDF4 = require_module("netCDF4")
require_module("h5netcdf")


@pytest.fixture
def parquet_archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    parts = {}
    for i in range(3):
        p = write_parquet(src / f"part-{i}.parquet", [150, 150], seed=10 + i)
        parts[f"src/part-{i}.parquet"] = pq.read_table(p)
    out = tmp_path / "parts.taco"
    taco_archive.pack(out, [src], entry_per_file=True)
    return out, parts, src


def test_the_taco_protocol_is_registered_and_lists_members(parquet_archive):
    out, parts, src = parquet_archive
    fs = fsspec.filesystem("taco", fo=str(out))
    assert isinstance(fs, taco_archive.fsspec.TacoFileSystem)
    # taco's own members are not listed (a glob must not take the manifest for data)
    assert fs.ls("", detail=False) == ["src"]
    assert fs.info("")["type"] == "directory"
    assert fs.cat("TACO_MANIFEST.parquet")[:4] == b"PAR1"
    assert sorted(fs.ls("src", detail=False)) == sorted(parts)
    assert fs.info("src/part-1.parquet")["size"] == len(fs.cat("src/part-1.parquet"))
    assert fs.cat_file("src/part-1.parquet", start=0, end=4) == b"PAR1"
    assert fs.cat_file("src/part-1.parquet", start=-4) == b"PAR1"
    with pytest.raises(FileNotFoundError):
        fs.open("src/missing.parquet")
    with pytest.raises(OSError, match="read-only"):
        fs.open("src/new.bin", "wb")
    with pytest.raises(taco_archive.InvalidArgumentError, match="client_kwargs"):
        fsspec.filesystem("taco", fo=str(out), target_options={"client_kwargs": {}})
    with pytest.raises(taco_archive.InvalidArgumentError, match="gcs://"):
        fsspec.filesystem("taco", fo="bucket/x.taco", target_protocol="gcs")


def test_pandas_and_pyarrow_dataset_read_members_over_http(
        parquet_archive, nginx_server, remote_env):
    out, parts, src = parquet_archive
    url = nginx_server.put("fsspec-parts.taco", out)
    df = pd.read_parquet(f"taco://src/part-2.parquet::{url}")
    pd.testing.assert_frame_equal(df, pd.read_parquet(src / "part-2.parquet"))
    fs = fsspec.filesystem("taco", fo=url, target_options={"retries": 2})
    dataset = ds_mod.dataset(sorted(parts), filesystem=fs, format="parquet")
    assert dataset.to_table().num_rows == sum(t.num_rows for t in parts.values())


def _rows_by_url(name_and_url):
    # runs in a worker process: opens the archive through a chained fsspec URL there
    import fsspec as worker_fsspec
    import pyarrow.parquet as worker_pq

    name, url = name_and_url
    with worker_fsspec.open(f"taco://{name}::{url}") as f:
        return name, worker_pq.read_table(f).num_rows


def _rows_by_fs(fs_and_name):
    # runs in a worker process with a filesystem object pickled (or forked) from the parent
    import pyarrow.parquet as worker_pq

    fs, name = fs_and_name
    with fs.open(name) as f:
        return name, worker_pq.read_table(f).num_rows


@pytest.mark.parametrize("context", ["spawn", "fork"])
def test_dask_reads_members_in_worker_processes(parquet_archive, nginx_server, remote_env,
                                                context):
    import dask

    out, parts, src = parquet_archive
    url = nginx_server.put(f"fsspec-dask-{context}.taco", out)
    fs = fsspec.filesystem("taco", fo=url)
    fs.ls("src")  # the parent has used it (its client exists) before the workers start
    expected = {n: t.num_rows for n, t in parts.items()}
    with dask.config.set({"multiprocessing.context": context}):
        by_url = dask_bag.from_sequence([(n, url) for n in sorted(parts)], npartitions=3)
        assert dict(by_url.map(_rows_by_url).compute(scheduler="processes",
                                                     num_workers=2)) == expected
        by_fs = dask_bag.from_sequence([(fs, n) for n in sorted(parts)], npartitions=3)
        assert dict(by_fs.map(_rows_by_fs).compute(scheduler="processes",
                                                   num_workers=2)) == expected


def test_xarray_reads_one_time_step_of_a_remote_netcdf_member(tmp_path, nginx_server, remote_env):
    nc = tmp_path / "nc"
    nc.mkdir()
    rng = np.random.default_rng(1)
    values = rng.random((40, 180, 180), dtype=np.float32)
    with netCDF4.Dataset(nc / "t2m.nc", "w", format="NETCDF4") as d:
        d.createDimension("time", 40)
        d.createDimension("lat", 180)
        d.createDimension("lon", 180)
        t = d.createVariable("time", "f8", ("time",))
        t.units, t.calendar = "days since 2024-01-01", "standard"
        t[:] = np.arange(40)
        v = d.createVariable("t2m", "f4", ("time", "lat", "lon"), chunksizes=(1, 180, 180))
        v[:] = values
    write_tree(nc, {"notes.txt": payload(100, 1)})
    out = tmp_path / "nc.taco"
    taco_archive.pack(out, [nc / "t2m.nc", nc / "notes.txt"])
    url = nginx_server.put("fsspec-nc.taco", out)
    data_bytes = values.nbytes  # 5.2 MB
    with taco_archive.open(url) as archive:
        with archive.open_member("t2m.nc") as f, xr.open_dataset(f, engine="h5netcdf") as ds:
            step = ds["t2m"].isel(time=17).values
        received = archive.stats["bytes"]
    assert np.array_equal(step, values[17])
    assert received < data_bytes / 4, f"{received} bytes received for one of 40 steps"
