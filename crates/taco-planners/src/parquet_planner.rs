//! The Parquet planner (DESIGN §7): split a file into self-contained parts by copying encoded
//! column chunks, or store it verbatim with one entry per row group.

use crate::plan::{Assembled, Group, GroupRange, MemberSource, Plan, PlannedMember};
use crate::PlanError;
use parquet::file::metadata::{
    ColumnChunkMetaData, ParquetMetaData, ParquetMetaDataBuilder, ParquetMetaDataReader,
    ParquetMetaDataWriter, RowGroupMetaData,
};
use serde_json::{json, Value};
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;
use taco_format::MAX_ENTRIES;
use taco_index::{EntryFields, MemberFields};

const MAGIC: &[u8; 4] = b"PAR1";
const ENCRYPTED_MAGIC: &[u8; 4] = b"PARE";

/// How a Parquet file becomes members and entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParquetLayout {
    /// ≤ 7 self-contained Parquet parts of consecutive row groups; entry *i* is part *i*'s data.
    #[default]
    Split,
    /// The file stored untouched; entry *i* is row group *i*'s column chunks (first 7).
    Verbatim,
}

/// Settings for [`plan_parquet`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ParquetOptions {
    /// The layout.
    pub layout: ParquetLayout,
    /// Number of parts for [`ParquetLayout::Split`] (1–7); default min(7, row groups).
    pub parts: Option<usize>,
}

/// Where a row group's column chunks lie in the source file.
#[derive(Debug, Clone, Copy)]
struct RowGroupBytes {
    start: u64,
    end: u64,
    rows: i64,
}

/// The offset of a column chunk's dictionary page, if it has one. Some writers record a
/// dictionary offset of 0 (or past the data) when there is none; a chunk of zero rows may hold
/// a dictionary page and no data page (data page offset 0, as pyarrow writes an empty table).
fn dictionary_page(column: &ColumnChunkMetaData) -> Option<i64> {
    let data = column.data_page_offset();
    column
        .dictionary_page_offset()
        .filter(|&dict| dict > 0 && (dict < data || data == 0))
}

/// The first byte of a column chunk: its dictionary page if it has one, else its first data
/// page.
fn chunk_start(column: &ColumnChunkMetaData) -> i64 {
    dictionary_page(column).unwrap_or_else(|| column.data_page_offset())
}

