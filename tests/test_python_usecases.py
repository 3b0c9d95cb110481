"""The seed's six use cases, twice each.

First as a tacozip user writes them — `tacozip.create`, offsets from `zipfile`, `update_header`,
`read_header` of the first 157 bytes fetched with boto3 or `requests`, then range requests —
run unchanged with the real tacozip 0.13.0 and with `import taco_archive as tacozip`; both runs
must give the same results. Then with taco_archive's own API, in a few lines each. Servers are
the tests' own nginx and moto on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, payload, tree_files, write_tree
from parquet_fixtures import require_module, write_parquet

tacozip_real = require_module("tacozip")
taco_archive = require_module("taco_archive")
pa = require_module("pyarrow")
pq = require_module("pyarrow.parquet")
requests = require_module("requests")
xr = require_module("xarray")
require_module("h5netcdf")

CLIMATE = REPO / "examples/data/climate"
TILES = REPO / "examples/data/tiles"
MODULES = {"tacozip": tacozip_real, "taco_archive": taco_archive}


# -- what a tacozip user writes by hand --------------------------------------------------


def data_offset(zip_path: Path, info: zipfile.ZipInfo) -> int:
    with open(zip_path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
    return info.header_offset + 30 + name_len + extra_len


def data_ranges(zip_path: Path) -> dict[str, tuple[int, int]]:
    with zipfile.ZipFile(zip_path) as z:
        return {i.filename: (data_offset(zip_path, i), i.file_size) for i in z.infolist()[1:]}


def span(zip_path: Path, names: list[str]) -> tuple[int, int]:
    """From the local header of the first of `names` to the end of the last one's data."""
    with zipfile.ZipFile(zip_path) as z:
        first, last = z.getinfo(names[0]), z.getinfo(names[-1])
    return first.header_offset, data_offset(zip_path, last) + last.file_size - first.header_offset


def local_entries(blob: bytes) -> dict[str, bytes]:
    """The members of a span: consecutive local entries (STORED, sizes in the header)."""
    out, at = {}, 0
    while at < len(blob):
        sig, _, _, _, _, _, _, size, _, n, m = struct.unpack_from("<IHHHHHIIIHH", blob, at)
        assert sig == 0x04034B50, f"no local header at {at}"
        name = blob[at + 30:at + 30 + n].decode()
        start = at + 30 + n + m
        out[name] = blob[start:start + size]
        at = start + size
    return out


