//! Writing archives from Python: tacozip's `create` and the planners. The work runs on a
//! thread of its own while the calling thread waits without the GIL, waking every 100 ms to
//! report progress and to notice Ctrl-C — which stops the pack and leaves nothing behind.

use crate::errors::{Failure, IntoPyResult};
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use taco_format::Entry;
use taco_planners::{
    execute, execute_to, plan_files, plan_named_files, plan_netcdf, plan_parquet, plan_splits,
    plan_tiles, source_date_epoch, ExecuteOptions, FileEntries, GivenEntry, NetcdfOptions,
    ParquetLayout, ParquetOptions, Plan, PlanError, SplitOptions,
};
use taco_reader::{ObjectUpload, RemoteOptions, UploadOptions};

/// What a pack wrote: `taco_archive.PackResult` is made from it.
#[pyclass(frozen, get_all, module = "taco_archive._native")]
pub struct Packed {
    /// The archive's path.
    path: PathBuf,
    /// Its entries, `(offset, length)`.
    entries: Vec<(u64, u64)>,
    /// Each entry's label and kind (`data`, `span`, `range`).
    labels: Vec<(String, String)>,
    /// Members written, the index's own included (not `TACO_HEADER`).
    members: u64,
    /// Archive length in bytes.
    size: u64,
    /// Whether ZIP64 end records were needed.
    zip64: bool,
    /// The planner's notes (merged groups, skipped files), one line each.
    notes: Vec<String>,
}

/// Settings every pack shares.
struct Run {
    out: PathBuf,
    force: bool,
    no_index: bool,
    allow_outside: bool,
    progress: Option<Py<PyAny>>,
}

