//! `taco_archive._native`: the Python extension, a thin layer over [`TacoArchive`], the
//! writer's header update and the planners. Each function converts its arguments, releases the
//! GIL for the work, and converts the result (or the library's error, as one exception with
//! the CLI's one-line message). The public API is the Python package `taco_archive`, built on
//! top of this; nothing here knows the byte format.

mod errors;
mod pack;

use errors::{Failure, IntoPyResult, TACOZ_ERR_INVALID_HEADER, TACOZ_ERR_IO};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;
use taco_format::{CrcPolicy, Entry, HEADER_LEN};
use taco_reader::{
    AwsOptions, ExtractOptions, Level, Located, ReadAt, RemoteOptions, Selection, Source,
    TacoArchive, TimeSelection,
};

/// The package's version (the workspace's).
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The CRC-32 of `data` continuing from `value` (as `zlib.crc32`, several times faster).
#[pyfunction]
fn crc32(py: Python<'_>, data: &[u8], value: u32) -> u32 {
    py.detach(|| {
        let mut hasher = crc32fast::Hasher::new_with_initial(value);
        hasher.update(data);
        hasher.finalize()
    })
}

/// Where a `pack-*` planner writes by default: `<input stem>.taco` in the current directory.
#[pyfunction]
fn default_output(py: Python<'_>, input: PathBuf) -> PyResult<PathBuf> {
    taco_planners::default_output(&input).py(py)
}

/// The entries of a header given as bytes (at least 157): `[(offset, length), ...]`. The CRC
/// is checked.
#[pyfunction]
fn parse_header(py: Python<'_>, data: &[u8]) -> PyResult<Vec<(u64, u64)>> {
    let parsed = taco_format::parse_header(data, CrcPolicy::Strict).map_err(|e| {
        Failure::new("ArchiveError", e.to_string(), TACOZ_ERR_INVALID_HEADER).into_py(py)
    })?;
    Ok(pairs(&parsed.entries))
}

/// The entries of the header of the local file at `path` (one read of 157 bytes).
#[pyfunction]
fn read_header_file(py: Python<'_>, path: PathBuf) -> PyResult<Vec<(u64, u64)>> {
    let head = py.detach(|| -> Result<Vec<u8>, Failure> {
        let file = taco_reader::LocalFile::open(&path)?;
        let mut head = vec![0u8; HEADER_LEN];
        if file.size()? < HEADER_LEN as u64 {
            return Err(Failure::new(
                "ArchiveError",
                format!(
                    "{}: not a TACO archive: shorter than the {HEADER_LEN}-byte header",
                    path.display()
                ),
                TACOZ_ERR_IO,
            ));
        }
        file.read_exact_at(&mut head, 0)?;
        Ok(head)
    });
    parse_header(py, &head.py(py)?)
}

/// Rewrites the header entries of the archive at `path` in place (`taco update-header`).
#[pyfunction]
#[pyo3(signature = (path, entries, allow_outside=false))]
fn update_header(
    py: Python<'_>,
    path: PathBuf,
    entries: Vec<(u64, u64)>,
    allow_outside: bool,
) -> PyResult<()> {
    let entries = to_entries(&entries);
    py.detach(|| taco_writer::update_header(&path, &entries, allow_outside))
        .map_err(|error| match error {
            // Opening or reading the archive: tacozip's I/O error, not a libzip one.
            taco_writer::WriteError::Output { .. } => {
                Failure::new("TransportError", error.to_string(), TACOZ_ERR_IO)
            }
            other => other.into(),
        })
        .py(py)
}

fn pairs(entries: &[Entry]) -> Vec<(u64, u64)> {
    entries.iter().map(|e| (e.offset, e.length)).collect()
}

fn to_entries(pairs: &[(u64, u64)]) -> Vec<Entry> {
    pairs.iter().map(|&(o, l)| Entry::new(o, l)).collect()
}

/// An open archive (local path or URL): the `TacoArchive` behind `taco_archive.Archive`.
/// Every method releases the GIL while it reads; one object is safe to use from many threads.
#[pyclass(frozen, module = "taco_archive._native")]
struct NativeArchive {
    /// Always `Some` until dropped (an `Option` only so `Drop` can take it).
    archive: Option<TacoArchive<Source>>,
    /// The process that opened it: see `Drop`.
    pid: u32,
}

impl Drop for NativeArchive {
    /// In a forked child, a remote archive's client (its runtime's worker threads, its
    /// connections) belongs to the parent: tearing it down would wait for threads that do not
    /// exist here. It is leaked instead — the child's copy of memory the parent owns.
    fn drop(&mut self) {
        if let Some(archive) = self.archive.take() {
            if std::process::id() != self.pid {
                std::mem::forget(archive);
            }
        }
    }
}

