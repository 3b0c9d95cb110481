//! The NetCDF planner (DESIGN §7): files ordered by their CF time coordinate; one data entry per
//! file up to 7 files, else up to 7 contiguous spans balanced by file count.

use crate::cftime::{Calendar, CivilTime, TimeUnits};
use crate::plan::{Group, GroupRange, MemberSource, Plan, PlannedMember};
use crate::walk::walk_files;
use crate::PlanError;
use netcdf_reader::{NcFile, NcVariable};
use serde_json::json;
use std::ops::Range;
use std::path::{Path, PathBuf};
use taco_format::MAX_ENTRIES;
use taco_index::{EntryFields, EntryFiles, MemberFields};

/// File name extensions packed by [`plan_netcdf`].
pub const NETCDF_EXTENSIONS: [&str; 3] = ["nc", "nc4", "cdf"];

/// Settings for [`plan_netcdf`].
#[derive(Debug, Clone, Copy, Default)]
pub struct NetcdfOptions {
    /// Leave out files whose time coordinate cannot be read (with a note) instead of failing.
    pub skip_invalid: bool,
}

/// The time coordinate of one file, as read and decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileTimes {
    /// Name of the time variable.
    pub variable: String,
    /// Its `units` attribute.
    pub units: String,
    /// Its calendar, as written (`standard` when absent).
    pub calendar: String,
    /// Number of (valid) time steps.
    pub steps: usize,
    /// First time.
    pub start: CivilTime,
    /// Last time.
    pub end: CivilTime,
}

fn text_attribute(variable: &NcVariable, name: &str) -> Option<String> {
    variable.attribute(name).and_then(|a| a.value.as_string())
}

/// The CF time coordinate: the variable with `axis = "T"`, else `standard_name = "time"`, else
/// the variable named `time`.
fn find_time_variable(file: &NcFile) -> Result<&NcVariable, String> {
    let variables = file.variables().map_err(|e| e.to_string())?;
    let has = |v: &&NcVariable, attr: &str, value: &str| {
        text_attribute(v, attr).is_some_and(|t| t.trim().eq_ignore_ascii_case(value))
    };
    variables
        .iter()
        .find(|v| has(v, "axis", "T"))
        .or_else(|| variables.iter().find(|v| has(v, "standard_name", "time")))
        .or_else(|| variables.iter().find(|v| v.name() == "time"))
        .ok_or_else(|| {
            "no time coordinate (no variable with axis=T, standard_name=time, or named time)"
                .to_string()
        })
}

/// Reads and decodes the time coordinate of the NetCDF file at `path`, reading only the time
/// variable's values (data variables are never read).
///
/// # Errors
/// A reason: not NetCDF, no time coordinate, no units, unknown calendar, bad units, no values.
pub fn read_file_times(path: &Path) -> Result<FileTimes, String> {
    let file = NcFile::open(path).map_err(|e| format!("not a readable NetCDF file: {e}"))?;
    let variable = find_time_variable(&file)?;
    let name = variable.name().to_string();
    let units = text_attribute(variable, "units")
        .ok_or_else(|| format!("time variable {name:?} has no units"))?;
    let calendar_text = text_attribute(variable, "calendar").unwrap_or_else(|| "standard".into());
    let calendar = Calendar::parse(&calendar_text)
        .ok_or_else(|| format!("unknown calendar {calendar_text:?}"))?;
    let units_parsed = TimeUnits::parse(&units, calendar)?;
    let fill = variable
        .attribute("_FillValue")
        .and_then(|a| a.value.as_f64());
    let values = file
        .read_variable_as_f64(&name)
        .map_err(|e| format!("reading time variable {name:?}: {e}"))?;
    let mut decoded = Vec::with_capacity(values.len());
    for &value in values.iter() {
        if !value.is_finite() || Some(value) == fill {
            continue;
        }
        decoded.push(units_parsed.decode(value)?);
    }
    let (Some(start), Some(end)) = (decoded.iter().min(), decoded.iter().max()) else {
        return Err(format!("time variable {name:?} has no values"));
    };
    Ok(FileTimes {
        variable: name,
        units,
        calendar: calendar_text,
        steps: decoded.len(),
        start: *start,
        end: *end,
    })
}

