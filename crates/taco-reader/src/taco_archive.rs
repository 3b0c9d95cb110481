//! [`TacoArchive`]: the one front door to an archive, local or remote.

use crate::archive::invalid as invalid_archive;
use crate::{
    read_header, Archive, ArchiveError, CrcReader, ExtractOptions, ExtractReport, Level, Member,
    ReadAt, ReadError, RemoteOptions, Source, ValidationReport,
};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use taco_format::{CrcPolicy, Entry, ParsedHeader};
use taco_index::{Index, TimeMatch, TimeSelection, INDEX_MEMBER};

/// An open TACO archive. Opening reads the first 64 KiB (one read, one request remotely): the
/// header and, in an index-v2 archive, the lookup directory's root;
/// everything else — the central directory, members, entries — is read when first asked for,
/// and the directory only once. Safe to share between threads.
///
/// ```
/// use taco_reader::TacoArchive;
/// # let mut w = taco_writer::ArchiveWriter::new(std::io::Cursor::new(Vec::new()), Default::default())?;
/// # let a = w.add_bytes("a.txt", b"hello", None)?;
/// # let b = w.add_bytes("dir/b.bin", &[7u8; 300], None)?;
/// # let bytes = w.finish(&[a.data_entry(), b.data_entry()])?.0.into_inner();
/// // `bytes` holds an archive; `TacoArchive::open("x.taco" or a URL, ...)` reads a file or object.
/// let archive = TacoArchive::from_source(bytes)?;
/// assert_eq!(archive.entries()?.len(), 2);
///
/// let mut entry = Vec::new();
/// archive.open_entry(0)?.read_to_end(&mut entry)?; // exactly the entry's byte range
/// assert_eq!(entry, b"hello");
///
/// let names: Vec<String> = archive.members()?.iter().map(|m| m.name_lossy()).collect();
/// assert_eq!(names, ["TACO_HEADER", "a.txt", "dir/b.bin"]);
/// assert_eq!(archive.read_member("dir/b.bin")?, [7u8; 300]); // CRC-checked
/// # use std::io::Read;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TacoArchive<S: ReadAt = Source> {
    pub(crate) source: Arc<S>,
    header: OnceLock<ParsedHeader>,
    pub(crate) directory: OnceLock<Archive<Arc<S>>>,
    /// The index and the offset where member data ends (the central directory's start).
    index: OnceLock<(Index, u64)>,
    /// The first [`taco_format::HEAD_LEN`] bytes and the lookup directory root in them.
    pub(crate) head: OnceLock<crate::located::Head>,
    /// Lookup directory leaves fetched so far, by offset: a command looking up several members
    /// reads each block once.
    pub(crate) leaves: crate::located::LeafCache,
}

/// Which members [`TacoArchive::extract`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// Every member but `TACO_HEADER`.
    All,
    /// The members entry `i` holds.
    Entry(usize),
}

impl<S: ReadAt> TacoArchive<S> {
    /// The first of `options.patterns` that selects no member of the archive (reads the
    /// central directory, only when there are patterns).
    ///
    /// # Errors
    /// As [`TacoArchive::members`].
    pub fn pattern_matching_nothing<'o>(
        &self,
        options: &'o ExtractOptions,
    ) -> Result<Option<&'o taco_format::NamePattern>, ReadError> {
        if options.patterns.is_empty() {
            return Ok(None);
        }
        // Only members extraction may write: taco's own count with `taco_members` alone.
        let names: Vec<String> = self
            .members()?
            .iter()
            .map(|m| m.name_lossy())
            .filter(|name| name != "TACO_HEADER")
            .filter(|name| {
                options.taco_members || !crate::located::NOT_LOOKED_UP.contains(&name.as_str())
            })
            .collect();
        Ok(options
            .patterns
            .iter()
            .find(|p| !names.iter().any(|name| p.matches(name))))
    }
}

impl TacoArchive<Source> {
    /// Opens a local path, or a URL (`http(s)://`, `s3://`; with the `remote` feature), and
    /// reads its first 64 KiB (see [`TacoArchive::from_source`]).
    ///
    /// # Errors
    /// As [`Source::open`] and [`TacoArchive::from_source`].
    pub fn open(src: &str, options: &RemoteOptions) -> Result<TacoArchive<Source>, ReadError> {
        TacoArchive::from_source(Source::open(src, options)?)
    }