impl NativeArchive {
    fn archive(&self) -> &TacoArchive<Source> {
        // `None` only inside `drop`, where no method runs.
        self.archive
            .as_ref()
            .unwrap_or_else(|| unreachable!("NativeArchive used while dropped"))
    }

    fn located_py(&self, located: &Located) -> Result<(u64, u64, u32), Failure> {
        let (range, crc32) = self.archive().data_range(located)?;
        Ok((range.offset, range.length, crc32))
    }
}

#[pymethods]
impl NativeArchive {
    /// Opens `src` (a path or an http(s)/s3 URL) and reads its first 64 KiB.
    #[new]
    #[pyo3(signature = (src, retries=None, connect_timeout=None, timeout=None, stall_timeout=None,
                        profile=None, region=None, endpoint_url=None, no_sign_request=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        src: String,
        retries: Option<usize>,
        connect_timeout: Option<f64>,
        timeout: Option<f64>,
        stall_timeout: Option<f64>,
        profile: Option<String>,
        region: Option<String>,
        endpoint_url: Option<String>,
        no_sign_request: bool,
    ) -> PyResult<NativeArchive> {
        let mut options = RemoteOptions {
            aws: AwsOptions {
                profile,
                region,
                endpoint_url,
                no_sign_request,
            },
            ..RemoteOptions::default()
        };
        let seconds = |s: f64, what: &str| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| Failure::argument(format!("{what}: {s} is not a number of seconds")))
        };
        if let Some(retries) = retries {
            options.retries = retries;
        }
        if let Some(s) = connect_timeout {
            options.connect_timeout = seconds(s, "connect_timeout").py(py)?;
        }
        if let Some(s) = timeout {
            options.timeout = Some(seconds(s, "timeout").py(py)?);
        }
        if let Some(s) = stall_timeout {
            options.stall_timeout = seconds(s, "stall_timeout").py(py)?;
        }
        let archive = py.detach(|| TacoArchive::open(&src, &options)).py(py)?;
        Ok(NativeArchive {
            archive: Some(archive),
            pid: std::process::id(),
        })
    }

    /// The archive's path or URL.
    #[getter]
    fn label(&self) -> String {
        self.archive().source().label()
    }

    /// Whether every read is a request over a network (then fewer, larger reads pay).
    fn reads_are_requests(&self) -> bool {
        self.archive().source().reads_are_requests()
    }

    /// Length in bytes.
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.archive().source().size()).py(py)
    }

    /// The header's entries, `[(offset, length), ...]`.
    fn entries(&self, py: Python<'_>) -> PyResult<Vec<(u64, u64)>> {
        py.detach(|| self.archive().entries().map(pairs)).py(py)
    }

    /// Every member as `(name, header_offset, size, crc32)`, in archive order (reads the
    /// central directory once).
    fn members(&self, py: Python<'_>) -> PyResult<Vec<(String, u64, u64, u32)>> {
        py.detach(|| {
            self.archive().members().map(|members| {
                members
                    .iter()
                    .map(|m| (m.name_lossy(), m.header_offset(), m.size(), m.record.crc32))
                    .collect()
            })
        })
        .py(py)
    }

    /// `length` bytes at `offset` (the caller keeps the range inside the archive).
    fn read_at<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        length: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        // Bounded by the archive's length before anything is allocated.
        let size = py.detach(|| self.archive().source().size()).py(py)?;
        if offset
            .checked_add(length as u64)
            .is_none_or(|end| end > size)
        {
            return Err(Failure::new(
                "ArchiveError",
                format!(
                    "{}: {length} bytes at offset {offset} reach past the end ({size} bytes)",
                    self.archive().source().label()
                ),
                TACOZ_ERR_INVALID_HEADER,
            )
            .into_py(py));
        }
        // Read straight into the new bytes object (no second copy), without the GIL.
        PyBytes::new_with(py, length, |buf| {
            py.detach(|| self.archive().source().read_exact_at(buf, offset))
                .py(py)
        })
    }

    /// The bytes of entry `index`.
    fn read_entry<'py>(&self, py: Python<'py>, index: usize) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py
            .detach(|| -> Result<Vec<u8>, Failure> {
                let entry = self.archive().entry(index)?;
                let capacity = usize::try_from(entry.length).unwrap_or(0).min(1 << 26);
                let mut out = Vec::with_capacity(capacity);
                self.archive()
                    .open_entry(index)?
                    .read_to_end(&mut out)
                    .map_err(|e| Failure::new("TransportError", e.to_string(), TACOZ_ERR_IO))?;
                Ok(out)
            })
            .py(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The data of member `name`, CRC-checked.
    fn read_member<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.archive().read_member(name)).py(py)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Member `name`'s data range and CRC-32: `(offset, length, crc32)`, found through the
    /// lookup directory when the archive has one (no central directory read).
    fn locate_member(&self, py: Python<'_>, name: &str) -> PyResult<(u64, u64, u32)> {
        py.detach(|| {
            let located = self.archive().find_member(name)?;
            self.located_py(&located)
        })
        .py(py)
    }

    /// Tile `z/x/y`'s data range and CRC-32, and its member name: `(offset, length, crc32)`.
    fn locate_tile(&self, py: Python<'_>, z: u32, x: u32, y: u32) -> PyResult<(u64, u64, u32)> {
        py.detach(|| {
            let located = self.archive().tile(z, x, y)?;
            self.located_py(&located)
        })
        .py(py)
    }

    /// The manifest's data range and CRC-32 (`TACO_MANIFEST.parquet`).
    fn manifest_range(&self, py: Python<'_>) -> PyResult<(u64, u64, u32)> {
        py.detach(|| {
            self.archive()
                .manifest_range()
                .map(|(range, crc)| (range.offset, range.length, crc))
        })
        .py(py)
    }

    /// The NetCDF files whose times overlap the selection (`taco query`): a list of dicts
    /// with name, offset, length, start, end (ISO text) and entry.
    #[pyo3(signature = (time=None, start=None, end=None))]
    fn query_time<'py>(
        &self,
        py: Python<'py>,
        time: Option<&str>,
        start: Option<&str>,
        end: Option<&str>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let selection = TimeSelection::parse(time, start, end)
            .map_err(Failure::from)
            .py(py)?;
        let matches = py.detach(|| self.archive().query_time(&selection)).py(py)?;
        matches
            .iter()
            .map(|m| {
                let row = PyDict::new(py);
                row.set_item("name", &m.name)?;
                row.set_item("offset", m.data_offset)?;
                row.set_item("length", m.length)?;
                row.set_item("start", m.start.to_string())?;
                row.set_item("end", m.end.to_string())?;
                row.set_item("entry", m.entry)?;
                Ok(row)
            })
            .collect()
    }

    /// Validates at `level` ("quick", "normal", "deep"); returns a summary dict or raises the
    /// first problem found.
    fn validate<'py>(&self, py: Python<'py>, level: &str) -> PyResult<Bound<'py, PyDict>> {
        let level = match level {
            "quick" => Level::Quick,
            "normal" => Level::Normal,
            "deep" => Level::Deep,
            other => {
                return Err(Failure::argument(format!(
                    "level {other:?}: expected \"quick\", \"normal\" or \"deep\""
                ))
                .into_py(py))
            }
        };
        let report = py.detach(|| self.archive().validate(level)).py(py)?;
        let out = PyDict::new(py);
        out.set_item("level", format!("{:?}", report.level).to_lowercase())?;
        out.set_item("entries", pairs(&report.entries))?;
        out.set_item("members", report.members)?;
        out.set_item("size", report.file_len)?;
        out.set_item("zip64", report.zip64)?;
        Ok(out)
    }

    /// Extracts every member (or those entry `entry` holds) under `dir`, confined to it and
    /// CRC-checked; returns the paths written.
    #[pyo3(signature = (dir, entry=None, overwrite=false))]
    fn extract(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        entry: Option<usize>,
        overwrite: bool,
    ) -> PyResult<Vec<PathBuf>> {
        let selection = entry.map_or(Selection::All, Selection::Entry);
        // The archive itself is never replaced by a member of the same name.
        let label = self.archive().source().label();
        let inputs = taco_writer::FileId::of_path(std::path::Path::new(&label))
            .filter(|_| !taco_reader::is_remote(&label))
            .map(|id| (id.dev, id.ino))
            .into_iter()
            .collect();
        let options = ExtractOptions {
            overwrite,
            inputs,
            ..ExtractOptions::default()
        };
        py.detach(|| {
            std::fs::create_dir_all(&dir).map_err(|source| taco_reader::ReadError::Output {
                path: dir.clone(),
                source,
            })?;
            self.archive().extract(&dir, selection, &options)
        })
        .map(|report| report.files)
        .py(py)
    }

    /// Requests and bytes received so far (remote sources; zeros for local files).
    fn stats(&self) -> (u64, u64) {
        let stats = self.archive().source().stats();
        (stats.requests, stats.bytes)
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(parse_header, m)?)?;
    m.add_function(wrap_pyfunction!(default_output, m)?)?;
    m.add_function(wrap_pyfunction!(crc32, m)?)?;
    m.add_function(wrap_pyfunction!(read_header_file, m)?)?;
    m.add_function(wrap_pyfunction!(update_header, m)?)?;
    m.add_function(wrap_pyfunction!(pack::create, m)?)?;
    m.add_function(wrap_pyfunction!(pack::pack, m)?)?;
    m.add_class::<NativeArchive>()?;
    m.add_class::<pack::Packed>()?;
    Ok(())
}