/// Plans with `make` and executes into `run.out` on a worker thread (a plan holds callbacks
/// that stay on the thread that made them), polling for Ctrl-C and progress meanwhile.
fn run_plan(
    py: Python<'_>,
    run: Run,
    make: impl FnOnce() -> Result<Plan, PlanError> + Send + 'static,
) -> PyResult<Packed> {
    let fixed_time = source_date_epoch().py(py)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let worker = {
        let (cancel, done, total) = (cancel.clone(), done.clone(), total.clone());
        let out = run.out.clone();
        let (force, no_index, allow_outside) = (run.force, run.no_index, run.allow_outside);
        std::thread::spawn(move || -> Result<Packed, Failure> {
            let plan = make()?;
            total.store(plan.total_bytes, Ordering::Relaxed);
            let notes = plan.notes.clone();
            let labels = plan
                .groups
                .iter()
                .map(|g| (g.label.clone(), g.range.kind().as_str().to_string()))
                .collect();
            let options = ExecuteOptions {
                overwrite: force,
                fixed_time,
                progress: Some(Box::new(move |n| {
                    done.fetch_add(n, Ordering::Relaxed);
                })),
                no_index,
                allow_entries_outside: allow_outside,
                cancel: Some(cancel.clone()),
            };
            let url = out
                .to_str()
                .filter(|url| taco_reader::url_scheme(url).is_some());
            let executed = match url {
                // An object URL: streamed with a multipart upload, aborted on any failure or
                // Ctrl-C (the upload goes down with the writer holding it).
                Some(url) => {
                    let upload = UploadOptions {
                        overwrite: force,
                        expected_len: plan.estimated_len(),
                        ..UploadOptions::default()
                    };
                    let mut sink = ObjectUpload::create(url, &RemoteOptions::default(), &upload)?;
                    sink.set_cancel(cancel.clone());
                    let (sink, executed) = execute_to(plan, sink, url, options)?;
                    if cancel.load(Ordering::Relaxed) {
                        return Err(PlanError::Cancelled.into());
                    }
                    sink.complete()?;
                    executed
                }
                None => execute(plan, &out, options)?,
            };
            Ok(Packed {
                path: out,
                entries: executed
                    .entries
                    .iter()
                    .map(|e| (e.offset, e.length))
                    .collect(),
                labels,
                members: executed.members,
                size: executed.archive_len,
                zip64: executed.zip64,
                notes,
            })
        })
    };
    // Progress is reported at once (0 done), then every 100 ms, and once more at the end.
    let mut finished = false;
    loop {
        if let Err(interrupt) = py.check_signals() {
            cancel.store(true, Ordering::Relaxed);
            // The worker stops at its next chunk and removes its temporary files.
            let _ = py.detach(|| worker.join());
            return Err(interrupt);
        }
        if let Some(report) = &run.progress {
            // The copied bytes include the index members written after the data, which the
            // plan's total does not count: clamped, so the caller sees 0..=total.
            let total = total.load(Ordering::Relaxed);
            let done = done.load(Ordering::Relaxed).min(total);
            if let Err(raised) = report.call1(py, (done, total)) {
                // The callback's exception (or a Ctrl-C that landed in it) ends the pack too.
                cancel.store(true, Ordering::Relaxed);
                let _ = py.detach(|| worker.join());
                return Err(raised);
            }
        }
        if finished {
            break;
        }
        finished = py.detach(|| {
            for _ in 0..10 {
                if worker.is_finished() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            worker.is_finished()
        });
    }
    match worker.join() {
        Ok(result) => result.py(py),
        Err(_) => Err(Failure::new(
            "TacoError",
            "the pack stopped on an internal error (a panic); nothing was written",
            errors_io(),
        )
        .into_py(py)),
    }
}

fn errors_io() -> i32 {
    crate::errors::TACOZ_ERR_IO
}

/// tacozip's `create`: `files` as `(name, path)` pairs, in order, with these header entries;
/// an existing archive is replaced, no index is written (the layout tacozip writes).
#[pyfunction]
#[pyo3(signature = (out, files, entries))]
pub fn create(
    py: Python<'_>,
    out: PathBuf,
    files: Vec<(String, PathBuf)>,
    entries: Vec<(u64, u64)>,
) -> PyResult<Packed> {
    let entries = entries
        .into_iter()
        .map(|(offset, length)| GivenEntry::Range(Entry::new(offset, length)))
        .collect();
    let run = Run {
        out,
        force: true,
        no_index: true,
        allow_outside: true,
        progress: None,
    };
    run_plan(py, run, move || {
        plan_named_files(files, FileEntries::Given(entries))
    })
}

/// Runs a planner: `planner` is `pack`, `parquet`, `tiles`, `splits` or `netcdf`; `inputs`
/// its input paths (one for all but `pack`); the options are the CLI's.
#[pyfunction]
#[pyo3(signature = (
    planner, inputs, out, *, force=false, progress=None, entries=None, entry_per_file=false,
    no_index=false, allow_outside=false, layout=None, parts=None, splits=None,
    skip_invalid=false,
))]
#[allow(clippy::too_many_arguments)]
pub fn pack(
    py: Python<'_>,
    planner: &str,
    inputs: Vec<PathBuf>,
    out: PathBuf,
    force: bool,
    progress: Option<Py<PyAny>>,
    entries: Option<Vec<(u64, u64)>>,
    entry_per_file: bool,
    no_index: bool,
    allow_outside: bool,
    layout: Option<String>,
    parts: Option<usize>,
    splits: Option<Vec<String>>,
    skip_invalid: bool,
) -> PyResult<Packed> {
    let run = Run {
        out: out.clone(),
        force,
        no_index,
        allow_outside,
        progress,
    };
    let single = |inputs: &[PathBuf]| match inputs {
        [one] => Ok(one.clone()),
        _ => Err(Failure::argument(format!(
            "the {planner} planner takes one input, got {}",
            inputs.len()
        ))),
    };
    match planner {
        "pack" => {
            let entries = match (entries, entry_per_file) {
                (Some(_), true) => {
                    return Err(Failure::argument(
                        "entries and entry_per_file cannot be used together",
                    )
                    .into_py(py))
                }
                (Some(ranges), false) => FileEntries::Given(
                    ranges
                        .into_iter()
                        .map(|(o, l)| GivenEntry::Range(Entry::new(o, l)))
                        .collect(),
                ),
                (None, true) => FileEntries::PerFile,
                (None, false) => FileEntries::None,
            };
            run_plan(py, run, move || plan_files(&inputs, None, &out, entries))
        }
        "parquet" => {
            let input = single(&inputs).py(py)?;
            let layout = match layout.as_deref() {
                None | Some("split") => ParquetLayout::Split,
                Some("verbatim") => ParquetLayout::Verbatim,
                Some(other) => {
                    return Err(Failure::argument(format!(
                        "layout {other:?}: expected \"split\" or \"verbatim\""
                    ))
                    .into_py(py))
                }
            };
            let options = ParquetOptions { layout, parts };
            run_plan(py, run, move || plan_parquet(&input, &options))
        }
        "tiles" => {
            let input = single(&inputs).py(py)?;
            run_plan(py, run, move || plan_tiles(&input))
        }
        "splits" => {
            let input = single(&inputs).py(py)?;
            let options = SplitOptions { splits };
            run_plan(py, run, move || plan_splits(&input, &options))
        }
        "netcdf" => {
            let input = single(&inputs).py(py)?;
            let options = NetcdfOptions { skip_invalid };
            run_plan(py, run, move || plan_netcdf(&input, &options))
        }
        other => Err(Failure::argument(format!("no planner {other:?}")).into_py(py)),
    }
}