def http_range(url: str, offset: int, length: int) -> bytes:
    r = requests.get(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"}, timeout=30)
    assert r.status_code == 206, r.status_code
    return r.content


def both(fn):
    """Runs a use case with each module; returns {module name: result}."""
    return {name: fn(module, name) for name, module in MODULES.items()}


# -- 1. Parquet parts from S3: boto3 + read_header + pyarrow ----------------------------------


@pytest.fixture
def parquet_parts(tmp_path):
    parts = []
    for i in range(3):
        p = tmp_path / f"src-{i}.parquet"
        write_parquet(p, [300 + i * 50], seed=i)
        parts.append(p)
    return parts


def test_1_parquet_parts_from_s3_tacozip_code(tmp_path, s3_env, s3_server, parquet_parts):
    client = s3_server.client()
    s3_server.create_bucket("usecase1")

    def run(tacozip, tag):
        archive = tmp_path / f"obs-{tag}.zip"
        names = [f"part-{i}.parquet" for i in range(len(parquet_parts))]
        tacozip.create(str(archive), [str(p) for p in parquet_parts], arc_files=names,
                       entries=[(0, 0)])
        ranges = data_ranges(archive)
        tacozip.update_header(str(archive), [ranges[n] for n in names])
        client.upload_file(str(archive), "usecase1", f"{tag}.zip")
        head = client.get_object(Bucket="usecase1", Key=f"{tag}.zip",
                                 Range="bytes=0-156")["Body"].read()
        entries = tacozip.read_header(head)
        off, length = entries[1]
        body = client.get_object(Bucket="usecase1", Key=f"{tag}.zip",
                                 Range=f"bytes={off}-{off + length - 1}")["Body"].read()
        return entries, pq.read_table(pa.BufferReader(body)).to_pylist()

    results = both(run)
    assert results["taco_archive"] == results["tacozip"]
    assert results["taco_archive"][1] == pq.read_table(parquet_parts[1]).to_pylist()


def test_1_parquet_parts_from_s3_own_api(tmp_path, s3_env, s3_server):
    src = write_parquet(tmp_path / "obs.parquet", [200] * 6, seed=4)
    taco_archive.pack_parquet(src, tmp_path / "obs.taco", parts=3)
    s3_server.create_bucket("usecase1own")
    s3_server.upload("usecase1own", "obs.taco", (tmp_path / "obs.taco").read_bytes())

    with taco_archive.open("s3://usecase1own/obs.taco") as archive:
        part = pq.read_table(archive.open_entry(1))
        assert archive.stats["requests"] <= 4
    assert part.to_pylist() == pq.read_table(src).slice(400, 400).to_pylist()


# -- 2. Tile pyramid per zoom from a CDN with requests ----------------------------------------


def test_2_tiles_per_zoom_from_a_cdn_tacozip_code(tmp_path, nginx_server, remote_env):
    files = sorted(p.relative_to(TILES).as_posix() for p in TILES.rglob("*.png"))
    by_zoom: dict[int, list[str]] = {}
    for name in files:
        by_zoom.setdefault(int(name.split("/")[0]), []).append(name)

    def run(tacozip, tag):
        archive = tmp_path / f"tiles-{tag}.zip"
        tacozip.create(str(archive), [str(TILES / n) for n in files], arc_files=files)
        tacozip.update_header(str(archive), [span(archive, by_zoom[z]) for z in sorted(by_zoom)[:7]])
        url = nginx_server.put(f"usecase2-{tag}.zip", archive)
        entries = tacozip.read_header(http_range(url, 0, 157))
        zoom2 = local_entries(http_range(url, *entries[2]))
        return entries, zoom2

    results = both(run)
    assert results["taco_archive"] == results["tacozip"]
    assert results["taco_archive"][1] == {n: (TILES / n).read_bytes() for n in by_zoom[2]}


def test_2_tiles_per_zoom_from_a_cdn_own_api(tmp_path, nginx_server, remote_env):
    taco_archive.pack_tiles(TILES, tmp_path / "tiles.taco")
    url = nginx_server.put("usecase2.taco", tmp_path / "tiles.taco")
    with taco_archive.open(url) as archive:
        tile = archive.read_tile(2, 1, 3)
        zoom2 = local_entries(archive.read_entry(2))
        assert archive.stats["requests"] <= 3
    assert tile == (TILES / "2/1/3.png").read_bytes()
    assert set(zoom2) == {p.relative_to(TILES).as_posix() for p in (TILES / "2").rglob("*.png")}


# -- 3. The validation split of an ML dataset ----------------------------------------------


@pytest.fixture
def ml_tree(tmp_path):
    files = {f"{split}/shard-{i}.bin": payload(2000 + i, hash(split) % 97 + i)
             for split, n in (("train", 4), ("val", 2), ("test", 2)) for i in range(n)}
    return write_tree(tmp_path / "ml", files), tmp_path / "ml"


def test_3_val_split_tacozip_code(tmp_path, nginx_server, remote_env, ml_tree):
    files, root = ml_tree
    names = sorted(files, key=lambda n: (["train", "val", "test"].index(n.split("/")[0]), n))

    def run(tacozip, tag):
        archive = tmp_path / f"ml-{tag}.zip"
        tacozip.create(str(archive), [str(root / n) for n in names], arc_files=names)
        splits = [[n for n in names if n.startswith(s + "/")] for s in ("train", "val", "test")]
        tacozip.update_header(str(archive), [span(archive, s) for s in splits])
        url = nginx_server.put(f"usecase3-{tag}.zip", archive)
        entries = tacozip.read_header(http_range(url, 0, 157))
        return local_entries(http_range(url, *entries[1]))

    results = both(run)
    assert results["taco_archive"] == results["tacozip"]
    assert results["taco_archive"] == {n: files[n] for n in names if n.startswith("val/")}


def test_3_val_split_own_api(tmp_path, nginx_server, remote_env, ml_tree):
    files, root = ml_tree
    result = taco_archive.pack_splits(root, tmp_path / "ml.taco")
    val = next(e.index for e in result.entries if e.label == "val")
    url = nginx_server.put("usecase3.taco", tmp_path / "ml.taco")
    with taco_archive.open(url) as archive:
        archive.extract(tmp_path / "out", entry=val)
    assert tree_files(tmp_path / "out") == {n: b for n, b in files.items() if n.startswith("val/")}


# -- 4. NetCDF by time -----------------------------------------------------------------------


def test_4_netcdf_by_time_tacozip_code(tmp_path, nginx_server, remote_env):
    months = sorted(CLIMATE.glob("*.nc"))

    def run(tacozip, tag):
        archive = tmp_path / f"climate-{tag}.zip"
        tacozip.create(str(archive), [str(p) for p in months])
        ranges = data_ranges(archive)
        tacozip.update_header(str(archive), [ranges[p.name] for p in months])
        url = nginx_server.put(f"usecase4-{tag}.zip", archive)
        entries = tacozip.read_header(http_range(url, 0, 157))
        march = http_range(url, *entries[2])  # the user knows entry i is month i + 1
        with xr.open_dataset(io.BytesIO(march), engine="h5netcdf") as ds:
            return str(ds["time"].values[0])[:7]

    results = both(run)
    assert results["taco_archive"] == results["tacozip"] == "2024-03"


def test_4_netcdf_by_time_own_api(tmp_path, nginx_server, remote_env):
    taco_archive.pack_netcdf(CLIMATE, tmp_path / "climate.taco")
    url = nginx_server.put("usecase4.taco", tmp_path / "climate.taco")
    with taco_archive.open(url) as archive:
        (march,) = archive.query("2024-03")
        with archive.open_member(march["name"]) as f, xr.open_dataset(f, engine="h5netcdf") as ds:
            assert str(ds["time"].values[0])[:7] == "2024-03"


# -- 5. A versioned pipeline snapshot ------------------------------------------------------


STAGE = REPO / "examples/data/pipeline/stage1"


def test_5_pipeline_snapshot_tacozip_code(tmp_path):
    names = sorted(p.relative_to(STAGE).as_posix() for p in STAGE.rglob("*") if p.is_file())

    def run(tacozip, tag):
        archive = tmp_path / f"stage1-v1-{tag}.zip"
        tacozip.create(str(archive), [str(STAGE / n) for n in names], arc_files=names)
        ranges = data_ranges(archive)
        tacozip.update_header(str(archive), [ranges[n] for n in names[:7]])
        entries = tacozip.read_header(str(archive))
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp_path / f"restored-{tag}")
        return entries, tree_files(tmp_path / f"restored-{tag}")

    results = both(run)
    assert results["taco_archive"] == results["tacozip"]
    restored = dict(results["taco_archive"][1])
    restored.pop("TACO_HEADER")
    assert restored == tree_files(STAGE)


