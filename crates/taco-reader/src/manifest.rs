//! Reading the manifest (`TACO_MANIFEST.parquet`, index v2, `docs/FORMAT.md` §5) by range: a
//! small one whole (one request, CRC-checked), a big one by its footer and then only the row
//! groups — and in them only the columns — a query needs, chosen by their statistics.

use crate::archive::invalid as invalid_archive;
use crate::located::NOT_LOOKED_UP;
use crate::{ArchiveError, ArchiveTail, CrcReader, Member, ReadAt, ReadError, TacoArchive};
use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::metadata::{
    FooterTail, ParquetMetaData, ParquetMetaDataReader, RowGroupMetaData,
};
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{ChunkReader, Length, RowGroupReader};
use parquet::file::serialized_reader::SerializedRowGroupReader;
use parquet::file::statistics::Statistics;
use parquet::record::Field;
use parquet::schema::types::Type;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;
use taco_format::Entry;
use taco_index::{
    entry_holding, CivilTime, EntryRecord, IndexError, TimeMatch, TimeSelection, MANIFEST_MEMBER,
};

/// A manifest up to this size is read whole, with one request, and its CRC-32 checked.
const READ_WHOLE: u64 = 1 << 20;
/// A bigger one: its last bytes first, which hold the footer unless the metadata is longer.
const FOOTER_READ: u64 = 64 * 1024;
/// Parquet's footer: metadata length and magic.
const FOOTER_LEN: u64 = 8;

/// The columns a time query reads, in this order.
const TIME_COLUMNS: [&str; 5] = [
    "name",
    "data_offset",
    "length",
    "time_start_text",
    "time_end_text",
];

/// Bytes of the manifest fetched so far, by offset in the manifest. The Parquet reader asks
/// only for bytes inside them (the footer, then the chunks of the chosen row groups); anything
/// else is an error rather than a hidden request.
struct Fetched {
    len: u64,
    pieces: BTreeMap<u64, Bytes>,
}

impl Fetched {
    fn slice(&self, start: u64, length: u64) -> Result<Bytes, ParquetError> {
        let (&at, piece) = self
            .pieces
            .range(..=start)
            .next_back()
            .ok_or_else(|| ParquetError::EOF(format!("bytes at {start} were not fetched")))?;
        let from = start - at;
        let to = from
            .checked_add(length)
            .filter(|&to| to <= piece.len() as u64);
        match to {
            Some(to) => Ok(piece.slice(from as usize..to as usize)),
            None => Err(ParquetError::EOF(format!(
                "bytes {start}..+{length} were not fetched"
            ))),
        }
    }
}