/// Splits `count` items into `parts` consecutive runs whose sizes differ by at most one.
fn runs_by_count(count: usize, parts: usize) -> Vec<Range<usize>> {
    let (base, extra) = (count / parts, count % parts);
    let mut runs = Vec::with_capacity(parts);
    let mut start = 0;
    for i in 0..parts {
        let len = base + usize::from(i < extra);
        runs.push(start..start + len);
        start += len;
    }
    runs
}

/// Plans a directory of NetCDF files (DESIGN §7): every `*.nc`, `*.nc4`, `*.cdf` under `dir`,
/// ordered by start time (then name); with at most 7 files, entry *i* is file *i*'s data (the
/// fetched bytes are that file); with more, entries are at most 7 contiguous spans of
/// time-ordered files, balanced by file count. The index records each file's time range.
///
/// # Errors
/// [`PlanError::BadNetcdf`] naming the file and the reason (unless `skip_invalid`),
/// [`PlanError::NoNetcdf`] when nothing is left to pack, directory walking errors.
pub fn plan_netcdf(dir: &Path, options: &NetcdfOptions) -> Result<Plan, PlanError> {
    let mut found: Vec<(String, PathBuf, u64, FileTimes)> = Vec::new();
    let mut notes = Vec::new();
    let mut others = 0usize;
    for file in walk_files(dir)? {
        let is_netcdf = Path::new(&file.relative)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| NETCDF_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
        if !is_netcdf {
            others += 1;
            continue;
        }
        match read_file_times(&file.path) {
            Ok(times) => found.push((file.relative, file.path, file.size, times)),
            Err(reason) if options.skip_invalid => {
                notes.push(format!("skipped {}: {reason}", file.path.display()));
            }
            Err(reason) => {
                return Err(PlanError::BadNetcdf {
                    path: file.path,
                    reason,
                })
            }
        }
    }
    if others > 0 {
        notes.push(format!(
            "{others} file(s) without a .nc/.nc4/.cdf extension were left out"
        ));
    }
    if found.is_empty() {
        return Err(PlanError::NoNetcdf {
            path: dir.to_path_buf(),
        });
    }
    found.sort_by(|a, b| (a.3.start, &a.0).cmp(&(b.3.start, &b.0)));

    let runs = if found.len() <= MAX_ENTRIES {
        runs_by_count(found.len(), found.len())
    } else {
        runs_by_count(found.len(), MAX_ENTRIES)
    };
    let groups = runs
        .iter()
        .enumerate()
        .map(|(i, run)| {
            let files = &found[run.clone()];
            let start = files.iter().map(|f| f.3.start).min();
            let end = files.iter().map(|f| f.3.end).max();
            let names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
            let range = if run.len() == 1 && found.len() <= MAX_ENTRIES {
                GroupRange::Data(run.start)
            } else {
                GroupRange::Span {
                    first: run.start,
                    last: run.end - 1,
                }
            };
            Group {
                label: match (start, end) {
                    (Some(s), Some(e)) => format!("{s} .. {e}"),
                    _ => format!("group {i}"),
                },
                range,
                fields: EntryFields {
                    files: Some(EntryFiles::Names(names)),
                    start,
                    end,
                    ..EntryFields::default()
                },
            }
        })
        .collect();
    let total_bytes = found.iter().map(|f| f.2).sum();
    let count = found.len();
    let members = found
        .into_iter()
        .map(|(name, path, size, times)| PlannedMember {
            name,
            source: MemberSource::Path { path, size },
            fields: MemberFields {
                time_variable: Some(times.variable),
                units: Some(times.units),
                calendar: Some(times.calendar),
                steps: Some(times.steps as u64),
                start: Some(times.start),
                end: Some(times.end),
                ..MemberFields::default()
            }
            .into(),
        })
        .collect();
    let section = json!({ "files": count });
    Ok(Plan {
        planner: "netcdf",
        members,
        groups,
        section: Some(Box::new(move |_| section)),
        notes,
        total_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::runs_by_count;

    #[test]
    fn runs_by_count_differ_by_at_most_one() {
        let runs = runs_by_count(20, 7);
        let sizes: Vec<usize> = runs.iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [3, 3, 3, 3, 3, 3, 2]);
        assert_eq!(runs.last().map(|r| r.end), Some(20));
    }
}