fn bad(path: &Path, detail: impl Into<String>) -> PlanError {
    PlanError::BadParquet {
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

/// Reads the footer after checking the magic bytes, so each kind of bad input gets its own error.
fn read_metadata(path: &Path, file: &File, len: u64) -> Result<(ParquetMetaData, u64), PlanError> {
    let io = |source| PlanError::Io {
        path: path.to_path_buf(),
        source,
    };
    if len < 12 {
        return Err(PlanError::NotParquet {
            path: path.to_path_buf(),
            reason: format!("{len} bytes, shorter than the 12-byte minimum"),
        });
    }
    let mut head = [0u8; 4];
    file.read_exact_at(&mut head, 0).map_err(io)?;
    let mut tail = [0u8; 8];
    file.read_exact_at(&mut tail, len - 8).map_err(io)?;
    if &tail[4..] == ENCRYPTED_MAGIC {
        return Err(PlanError::Encrypted {
            path: path.to_path_buf(),
        });
    }
    if &head != MAGIC {
        return Err(PlanError::NotParquet {
            path: path.to_path_buf(),
            reason: "no PAR1 magic at the start".into(),
        });
    }
    if &tail[4..] != MAGIC {
        return Err(PlanError::Truncated {
            path: path.to_path_buf(),
            detail: "no PAR1 magic at the end (cut short?)".into(),
        });
    }
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if footer_len + 12 > len {
        return Err(PlanError::Truncated {
            path: path.to_path_buf(),
            detail: format!("footer of {footer_len} bytes does not fit in {len} bytes"),
        });
    }
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(file)
        .map_err(|e| bad(path, format!("reading footer: {e}")))?;
    Ok((metadata, footer_len))
}

/// Byte ranges of every row group, checked to lie between the magic and the footer.
fn row_group_bytes(
    path: &Path,
    metadata: &ParquetMetaData,
    data_end: u64,
) -> Result<Vec<RowGroupBytes>, PlanError> {
    metadata
        .row_groups()
        .iter()
        .enumerate()
        .map(|(i, rg)| {
            let mut start = u64::MAX;
            let mut end = 0u64;
            for column in rg.columns() {
                let first = u64::try_from(chunk_start(column)).ok();
                let size = u64::try_from(column.compressed_size()).ok();
                let (Some(first), Some(size)) = (first, size) else {
                    return Err(bad(path, format!("row group {i}: negative offset or size")));
                };
                // A chunk of no bytes (zero rows, no dictionary) lies nowhere.
                if size == 0 {
                    continue;
                }
                let last = first
                    .checked_add(size)
                    .ok_or_else(|| bad(path, format!("row group {i}: chunk end overflows")))?;
                start = start.min(first);
                end = end.max(last);
            }
            if start == u64::MAX && rg.num_rows() == 0 && !rg.columns().is_empty() {
                // Zero rows and not a byte: an empty row group, placed right after the magic.
                let at = MAGIC.len() as u64;
                return Ok(RowGroupBytes {
                    start: at,
                    end: at,
                    rows: 0,
                });
            }
            if rg.columns().is_empty() || start < MAGIC.len() as u64 || end > data_end {
                return Err(PlanError::Truncated {
                    path: path.to_path_buf(),
                    detail: format!(
                        "row group {i} claims bytes {start}..{end}, outside 4..{data_end}"
                    ),
                });
            }
            Ok(RowGroupBytes {
                start,
                end,
                rows: rg.num_rows(),
            })
        })
        .collect()
}

/// Splits `sizes` into exactly `parts` consecutive non-empty runs, minimising the largest
/// run's total (binary search on that total, then a greedy fill that leaves one item for every
/// part still to come).
fn balanced_runs(sizes: &[u64], parts: usize) -> Vec<Range<usize>> {
    let fits = |limit: u64| {
        let mut count = 1;
        let mut total = 0u64;
        for &s in sizes {
            if total + s > limit {
                count += 1;
                total = 0;
            }
            total += s;
        }
        count <= parts
    };
    let (mut lo, mut hi) = (
        sizes.iter().copied().max().unwrap_or(0),
        sizes.iter().sum::<u64>(),
    );
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut total) = (0usize, 0u64);
    for (i, &s) in sizes.iter().enumerate() {
        let parts_after_this_run = parts - runs.len() - 1;
        let must_close = sizes.len() - i == parts_after_this_run;
        if i > start && (total + s > lo || must_close) {
            runs.push(start..i);
            start = i;
            total = 0;
        }
        total += s;
    }
    runs.push(start..sizes.len());
    runs
}

/// Footer bytes (metadata, its length, magic) for a part holding `row_groups` of the source,
/// whose column chunks are copied as the contiguous source range starting at `source_start`
/// to part offset 4.
fn part_footer(
    path: &Path,
    metadata: &ParquetMetaData,
    row_groups: Range<usize>,
    source_start: u64,
) -> Result<Vec<u8>, PlanError> {
    let shift = MAGIC.len() as i64 - source_start as i64;
    let source = metadata.file_metadata();
    let num_rows = row_groups
        .clone()
        .map(|i| metadata.row_group(i).num_rows())
        .sum();
    let file_metadata = parquet::file::metadata::FileMetaData::new(
        source.version(),
        num_rows,
        source.created_by().map(str::to_owned),
        source.key_value_metadata().cloned(),
        source.schema_descr_ptr(),
        source.column_orders().cloned(),
    );
    let mut builder = ParquetMetaDataBuilder::new(file_metadata);
    for (ordinal, rg_index) in row_groups.enumerate() {
        let rg = metadata.row_group(rg_index);
        let columns = rg
            .columns()
            .iter()
            .map(|column| {
                let dictionary = dictionary_page(column).map(|dict| dict + shift);
                // 0 means no data page (a chunk of zero rows): it stays pointing nowhere.
                let data = match column.data_page_offset() {
                    0 => 0,
                    data => data + shift,
                };
                // Page indexes and bloom filters live outside the copied range: drop them.
                column
                    .clone()
                    .into_builder()
                    .set_data_page_offset(data)
                    .set_dictionary_page_offset(dictionary)
                    .set_index_page_offset(None)
                    .set_bloom_filter_offset(None)
                    .set_bloom_filter_length(None)
                    .set_offset_index_offset(None)
                    .set_offset_index_length(None)
                    .set_column_index_offset(None)
                    .set_column_index_length(None)
                    .build()
                    .map_err(|e| bad(path, format!("row group {rg_index}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut rg_builder = RowGroupMetaData::builder(rg.schema_descr_ptr())
            .set_num_rows(rg.num_rows())
            .set_total_byte_size(rg.total_byte_size())
            .set_sorting_columns(rg.sorting_columns().cloned())
            .set_ordinal(i16::try_from(ordinal).unwrap_or(i16::MAX));
        if let Some(first) = columns.first() {
            rg_builder = rg_builder.set_file_offset(chunk_start(first));
        }
        let rebuilt = rg_builder
            .set_column_metadata(columns)
            .build()
            .map_err(|e| bad(path, format!("row group {rg_index}: {e}")))?;
        builder = builder.add_row_group(rebuilt);
    }
    let part = builder.build();
    let mut footer = Vec::new();
    ParquetMetaDataWriter::new(&mut footer, &part)
        .finish()
        .map_err(|e| bad(path, format!("encoding part footer: {e}")))?;
    Ok(footer)
}

fn row_group_list(range: Range<usize>) -> Vec<u64> {
    range.map(|i| i as u64).collect()
}

fn entry_fields(row_groups: Range<usize>, rows: i64) -> EntryFields {
    EntryFields {
        row_groups: Some(row_group_list(row_groups)),
        rows: Some(rows),
        ..EntryFields::default()
    }
}

fn member_fields(row_groups: Range<usize>, rows: i64) -> MemberFields {
    MemberFields {
        row_groups: Some(row_group_list(row_groups)),
        rows: Some(rows),
        ..MemberFields::default()
    }
}

/// Plans a Parquet file (DESIGN §7).
///
/// *Split*: N ≤ 7 parts (`options.parts`, default min(7, row groups)) of consecutive row
/// groups, balanced by compressed bytes; part *i* is `PAR1` + the source bytes of its row
/// groups copied verbatim + a footer whose offsets are shifted to match, so the entry's bytes
/// are a complete Parquet file. Schema and key-value metadata are kept; page indexes and bloom
/// filters, stored outside the row groups, are dropped from the parts.
///
/// *Verbatim*: the file is one member; entry *i* covers row group *i*'s column chunks for the
/// first 7 row groups (a note says so when there are more); the index lists all row groups and
/// the footer.
///
/// # Errors
/// [`PlanError::NotParquet`], [`PlanError::Encrypted`], [`PlanError::Truncated`],
/// [`PlanError::NoRowGroups`], [`PlanError::BadParquet`], [`PlanError::BadOption`] for a part
/// count outside 1–7, [`PlanError::Io`].
pub fn plan_parquet(path: &Path, options: &ParquetOptions) -> Result<Plan, PlanError> {
    let io = |source| PlanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let len = meta.len();
    let (metadata, footer_len) = read_metadata(path, &file, len)?;
    let data_end = len - 8 - footer_len;
    if metadata.num_row_groups() == 0 {
        return Err(PlanError::NoRowGroups {
            path: path.to_path_buf(),
        });
    }
    let row_groups = row_group_bytes(path, &metadata, data_end)?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| PlanError::NonUtf8Name {
            path: path.to_path_buf(),
        })?
        .to_string();
    let stem = path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or(&file_name)
        .to_string();
    let num_rows: i64 = row_groups.iter().map(|r| r.rows).sum();
    let mut notes = Vec::new();

    match options.layout {
        ParquetLayout::Split => {
            let wanted = options.parts.unwrap_or(MAX_ENTRIES.min(row_groups.len()));
            if !(1..=MAX_ENTRIES).contains(&wanted) {
                return Err(PlanError::BadOption(format!(
                    "--parts {wanted}: must be between 1 and {MAX_ENTRIES}"
                )));
            }
            let parts = wanted.min(row_groups.len());
            if parts < wanted {
                notes.push(format!(
                    "{file_name} has {} row groups: making {parts} parts, not {wanted}",
                    row_groups.len()
                ));
            }
            let sizes: Vec<u64> = row_groups.iter().map(|r| r.end - r.start).collect();
            let runs = balanced_runs(&sizes, parts);
            let mut members = Vec::with_capacity(runs.len());
            let mut groups = Vec::with_capacity(runs.len());
            let mut total_bytes = 0;
            for (i, run) in runs.iter().enumerate() {
                let start = row_groups[run.start].start;
                let end = row_groups[run.end - 1].end;
                // Row groups must follow each other in the file to be copied as one range.
                let contiguous_in_order = row_groups[run.clone()]
                    .windows(2)
                    .all(|w| w[0].end <= w[1].start);
                if !contiguous_in_order {
                    return Err(bad(path, "row groups are not stored in order"));
                }
                let footer = part_footer(path, &metadata, run.clone(), start)?;
                let rows: i64 = row_groups[run.clone()].iter().map(|r| r.rows).sum();
                total_bytes += end - start;
                members.push(PlannedMember {
                    name: format!("{stem}/part-{i}.parquet"),
                    source: MemberSource::Assembled(Box::new(Assembled {
                        path: path.to_path_buf(),
                        prefix: MAGIC.to_vec(),
                        offset: start,
                        len: end - start,
                        suffix: footer,
                    })),
                    fields: member_fields(run.clone(), rows).into(),
                });
                groups.push(Group {
                    label: format!("part-{i}"),
                    range: GroupRange::Data(i),
                    fields: entry_fields(run.clone(), rows),
                });
            }
            let rg_records: Vec<Value> = row_groups
                .iter()
                .enumerate()
                .map(|(i, r)| json!({"index": i, "rows": r.rows, "offset": r.start, "length": r.end - r.start}))
                .collect();
            let section = json!({
                "layout": "split",
                "source": file_name,
                "source_size": len,
                "num_rows": num_rows,
                "num_row_groups": row_groups.len(),
                "row_groups": rg_records,
            });
            Ok(Plan {
                planner: "parquet",
                members,
                groups,
                section: Some(Box::new(move |_| section)),
                notes,
                total_bytes,
            })
        }
        ParquetLayout::Verbatim => {
            if row_groups.len() > MAX_ENTRIES {
                notes.push(format!(
                    "{file_name} has {} row groups: entries cover the first {MAX_ENTRIES}; \
                     the index lists all of them",
                    row_groups.len()
                ));
            }
            let groups = row_groups
                .iter()
                .take(MAX_ENTRIES)
                .enumerate()
                .map(|(i, r)| Group {
                    label: format!("row-group-{i}"),
                    range: GroupRange::Slice {
                        member: 0,
                        offset: r.start,
                        length: r.end - r.start,
                    },
                    fields: entry_fields(i..i + 1, r.rows),
                })
                .collect();
            let members = vec![PlannedMember {
                name: file_name.clone(),
                source: MemberSource::Path {
                    path: path.to_path_buf(),
                    size: len,
                },
                fields: member_fields(0..row_groups.len(), num_rows).into(),
            }];
            let row_group_count = row_groups.len();
            let section = move |spans: &[taco_writer::MemberSpan]| {
                let base = spans.first().map_or(0, |s| s.data_offset);
                let records: Vec<Value> = row_groups
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        json!({"index": i, "rows": r.rows, "offset": base + r.start, "length": r.end - r.start})
                    })
                    .collect();
                json!({
                    "layout": "verbatim",
                    "source": file_name,
                    "source_size": len,
                    "num_rows": num_rows,
                    "num_row_groups": row_group_count,
                    "row_groups": records,
                    "footer": {"offset": base + data_end, "length": footer_len + 8},
                })
            };
            Ok(Plan {
                planner: "parquet",
                members,
                groups,
                section: Some(Box::new(section)),
                notes,
                total_bytes: len,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::balanced_runs;

    #[test]
    fn runs_are_consecutive_non_empty_and_balanced() {
        let sizes = [5, 1, 1, 1, 1, 1, 9, 2, 2];
        for parts in 1..=sizes.len() {
            let runs = balanced_runs(&sizes, parts);
            assert_eq!(runs.len(), parts);
            assert_eq!(runs.first().map(|r| r.start), Some(0));
            assert_eq!(runs.last().map(|r| r.end), Some(sizes.len()));
            for w in runs.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            assert!(runs.iter().all(|r| !r.is_empty()));
        }
        let runs = balanced_runs(&sizes, 3);
        let totals: Vec<u64> = runs.iter().map(|r| sizes[r.clone()].iter().sum()).collect();
        assert_eq!(*totals.iter().max().unwrap(), 10, "{runs:?}");
    }
}