    /// Opens a local path or a URL without reading anything yet: the header too is read on
    /// first use. For work that never needs it (listing, fetching a member by name), which
    /// then costs one request less remotely.
    ///
    /// # Errors
    /// As [`Source::open`].
    pub fn open_lazy(src: &str, options: &RemoteOptions) -> Result<TacoArchive<Source>, ReadError> {
        Ok(TacoArchive::from_source_lazy(Source::open(src, options)?))
    }
}

impl<S: ReadAt> TacoArchive<S> {
    /// Opens an archive held by any positioned-read source (a buffer, a file, a caller's own
    /// [`ReadAt`]) with one read of its first 64 KiB: the header and, in an index-v2 archive,
    /// the lookup directory's root. A header whose CRC does not match is an error.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] when the first 157 bytes are not a TACO header or the lookup
    /// directory's root is malformed; read errors.
    pub fn from_source(source: S) -> Result<TacoArchive<S>, ReadError> {
        let archive = TacoArchive::from_source_lazy(source);
        archive.lookup()?;
        archive.header()?;
        Ok(archive)
    }

    /// An archive over `source` that reads nothing until asked (see [`TacoArchive::open_lazy`]).
    pub fn from_source_lazy(source: S) -> TacoArchive<S> {
        TacoArchive {
            source: Arc::new(source),
            header: OnceLock::new(),
            directory: OnceLock::new(),
            index: OnceLock::new(),
            head: OnceLock::new(),
            leaves: Default::default(),
        }
    }

    /// The source the archive is read from (for its label, or a remote source's statistics).
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The parsed header (read on first use by a lazily opened archive). A header whose CRC
    /// does not match is an error.
    ///
    /// # Errors
    /// [`ReadError::Invalid`] when the first 157 bytes are not a TACO header; read errors.
    pub fn header(&self) -> Result<&ParsedHeader, ReadError> {
        if let Some(header) = self.header.get() {
            return Ok(header);
        }
        // The head, when already read, holds the header: no second request.
        let header = match self.head.get() {
            Some(head) => taco_format::parse_header(&head.bytes, CrcPolicy::Strict)
                .map_err(|e| invalid_archive(&*self.source, e))?,
            None => read_header(&*self.source, CrcPolicy::Strict)?,
        };
        Ok(self.header.get_or_init(|| header))
    }

    /// The header's entries: absolute byte ranges of the archive, in order.
    ///
    /// # Errors
    /// As [`TacoArchive::header`].
    pub fn entries(&self) -> Result<&[Entry], ReadError> {
        Ok(&self.header()?.entries)
    }

