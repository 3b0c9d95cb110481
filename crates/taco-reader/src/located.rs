//! Finding one member without the central directory: through the lookup directory at the
//! front of an index-v2 archive (`docs/FORMAT.md` §4) — one request of the first 64 KiB, at
//! most one of a block, then the member's local header and data together — or through the v1
//! index of older planned archives.

use crate::archive::invalid as invalid_archive;
use crate::local::{read_local_header, LocalError, LocalRead};
use crate::{ArchiveError, CrcReader, ReadAt, ReadError, TacoArchive};
use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use taco_format::{
    name_key, tile_key, BlockRef, Entry, KeyKind, LocalHeader, LookupEntry, LookupRoot, HEADER_LEN,
    HEAD_LEN, LOCAL_FIXED_LEN, LOOKUP_MEMBER, SIG_LOCAL,
};

/// Members a lookup directory does not list: the header, the directory itself, and the index
/// members written after the data (their sizes are not known when the directory is planned).
/// A reader finds them through the central directory.
pub(crate) const NOT_LOOKED_UP: [&str; 4] = [
    "TACO_HEADER",
    LOOKUP_MEMBER,
    taco_index::MANIFEST_MEMBER,
    taco_index::INDEX_MEMBER,
];

/// The first bytes of an archive and the lookup directory root they hold (if any).
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    /// The root and the absolute offset of the directory's first data byte.
    lookup: Option<(LookupRoot, u64)>,
}

/// Leaves fetched so far, by their offset in the directory.
pub(crate) type LeafCache = Mutex<HashMap<u64, Arc<Vec<u8>>>>;

/// A member found without the central directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The member's name (for a tile found through the lookup directory: `z/x/y`, whose
    /// extension its local header tells).
    pub name: String,
    /// Where its bytes are.
    pub place: Place,
}

impl Located {
    /// The length of the member's data.
    pub fn data_len(&self) -> u64 {
        match self.place {
            Place::Data { range, .. } => range.length,
            Place::LocalEntry { data_len, .. } | Place::Tile { data_len, .. } => data_len,
        }
    }
}

/// Where a [`Located`] member's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Its data, with the CRC-32 an index recorded.
    Data {
        /// The data's absolute range, checked to end before the central directory.
        range: Entry,
        /// The CRC-32 the data must have.
        crc32: u32,
    },
    /// Its local header and data, read together: the header names the member (checked
    /// against the name looked up) and carries the CRC-32.
    LocalEntry {
        /// Absolute offset of the local header.
        header_offset: u64,
        /// Data length.
        data_len: u64,
    },
    /// A tile's local header and data, read together: the header's name must be the tile's
    /// `z/x/y` and an extension.
    Tile {
        /// Absolute offset of the local header.
        header_offset: u64,
        /// Data length.
        data_len: u64,
    },
}

/// Room read after a local header's fixed part and the name looked up: a tile's extension
/// and a ZIP64 extra field, so the member comes with one request.
const LOCAL_SLACK: u64 = 16 + 20;

impl<S: ReadAt> TacoArchive<S> {
    /// The first 64 KiB (one request), with the lookup directory root when the archive has one.
    fn head(&self) -> Result<&Head, ReadError> {
        if let Some(head) = self.head.get() {
            return Ok(head);
        }
        let bytes = self.source.read_head(HEAD_LEN)?;
        let lookup = lookup_root(&bytes).map_err(|e| invalid_archive(&*self.source, e))?;
        Ok(self.head.get_or_init(|| Head { bytes, lookup }))
    }

    /// The lookup directory's root, if the archive has one (read with the first 64 KiB).
    ///
    /// # Errors
    /// [`ArchiveError::Format`] for a malformed root; read errors.
    pub fn lookup(&self) -> Result<Option<&LookupRoot>, ReadError> {
        Ok(self.head()?.lookup.as_ref().map(|(root, _)| root))
    }

