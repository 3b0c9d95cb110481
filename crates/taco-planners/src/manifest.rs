//! The manifest (index v2, `docs/FORMAT.md` §5): `TACO_MANIFEST.parquet`, a Parquet file with
//! one row per member — name, data offset, length, CRC-32 and the planner's typed columns — in
//! archive order (the planner's key order), in row groups of 65 536 rows with statistics, and
//! the entries in the file's key-value metadata. Any Parquet reader reads it from the bytes cut
//! out of the archive.

use crate::plan::PlannedMember;
use crate::PlanError;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use std::sync::Arc;
use taco_index::{CivilTime, EntryRecord};
use taco_writer::MemberSpan;

/// Rows per row group: a reader filtering on a key column skips whole groups by their
/// statistics.
const ROWS_PER_GROUP: usize = 65_536;

/// The manifest's schema. Planner columns are optional: each planner fills its own.
const SCHEMA: &str = "
message taco_manifest {
  required binary name (STRING);
  required int64 data_offset;
  required int64 length;
  required int64 crc32;
  optional int32 z;
  optional int32 x;
  optional int32 y;
  optional binary split (STRING);
  optional int64 first_row_group;
  optional int64 last_row_group;
  optional int64 rows;
  optional int64 time_start (TIMESTAMP(MILLIS, true));
  optional int64 time_end (TIMESTAMP(MILLIS, true));
  optional binary time_start_text (STRING);
  optional binary time_end_text (STRING);
  optional binary calendar (STRING);
  optional binary units (STRING);
}
";

/// Encodes the manifest of the written `members` (with their `spans`) and `entries` into
/// `out`, one row group at a time (memory bounded by a row group, not the member count).
///
/// # Errors
/// [`PlanError::Manifest`] if the Parquet writer fails (writing to `out` included).
pub(crate) fn encode_manifest(
    planner: &str,
    members: &[PlannedMember],
    spans: &[MemberSpan],
    entries: &[EntryRecord],
    out: impl std::io::Write + Send,
) -> Result<(), PlanError> {
    let fail = |e: parquet::errors::ParquetError| PlanError::Manifest(e.to_string());
    let schema = Arc::new(parse_message_type(SCHEMA).map_err(fail)?);
    let entries_json = serde_json::to_string(entries)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(vec![
            KeyValue::new("taco.manifest_version".into(), "1".to_string()),
            KeyValue::new("taco.planner".into(), planner.to_string()),
            KeyValue::new("taco.entries".into(), entries_json),
        ]))
        .build();
    let mut writer = SerializedFileWriter::new(out, schema, Arc::new(properties)).map_err(fail)?;
    let mut start = 0;
    while start < members.len().min(spans.len()) {
        let end = (start + ROWS_PER_GROUP).min(members.len()).min(spans.len());
        let group: Vec<(&PlannedMember, &MemberSpan)> =
            members[start..end].iter().zip(&spans[start..end]).collect();
        start = end;
        let mut row_group = writer.next_row_group().map_err(fail)?;
        let mut column = 0usize;
        while let Some(mut writer) = row_group.next_column().map_err(fail)? {
            write_column(column, &group, &mut writer).map_err(fail)?;
            writer.close().map_err(fail)?;
            column += 1;
        }
        row_group.close().map_err(fail)?;
    }
    writer.close().map_err(fail)?;
    Ok(())
}

type Rows<'a> = [(&'a PlannedMember, &'a MemberSpan)];

/// Writes column `index` of SCHEMA for `rows`.
fn write_column(
    index: usize,
    rows: &Rows<'_>,
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
) -> parquet::errors::Result<()> {
    let int64 = |f: &dyn Fn(&PlannedMember, &MemberSpan) -> i64| -> Vec<i64> {
        rows.iter().map(|(m, s)| f(m, s)).collect()
    };
    match index {
        0 => {
            let names: Vec<ByteArray> = rows
                .iter()
                .map(|(m, _)| ByteArray::from(m.name.as_str()))
                .collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&names, None, None)?;
        }
        1 => write_i64(column, &int64(&|_, s| as_i64(s.data_offset)))?,
        2 => write_i64(column, &int64(&|_, s| as_i64(s.data_len)))?,
        3 => write_i64(column, &int64(&|_, s| i64::from(s.crc32)))?,
        4..=6 => {
            let value = |m: &PlannedMember| match index {
                4 => m.fields.get().z,
                5 => m.fields.get().x,
                _ => m.fields.get().y,
            };
            let (values, levels) = optional(rows, |m| value(m).map(|v| v as i32));
            column
                .typed::<Int32Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        7 => write_text(column, rows, |m| m.fields.get().split.clone())?,
        8 | 9 => {
            let (values, levels) = optional(rows, |m| {
                let fields = m.fields.get();
                let groups = fields.row_groups.as_ref()?;
                let pick = if index == 8 {
                    groups.first()
                } else {
                    groups.last()
                };
                pick.map(|&g| as_i64(g))
            });
            column
                .typed::<Int64Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        10 => {
            let (values, levels) = optional(rows, |m| m.fields.get().rows);
            column
                .typed::<Int64Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        11 | 12 => {
            let (values, levels) = optional(rows, |m| {
                let time = if index == 11 {
                    m.fields.get().start
                } else {
                    m.fields.get().end
                };
                time.and_then(CivilTime::unix_millis)
            });
            column
                .typed::<Int64Type>()
                .write_batch(&values, Some(&levels), None)?;
        }
        13 => write_text(column, rows, |m| {
            m.fields.get().start.map(|t| t.to_string())
        })?,
        14 => write_text(column, rows, |m| m.fields.get().end.map(|t| t.to_string()))?,
        15 => write_text(column, rows, |m| m.fields.get().calendar.clone())?,
        _ => write_text(column, rows, |m| m.fields.get().units.clone())?,
    }
    Ok(())
}

fn write_i64(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    values: &[i64],
) -> parquet::errors::Result<()> {
    column
        .typed::<Int64Type>()
        .write_batch(values, None, None)?;
    Ok(())
}

fn write_text(
    column: &mut parquet::file::writer::SerializedColumnWriter<'_>,
    rows: &Rows<'_>,
    value: impl Fn(&PlannedMember) -> Option<String>,
) -> parquet::errors::Result<()> {
    let (values, levels) = optional(rows, |m| value(m).map(|s| ByteArray::from(s.as_str())));
    column
        .typed::<ByteArrayType>()
        .write_batch(&values, Some(&levels), None)?;
    Ok(())
}

/// The present values of an optional column and every row's definition level.
fn optional<T>(rows: &Rows<'_>, value: impl Fn(&PlannedMember) -> Option<T>) -> (Vec<T>, Vec<i16>) {
    let mut values = Vec::new();
    let mut levels = Vec::with_capacity(rows.len());
    for (member, _) in rows {
        match value(member) {
            Some(v) => {
                values.push(v);
                levels.push(1);
            }
            None => levels.push(0),
        }
    }
    (values, levels)
}

/// Offsets and lengths fit i64 in any archive a file system holds.
fn as_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