    /// Entry `index`, checked to lie inside the archive.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchEntry`], [`ArchiveError::EntryOutside`]; reading the size.
    pub fn entry(&self, index: usize) -> Result<Entry, ReadError> {
        let entries = self.entries()?;
        let entry = *entries.get(index).ok_or_else(|| {
            invalid_archive(
                &*self.source,
                ArchiveError::NoSuchEntry {
                    index,
                    count: entries.len(),
                },
            )
        })?;
        let file_len = self.source.size()?;
        if !entry.fits_in(file_len) {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::EntryOutside {
                    index,
                    offset: entry.offset,
                    length: entry.length,
                    file_len,
                },
            ));
        }
        Ok(entry)
    }

    /// A reader of exactly entry `index`'s bytes: one streamed request for a remote archive.
    ///
    /// # Errors
    /// As [`TacoArchive::entry`].
    pub fn open_entry(&self, index: usize) -> Result<Box<dyn Read + '_>, ReadError> {
        let entry = self.entry(index)?;
        self.source.open_range(entry)
    }

    /// The central directory, read on first use (one read of the tail, plus one of the rest
    /// of the directory when it is bigger).
    ///
    /// # Errors
    /// As [`Archive::open`].
    pub fn directory(&self) -> Result<&Archive<Arc<S>>, ReadError> {
        if let Some(directory) = self.directory.get() {
            return Ok(directory);
        }
        let opened = Archive::open(Arc::clone(&self.source))?;
        Ok(self.directory.get_or_init(|| opened))
    }

    /// Every member in central directory order, `TACO_HEADER` included.
    ///
    /// # Errors
    /// As [`TacoArchive::directory`].
    pub fn members(&self) -> Result<&[Member], ReadError> {
        Ok(self.directory()?.members())
    }

    /// The member named `name`.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchMember`]; as [`TacoArchive::directory`].
    pub fn member(&self, name: &str) -> Result<&Member, ReadError> {
        self.directory()?.member(name).ok_or_else(|| {
            invalid_archive(
                &*self.source,
                ArchiveError::NoSuchMember {
                    name: name.to_string(),
                },
            )
        })
    }

    /// A reader of member `name`'s data that checks its CRC-32 as the last byte arrives (a
    /// mismatch is a read error carrying [`ArchiveError::CrcMismatch`]), and the data's
    /// absolute range. Its local header and data come with one request remotely.
    ///
    /// # Errors
    /// As [`TacoArchive::member`] and [`crate::ArchiveTail::open_member`].
    pub fn open_member(&self, name: &str) -> Result<(Entry, CrcReader<'_>), ReadError> {
        if let Some(located) = self.located_by_name(name)? {
            return self.open_located(&located);
        }
        let directory = self.directory()?;
        let member = self.member(name)?;
        let (range, reader) = directory.open_member(member)?;
        let reader = CrcReader::new(
            reader,
            member.name_lossy(),
            member.record.crc32,
            range,
            self.source.label(),
        );
        Ok((range, reader))
    }

    /// Member `name`'s data, read whole into memory and CRC-checked (for small members).
    ///
    /// # Errors
    /// As [`crate::ArchiveTail::read_member`] (members over 64 MiB are refused).
    pub fn read_member(&self, name: &str) -> Result<Vec<u8>, ReadError> {
        if let Some(located) = self.located_by_name(name)? {
            let length = located.data_len();
            if length > crate::archive::MAX_MEMBER_IN_MEMORY {
                return Err(invalid_archive(
                    &*self.source,
                    ArchiveError::TooLarge {
                        what: format!("member {name:?}"),
                        size: length,
                        limit: crate::archive::MAX_MEMBER_IN_MEMORY,
                    },
                ));
            }
            let (range, mut reader) = self.open_located(&located)?;
            let mut data = Vec::with_capacity(length as usize);
            reader.read_to_end(&mut data).map_err(|e| {
                ReadError::unwrap_io(e, |source| ReadError::Io {
                    source_label: self.source.label(),
                    offset: range.offset,
                    len: length,
                    source,
                })
            })?;
            return Ok(data);
        }
        let member = self.member(name)?;
        self.directory()?.read_member(member)
    }

    /// Reads ranges of the archive, handing each to `each(position, reader)` once: nearby
    /// ranges share a request, at most `jobs` requests run at once (see [`crate::read_ranges`]).
    ///
    /// # Errors
    /// The first error of a read or of `each`.
    pub fn read_ranges<E: From<ReadError> + Send>(
        &self,
        ranges: &[Entry],
        jobs: usize,
        each: impl Fn(usize, &mut dyn Read) -> Result<(), E> + Sync,
    ) -> Result<(), E>
    where
        S: Sync + Send,
    {
        crate::read_ranges(&*self.source, ranges, jobs, each)
    }

    /// The archive's index (`TACO_INDEX.json`, written by the planners), read on first use.
    /// It is the last member, so its central record is normally in the tail: then one read of
    /// the tail and one of the index, without the rest of the central directory.
    ///
    /// # Errors
    /// [`ArchiveError::NoIndex`]; [`ArchiveError::Index`] when it is not a valid index;
    /// reading errors ([`ArchiveError::TooLarge`] above 64 MiB).
    pub fn index(&self) -> Result<&Index, ReadError> {
        Ok(&self.index_and_limit()?.0)
    }

    fn index_and_limit(&self) -> Result<&(Index, u64), ReadError> {
        if let Some(cached) = self.index.get() {
            return Ok(cached);
        }
        let (bytes, limit) = match self.directory.get() {
            Some(directory) => (
                self.read_index_member(directory)?,
                directory.directory_end().cd_offset,
            ),
            None => {
                let tail = crate::ArchiveTail::read(Arc::clone(&self.source))?;
                let limit = tail.directory_end().cd_offset;
                match tail
                    .last_member()
                    .filter(|m| m.record.name == INDEX_MEMBER.as_bytes())
                {
                    Some(member) => (tail.read_member(&member)?, limit),
                    None => {
                        let opened = tail.into_archive()?;
                        let directory = self.directory.get_or_init(|| opened);
                        (self.read_index_member(directory)?, limit)
                    }
                }
            }
        };
        let index = Index::from_json(&bytes).map_err(|e| invalid_archive(&*self.source, e))?;
        Ok(self.index.get_or_init(|| (index, limit)))
    }

    fn read_index_member(&self, directory: &Archive<Arc<S>>) -> Result<Vec<u8>, ReadError> {
        let member = directory
            .member(INDEX_MEMBER)
            .ok_or_else(|| invalid_archive(&*self.source, ArchiveError::NoIndex))?;
        directory.read_member(member)
    }

    /// The index, checked to come from `planner`.
    pub(crate) fn index_of(&self, planner: &'static str) -> Result<(&Index, u64), ReadError> {
        let (index, limit) = self.index_and_limit()?;
        index
            .expect_planner(planner)
            .map_err(|e| invalid_archive(&*self.source, e))?;
        Ok((index, *limit))
    }

    /// The files of an archive written by `taco pack-netcdf` whose times overlap
    /// `selection`, each with the entry holding it, in archive order. Read from the manifest
    /// (index v2) when the archive has one — its central record from the archive's tail, then
    /// the whole manifest when small, else its footer and only the row groups whose time
    /// statistics may overlap — else from the v1 index.
    ///
    /// # Errors
    /// [`ArchiveError::BadManifest`], [`ArchiveError::IndexOutside`]; as
    /// [`TacoArchive::index`]; [`ArchiveError::Index`] for an index or manifest from another
    /// planner or a record without times.
    pub fn query_time(&self, selection: &TimeSelection) -> Result<Vec<TimeMatch>, ReadError> {
        if let Some(matches) = self.query_manifest(selection)? {
            return Ok(matches);
        }
        let (index, _) = self.index_of("netcdf")?;
        index
            .select_time(selection)
            .map_err(|e| invalid_archive(&*self.source, e))
    }

    /// Checks the archive at `level` (see [`crate::validate`]).
    ///
    /// # Errors
    /// The first failure, as [`crate::validate`] names it.
    pub fn validate(&self, level: Level) -> Result<ValidationReport, ReadError> {
        crate::validate(&*self.source, level)
    }

    /// Extracts the selected members under `dir`, confined to it and CRC-checked: every
    /// member but `TACO_HEADER` ([`crate::extract_all`]), or those entry `i` holds
    /// ([`crate::extract_entry`]).
    ///
    /// # Errors
    /// As [`TacoArchive::entry`], [`crate::extract_all`] and [`crate::extract_entry`].
    pub fn extract(
        &self,
        dir: &Path,
        selection: Selection,
        options: &ExtractOptions,
    ) -> Result<ExtractReport, ReadError> {
        if let Some(pattern) = self.pattern_matching_nothing(options)? {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::NoMatch {
                    pattern: pattern.to_string(),
                },
            ));
        }
        match selection {
            Selection::All => crate::extract_all(self.directory()?, dir, options),
            Selection::Entry(index) => {
                // Index v2: a span that starts at a member the lookup directory lists is read
                // and checked against the directory's blocks, without the central directory.
                // The head (which holds the header too) is read first: one request for both.
                let v2 = self.directory.get().is_none() && self.lookup()?.is_some();
                let entry = self.entry(index)?;
                if v2 {
                    if let Some(listing) = self.lookup_listing(entry)? {
                        if listing.starts_member(entry.offset) {
                            let label = format!("{} entry {index}", self.source.label());
                            let reader = std::io::BufReader::with_capacity(
                                1 << 20,
                                self.source.open_range(entry)?,
                            );
                            let lists = |offset: u64, name: &[u8], size: u64| {
                                listing.lists(offset, name, size)
                            };
                            return crate::extract::extract_span_listed_by(
                                reader,
                                &label,
                                &lists,
                                entry.offset,
                                dir,
                                options,
                            );
                        }
                    }
                }
                crate::extract_entry(self.directory()?, index, entry, dir, options)
            }
        }
    }
}