impl Length for Fetched {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Fetched {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> Result<Self::T, ParquetError> {
        let (&at, piece) = self
            .pieces
            .range(..=start)
            .next_back()
            .ok_or_else(|| ParquetError::EOF(format!("bytes at {start} were not fetched")))?;
        let from = usize::try_from(start - at)
            .ok()
            .filter(|&from| from <= piece.len())
            .ok_or_else(|| ParquetError::EOF(format!("bytes at {start} were not fetched")))?;
        Ok(bytes::Buf::reader(piece.slice(from..)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes, ParquetError> {
        self.slice(start, length as u64)
    }
}

impl<S: ReadAt> TacoArchive<S> {
    /// The manifest's data range and CRC-32 (see [`TacoArchive::query_time`] for how it is
    /// found).
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchMember`] when the archive has no manifest; as
    /// [`ArchiveTail::read`] and [`ArchiveTail::data_range`].
    pub fn manifest_range(&self) -> Result<(Entry, u32), ReadError> {
        self.with_manifest(|tail, member| Ok((tail.data_range(member)?, member.record.crc32)))?
            .ok_or_else(|| {
                invalid_archive(
                    &*self.source,
                    ArchiveError::NoSuchMember {
                        name: MANIFEST_MEMBER.to_string(),
                    },
                )
            })
    }

    /// The data range of every member, in [`TacoArchive::members`] order, as far as it is
    /// cheap to know (and `None` for a member whose local header taco does not accept, such
    /// as one with a data descriptor): locally from each local header; remotely from the manifest when the
    /// archive has one (a request or two, each row checked to lie inside its member's local
    /// entry; taco's own members, which it does not list, from their local headers in one
    /// run), else only for local headers in the tail already read (`None` for the others:
    /// reading them would mean reading the archive's data, which is what
    /// [`crate::Archive::data_ranges`] does).
    ///
    /// # Errors
    /// [`ArchiveError::BadManifest`] for a row that disagrees with the central directory; as
    /// [`crate::Archive::data_ranges`].
    pub fn data_ranges(&self) -> Result<Vec<Option<Entry>>, ReadError> {
        let directory = self.directory()?;
        let members = directory.members();
        if !self.source.reads_are_requests() {
            return directory.data_ranges_where(|_| true, false);
        }
        let tail_start = directory.tail_offset();
        let in_tail = |m: &Member| m.header_offset() >= tail_start;
        let manifest = members
            .iter()
            .find(|m| m.record.name == MANIFEST_MEMBER.as_bytes());
        let Some(manifest) = manifest.filter(|_| !members.iter().all(in_tail)) else {
            return directory.data_ranges_where(in_tail, false);
        };
        let (fetched, metadata, data) = self.manifest_footer(directory, manifest)?;
        let mut rows = std::collections::HashMap::new();
        for_each_member_row(
            &*self.source,
            fetched,
            &metadata,
            data,
            |name, offset, length, _| {
                rows.insert(name.to_string(), (offset, length));
                Ok(())
            },
        )?;
        // taco's own members (and any the manifest lacks) from their local headers.
        let unlisted = |m: &Member| {
            let name = m.name_lossy();
            NOT_LOOKED_UP.contains(&name.as_str()) || !rows.contains_key(&name)
        };
        let from_headers = directory.data_ranges_where(unlisted, false)?;
        let limit = directory.directory_end().cd_offset;
        members
            .iter()
            .zip(from_headers)
            .map(|(member, from_header)| {
                let name = member.name_lossy();
                let Some(&(offset, length)) = rows.get(&name).filter(|_| !unlisted(member)) else {
                    return Ok(from_header);
                };
                // The data starts after the fixed part and the name, and at most a maximal
                // extra field later; it is as long as the central record says.
                let header_min = member.header_offset()
                    + (taco_format::LOCAL_FIXED_LEN + member.record.name.len()) as u64;
                let data = u64::try_from(offset)
                    .ok()
                    .zip(u64::try_from(length).ok())
                    .map(|(o, l)| Entry::new(o, l))
                    .filter(|d| {
                        d.offset >= header_min
                            && d.offset - header_min <= u64::from(u16::MAX)
                            && d.length == member.record.compressed_size
                            && d.end().is_some_and(|end| end <= limit)
                    });
                data.map(Some).ok_or_else(|| {
                    bad_manifest(
                        &*self.source,
                        format!(
                            "it places {name:?} at {offset}:{length}, outside its local entry \
                             at {}",
                            member.header_offset()
                        ),
                    )
                })
            })
            .collect()
    }

    /// A reader of the manifest's data that checks its CRC-32 as the last byte arrives, and
    /// the data's range.
    ///
    /// # Errors
    /// As [`TacoArchive::manifest_range`]; read errors.
    pub fn open_manifest(&self) -> Result<(Entry, CrcReader<'_>), ReadError> {
        let (range, crc32) = self.manifest_range()?;
        let reader = self.source.open_range(range)?;
        let label = self.source.label();
        let name = MANIFEST_MEMBER.to_string();
        Ok((
            range,
            CrcReader::new(Box::new(reader), name, crc32, range, label),
        ))
    }

    /// Calls `f` with the manifest's central record and the tail (or the whole directory, when
    /// already read) to read it through. The manifest is the last member, or the last but one
    /// before a v1 index, so its record is in the archive's tail: one read of the last 64 KiB,
    /// without the rest of the central directory. `None` when the archive has no manifest.
    fn with_manifest<T>(
        &self,
        f: impl FnOnce(&ArchiveTail<Arc<S>>, &Member) -> Result<T, ReadError>,
    ) -> Result<Option<T>, ReadError> {
        if let Some(directory) = self.directory.get() {
            return match directory.member(MANIFEST_MEMBER) {
                Some(member) => f(directory, member).map(Some),
                None => Ok(None),
            };
        }
        let tail = ArchiveTail::read(Arc::clone(&self.source))?;
        match tail
            .last_members(2)
            .into_iter()
            .find(|m| m.record.name == MANIFEST_MEMBER.as_bytes())
        {
            Some(member) => f(&tail, &member).map(Some),
            None => Ok(None),
        }
    }

    /// The manifest's planner and entry records (its key-value metadata), read from its
    /// footer only.
    ///
    /// # Errors
    /// [`ArchiveError::BadManifest`] when the entries do not parse; read errors.
    pub(crate) fn manifest_entries(
        &self,
        tail: &ArchiveTail<Arc<S>>,
        member: &Member,
    ) -> Result<(Option<String>, Vec<EntryRecord>), ReadError> {
        let (_, metadata, _) = self.manifest_footer(tail, member)?;
        manifest_records(&*self.source, &metadata)
    }

    /// Time query through the manifest, `None` when the archive has none.
    pub(crate) fn query_manifest(
        &self,
        selection: &TimeSelection,
    ) -> Result<Option<Vec<TimeMatch>>, ReadError> {
        self.with_manifest(|tail, member| {
            let (fetched, metadata, data) = self.manifest_footer(tail, member)?;
            // Member data lies before the manifest's local header.
            let limit = member.header_offset();
            self.query_manifest_time(fetched, &metadata, data, limit, selection)
        })
    }

    /// The members of a `pack-netcdf` archive whose times overlap `selection`, from its
    /// manifest (`fetched` so far, with its `metadata`; its data at `data` when more must be
    /// read): row groups whose time statistics rule them out are never read, the others one
    /// run of neighbours at a time. Member data must end by `limit`.
    fn query_manifest_time(
        &self,
        fetched: Fetched,
        metadata: &ParquetMetaData,
        data: Option<Entry>,
        limit: u64,
        selection: &TimeSelection,
    ) -> Result<Vec<TimeMatch>, ReadError> {
        let source = &*self.source;
        let bad = |problem: String| bad_manifest(source, problem);
        let (planner, entries) = manifest_records(source, metadata)?;
        let planner = planner.unwrap_or_default();
        if planner != "netcdf" {
            return Err(invalid_archive(
                source,
                IndexError::WrongPlanner {
                    expected: "netcdf",
                    found: planner,
                },
            ));
        }
        let columns = metadata.file_metadata().schema_descr().columns();
        let column = |name: &str| columns.iter().position(|c| c.name() == name);
        let (Some(start_col), Some(end_col)) = (column("time_start"), column("time_end")) else {
            return Err(bad("it has no time_start and time_end columns".into()));
        };
        let (projected, projection) = project(metadata, &TIME_COLUMNS)
            .ok_or_else(|| bad(format!("it lacks one of the columns {TIME_COLUMNS:?}")))?;
        let mut spans = Vec::new();
        for (i, group) in metadata.row_groups().iter().enumerate() {
            let min_start = int64_bound(group.column(start_col).statistics(), true);
            let max_end = int64_bound(group.column(end_col).statistics(), false);
            if selection.may_overlap_millis(min_start, max_end) {
                let (lo, hi) = columns_span(i, group, &projected, fetched.len).map_err(bad)?;
                spans.push((i, lo, hi));
            }
        }
        let mut matches = Vec::new();
        for_each_group(source, data, &Arc::new(fetched), &spans, |i, chunk| {
            group_rows(source, chunk, metadata.row_group(i), &projection, |row| {
                let mut fields = row.get_column_iter().map(|(_, field)| field);
                let (name, offset, length, start, end) = (
                    fields.next(),
                    fields.next(),
                    fields.next(),
                    fields.next(),
                    fields.next(),
                );
                let (
                    Some(Field::Str(name)),
                    Some(&Field::Long(offset)),
                    Some(&Field::Long(length)),
                ) = (name, offset, length)
                else {
                    return Err(bad("a row without name, data_offset and length".into()));
                };
                let time = |field: Option<&Field>| match field {
                    Some(Field::Str(text)) => text.parse::<CivilTime>().ok(),
                    _ => None,
                };
                let (Some(start), Some(end)) = (time(start), time(end)) else {
                    return Err(invalid_archive(
                        source,
                        IndexError::MissingTime { name: name.clone() },
                    ));
                };
                let (Ok(data_offset), Ok(length)) = (u64::try_from(offset), u64::try_from(length))
                else {
                    return Err(bad(format!("{name:?} has a negative offset or length")));
                };
                if data_offset.checked_add(length).is_none_or(|e| e > limit) {
                    return Err(invalid_archive(
                        source,
                        ArchiveError::IndexOutside {
                            name: name.clone(),
                            offset: data_offset,
                            length,
                            limit,
                        },
                    ));
                }
                if selection.overlaps(start, end) {
                    matches.push(TimeMatch {
                        name: name.clone(),
                        data_offset,
                        length,
                        start,
                        end,
                        entry: entry_holding(&entries, data_offset, length),
                    });
                }
                Ok(())
            })
        })?;
        Ok(matches)
    }

    /// The manifest's bytes fetched to read its footer, its decoded metadata, and its data
    /// range when more of it may be read. A small manifest is read whole with its local
    /// header (no read at all when the tail holds it) and CRC-checked; a bigger one costs a
    /// read of its local header and one of its last 64 KiB (two when the metadata is longer).
    fn manifest_footer(
        &self,
        tail: &ArchiveTail<Arc<S>>,
        member: &Member,
    ) -> Result<(Fetched, ParquetMetaData, Option<Entry>), ReadError> {
        let size = member.record.compressed_size;
        let mut fetched = Fetched::empty(size);
        let data = if size <= READ_WHOLE {
            fetched
                .pieces
                .insert(0, Bytes::from(tail.read_member(member)?));
            None
        } else {
            Some(tail.data_range(member)?)
        };
        let metadata = read_footer(&*self.source, data, &mut fetched)?;
        Ok((fetched, metadata, data))
    }
}

/// Exactly the bytes of `range` of `source` (callers bound the range by the manifest's length,
/// itself checked against the archive: never sized by an unchecked number).
fn read_exact<S: ReadAt>(source: &S, range: Entry) -> Result<Vec<u8>, ReadError> {
    let mut bytes = vec![0u8; usize::try_from(range.length).unwrap_or(usize::MAX)];
    source.read_exact_at(&mut bytes, range.offset)?;
    Ok(bytes)
}

/// The planner and the entry records a manifest keeps in its key-value metadata
/// (`taco.planner`, `taco.entries`).
///
/// # Errors
/// [`ArchiveError::BadManifest`] when the entries do not parse.
fn manifest_records<S: ReadAt>(
    source: &S,
    metadata: &ParquetMetaData,
) -> Result<(Option<String>, Vec<EntryRecord>), ReadError> {
    let kv = |key: &str| {
        metadata
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|k| k.key == key))
            .and_then(|k| k.value.clone())
    };
    let entries = match kv("taco.entries") {
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| bad_manifest(source, format!("its entries do not parse: {e}")))?,
        None => Vec::new(),
    };
    Ok((kv("taco.planner"), entries))
}

fn bad_manifest<S: ReadAt>(source: &S, problem: String) -> ReadError {
    invalid_archive(source, ArchiveError::BadManifest { problem })
}

/// Decodes the footer of the manifest `fetched` holds part of, reading what it lacks from its
/// data at `data` (`None`: all of it is fetched already): its last 64 KiB, then the rest of
/// the metadata if longer.
fn read_footer<S: ReadAt>(
    source: &S,
    data: Option<Entry>,
    fetched: &mut Fetched,
) -> Result<ParquetMetaData, ReadError> {
    let bad = |problem: String| bad_manifest(source, problem);
    let size = fetched.len;
    if size < FOOTER_LEN {
        return Err(bad(format!("{size} bytes hold no Parquet footer")));
    }
    let read = |at: u64| -> Result<Bytes, ReadError> {
        let range = data.ok_or_else(|| bad(format!("bytes from {at} were not read")))?;
        // The central record's size is a claim: bounded by the archive before reading.
        let file_len = source.size()?;
        if range.end().is_none_or(|end| end > file_len) {
            return Err(invalid_archive(
                source,
                ArchiveError::RangeOutside {
                    offset: range.offset,
                    length: range.length,
                    file_len,
                },
            ));
        }
        Ok(Bytes::from(read_exact(
            source,
            Entry::new(range.offset + at, size - at),
        )?))
    };
    if !fetched.covers(size - FOOTER_LEN, size) {
        let at = size - FOOTER_READ.min(size);
        fetched.pieces.insert(at, read(at)?);
    }
    let footer: [u8; FOOTER_LEN as usize] = fetched
        .slice(size - FOOTER_LEN, FOOTER_LEN)
        .map_err(|e| bad(e.to_string()))?
        .as_ref()
        .try_into()
        .map_err(|_| bad("short footer".into()))?;
    let footer = FooterTail::try_new(&footer).map_err(|e| bad(e.to_string()))?;
    let metadata_len = footer.metadata_length() as u64;
    if metadata_len > crate::MAX_MEMBER_IN_MEMORY {
        return Err(bad(format!(
            "its footer claims {metadata_len} bytes of metadata"
        )));
    }
    let Some(metadata_at) = (size - FOOTER_LEN).checked_sub(metadata_len) else {
        return Err(bad(format!(
            "its footer claims {metadata_len} bytes of metadata in {size} bytes"
        )));
    };
    if !fetched.covers(metadata_at, size) {
        fetched.pieces.insert(metadata_at, read(metadata_at)?);
    }
    let metadata_bytes = fetched
        .slice(metadata_at, metadata_len)
        .map_err(|e| bad(e.to_string()))?;
    guarded(source, || {
        ParquetMetaDataReader::decode_metadata(&metadata_bytes).map_err(|e| bad(e.to_string()))
    })
}

impl Fetched {
    /// Nothing fetched yet of a manifest of `len` bytes.
    fn empty(len: u64) -> Fetched {
        Fetched {
            len,
            pieces: BTreeMap::new(),
        }
    }

    /// Whether `[lo, hi)` lies inside one fetched piece already.
    fn covers(&self, lo: u64, hi: u64) -> bool {
        self.slice(lo, hi - lo).is_ok()
    }
}

/// The bytes of row group `i` (`group`) from its first to its last chunk of `columns`: read
/// with one request (the columns between cost less than another round trip). The problem,
/// when a chunk's offset or size is negative (parquet's own `byte_range` would panic on
/// those: these are checked first), reaches past the manifest's `len` bytes, or the span is
/// larger than [`crate::MAX_MEMBER_IN_MEMORY`].
fn columns_span(
    i: usize,
    group: &RowGroupMetaData,
    columns: &[usize],
    len: u64,
) -> Result<(u64, u64), String> {
    let (mut lo, mut hi) = (u64::MAX, 0u64);
    for &c in columns {
        let chunk = group.column(c);
        let start = chunk
            .dictionary_page_offset()
            .unwrap_or(chunk.data_page_offset());
        let (Ok(at), Ok(size)) = (u64::try_from(start), u64::try_from(chunk.compressed_size()))
        else {
            return Err(format!(
                "row group {i} has a column chunk at a negative offset or of negative size"
            ));
        };
        let end = at
            .checked_add(size)
            .filter(|&end| end <= len)
            .ok_or_else(|| format!("row group {i} reaches past its {len} bytes"))?;
        lo = lo.min(at);
        hi = hi.max(end);
    }
    if hi.saturating_sub(lo) > crate::MAX_MEMBER_IN_MEMORY {
        return Err(format!("row group {i} claims {} bytes", hi - lo));
    }
    Ok((lo, hi))
}

/// Hands each row group of `spans` (index, first and last byte of its columns) to
/// `each(index, chunk)` with a chunk holding those bytes, in order: from `fetched` when it
/// holds them, else read from the manifest's data at `data` — neighbours within 64 KiB with
/// one request, up to 8 MiB (the rule of [`crate::read_ranges`]) — one run at a time, so
/// memory holds one run, not the manifest.
fn for_each_group<S: ReadAt>(
    source: &S,
    data: Option<Entry>,
    fetched: &Arc<Fetched>,
    spans: &[(usize, u64, u64)],
    mut each: impl FnMut(usize, &Arc<Fetched>) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut run: Option<Arc<Fetched>> = None;
    for (k, &(i, lo, hi)) in spans.iter().enumerate() {
        if fetched.covers(lo, hi) {
            each(i, fetched)?;
            continue;
        }
        let chunk = match run.take().filter(|r| r.covers(lo, hi)) {
            Some(chunk) => chunk,
            None => {
                let data = data.ok_or_else(|| {
                    bad_manifest(source, format!("row group {i} lies outside the bytes read"))
                })?;
                let mut end = hi;
                for &(_, next_lo, next_hi) in &spans[k + 1..] {
                    let joins = next_lo >= end
                        && next_lo - end <= crate::COALESCE_GAP
                        && next_hi - lo <= crate::COALESCE_MAX;
                    if !joins {
                        break;
                    }
                    end = next_hi;
                }
                let bytes = read_exact(source, Entry::new(data.offset + lo, end - lo))?;
                let mut chunk = Fetched::empty(fetched.len);
                chunk.pieces.insert(lo, Bytes::from(bytes));
                Arc::new(chunk)
            }
        };
        each(i, &chunk)?;
        run = Some(chunk);
    }
    Ok(())
}

/// Hands every row of `group` (its `projection` columns, read from `chunk`) to `each`.
fn group_rows<S: ReadAt>(
    source: &S,
    chunk: &Arc<Fetched>,
    group: &RowGroupMetaData,
    projection: &Type,
    mut each: impl FnMut(parquet::record::Row) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let bad = |e: ParquetError| bad_manifest(source, e.to_string());
    guarded(source, || {
        let properties = Arc::new(ReaderProperties::builder().build());
        let reader = SerializedRowGroupReader::new(Arc::clone(chunk), group, None, properties)
            .map_err(bad)?;
        for row in reader.get_row_iter(Some(projection.clone())).map_err(bad)? {
            each(row.map_err(bad)?)?;
        }
        Ok(())
    })
}

thread_local! {
    /// Set while this thread runs the Parquet decoder on a manifest (see [`guarded`]).
    static IN_DECODER: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside the Parquet decoder reading a manifest, where a panic is
/// caught and reported as [`ArchiveError::BadManifest`]: lets a program's panic hook stay
/// quiet about it (the `taco` binary's does), so the user sees one error line.
pub fn in_manifest_decoder() -> bool {
    IN_DECODER.with(Cell::get)
}

/// Runs `decode` (the third-party Parquet decoder over hostile bytes, which panics on some
/// malformed files: an index out of bounds, found by flipping footer bytes) and turns a panic
/// into [`ArchiveError::BadManifest`].
fn guarded<S: ReadAt, T>(
    source: &S,
    decode: impl FnOnce() -> Result<T, ReadError>,
) -> Result<T, ReadError> {
    let was = IN_DECODER.with(|flag| flag.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode));
    IN_DECODER.with(|flag| flag.set(was));
    result.unwrap_or_else(|_| {
        Err(bad_manifest(
            source,
            "its Parquet data is malformed (the decoder failed on it)".into(),
        ))
    })
}

/// A column's minimum (or maximum) as an i64 when every value of the group has one; `None`
/// when some value is null or the statistics are missing (the group cannot be ruled out).
fn int64_bound(statistics: Option<&Statistics>, min: bool) -> Option<i64> {
    match statistics? {
        Statistics::Int64(s) if s.null_count_opt() == Some(0) => {
            if min {
                s.min_opt().copied()
            } else {
                s.max_opt().copied()
            }
        }
        _ => None,
    }
}

/// The columns validation compares, in this order.
const MEMBER_COLUMNS: [&str; 4] = ["name", "data_offset", "length", "crc32"];

/// The manifest's column chunks `names`: their leaf positions, and a projection of the
/// manifest's own schema to them (so any Parquet writer's root name is accepted).
fn project(metadata: &ParquetMetaData, names: &[&str]) -> Option<(Vec<usize>, Type)> {
    let columns = metadata.file_metadata().schema_descr().columns();
    let positions = names
        .iter()
        .map(|name| columns.iter().position(|c| c.name() == *name))
        .collect::<Option<Vec<_>>>()?;
    let root = metadata.file_metadata().schema();
    let fields = names
        .iter()
        .map(|name| {
            root.get_fields()
                .iter()
                .find(|f| f.name() == *name)
                .cloned()
        })
        .collect::<Option<Vec<_>>>()?;
    let projection = Type::group_type_builder(root.name())
        .with_fields(fields)
        .build()
        .ok()?;
    Some((positions, projection))
}

/// Index v2, for `validate` (normal and deep): the manifest's rows must be exactly the
/// archive's members other than the format's own, in archive order — name, data offset,
/// length and CRC-32 as the central directory and local headers say — so a query can never
/// point at bytes that are not the member it names. Reads the footer, then one row group at a
/// time (memory bounded by a row group, whatever the member count).
pub(crate) fn check_manifest<S: ReadAt>(
    source: &S,
    ranges: &[(&Member, Entry)],
) -> Result<(), ReadError> {
    let Some(&(_, range)) = ranges
        .iter()
        .find(|(m, _)| m.record.name == MANIFEST_MEMBER.as_bytes())
    else {
        return Ok(());
    };
    let bad = |problem: String| bad_manifest(source, problem);
    let mut expected: Vec<&(&Member, Entry)> = ranges
        .iter()
        .filter(|(m, _)| !NOT_LOOKED_UP.contains(&m.name_lossy().as_str()))
        .collect();
    expected.sort_by_key(|(_, data)| data.offset);

    let mut fetched = Fetched::empty(range.length);
    let metadata = read_footer(source, Some(range), &mut fetched)?;
    let mut row_number = 0usize;
    for_each_member_row(
        source,
        fetched,
        &metadata,
        Some(range),
        |name, offset, length, crc| {
            let Some((member, data)) = expected.get(row_number) else {
                return Err(bad(format!(
                    "it has more rows than the archive's {} members",
                    expected.len()
                )));
            };
            let actual_name = member.name_lossy();
            let listed = (name, offset, length, crc);
            let actual = (
                actual_name.as_str(),
                i64::try_from(data.offset).unwrap_or(-1),
                i64::try_from(data.length).unwrap_or(-1),
                i64::from(member.record.crc32),
            );
            if listed != actual {
                return Err(bad(format!(
                "row {row_number} lists {name:?} at {offset}:{length} with CRC-32 {crc:#010x}; \
                 the archive has {actual_name:?} at {}:{} with {:#010x}",
                data.offset, data.length, member.record.crc32
            )));
            }
            row_number += 1;
            Ok(())
        },
    )?;
    if row_number != expected.len() {
        return Err(bad(format!(
            "it lists {row_number} members, the archive has {}",
            expected.len()
        )));
    }
    Ok(())
}

/// Calls `row` with the name, data offset, length and CRC-32 of each row of the manifest, in
/// order: `fetched` holds what is read of it so far and `metadata` its footer; the rest is read
/// from its data at `data` (`None`: all fetched) one row group at a time (memory bounded by a
/// row group, whatever the member count).
///
/// # Errors
/// [`ArchiveError::BadManifest`] for a manifest without those columns or a row without those
/// values; read errors; what `row` returns.
fn for_each_member_row<S: ReadAt>(
    source: &S,
    fetched: Fetched,
    metadata: &ParquetMetaData,
    data: Option<Entry>,
    mut row: impl FnMut(&str, i64, i64, i64) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let bad = |problem: String| bad_manifest(source, problem);
    let (positions, projection) = project(metadata, &MEMBER_COLUMNS)
        .ok_or_else(|| bad(format!("it lacks one of the columns {MEMBER_COLUMNS:?}")))?;
    let spans = metadata
        .row_groups()
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let (lo, hi) = columns_span(i, group, &positions, fetched.len).map_err(bad)?;
            Ok((i, lo, hi))
        })
        .collect::<Result<Vec<_>, ReadError>>()?;
    let mut row_number = 0usize;
    for_each_group(source, data, &Arc::new(fetched), &spans, |i, chunk| {
        group_rows(
            source,
            chunk,
            metadata.row_group(i),
            &projection,
            |fields| {
                let mut fields = fields.get_column_iter().map(|(_, field)| field);
                let (
                    Some(Field::Str(name)),
                    Some(&Field::Long(offset)),
                    Some(&Field::Long(length)),
                    Some(&Field::Long(crc)),
                ) = (fields.next(), fields.next(), fields.next(), fields.next())
                else {
                    return Err(bad(format!(
                        "row {row_number} lacks a name, offset, length or CRC-32"
                    )));
                };
                row_number += 1;
                row(name, offset, length, crc)
            },
        )
    })
}