def test_5_pipeline_snapshot_own_api(tmp_path):
    result = taco_archive.pack(tmp_path / "stage1.taco", [STAGE], entry_per_file=True)
    with taco_archive.open(result.path) as archive:
        assert archive.validate("deep")["members"] == result.members
        archive.extract(tmp_path / "restored")
        assert [archive.read_entry(e.index) for e in result.entries] == \
            [(STAGE.parent / e.label).read_bytes() for e in result.entries]
    restored = {n: b for n, b in tree_files(tmp_path / "restored" / "stage1").items()}
    assert restored == tree_files(STAGE)


# -- 6. Progressive loading with checkpoint and resume --------------------------------------


def progressive(read_entry, count: int, checkpoint: Path, stop_after: int | None) -> list[int]:
    """Processes entries in order, recording each in `checkpoint`; stops (as if killed) after
    `stop_after` entries; a later call resumes where the checkpoint says."""
    done = json.loads(checkpoint.read_text()) if checkpoint.exists() else []
    processed = []
    for i in range(len(done), count):
        if stop_after is not None and len(processed) == stop_after:
            break
        data = read_entry(i)
        processed.append(i)
        done.append(hashlib.sha256(data).hexdigest())
        checkpoint.write_text(json.dumps(done))
    return processed


def test_6_progressive_loading_tacozip_code(tmp_path, nginx_server, remote_env):
    chunks = [tmp_path / f"chunk-{i}.bin" for i in range(6)]
    for i, c in enumerate(chunks):
        c.write_bytes(payload(4000 + 500 * i, i))

    def run(tacozip, tag):
        archive = tmp_path / f"progressive-{tag}.zip"
        tacozip.create(str(archive), [str(c) for c in chunks])
        ranges = data_ranges(archive)
        tacozip.update_header(str(archive), [ranges[c.name] for c in chunks])
        url = nginx_server.put(f"usecase6-{tag}.zip", archive)
        entries = tacozip.read_header(http_range(url, 0, 157))
        checkpoint = tmp_path / f"checkpoint-{tag}.json"
        first = progressive(lambda i: http_range(url, *entries[i]), len(entries), checkpoint, 2)
        rest = progressive(lambda i: http_range(url, *entries[i]), len(entries), checkpoint, None)
        return first, rest, json.loads(checkpoint.read_text())

    results = both(run)
    assert results["taco_archive"] == results["tacozip"]
    first, rest, sizes = results["taco_archive"]
    assert (first, rest) == ([0, 1], [2, 3, 4, 5])
    assert sizes == [hashlib.sha256(c.read_bytes()).hexdigest() for c in chunks]


def test_6_progressive_loading_own_api(tmp_path, nginx_server, remote_env):
    chunks = [tmp_path / f"chunk-{i}.bin" for i in range(6)]
    for i, c in enumerate(chunks):
        c.write_bytes(payload(4000 + 500 * i, i))
    taco_archive.pack(tmp_path / "p.taco", chunks, entry_per_file=True)
    url = nginx_server.put("usecase6.taco", tmp_path / "p.taco")
    checkpoint = tmp_path / "checkpoint.json"
    with taco_archive.open(url) as archive:
        assert progressive(archive.read_entry, 6, checkpoint, 2) == [0, 1]
    with taco_archive.open(url) as archive:  # a new process would reopen the same way
        assert progressive(archive.read_entry, 6, checkpoint, None) == [2, 3, 4, 5]
    assert json.loads(checkpoint.read_text()) == \
        [hashlib.sha256(c.read_bytes()).hexdigest() for c in chunks]