    /// The entries the lookup directory holds for `key` (none without a directory of `kind`).
    fn lookup_entries(&self, kind: KeyKind, key: u64) -> Result<Vec<LookupEntry>, ReadError> {
        let Some((root, base)) = self.head()?.lookup.as_ref() else {
            return Ok(Vec::new());
        };
        if root.kind != kind {
            return Ok(Vec::new());
        }
        let invalid = |e| invalid_archive(&*self.source, e);
        match root.block_of(key) {
            BlockRef::Absent => Ok(Vec::new()),
            BlockRef::Root => root.find(key, None).map_err(invalid),
            BlockRef::Leaf { offset, len } => {
                let leaf = self.leaf(base + offset, len)?;
                root.find(key, Some((&leaf, offset))).map_err(invalid)
            }
        }
    }

    /// The leaf at absolute `offset`, fetched once per archive.
    fn leaf(&self, offset: u64, len: u64) -> Result<Arc<Vec<u8>>, ReadError> {
        let cached = self
            .leaves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&offset)
            .cloned();
        if let Some(leaf) = cached {
            return Ok(leaf);
        }
        // At most 64 KiB: the root's table stores lengths in 16 bits.
        let mut bytes = vec![0u8; len.min(u64::from(u16::MAX)) as usize];
        self.source.read_exact_at(&mut bytes, offset)?;
        let leaf = Arc::new(bytes);
        self.leaves
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(offset, Arc::clone(&leaf));
        Ok(leaf)
    }

    /// Member `name`, through the lookup directory (no central directory read); `None` when
    /// the archive has no name directory or `name` is one the directory never lists
    /// (`TACO_HEADER`, `TACO_DIRECTORY`, `TACO_MANIFEST.parquet`, `TACO_INDEX.json`). Every
    /// candidate with the name's key is returned; the local header read with the data tells
    /// which is the member.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchMember`] when the directory does not list it; as
    /// [`TacoArchive::lookup`].
    pub fn locate(&self, name: &str) -> Result<Option<Vec<Located>>, ReadError> {
        if NOT_LOOKED_UP.contains(&name)
            || self.lookup()?.is_none_or(|root| root.kind != KeyKind::Name)
        {
            return Ok(None);
        }
        let found = self.lookup_entries(KeyKind::Name, name_key(name.as_bytes()))?;
        if found.is_empty() {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::NoSuchMember {
                    name: name.to_string(),
                },
            ));
        }
        Ok(Some(
            found
                .into_iter()
                .map(|e| Located {
                    name: name.to_string(),
                    place: Place::LocalEntry {
                        header_offset: e.header_offset,
                        data_len: e.data_len,
                    },
                })
                .collect(),
        ))
    }

    /// Member `name`, found the cheapest way the archive allows: through the lookup directory
    /// (index v2: the head read at open, at most one block, and the member's local header read
    /// with its data), else through the central directory. Read it with
    /// [`TacoArchive::open_located`] or [`TacoArchive::read_located`]; the local header read
    /// with the data must name `name`.
    ///
    /// When several members share the name's 64-bit key (a hash collision, in practice never),
    /// each candidate's local header is read to tell which one is `name`.
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchMember`]; as [`TacoArchive::lookup`] and
    /// [`TacoArchive::directory`].
    pub fn find_member(&self, name: &str) -> Result<Located, ReadError> {
        if let Some(located) = self.located_by_name(name)? {
            return Ok(located);
        }
        let member = self.member(name)?;
        let range = self.directory()?.data_range(member)?;
        Ok(Located {
            name: name.to_string(),
            place: Place::Data {
                range,
                crc32: member.record.crc32,
            },
        })
    }

    /// Member `name` through the lookup directory alone: `None` when the archive has no name
    /// directory (or `name` is one it never lists), else the one candidate whose local
    /// header carries exactly this name.
    pub(crate) fn located_by_name(&self, name: &str) -> Result<Option<Located>, ReadError> {
        let Some(candidates) = self.locate(name)? else {
            return Ok(None);
        };
        if let [one] = candidates.as_slice() {
            return Ok(Some(one.clone()));
        }
        for candidate in &candidates {
            let Place::LocalEntry { header_offset, .. } = candidate.place else {
                continue;
            };
            // A local header of exactly this name: signature, name length, name.
            let mut bytes = vec![0u8; LOCAL_FIXED_LEN + name.len()];
            self.source.read_exact_at(&mut bytes, header_offset)?;
            let named = bytes.starts_with(&SIG_LOCAL.to_le_bytes())
                && u16::try_from(name.len()).is_ok_and(|n| bytes[26..28] == n.to_le_bytes())
                && bytes[LOCAL_FIXED_LEN..] == *name.as_bytes();
            if named {
                return Ok(Some(candidate.clone()));
            }
        }
        Err(invalid_archive(
            &*self.source,
            ArchiveError::NoSuchMember {
                name: name.to_string(),
            },
        ))
    }

    /// Tile `z/x/y` of an archive written by `taco pack-tiles`: through its lookup directory
    /// (index v2) or its index (v1); no central directory needed. Read it with
    /// [`TacoArchive::open_located`].
    ///
    /// # Errors
    /// [`ArchiveError::NoSuchTile`]; [`ArchiveError::IndexOutside`] when a v1 index places the
    /// tile past the member data; as [`TacoArchive::index`] for v1 archives.
    pub fn tile(&self, z: u32, x: u32, y: u32) -> Result<Located, ReadError> {
        let no_tile = || invalid_archive(&*self.source, ArchiveError::NoSuchTile { z, x, y });
        if self
            .lookup()?
            .is_some_and(|root| root.kind == KeyKind::Tile)
        {
            let key = tile_key(z, x, y).ok_or_else(no_tile)?;
            let found = self.lookup_entries(KeyKind::Tile, key)?;
            let first = found.first().ok_or_else(no_tile)?;
            return Ok(Located {
                name: format!("{z}/{x}/{y}"),
                place: Place::Tile {
                    header_offset: first.header_offset,
                    data_len: first.data_len,
                },
            });
        }
        let (index, limit) = self.index_of("tiles")?;
        let record = index.tile(z, x, y).ok_or_else(no_tile)?;
        let range = Entry::new(record.data_offset, record.length);
        // The index is data like any other: member data can only lie before the directory.
        if range.end().is_none_or(|end| end > limit) {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::IndexOutside {
                    name: record.name.to_string(),
                    offset: range.offset,
                    length: range.length,
                    limit,
                },
            ));
        }
        Ok(Located {
            name: record.name.to_string(),
            place: Place::Data {
                range,
                crc32: record.crc32,
            },
        })
    }

    /// A reader of a located member's data that checks its CRC-32 as the last byte arrives,
    /// and the data's absolute range; one request (a member found through the lookup directory
    /// comes with its local header, whose name must be the one looked up — for a tile,
    /// `z/x/y.` and an extension — and whose sizes must agree with the directory).
    ///
    /// # Errors
    /// [`ArchiveError::LocalHeaderMismatch`] when the local header names another member or
    /// size; [`ArchiveError::RangeOutside`] for a range outside the archive; read errors.
    pub fn open_located(&self, located: &Located) -> Result<(Entry, CrcReader<'_>), ReadError> {
        let size = self.source.size()?;
        let range = self.located_range(located, size, u64::MAX)?;
        let reader = self.source.open_range(range)?;
        self.located_reader(located, Box::new(reader))
    }

    /// The data range and CRC-32 of a located member, without reading its data: for a member
    /// found through the lookup directory, its local header is read (one request) and checked
    /// as in [`TacoArchive::open_located`]. For callers that read the member piece by piece
    /// (a seekable file object); they check the CRC themselves if they read it whole.
    ///
    /// # Errors
    /// As [`TacoArchive::open_located`].
    pub fn data_range(&self, located: &Located) -> Result<(Entry, u32), ReadError> {
        if let Place::Data { range, crc32 } = located.place {
            return Ok((range, crc32));
        }
        let size = self.source.size()?;
        let range = self.located_range(located, size, u64::MAX)?;
        // Room for a long tile extension or extra field: a header that still does not fit is
        // reported as cut short.
        let header_only = (LOCAL_FIXED_LEN + located.name.len()) as u64 + LOCAL_SLACK + 4096;
        let range = Entry::new(range.offset, range.length.min(header_only));
        // A local header inside the head already read costs no request.
        let in_head = usize::try_from(range.offset)
            .ok()
            .zip(range.end().and_then(|end| usize::try_from(end).ok()))
            .and_then(|(start, end)| self.head().ok()?.bytes.get(start..end));
        let reader: Box<dyn Read + '_> = match in_head {
            Some(bytes) => Box::new(bytes),
            None => Box::new(self.source.open_range(range)?),
        };
        // Only the header is read: the data range comes from it, and the reader is dropped
        // before any data byte is asked for.
        let (data, reader) = self.located_reader(located, reader)?;
        Ok((data, reader.expected_crc32()))
    }

    /// Reads several located members, handing each to `each(position, name, data range,
    /// reader)` once; the reader yields exactly the member's data and checks its CRC-32 at the
    /// end. Members side by side share a request and at most `jobs` requests run at once (see
    /// [`crate::read_ranges`]); a member found through the lookup directory comes with its
    /// local header, checked as in [`TacoArchive::open_located`].
    ///
    /// # Errors
    /// The first error of a read, a check or `each`.
    pub fn read_located<E: From<ReadError> + Send>(
        &self,
        located: &[Located],
        jobs: usize,
        each: impl Fn(usize, &str, Entry, &mut dyn Read) -> Result<(), E> + Sync,
    ) -> Result<(), E>
    where
        S: Sync + Send,
    {
        let size = self.source.size()?;
        // Each local entry is read up to the next one asked for at the latest, so the ranges
        // never overlap and neighbours coalesce.
        let mut starts: Vec<u64> = located.iter().map(|l| start_of(l.place)).collect();
        starts.sort_unstable();
        let ranges = located
            .iter()
            .map(|l| {
                let start = start_of(l.place);
                let next = starts[starts.partition_point(|&s| s <= start)..]
                    .first()
                    .copied()
                    .unwrap_or(u64::MAX);
                self.located_range(l, size, next)
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::read_ranges(&*self.source, &ranges, jobs, |i, reader| {
            let (data, mut member) = self.located_reader(&located[i], Box::new(reader))?;
            let name = member.name().to_string();
            each(i, &name, data, &mut member)
        })
    }

    /// The bytes to fetch for `located`: its data, or its local entry (header with room for
    /// the name, an extension and a ZIP64 extra, then the data) ending at `limit` at the latest.
    fn located_range(&self, located: &Located, size: u64, limit: u64) -> Result<Entry, ReadError> {
        let (header_offset, data_len) = match located.place {
            Place::Data { range, .. } => return Ok(range),
            Place::LocalEntry {
                header_offset,
                data_len,
            }
            | Place::Tile {
                header_offset,
                data_len,
            } => (header_offset, data_len),
        };
        let wanted = (LOCAL_FIXED_LEN + located.name.len()) as u64 + LOCAL_SLACK;
        let end = header_offset
            .checked_add(wanted)
            .and_then(|e| e.checked_add(data_len))
            .map_or(size, |e| e.min(size))
            .min(limit);
        if end <= header_offset {
            return Err(invalid_archive(
                &*self.source,
                ArchiveError::RangeOutside {
                    offset: header_offset,
                    length: data_len,
                    file_len: size,
                },
            ));
        }
        Ok(Entry::new(header_offset, end - header_offset))
    }

    /// The CRC-checking reader of `located`'s data from `reader`, which holds the bytes of
    /// [`TacoArchive::located_range`]: for a local entry, its header is read and checked first.
    fn located_reader<'r>(
        &self,
        located: &Located,
        mut reader: Box<dyn Read + 'r>,
    ) -> Result<(Entry, CrcReader<'r>), ReadError> {
        let label = self.source.label();
        let (header_offset, data_len, tile) = match located.place {
            Place::Data { range, crc32 } => {
                let name = located.name.clone();
                return Ok((range, CrcReader::new(reader, name, crc32, range, label)));
            }
            Place::LocalEntry {
                header_offset,
                data_len,
            } => (header_offset, data_len, false),
            Place::Tile {
                header_offset,
                data_len,
            } => (header_offset, data_len, true),
        };
        let local = match read_local_header(&mut reader, header_offset, false) {
            Ok(LocalRead::Header(local)) => local,
            Ok(LocalRead::End) | Err(LocalError::Truncated) => {
                return Err(mismatch(
                    self,
                    located,
                    header_offset,
                    "local header",
                    "cut short",
                    "",
                ))
            }
            Err(LocalError::Read(e)) => {
                return Err(ReadError::unwrap_io(e, |source| ReadError::Io {
                    source_label: label.clone(),
                    offset: header_offset,
                    len: LOCAL_FIXED_LEN as u64,
                    source,
                }))
            }
            Err(LocalError::Format(e)) => return Err(invalid_archive(&*self.source, e)),
        };
        let names_it = if tile {
            // `z/x/y.` followed by an extension.
            local
                .name
                .strip_prefix(format!("{}.", located.name).as_bytes())
                .is_some_and(|ext| !ext.is_empty() && !ext.contains(&b'/'))
        } else {
            local.name == located.name.as_bytes()
        };
        if !names_it {
            return Err(mismatch(
                self,
                located,
                header_offset,
                "name",
                &local.text_name(),
                &located.name,
            ));
        }
        if local.compressed_size != data_len || local.uncompressed_size != data_len {
            return Err(mismatch(
                self,
                located,
                header_offset,
                "size",
                &local.compressed_size.to_string(),
                &data_len.to_string(),
            ));
        }
        let data = Entry::new(header_offset + local.header_len, data_len);
        let name = local.text_name();
        let reader: Box<dyn Read + 'r> = Box::new(reader.take(data_len));
        Ok((data, CrcReader::new(reader, name, local.crc32, data, label)))
    }
}

impl<S: ReadAt> TacoArchive<S> {
    /// The lookup directory's entries whose local header lies inside `range`, by header offset
    /// (key and data length): every leaf is read with one request (none when the root holds
    /// the entries), checked, and only the entries in `range` kept. `None` without a lookup
    /// directory, or when its leaves exceed [`crate::MAX_MEMBER_IN_MEMORY`] (the central
    /// directory then serves).
    ///
    /// # Errors
    /// [`ArchiveError::Format`] for a malformed or corrupted block; read errors.
    pub(crate) fn lookup_listing(&self, range: Entry) -> Result<Option<Listing>, ReadError> {
        let Some((root, base)) = self.head()?.lookup.as_ref() else {
            return Ok(None);
        };
        let invalid = |e| invalid_archive(&*self.source, e);
        let inside = |e: &LookupEntry| {
            e.header_offset >= range.offset && range.end().is_some_and(|end| e.header_offset < end)
        };
        let mut listed = HashMap::new();
        let mut keep = |entries: Vec<LookupEntry>| {
            for e in entries.into_iter().filter(inside) {
                listed.insert(e.header_offset, (e.key, e.data_len));
            }
        };
        let blocks: Vec<(u64, u64)> = root.leaf_blocks().collect();
        let (Some(&(first, _)), Some(&(last, last_len))) = (blocks.first(), blocks.last()) else {
            keep(root.all_entries(&[]).map_err(invalid)?);
            return Ok(Some(Listing {
                kind: root.kind,
                listed,
            }));
        };
        let len = last + last_len - first;
        if len > crate::MAX_MEMBER_IN_MEMORY || base + first + len > self.source.size()? {
            return Ok(None);
        }
        // Every leaf, with one request the first time; then from the leaf cache (several
        // entries extracted in one command, and later lookups, reuse them).
        let cached = |offset: u64| {
            self.leaves
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(&(base + offset))
                .cloned()
        };
        if blocks.iter().any(|&(offset, _)| cached(offset).is_none()) {
            let mut all = vec![0u8; len as usize];
            self.source.read_exact_at(&mut all, base + first)?;
            let mut cache = self.leaves.lock().unwrap_or_else(PoisonError::into_inner);
            for &(offset, leaf_len) in &blocks {
                let at = (offset - first) as usize;
                let leaf = all.get(at..at + leaf_len as usize).unwrap_or_default();
                cache.insert(base + offset, Arc::new(leaf.to_vec()));
            }
        }
        let mut entries = Vec::new();
        for (offset, _) in blocks {
            let leaf = cached(offset).unwrap_or_default();
            entries.clear();
            root.find_all_in(&leaf, offset, &mut entries)
                .map_err(invalid)?;
            keep(std::mem::take(&mut entries));
        }
        Ok(Some(Listing {
            kind: root.kind,
            listed,
        }))
    }
}

/// Part of a lookup directory, by local header offset: what it lists there.
#[derive(Debug)]
pub(crate) struct Listing {
    kind: KeyKind,
    listed: HashMap<u64, (u64, u64)>,
}

impl Listing {
    /// Whether a listed member's local header starts at `offset`.
    pub(crate) fn starts_member(&self, offset: u64) -> bool {
        self.listed.contains_key(&offset)
    }

    /// Whether the directory lists a member named `name` of `size` bytes whose local header is
    /// at `offset` (for a tile directory: the tile `z/x/y` the name spells).
    /// taco's own members (which the directory never lists) are accepted: extraction never
    /// writes them out.
    pub(crate) fn lists(&self, offset: u64, name: &[u8], size: u64) -> bool {
        if NOT_LOOKED_UP.iter().any(|own| own.as_bytes() == name) {
            return true;
        }
        let key = match self.kind {
            KeyKind::Name => Some(name_key(name)),
            KeyKind::Tile => std::str::from_utf8(name)
                .ok()
                .and_then(tile_of)
                .and_then(|(z, x, y)| tile_key(z, x, y)),
        };
        key.is_some_and(|key| self.listed.get(&offset) == Some(&(key, size)))
    }
}

/// `z/x/y` of a tile name `z/x/y.ext`, exactly as `pack-tiles` writes it: three components,
/// numbers in canonical decimal (no sign, no leading zero), a non-empty extension — the name a
/// tile lookup accepts in a local header, and no other.
pub(crate) fn tile_of(name: &str) -> Option<(u32, u32, u32)> {
    let number = |text: &str| {
        let n: u32 = text.parse().ok()?;
        (n.to_string() == text).then_some(n)
    };
    let mut parts = name.split('/');
    let (z, x, last) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (y, ext) = last.split_once('.')?;
    if ext.is_empty() {
        return None;
    }
    Some((number(z)?, number(x)?, number(y)?))
}

/// Where a located member's bytes start: its data, or its local header.
fn start_of(place: Place) -> u64 {
    match place {
        Place::Data { range, .. } => range.offset,
        Place::LocalEntry { header_offset, .. } | Place::Tile { header_offset, .. } => {
            header_offset
        }
    }
}

/// A local header that does not say what the lookup directory said.
fn mismatch<S: ReadAt>(
    archive: &TacoArchive<S>,
    located: &Located,
    offset: u64,
    field: &'static str,
    local: &str,
    directory: &str,
) -> ReadError {
    invalid_archive(
        &*archive.source,
        ArchiveError::LocalHeaderMismatch {
            name: located.name.clone(),
            offset,
            field,
            local: local.to_string(),
            central: format!("{directory} (lookup directory)"),
        },
    )
}

/// The lookup directory root in `head` (the archive's first bytes), if the member after
/// `TACO_HEADER` is `TACO_DIRECTORY`.
fn lookup_root(head: &[u8]) -> Result<Option<(LookupRoot, u64)>, taco_format::FormatError> {
    let Some(after_header) = head.get(HEADER_LEN..) else {
        return Ok(None);
    };
    if after_header.get(..4) != Some(&SIG_LOCAL.to_le_bytes()[..]) {
        return Ok(None);
    }
    let Ok(local) = LocalHeader::parse(after_header, HEADER_LEN as u64) else {
        return Ok(None);
    };
    if local.name != LOOKUP_MEMBER.as_bytes() {
        return Ok(None);
    }
    let base = HEADER_LEN as u64 + local.header_len;
    let root = LookupRoot::parse(&after_header[local.header_len as usize..], base)?;
    Ok(Some((root, base)))
}
